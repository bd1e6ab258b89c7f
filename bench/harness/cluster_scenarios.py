"""Scenario 16 (issue 14): Ferry across BEAM nodes on this machine.

One server, bench/servers/bench_ferry_cluster.erl: an edge node with two
application nodes and a second edge node, all started by the edge with OTP's
`peer` (so they are in its process tree, and their CPU is counted).
  * hello req/s, 50 connections: handled on the edge (GET /), on one
    application node (GET /r1) and spread over two (GET /r2), in the same
    run, alternating order each round; CPU per request of the whole tree.
  * publish to subscribers spread over the two edge nodes (ws_client
    fanout with both ports): time from the POST until the last subscriber
    has the message.
"""
import urllib.request

import servers
import ws_scenarios
import os

from cells import med, ms, spread
from procs import cpu_seconds, proc_kind, process_tree
from scenarios import run_wrk

SPEC = {"name": "ferry_cluster", "label": "Ferry cluster (edge + 2 app nodes + edge2)",
        "argv": servers.erl("bench_ferry_cluster", servers.FERRY_BIN, *servers.VM_FLAGS,
                            paths=(servers.FERRY_EBIN,))}
PATHS = (("local", "/"), ("remote, 1 app node", "/r1"), ("remote, 2 app nodes", "/r2"))


def _wrk(port, path, connections, seconds):
    return run_wrk(f"http://127.0.0.1:{port}{path}", connections, seconds)


def _node_of(pid, root):
    """Which node a process of the tree belongs to: its own VM's or its
    parent's (a Rust port process, erl_child_setup), by the VM's -sname."""
    while pid not in (root, 1):
        if proc_kind(pid) == "vm":
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            name = args[args.index(b"-sname") + 1].decode() if b"-sname" in args else "?"
            return name.split("-")[0]
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    return "edge"


def _tree(server):
    """The edge's process tree and its peers' (peer starts them detached;
    their -sname ends with the edge's OS pid, peer:random_name/1)."""
    pids = server.tree()
    suffix = f"-{server.proc.pid}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and proc_kind(int(entry)) == "vm":
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"-sname" in args and args[args.index(b"-sname") + 1].endswith(suffix):
                pids += process_tree(int(entry))
    return pids


def _hello(server, s, path):
    _wrk(server.port, path, 50, s.warmup)
    pids = _tree(server)
    groups = {}
    for p in pids:
        try:
            key = _node_of(p, server.proc.pid) + ("/rust" if proc_kind(p) == "rust" else "")
        except (OSError, ValueError):
            continue
        groups.setdefault(key, []).append(p)
    cpu0 = {k: cpu_seconds(ps) for k, ps in groups.items()}
    fig = _wrk(server.port, path, 50, s.duration)
    n = max(fig["requests"], 1)
    fig["cpu_us_per_req_by_node"] = {k: (cpu_seconds(ps) - cpu0[k]) * 1e6 / n
                                     for k, ps in groups.items()}
    fig["cpu_us_per_req"] = sum(fig["cpu_us_per_req_by_node"].values())
    return fig


def run(run, s, res, log):
    subs = s.fanout_subscribers[-1]

    def body(server):
        fig = {"hello": {label: [] for label, _ in PATHS}}
        for r in range(s.rounds):
            for label, path in (PATHS if r % 2 == 0 else tuple(reversed(PATHS))):
                f = _hello(server, s, path)
                fig["hello"][label].append(f)
                log(f"round {r + 1}/{s.rounds} cluster {label:20}: {f['rps']:9.0f} req/s  "
                    f"p99 {f['p99_ms']:.2f} ms  cpu {f['cpu_us_per_req']:.1f} us/req  "
                    f"errors {f['socket_errors']}  non-2xx {f['non_2xx']}  (" + ", ".join(
                        f"{k} {v:.0f}" for k, v in sorted(f["cpu_us_per_req_by_node"].items())
                        if v >= 0.5) + ")")
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/edge2", timeout=10) as r:
            port2 = int(r.read())
        pids = ",".join(map(str, _tree(server)))
        out = ws_scenarios._client(["fanout", f"{server.port},{port2}", "/ws/sub", subs,
                                    s.fanout_rounds, pids], 300 + s.fanout_rounds * 30)
        fig["publish"] = {"subscribers": subs, "edges": 2,
                          "last_ms": [x["last_us"] / 1e3 for x in out["rounds"]],
                          "median_ms": [x["median_us"] / 1e3 for x in out["rounds"]]}
        log(f"cluster publish to {subs} over 2 edges: last " + " ".join(
            f"{x:.1f}" for x in fig["publish"]["last_ms"]) + " ms")
        res["cluster"] = fig

    run.with_server(SPEC, "scenario 16", body)


def rows(res, row):
    """Scenario 16's rows of the table, in the Ferry (Erlang) column:
    `row(label, cell)` with `cell()` the text."""
    fig = res.get("cluster")
    if not fig:
        return
    for i, (label, _) in enumerate(PATHS):
        runs = fig["hello"][label]
        row(("16. cluster hello, " if i == 0 else "    ") + f"{label}: req/s",
            lambda: spread([f["rps"] for f in runs], lambda x: f"{x / 1000:.1f}k"))
        row("       CPU µs/request: edge VM of all nodes",
            lambda: spread([f["cpu_us_per_req_by_node"].get("edge", 0) for f in runs],
                           lambda x: f"{x:.0f}") + " of " +
            f"{med([f['cpu_us_per_req'] for f in runs]):.0f}")
    pub = fig["publish"]
    row(f"    publish to {pub['subscribers']} over 2 edges: last, ms",
        lambda: spread(pub["last_ms"], ms))
