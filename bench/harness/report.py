"""The table (terminal and Markdown), the targets of issues 5 and 13 (the
WebSocket rows and targets are ws_report's) and the chart.

Cells read "median (min–max)" over the rounds. "× Ferry" is the median of
the per-round ratios against Ferry (Erlang handler) measured in the same round.
"""
import os
import platform
import subprocess

import file_scenarios
import cluster_scenarios
import ws_report
from cells import DASH, med, ms, spread
from scenarios import CHUNK_SIZES

REF = "ferry_erl"


def krps(x):
    return f"{x / 1000:.1f}k"


def ratios(res, name, conns):
    ours = res["hello"].get(name, {}).get(conns, [])
    ref = res["hello"].get(REF, {}).get(conns, [])
    return [a["rps"] / b["rps"] for a, b in zip(ours, ref) if b["rps"]]


def mib(kb):
    return f"{kb / 1024:.0f}"


def transfer_cells(entry):
    if not entry:
        return DASH, DASH
    runs = entry["runs"]
    peak_rust = max(r["peak_kb"]["rust"] for r in runs)
    peak_vm = max(r["peak_kb"]["vm"] for r in runs)
    if peak_vm and peak_rust:
        peak = f"{mib(peak_rust)} + {mib(peak_vm)}"
    else:
        peak = mib(peak_rust + peak_vm)
    return spread([r["mb_s"] for r in runs], lambda x: f"{x:.0f}"), peak


def rows(res):
    names = [sp["name"] for sp in res["servers"]]
    h = res["hello"]
    s = res["settings"]
    gib = s["transfer_bytes"] / (1 << 30)
    out = [["", *[sp["label"] for sp in res["servers"]]]]

    def row(label, cell):
        cells = [cell(n) for n in names]
        # A scenario that did not run (BENCH_SCENARIOS) leaves no empty rows.
        if any(c != DASH for c in cells):
            out.append([label, *cells])

    for conns, scen in (("50", 1), ("1000", 2)):
        row(f"{scen}. hello, {conns} conns: req/s",
            lambda n: spread([f["rps"] for f in h[n][conns]], krps))
        row("   × Ferry (same round)",
            lambda n: spread(ratios(res, n, conns), lambda x: f"{x:.2f}×"))
        if scen == 1:
            row("   p50 latency, ms", lambda n: spread([f["p50_ms"] for f in h[n][conns]], ms))
        row("   p99 latency, ms", lambda n: spread([f["p99_ms"] for f in h[n][conns]], ms))
        row("   server CPU µs/request",
            lambda n: spread([f["cpu_us_per_req"] for f in h[n][conns] if "cpu_us_per_req" in f],
                             lambda x: f"{x:.1f}"))
        if scen == 1:
            row("   of which Rust process(es)",
                lambda n: spread([f["cpu_us_per_req_rust"] for f in h[n][conns]
                                  if f.get("cpu_us_per_req_rust")], lambda x: f"{x:.1f}"))
            row("   wrk's own CPU µs/request",
                lambda n: spread([f["client_cpu_us_per_req"] for f in h[n][conns]
                                  if "client_cpu_us_per_req" in f], lambda x: f"{x:.1f}"))
    idle = res["idle"]
    row(f"3. idle, {s['idle_connections']} conns: bytes/conn",
        lambda n: f"{idle[n]['bytes_per_conn']:.0f}" if n in idle else DASH)
    row("   of which VM / Rust",
        lambda n: (f"{idle[n]['bytes_per_conn_vm']:.0f} / {idle[n]['bytes_per_conn_rust']:.0f}"
                   if n in idle else DASH))
    row("   still open at reading", lambda n: str(idle[n]["alive"]) if n in idle else DASH)
    for scen, mode in ((4, "upload"), (5, "download")):
        cells = {n: transfer_cells(res[mode].get(n)) for n in names}
        row(f"{scen}. {mode} {gib:g} GiB: MB/s", lambda n: cells[n][0])
        row("   peak RSS MiB (Rust + VM)", lambda n: cells[n][1])
    rst = res.get("restart")
    row("6. kill -9 to served, ms",
        lambda n: spread(rst["ms"], lambda x: f"{x:.0f}") if rst and n == REF else DASH)
    chunked = res.get("chunked", {})
    mb = s.get("chunked_bytes", 0) / 1e6
    for i, (label, _) in enumerate(CHUNK_SIZES):
        cells = {n: transfer_cells(chunked.get(n, {}).get(label)) for n in names}
        first = f"7. chunked upload {mb:g} MB, " if i == 0 else "   "
        row(f"{first}{label} chunks: MB/s", lambda n: cells[n][0])
        row("   peak RSS MiB (Rust + VM)", lambda n: cells[n][1])
    ws_report.rows(res, row)
    file_scenarios.rows(res, row, transfer_cells, gib)
    cluster_scenarios.rows(res, lambda label, cell: row(label, lambda n: cell() if n == REF else DASH))
    return out


