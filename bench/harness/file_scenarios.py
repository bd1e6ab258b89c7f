"""Scenarios 14 and 15 (issue 10): bytes that live in a file or go to one.

14. **File download**: `GET /file?bytes=N` answers a file of N bytes that
    the harness wrote beforehand (and read once, so it is in the page
    cache): Ferry with `ferry_req:send_file/4` (sendfile(2) in Rust),
    mochiweb with its own static serving (`serve_file`), tiny_http with
    `Response::from_file`.
15. **Upload to a file**: `POST /upload_file`, a content-length body that
    the server writes to a file and answers its length, then removes the
    file: Ferry with `ferry_req:read_body_to_file/2` (Rust writes it, the
    bytes never reach the VM), mochiweb and tiny_http by streaming the body
    into a file as they read it.

Both take scenario 4-5's figures (`scenarios.transfer`: MB/s, peak RSS of
the Rust process and the VM), and Ferry's 4 GiB run. The directories are
passed to the servers in the environment: `BENCH_FILE_DIR` (the files of
14) and `BENCH_UPLOAD_DIR` (where 15 writes; default under target/, i.e.
on the same file system as the checkout; `/dev/shm` puts it on tmpfs).
"""
import os
import shutil
import subprocess

from cells import med
from servers import RUN_DIR

# (scenario, transfer.py mode, label in the table): run like 4 and 5.
TRANSFERS = ((14, "file", "file download (sendfile)"), (15, "upload_file", "upload to a file"))
FILE_DIR = os.path.join(RUN_DIR, "files")
UPLOAD_DIR = os.environ.get("BENCH_UPLOAD_DIR") or os.path.join(RUN_DIR, "uploads")
PIECE = 1 << 20
# Issue 10's goals, MB/s.
GOALS = {"download": 2000, "upload": 1500, "upload_file": 2000}
REF = "ferry_erl"


def fs_type(path):
    """The file system a directory is on: ext4, tmpfs, ..."""
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], capture_output=True, text=True)
    return (out.stdout.split() or ["?"])[0]


def setup(sizes, wanted):
    """Writes scenario 14's files (one per size), makes 15's directory, and
    tells the servers started from now on where they are. Returns where
    each lives, for the report."""
    os.makedirs(FILE_DIR, exist_ok=True)
    os.makedirs(UPLOAD_DIR, exist_ok=True)
    os.environ["BENCH_FILE_DIR"] = FILE_DIR
    os.environ["BENCH_UPLOAD_DIR"] = UPLOAD_DIR
    if 14 in wanted:
        zeros = bytes(PIECE)
        for size in sizes:
            path = os.path.join(FILE_DIR, f"bench-{size}.bin")
            if not (os.path.exists(path) and os.path.getsize(path) == size):
                with open(path, "wb") as f:  # real blocks, not a sparse file
                    for at in range(0, size, PIECE):
                        f.write(zeros[:min(PIECE, size - at)])
            # Read once: every server then sends it from the page cache.
            with open(path, "rb") as f:
                while f.read(PIECE * 16):
                    pass
    return {"files": FILE_DIR, "files_fs": fs_type(FILE_DIR),
            "uploads": UPLOAD_DIR, "uploads_fs": fs_type(UPLOAD_DIR)}


def cleanup():
    """The files are gigabytes: not left behind."""
    shutil.rmtree(FILE_DIR, ignore_errors=True)


def rows(res, row, cells_of, gib):
    """Adds 14 and 15 through `row(label, cell)`, `cells_of(entry) -> (MB/s, peak)`."""
    for scen, mode, what in TRANSFERS:
        cells = {sp["name"]: cells_of(res.get(mode, {}).get(sp["name"])) for sp in res["servers"]}
        row(f"{scen}. {what} {gib:g} GiB: MB/s", lambda n: cells[n][0])
        row("   peak RSS MiB (Rust + VM)", lambda n: cells[n][1])
    dirs = res.get("file_dirs")
    if dirs and any(res.get(m) for _, m, _ in TRANSFERS):
        row("   file system of the files / uploads",
            lambda n: f"{dirs['files_fs']} / {dirs['uploads_fs']}" if res["file"].get(n) or res["upload_file"].get(n)
            else "—")


def targets(res):
    """(what, figure, met) for each goal of issue 10 that was measured."""
    out = []
    rate = lambda mode, name=REF: med([r["mb_s"] for r in res.get(mode, {}).get(name, {}).get("runs", [])])
    mine, theirs = rate("file"), rate("file", "mochiweb")
    if mine is not None and theirs is not None:
        out.append(("file download ≥ mochiweb's static serving", f"{mine:.0f} vs {theirs:.0f} MB/s",
                    mine >= theirs))
    for mode, what in (("download", "download from BEAM memory"), ("upload", "upload through the BEAM"),
                       ("upload_file", "upload to a file")):
        m = rate(mode)
        if m is not None:
            out.append((f"{what} ≥ {GOALS[mode]:,} MB/s", f"{m:.0f} MB/s", m >= GOALS[mode]))
    for mode in ("download", "file", "upload", "upload_file"):
        e = res.get(mode, {}).get(REF)
        if e and "big" in e:
            for kind in ("rust", "vm"):
                small = max(x["peak_kb"][kind] for x in e["runs"])
                d = (e["big"]["peak_kb"][kind] - small) / 1024
                out.append((f"{mode}: {kind} peak RSS, 4 GiB − 1 GiB < 16 MiB", f"{d:+.1f} MiB", d < 16))
    return out
