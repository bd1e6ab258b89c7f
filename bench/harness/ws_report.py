"""The WebSocket rows of the table (scenarios 8-11) and the targets of
issue 13; report.py puts them in the same table and results.md.

Cowboy's and Bandit's figures in the targets are the issue's, measured
elsewhere (hex is not reachable here, so neither runs in this benchmark).
"""
from cells import DASH, med, ms, spread
from ws_scenarios import IDLE_VARIANTS

REF = "ferry_erl"
# Issue 13's reference figures, measured elsewhere (not in this run).
COWBOY_ECHO_MPS = 46_000
GOALS_MS = {2000: 10, 10000: 50}


def _idle_cell(fig):
    if fig is None:
        return DASH
    total = f"{fig['bytes_per_conn']:.0f}"
    if fig["bytes_per_conn_rust"]:
        return f"{total} ({fig['bytes_per_conn_vm']:.0f} / {fig['bytes_per_conn_rust']:.0f})"
    return total


def echo_ratios(res, name):
    ours = res.get("ws_echo", {}).get(name, [])
    ref = res.get("ws_echo", {}).get(REF, [])
    return [a["mps"] / b["mps"] for a, b in zip(ours, ref) if b["mps"]]


def rows(res, row):
    """Adds the rows through `row(label, cell)`, `cell(server_name) -> str`."""
    s = res["settings"]
    idle = res.get("ws_idle", {})
    for i, (label, _, _) in enumerate(IDLE_VARIANTS):
        first = f"8. WS idle, {s['idle_connections']} conns: bytes/conn (VM / Rust), " if i == 0 else "   "
        row(f"{first}{label}", lambda n: _idle_cell(idle.get(n, {}).get(label)))
    row("   still open at reading (fewest)",
        lambda n: str(min(f["alive"] for f in idle[n].values())) if idle.get(n) else DASH)
    echo = res.get("ws_echo", {})
    figs = lambda n: echo.get(n, [])
    row(f"9. WS echo, {s.get('ws_echo_conns', 100)} conns, {s.get('ws_message_bytes', 32)} B text: msg/s",
        lambda n: spread([f["mps"] for f in figs(n)], lambda x: f"{x / 1000:.1f}k"))
    row("   × Ferry (same round)", lambda n: spread(echo_ratios(res, n), lambda x: f"{x:.2f}×"))
    row("   p99 round trip, ms", lambda n: spread([f["p99_ms"] for f in figs(n)], ms))
    row("   server CPU µs/message", lambda n: spread([f["cpu_us_per_msg"] for f in figs(n)], lambda x: f"{x:.1f}"))
    row("   of which Rust process(es)",
        lambda n: spread([f["cpu_us_per_msg_rust"] for f in figs(n) if f["cpu_us_per_msg_rust"]], lambda x: f"{x:.1f}"))
    row("   client's own CPU µs/message",
        lambda n: spread([f["client_cpu_us_per_msg"] for f in figs(n)], lambda x: f"{x:.1f}"))
    fan = res.get("ws_fanout", {})
    for subs in s.get("fanout_subscribers", ()):
        get = lambda n, k: fan.get(n, {}).get(str(subs), {}).get(k, [])
        row(f"10. publish to {subs}: last subscriber, ms", lambda n: spread(get(n, "last_ms"), ms))
        row("   median subscriber, ms", lambda n: spread(get(n, "median_ms"), ms))
        row("   last, client reading meanwhile, ms", lambda n: spread(get(n, "reading_last_ms"), ms))
        row("   VM CPU µs per publish", lambda n: spread(get(n, "vm_cpu_us"), lambda x: f"{x:.0f}"))
        row("   Rust CPU µs per publish",
            lambda n: spread([x for x in get(n, "rust_cpu_us") if x], lambda x: f"{x:.0f}"))
    big = res.get("ws_big", {})
    mib = s.get("ws_big_bytes", 16 << 20) >> 20
    row(f"11. {mib} MiB binary message echoed, s",
        lambda n: spread(big[n]["seconds"], lambda x: f"{x:.2f}") if n in big else DASH)


def targets(res):
    """(what, figure, met) for each target of issue 13 that was measured."""
    out = []
    idle = res.get("ws_idle", {}).get(REF, {})
    for deflate, goal in ((False, 4096), (True, 24576)):
        figs = {label: idle[label]["bytes_per_conn"] for label, _, d in IDLE_VARIANTS
                if d == deflate and label in idle}
        if figs:
            worst = max(figs.values())
            what = "with permessage-deflate" if deflate else "without deflate"
            out.append((f"idle WebSocket ≤ {goal // 1024} KB/conn {what} (Rust + VM)",
                        ", ".join(f"{k} {v:.0f} B" for k, v in figs.items()), worst <= goal))
    echo = res.get("ws_echo", {}).get(REF)
    if echo:
        m = med([f["mps"] for f in echo])
        out.append((f"echo ≥ 1.5× Cowboy's {COWBOY_ECHO_MPS // 1000}k msg/s (Cowboy measured elsewhere)",
                    f"{m / 1000:.1f}k msg/s = {m / COWBOY_ECHO_MPS:.2f}×", m >= 1.5 * COWBOY_ECHO_MPS))
    for subs, fig in sorted(res.get("ws_fanout", {}).get(REF, {}).items(), key=lambda kv: int(kv[0])):
        goal = GOALS_MS.get(int(subs))
        if goal is not None:
            m = med(fig["last_ms"])
            out.append((f"publish to {subs}: last subscriber ≤ {goal} ms", f"{ms(m)} ms (median)", m <= goal))
    return out