def targets(res):
    """(what, figure, met) for each target of issue 5 that was measured."""
    out = []
    r = ratios(res, "mochiweb", "50")
    if r and res["hello"].get(REF, {}).get("50"):
        x = med([1 / v for v in r])
        out.append(("hello 50 conns ≥ 2.4× mochiweb req/s", f"{x:.2f}×", x >= 2.4))
        p_f = med([f["p99_ms"] for f in res["hello"][REF]["50"]])
        p_m = med([f["p99_ms"] for f in res["hello"]["mochiweb"]["50"]])
        out.append(("p99 no worse than mochiweb's", f"{ms(p_f)} vs {ms(p_m)} ms", p_f <= p_m))
    if REF in res["idle"]:
        b = res["idle"][REF]["bytes_per_conn"]
        out.append(("idle < 2 KB/conn (Rust + VM)", f"{b:.0f} B", b < 2048))
    for mode in ("upload", "download"):
        e = res[mode].get(REF)
        if not e:
            continue
        m = med([x["mb_s"] for x in e["runs"]])
        out.append((f"{mode} ≥ 500 MB/s", f"{m:.0f} MB/s", m >= 500))
        if "big" in e:
            small = max(x["peak_kb"]["total"] for x in e["runs"])
            big = e["big"]["peak_kb"]["total"]
            d = (big - small) / 1024
            out.append((f"{mode} peak RSS: 4 GiB − 1 GiB < 16 MiB", f"{d:+.1f} MiB", d < 16))
    if res.get("restart"):
        m = med(res["restart"]["ms"])
        out.append(("restart median < 100 ms", f"{m:.0f} ms", m < 100))
    return out


def context(res):
    """What bounds the req/s target on this machine: the floor server (no
    work per request at all) against mochiweb, in the same rounds."""
    fl, mo = ratios(res, "floor", "50"), ratios(res, "mochiweb", "50")
    per_round = [f / m for f, m in zip(fl, mo) if m]
    if not per_round:
        return []
    return [f"The floor server (one epoll loop answering a fixed response, no parser, no BEAM) "
            f"reached {spread(per_round, lambda x: f'{x:.2f}')}× mochiweb's req/s in the same rounds, "
            f"{spread(fl, lambda x: f'{x:.2f}')}× Ferry's; a server that does any work per request stays below it."]


def text_table(table):
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(table[0]), "  ".join("-" * w for w in widths), *map(line, table[1:])])


def md_table(table):
    esc = lambda c: c.replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, table[0])) + " |",
             "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in table[1:]]
    return "\n".join(lines)


def cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    otp = cmd(["erl", "-noshell", "-eval",
               'io:format("~s", [erlang:system_info(otp_release)]), halt().'])
    elixir = cmd(["elixir", "--version"]).splitlines()[-1:] or ["?"]
    return (f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, OTP {otp}, "
            f"{elixir[0]}, {cmd(['rustc', '--version'])}, wrk {wrk_version()}")


def wrk_version():
    words = (cmd(["wrk", "-v"]).split() or ["?", "?"])[:2]
    return words[1].split("/")[-1] if len(words) > 1 else "?"


