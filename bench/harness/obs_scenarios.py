"""Scenario 13 (issue 12): what observing requests costs. Hello world at 50
connections on Ferry with an Erlang handler, four ways, alternating
between rounds on fresh servers: no event handler attached (Ferry's
counters and histogram are always kept), a ferry_telemetry handler on
[ferry, request, stop], that handler with Rust's `sent` events (stop
waits for them), and that handler with the access log (one logger
line per request, written to the server's log file; it turns Rust's
`sent` events on, and stop then waits for them). Compare the ratios, not
the req/s: the machine is shared.

BENCH_OBS_BEFORE=DIR adds a fifth way: bench_ferry with the ferry ebin in
DIR, e.g. the OTP app of a commit before issue 12 compiled with erlc (same
Rust binary), to see what the hooks cost when nobody listens.
"""
import os
import statistics

import scenarios
import servers

MODES = (("none", "no handler attached"),
         ("handler", "a telemetry handler on stop"),
         ("sent", "handler + sent_events"),
         ("access_log", "access log + handler"))


def spec(mode, label):
    if mode == "before":
        return {"name": "ferry_before", "label": label,
                "argv": servers.erl("bench_ferry", servers.FERRY_SHARDS, servers.FERRY_BIN,
                                    paths=(os.environ["BENCH_OBS_BEFORE"],))}
    return {"name": f"ferry_obs_{mode}", "label": f"Ferry (Erlang handler), {label}",
            "argv": servers.erl("bench_ferry_obs", servers.FERRY_SHARDS, servers.FERRY_BIN, mode,
                                paths=(servers.FERRY_EBIN,))}


def run(bench, s, log):
    """Rounds of the modes; returns their medians and ratios to `none`."""
    modes = MODES + ((("before", "before issue 12"),) if os.environ.get("BENCH_OBS_BEFORE") else ())
    figs = {mode: [] for mode, _ in modes}
    for r in range(s.rounds):
        for mode, label in (modes if r % 2 == 0 else tuple(reversed(modes))):
            def hello(server, mode=mode):
                fig = scenarios.hello(server, s, 50)
                figs[mode].append(fig)
                log(f"round {r + 1}/{s.rounds} observed: {mode:10} {fig['rps']:9.0f} req/s  "
                    f"p99 {fig['p99_ms']:.2f} ms  cpu {fig['cpu_us_per_req']:.1f} us/req  "
                    f"non-2xx {fig['non_2xx']}")
            bench.with_server(spec(mode, label), f"scenario 13 ({mode})", hello)
    out = {}
    for mode, label in modes:
        if not figs[mode]:
            continue
        med = lambda k: statistics.median(f[k] for f in figs[mode])
        out[mode] = {"label": label, "rps": med("rps"), "cpu_us_per_req": med("cpu_us_per_req"),
                     "p99_ms": med("p99_ms"), "runs": figs[mode]}
    base = out.get("none")
    for mode, fig in out.items():
        if base:
            fig["rps_ratio"] = fig["rps"] / base["rps"]
            fig["cpu_ratio"] = fig["cpu_us_per_req"] / base["cpu_us_per_req"]
        log(f"observed, {fig['label']:26}: {fig['rps']:9.0f} req/s "
            f"({fig.get('rps_ratio', 1):.3f} of none), {fig['cpu_us_per_req']:.1f} us/req "
            f"({fig.get('cpu_ratio', 1):.3f}), p99 {fig['p99_ms']:.2f} ms")
    return out
