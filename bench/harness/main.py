"""`make bench`: runs the scenarios against every server, alternating servers
between rounds, then writes bench/results/ (see bench/README.md).

Environment: BENCH_QUICK=1 for a smoke run (seconds, one round);
BENCH_ROUNDS, BENCH_DURATION to override; BENCH_SERVERS=a,b to run a subset;
BENCH_SCENARIOS=1,2 to run a subset of the scenarios; BENCH_CHUNKED for the
bytes of scenario 7's uploads; BENCH_FANOUT=2000,10000 for scenario 10's
group sizes.
"""
import json
import os
import sys
import time
from dataclasses import dataclass, asdict

import file_scenarios
import procs
import report
import scenarios
import servers
import tls_scenarios
import ws_scenarios
import obs_scenarios
import cluster_scenarios


@dataclass
class Settings:
    quick: bool
    rounds: int          # scenarios 1-2: rounds over all servers, alternating
    duration: int        # seconds of each measured wrk run
    warmup: int          # seconds of wrk before each measured run
    idle_connections: int
    idle_processes: int  # holder processes, one 127.0.0.x source address each
    idle_settle: float   # seconds between the last connect and the reading
    transfer_bytes: int
    transfer_runs: int   # scenarios 4-5, 14-15: runs per server (median MB/s, max peak)
    big_transfer_bytes: int  # 0 = skip the RSS-independence run on Ferry
    chunked_bytes: int   # scenario 7: one chunked upload per chunk size
    restarts: int
    restart_pause: float
    ws_echo_conns: int       # scenario 9: connections, each one message in flight
    ws_message_bytes: int    # scenario 9: bytes of each text message
    fanout_subscribers: tuple  # scenario 10: group sizes, a fresh server each
    fanout_rounds: int       # scenario 10: publishes per group size
    ws_big_bytes: int        # scenario 11: the message echoed
    ws_big_runs: int
    start_timeout: int = 60


