"""The WebSocket scenarios of issue 13 (8-11). Each takes a running
procs.Server and the run's settings (main.Settings) and returns a dict of
figures (or raises). The client is the Rust example bench/ws_client/
(one mio loop; see its usage), the servers' routes are
bench/servers/bench_ferry_ws.erl and bench_yaws_ws.erl.
"""
import json
import subprocess

from procs import proc_kind
from scenarios import idle
from servers import WS_CLIENT_BIN

# Scenario 8's variants: (label, path, offer permessage-deflate). Every
# connection sends one 100-byte text message and reads its echo before it
# idles, so a deflate connection has both its contexts, as a real client's.
IDLE_VARIANTS = (("plain", "/ws", False),
                 ("hibernate", "/ws?hibernate", False),
                 ("deflate", "/ws", True),
                 ("deflate + hibernate", "/ws?hibernate", True))


def idle_variants(spec):
    """The variants a server takes part in: deflate only where it speaks it."""
    return [v for v in IDLE_VARIANTS if spec.get("ws_deflate") or not v[2]]


def ws_idle(server, s, path, deflate):
    def holder(port, src, count):
        return [WS_CLIENT_BIN, "idle", str(port), path, str(count), src, *(["deflate"] if deflate else [])]
    return idle(server, s, holder)


def _client(args, timeout):
    out = subprocess.run([WS_CLIENT_BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"ws_client {args[0]} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def _pids(server):
    """Comma-separated pids of the server's tree, and their kinds."""
    pids = server.tree()
    return ",".join(map(str, pids)), {str(p): proc_kind(p) for p in pids}


def _cpu_us(cpu_ns, kinds, kind=None):
    """µs of CPU in a client's `cpu_ns` map, of one kind of process or all."""
    return sum(ns for pid, ns in cpu_ns.items() if kind is None or kinds.get(pid) == kind) / 1e3


def ws_echo(server, s):
    """Scenario 9: round trips per second over `ws_echo_conns` connections,
    each sending a `ws_message_bytes` text message and waiting for its echo;
    server CPU per message from the processes' CPU clocks over the same
    window the client counts."""
    pids, kinds = _pids(server)
    fig = _client(["echo", server.port, "/ws", s.ws_echo_conns, s.warmup, s.duration,
                   s.ws_message_bytes, pids], s.warmup + s.duration + 60)
    n = max(fig["messages"], 1)
    return {"mps": fig["messages"] / fig["seconds"], "messages": fig["messages"],
            "p50_ms": fig["p50_us"] / 1e3, "p99_ms": fig["p99_us"] / 1e3, "closed": fig["closed"],
            "cpu_us_per_msg": _cpu_us(fig["cpu_ns"], kinds) / n,
            "cpu_us_per_msg_rust": _cpu_us(fig["cpu_ns"], kinds, "rust") / n,
            "client_cpu_us_per_msg": fig["client_cpu_ns"] / 1e3 / n}


def ws_fanout(server, s, subscribers):
    """Scenario 10: `fanout_rounds` publishes (POST /publish) to a group of
    `subscribers`; for each, the time from the request until the last
    subscriber's socket had the message (the kernel's receive timestamp),
    and the CPU the VM and the Rust process used for it (net of their idle
    rate).

    Each round publishes twice. First with the client reading nothing until
    the server has answered and gone quiet (`alone`): the server has the
    machine's two CPUs, as it would with its subscribers on other machines
    (on loopback it still does the receiving side's TCP work). Then with the
    client reading each subscriber as its message arrives (`reading`, the
    figure up to 2026-11-30): its ~2.5 µs a message is taken from the same
    two CPUs while the server writes (bench/README.md, "Publish: the client
    on the server's CPUs")."""
    pids, kinds = _pids(server)
    fig = _client(["fanout", server.port, "/ws/sub", subscribers, s.fanout_rounds, pids, "alone,reading"],
                  300 + s.fanout_rounds * 60)
    def net_cpu_us(r, kind):
        # Less what the process used at its idle rate (the quiet 300 ms
        # before the publish) over the window: at 10,000 subscribers the
        # window is long enough for the VM's housekeeping to show.
        idle = _cpu_us(r["quiet_cpu_ns"], kinds, kind) * r["window_ns"] / r["quiet_ns"]
        return max(0.0, _cpu_us(r["cpu_ns"], kinds, kind) - idle)
    alone = [r for r in fig["rounds"] if r["mode"] == "alone"]
    reading = [r for r in fig["rounds"] if r["mode"] == "reading"]
    return {"subscribers": subscribers,
            "last_ms": [r["last_us"] / 1e3 for r in alone],
            "median_ms": [r["median_us"] / 1e3 for r in alone],
            "client_done_ms": [r["client_done_us"] / 1e3 for r in alone],
            "vm_cpu_us": [net_cpu_us(r, "vm") for r in alone],
            "rust_cpu_us": [net_cpu_us(r, "rust") for r in alone],
            "reading_last_ms": [r["last_us"] / 1e3 for r in reading],
            "reading_median_ms": [r["median_us"] / 1e3 for r in reading]}


def ws_big(server, s):
    """Scenario 11: one binary message of `ws_big_bytes` sent and echoed,
    `ws_big_runs` times on one connection."""
    pids, kinds = _pids(server)
    fig = _client(["big", server.port, "/ws", s.ws_big_bytes, s.ws_big_runs, pids], 330 * s.ws_big_runs)
    return {"bytes": fig["bytes"], "seconds": [r["seconds"] for r in fig["rounds"]],
            "cpu_s": [_cpu_us(r["cpu_ns"], kinds) / 1e6 for r in fig["rounds"]]}
