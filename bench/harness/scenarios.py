"""The six scenarios of issue 5, and 7 of issue 9 (the WebSocket ones of
issue 13 are in ws_scenarios.py). Each takes a running procs.Server and the
run's settings (main.Settings) and returns a dict of figures (or raises)."""
import json
import os
import re
import resource
import subprocess
import sys
import time

from procs import cpu_seconds, http_get_ok, memory, proc_kind, reset_peak

CLIENTS = os.path.join(os.path.dirname(__file__), "..", "clients")


# --- 1 and 2: wrk, hello world, keep-alive -------------------------------------

def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": total, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def run_wrk(url, connections, seconds, threads=2, headers=()):
    """wrk's figures for `url`. A run whose output has no figures (wrk
    failed: seen once with TLS in a full run, with nothing on stdout) is
    tried once more; a second failure raises with what wrk said."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
           *[a for h in headers for a in ("-H", h)], url]
    for attempt in (1, 2):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
        try:
            return parse_wrk(out.stdout)
        except (AttributeError, KeyError) as e:
            if attempt == 2:
                raise RuntimeError(f"cannot read wrk output ({e}; exit status {out.returncode}):\n"
                                   f"{out.stdout}{out.stderr}")
            time.sleep(1)


def wrk(port, connections, seconds, threads=2):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    fig = run_wrk(f"http://127.0.0.1:{port}/", connections, seconds, threads)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # wrk shares the CPUs with the server: what it costs per request differs
    # by server (how responses arrive), so it is part of the picture.
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    fig["client_cpu_us_per_req"] = cpu * 1e6 / max(fig["requests"], 1)
    return fig


def hello(server, s, connections):
    """wrk's figures, and the server's CPU time per request: on a shared,
    noisy machine req/s moves with the neighbours, CPU per request much less."""
    wrk(server.port, min(connections, 50), s.warmup)
    pids = server.tree()
    rust = [p for p in pids if proc_kind(p) == "rust"]
    cpu0, rust0 = cpu_seconds(pids), cpu_seconds(rust)
    fig = wrk(server.port, connections, s.duration)
    per_req = 1e6 / max(fig["requests"], 1)
    fig["cpu_us_per_req"] = (cpu_seconds(pids) - cpu0) * per_req
    fig["cpu_us_per_req_rust"] = (cpu_seconds(rust) - rust0) * per_req
    return fig


# --- 3: idle keep-alive connections, memory per connection ----------------------

def settled_memory(server):
    """Per-kind median of three VmRSS readings 0.3 s apart: the VM's RSS
    wobbles by a few hundred KiB as it collects and returns memory."""
    reads = []
    for _ in range(3):
        reads.append(memory(server.tree()))
        time.sleep(0.3)
    return {k: sorted(r[k] for r in reads)[1] for k in reads[0]}


def quiet_memory(server, within_kb=64, limit_s=20):
    """settled_memory once the server has stopped shrinking: a VM gives back
    memory for some seconds after it starts (the Elixir server, which
    compiles its router at start, 1.6 MiB over 5 s), which would otherwise
    be taken off the connections' share."""
    last = memory(server.tree())["total"]
    for _ in range(limit_s):
        time.sleep(1)
        now = memory(server.tree())["total"]
        if abs(now - last) <= within_kb:
            break
        last = now
    return settled_memory(server)


def idle_holder(port, src, count):
    """argv of one holder of scenario 3's keep-alive connections."""
    return [sys.executable, os.path.join(CLIENTS, "idle_holder.py"), "127.0.0.1", str(port), src, str(count)]


def idle(server, s, holder=idle_holder):
    """Bytes per idle connection. `holder(port, src, count)` is the argv of a
    process that opens `count` connections from `src` and then speaks
    idle_holder.py's stdin/stdout protocol (scenario 8 passes its WebSocket one)."""
    for _ in range(20):
        http_get_ok(server.port)
    before = quiet_memory(server)
    per = s.idle_connections // s.idle_processes
    holders = [subprocess.Popen(holder(server.port, f"127.0.0.{2 + i}", per),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for i in range(s.idle_processes)]
    try:
        opened = failed = 0
        for h in holders:
            _, o, f = h.stdout.readline().split()
            opened, failed = opened + int(o), failed + int(f)
        time.sleep(s.idle_settle)
        after = settled_memory(server)
        alive = 0
        for h in holders:
            h.stdin.write("check\n")
            h.stdin.flush()
            alive += int(h.stdout.readline().split()[1])
    finally:
        for h in holders:
            h.stdin.close()
        for h in holders:
            h.wait(timeout=60)
    if alive == 0:
        raise RuntimeError(f"no idle connection survived (opened {opened}, failed {failed})")
    per_conn = {k: (after[k] - before[k]) * 1024 / alive for k in ("vm", "rust", "total")}
    return {"opened": opened, "failed": failed, "alive": alive,
            "before_kb": before, "after_kb": after,
            "bytes_per_conn": per_conn["total"], "bytes_per_conn_vm": per_conn["vm"],
            "bytes_per_conn_rust": per_conn["rust"]}


# --- 4 and 5: one large streamed upload / download -----------------------------

def transfer(server, mode, nbytes, *extra):
    pids = server.tree()
    reset_peak(pids)
    start = memory(pids)
    out = subprocess.run([sys.executable, os.path.join(CLIENTS, "transfer.py"), mode,
                          "127.0.0.1", str(server.port), str(nbytes), *map(str, extra)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} of {nbytes} bytes failed: {out.stdout}{out.stderr}")
    result = json.loads(out.stdout)
    peak = memory(pids, "VmHWM")
    return {"mb_s": nbytes / result["seconds"] / 1e6, "seconds": result["seconds"],
            "bytes": nbytes, "rss_start_kb": start, "peak_kb": peak}


# --- 7: one chunked upload, in big chunks and in 1-byte chunks ------------------

# Issue 9: a body sent as 1-byte chunks must not cost the VM a message per
# chunk. The same upload in 64 KB chunks is the comparison (label, bytes).
CHUNK_SIZES = (("64 KB", 64 * 1024), ("1-byte", 1))


def chunked_upload(server, nbytes, chunk):
    """transfer()'s figures for a chunked upload of nbytes in chunks of chunk bytes."""
    return transfer(server, "chunked", nbytes, chunk)


# --- 6: kill -9 of the Rust process to the next served request ------------------

def restart(server, s):
    times = []
    for _ in range(s.restarts):
        rust = server.rust_pids()
        if len(rust) != 1:
            raise RuntimeError(f"expected one Ferry port process, found {rust}")
        os.kill(rust[0], 9)
        t0 = time.perf_counter()
        deadline = t0 + 30
        while not http_get_ok(server.port, timeout=0.5):
            if time.perf_counter() > deadline:
                raise RuntimeError("not served again within 30 s of kill -9")
            time.sleep(0.001)
        times.append((time.perf_counter() - t0) * 1000)
        new = server.rust_pids()
        if new == rust:
            raise RuntimeError("served, but by the killed process?")
        time.sleep(s.restart_pause)
    return {"ms": times}