def settings():
    quick = os.environ.get("BENCH_QUICK") == "1"
    env = lambda k, d: type(d)(os.environ.get(k, d))
    gib = 1 << 30
    return Settings(quick=quick,
                    rounds=env("BENCH_ROUNDS", 1 if quick else 5),
                    duration=env("BENCH_DURATION", 2 if quick else 8),
                    warmup=1 if quick else 2,
                    idle_connections=env("BENCH_IDLE", 1000 if quick else 10000),
                    idle_processes=4,
                    idle_settle=1.0 if quick else 3.0,
                    transfer_bytes=env("BENCH_TRANSFER", (gib // 8) if quick else gib),
                    transfer_runs=1 if quick else env("BENCH_ROUNDS", 5),
                    big_transfer_bytes=0 if quick else 4 * gib,
                    chunked_bytes=env("BENCH_CHUNKED", 100_000_000),
                    restarts=3 if quick else 10,
                    # ferry_port doubles its restart back-off while a port dies
                    # within 5 s (STABLE_MS) of its start: wait that out, so each
                    # kill is measured as the isolated crash it stands for.
                    restart_pause=5.5,
                    ws_echo_conns=100,
                    ws_message_bytes=32,
                    fanout_subscribers=tuple(int(x) for x in os.environ.get(
                        "BENCH_FANOUT", "200,1000" if quick else "2000,10000").split(",")),
                    fanout_rounds=3 if quick else 10,
                    ws_big_bytes=16 << 20,
                    ws_big_runs=1 if quick else 3)


class Run:
    """Starts servers for one measurement and keeps what went wrong."""

    def __init__(self, s, results_dir):
        self.s = s
        self.log_dir = os.path.join(servers.RUN_DIR, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.errors = []

    def with_server(self, spec, what, fn):
        name = spec["name"]
        server = procs.Server(spec, procs.free_port(), os.path.join(self.log_dir, f"{name}.log"))
        try:
            server.wait_ready(self.s.start_timeout)
            return fn(server)
        except Exception as e:  # one server failing must not sink the run
            msg = f"{name}: {what}: {e}"
            print(f"  ! {msg}", flush=True)
            self.errors.append(msg)
            return None
        finally:
            server.stop()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main():
    s = settings()
    wanted = {int(x) for x in os.environ.get("BENCH_SCENARIOS", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16").split(",")}
    # Only a full run of everything replaces the committed bench/results/;
    # smoke runs and subsets write to target/bench/results/.
    partial = s.quick or any(k in os.environ for k in (
        "BENCH_SERVERS", "BENCH_SCENARIOS", "BENCH_ROUNDS", "BENCH_DURATION",
        "BENCH_IDLE", "BENCH_TRANSFER", "BENCH_VM_FLAGS", "BENCH_FERRY_SHARDS", "BENCH_CHUNKED",
        "BENCH_FANOUT", "BENCH_UPLOAD_DIR"))
    results_dir = os.path.join(servers.ROOT, *(("target", "bench", "results") if partial
                                               else ("bench", "results")))
    os.makedirs(results_dir, exist_ok=True)
    run = Run(s, results_dir)
    chosen = servers.selected()
    res = {"settings": asdict(s), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "servers": [{k: sp.get(k, sp["label"]) for k in ("name", "label", "short")} for sp in chosen],
           "hello": {sp["name"]: {"50": [], "1000": []} for sp in chosen},
           "idle": {}, "upload": {}, "download": {}, "file": {}, "upload_file": {}, "chunked": {}, "restart": None,
           "ws_echo": {sp["name"]: [] for sp in chosen}, "ws_idle": {}, "ws_fanout": {}, "ws_big": {}}
    t_start = time.monotonic()
    if wanted & {14, 15}:
        res["file_dirs"] = file_scenarios.setup({s.transfer_bytes, s.big_transfer_bytes} - {0}, wanted)

    # Scenario 9 (WebSocket echo) goes round with 1 and 2: the same rounds,
    # the same alternation, on the same fresh server.
    if wanted & {1, 2, 9}:
        for r in range(s.rounds):
            order = chosen if r % 2 == 0 else list(reversed(chosen))
            for spec in order:
                if not wanted & {1, 2, 9} & spec["scenarios"]:
                    continue

                def hello(server):
                    for conns, scen in (("50", 1), ("1000", 2)):
                        if scen in wanted and scen in spec["scenarios"]:
                            fig = scenarios.hello(server, s, int(conns))
                            res["hello"][spec["name"]][conns].append(fig)
                            log(f"round {r + 1}/{s.rounds} {spec['name']:10} {conns:>4} conns: "
                                f"{fig['rps']:9.0f} req/s  p50 {fig['p50_ms']:.2f} ms  "
                                f"p99 {fig['p99_ms']:.2f} ms  cpu {fig['cpu_us_per_req']:.1f} us/req  "
                                f"errors {fig['socket_errors']}"
                                f"  non-2xx {fig['non_2xx']}")
                    if 9 in wanted and 9 in spec["scenarios"]:
                        fig = ws_scenarios.ws_echo(server, s)
                        res["ws_echo"][spec["name"]].append(fig)
                        log(f"round {r + 1}/{s.rounds} {spec['name']:10} ws echo: {fig['mps']:9.0f} msg/s  "
                            f"p99 {fig['p99_ms']:.2f} ms  cpu {fig['cpu_us_per_msg']:.1f} us/msg  "
                            f"(rust {fig['cpu_us_per_msg_rust']:.1f})  closed {fig['closed']}")
                run.with_server(spec, "hello", hello)

    for spec in chosen:
        sc = spec["scenarios"] & wanted

        def transfers(server, spec=spec, sc=sc):
            for scen, mode, *_ in ((4, "upload"), (5, "download"), *file_scenarios.TRANSFERS):
                if scen not in sc:
                    continue
                figs = [scenarios.transfer(server, mode, s.transfer_bytes)
                        for _ in range(s.transfer_runs)]
                entry = {"runs": figs}
                if s.big_transfer_bytes and spec.get("reference"):
                    entry["big"] = scenarios.transfer(server, mode, s.big_transfer_bytes)
                res[mode][spec["name"]] = entry
                log(f"{spec['name']:10} {mode}: " + ", ".join(
                    f"{f['mb_s']:.0f} MB/s peak {f['peak_kb']['total'] // 1024} MiB" for f in figs)
                    + (f"; {s.big_transfer_bytes >> 30} GiB: peak "
                       f"{entry['big']['peak_kb']['total'] // 1024} MiB" if "big" in entry else ""))

        # Idle connections on a server of their own: after gigabytes of
        # transfers a VM returns memory for a while, which would hide
        # (or fake) the bytes the connections cost.
        def idle(server, spec=spec):
            fig = scenarios.idle(server, s)
            res["idle"][spec["name"]] = fig
            log(f"{spec['name']:10} idle: {fig['alive']} alive, "
                f"{fig['bytes_per_conn']:.0f} B/conn (vm {fig['bytes_per_conn_vm']:.0f}, "
                f"rust {fig['bytes_per_conn_rust']:.0f})")

        if sc & {4, 5, 14, 15}:
            run.with_server(spec, "scenarios 4-5, 14-15", transfers)
        # A server of its own for each chunk size: a stalled upload cannot
        # spoil the other's figures, and each peak starts from a fresh VM.
        for label, size in (scenarios.CHUNK_SIZES if 7 in sc else ()):
            def chunked(server, spec=spec, label=label, size=size):
                figs = [scenarios.chunked_upload(server, s.chunked_bytes, size)
                        for _ in range(s.transfer_runs)]
                res["chunked"].setdefault(spec["name"], {})[label] = {"runs": figs}
                log(f"{spec['name']:10} chunked upload, {label} chunks: " + ", ".join(
                    f"{f['mb_s']:.0f} MB/s peak {f['peak_kb']['rust'] // 1024} + "
                    f"{f['peak_kb']['vm'] // 1024} MiB" for f in figs))
            run.with_server(spec, f"scenario 7 ({label} chunks)", chunked)
        if 3 in sc:
            run.with_server(spec, "scenario 3", idle)
        # WebSocket: a fresh server for each variant and group size, as 3.
        for label, path, deflate in (ws_scenarios.idle_variants(spec) if 8 in sc else ()):
            def ws_idle(server, spec=spec, label=label, path=path, deflate=deflate):
                fig = ws_scenarios.ws_idle(server, s, path, deflate)
                res["ws_idle"].setdefault(spec["name"], {})[label] = fig
                log(f"{spec['name']:10} ws idle ({label}): {fig['alive']} alive, "
                    f"{fig['bytes_per_conn']:.0f} B/conn (vm {fig['bytes_per_conn_vm']:.0f}, "
                    f"rust {fig['bytes_per_conn_rust']:.0f})")
            run.with_server(spec, f"scenario 8 ({label})", ws_idle)
        for subs in (s.fanout_subscribers if 10 in sc else ()):
            def fanout(server, spec=spec, subs=subs):
                fig = ws_scenarios.ws_fanout(server, s, subs)
                res["ws_fanout"].setdefault(spec["name"], {})[str(subs)] = fig
                log(f"{spec['name']:10} publish to {subs}: last " + " ".join(
                    f"{x:.1f}" for x in fig["last_ms"]) + " ms (client reading meanwhile: " + " ".join(
                    f"{x:.1f}" for x in fig["reading_last_ms"]) + " ms); VM cpu " + " ".join(
                    f"{x:.0f}" for x in fig["vm_cpu_us"]) + " us")
            run.with_server(spec, f"scenario 10 ({subs})", fanout)
        if 11 in sc:
            def big(server, spec=spec):
                fig = ws_scenarios.ws_big(server, s)
                res["ws_big"][spec["name"]] = fig
                log(f"{spec['name']:10} {fig['bytes'] >> 20} MiB echo: " + ", ".join(
                    f"{x:.2f} s" for x in fig["seconds"]))
            run.with_server(spec, "scenario 11", big)

    if 6 in wanted and any(sp.get("reference") for sp in chosen):
        def restart(server):
            res["restart"] = scenarios.restart(server, s)
            log("restart: " + " ".join(f"{t:.0f}" for t in res["restart"]["ms"]) + " ms")
        run.with_server(servers.FERRY_RESTART, "restart", restart)

    file_scenarios.cleanup()
    if 12 in wanted:  # HTTPS: its own servers (bench/harness/tls_scenarios.py)
        res["tls"] = tls_scenarios.run(run, s, log)
        with open(os.path.join(results_dir, "tls.md"), "w") as f:
            f.write(tls_scenarios.table(res["tls"]) + "\n")
    if 13 in wanted:
        res["observed"] = obs_scenarios.run(run, s, log)
    if 16 in wanted:
        cluster_scenarios.run(run, s, res, log)

    res["errors"] = run.errors
    res["elapsed_s"] = time.monotonic() - t_start
    raw = os.path.join(results_dir, time.strftime("run-%Y%m%dT%H%M%S.raw", time.gmtime()))
    with open(raw, "w") as f:
        json.dump(res, f, indent=1)
    table = report.write(res, results_dir)
    print()
    print(table)
    log(f"done in {res['elapsed_s']:.0f} s; raw figures in {raw}")
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