def chart(res, results_dir):
    """bench/results/bench.png: req/s of scenarios 1-2, CPU per request of 1,
and bytes/conn of 3."""
    data = os.path.join(results_dir, "chart.dat")
    with open(data, "w") as f:
        for sp in res["servers"]:
            n = sp["name"]
            cols = []
            for conns in ("50", "1000"):
                xs = [x["rps"] / 1000 for x in res["hello"][n][conns]] or [0]
                cols += [med(xs), min(xs), max(xs)]
            cpu = [x["cpu_us_per_req"] for x in res["hello"][n]["50"] if "cpu_us_per_req" in x] or [0]
            cols += [med(cpu), min(cpu), max(cpu)]
            idle = res["idle"].get(n, {}).get("bytes_per_conn", 0)
            short = sp.get("short", sp["label"])  # raw files of older runs have no "short"
            label = (short if "\\n" in short else short.replace(" (", "\\n(")).replace('"', "")
            f.write(f'"{label}" ' + " ".join(f"{c:.3f}" for c in cols) + f" {idle:.0f}\n")
    png = os.path.join(results_dir, "bench.png")
    script = f"""
set terminal pngcairo size 1800,600 font ",10" noenhanced
set bmargin 5
set output "{png}"
set multiplot layout 1,3
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set key top right
set grid ytics
set yrange [0:*]
set xtics font ",8"
set title "Hello world, keep-alive: thousand req/s (median, min–max)"
plot "{data}" using 2:3:4:xtic(1) title "50 connections", "" using 5:6:7 title "1,000 connections"
set title "Hello world, 50 connections: server CPU µs per request (median, min–max)"
plot "{data}" using 8:9:10:xtic(1) title "CPU µs/request" lc rgb "#d95f02"
set style histogram clustered gap 2
set title "{res['settings']['idle_connections']} idle keep-alive connections: bytes per connection (server + VM)"
plot "{data}" using 11:xtic(1) title "bytes/conn" lc rgb "#7570b3"
unset multiplot
"""
    out = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        print(f"gnuplot failed: {out.stderr}")
        return None
    return png


def write(res, results_dir):
    table = rows(res)
    tg = targets(res)
    tg_ws = ws_report.targets(res)
    tg_files = file_scenarios.targets(res)
    check = lambda tg: "\n".join(f"  [{'x' if ok else ' '}] {what}: {fig}" for what, fig, ok in tg)
    md_check = lambda tg: [f"- [{'x' if ok else ' '}] {what}: **{fig}**" for what, fig, ok in tg]
    ctx = context(res)
    png = chart(res, results_dir)
    s = res["settings"]
    how = (f"{s['rounds']} round(s) of {s['duration']} s per wrk run (after {s['warmup']} s warm-up), "
           f"servers alternated; {'BENCH_QUICK=1 smoke run' if s['quick'] else 'full run'}")
    md = ["# Ferry benchmark results", "",
          f"Run {res['started']} by `make bench` ({how}); took {res['elapsed_s']:.0f} s.", "",
          f"Machine: {machine()}.", "",
          md_table(table), ""]
    if tg:
        md += ["## Targets of issue 5 (Ferry, Erlang handler)", "", *md_check(tg), ""]
    if tg_ws:
        md += ["## Targets of issue 13 (Ferry, WebSocket)", "", *md_check(tg_ws), ""]
    if tg_files:
        md += ["## Goals of issue 10 (Ferry, files and large bodies)", "", *md_check(tg_files), ""]
    md += [line + "\n" for line in ctx]
    if res["errors"]:
        md += ["## Failures", "", *[f"- {e}" for e in res["errors"]], ""]
    if png:
        md += [f"![chart]({os.path.basename(png)})", ""]
    md += ["How to read this: bench/README.md.", ""]
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write("\n".join(md))
    return text_table(table) + (f"\n\nTargets (issue 5):\n{check(tg)}" if tg else "") + (
        f"\n\nTargets (issue 13):\n{check(tg_ws)}" if tg_ws else "") + (
        f"\n\nGoals (issue 10):\n{check(tg_files)}" if tg_files else "") + "".join(
        "\n  " + line for line in ctx) + (
        "\n\nFailures:\n" + "\n".join(res["errors"]) if res["errors"] else "")
