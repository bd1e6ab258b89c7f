"""Scenario 12 (issue 11): HTTPS. Ferry terminating TLS in Rust (rustls)
against mochiweb over Erlang's ssl, and against the same Ferry VM over
plain TCP, in the same run: hello world over keep-alive connections
(req/s, p99), new connections per second with `connection: close` (a full
handshake each, no resumption: wrk does not resume sessions), and bytes
per idle TLS connection. The servers are bench/servers/bench_tls.erl:
plain TCP on PORT, TLS on a second free port, an ECDSA P-256 certificate
made here.
"""
import os
import subprocess
import sys

import scenarios
from procs import cpu_seconds, free_port
from servers import BENCH_EBIN, FERRY_BIN, FERRY_EBIN, RUN_DIR, VM_FLAGS

CERT_DIR = os.path.join(RUN_DIR, "tls")
HOLDER = os.path.join(scenarios.CLIENTS, "tls_idle_holder.py")
# A server's TLS port, by its plain one: a free port of its own, as
# PORT+1 may be a client's (wrk's thousands of connections) at the time.
TLS_PORTS = {}


def _certs():
    cert, key = os.path.join(CERT_DIR, "cert.pem"), os.path.join(CERT_DIR, "key.pem")
    if not os.path.exists(cert):
        os.makedirs(CERT_DIR, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost"],
                       check=True, capture_output=True)
    return cert, key


def _erl(fun, *args):
    def argv(port):
        TLS_PORTS[port] = free_port()
        return ["erl", "-noshell", *VM_FLAGS, "-pa", BENCH_EBIN, "-pa", FERRY_EBIN,
                "-run", "bench_tls", fun, str(port), str(TLS_PORTS[port]), *args]
    return argv


def servers():
    cert, key = _certs()
    return [{"name": "ferry_tls", "label": "Ferry (rustls)", "argv": _erl("ferry", FERRY_BIN, cert, key)},
            {"name": "mochiweb_ssl", "label": "mochiweb 3.1 (Erlang ssl)", "argv": _erl("mochiweb", cert, key)}]


def _wrk(url, connections, seconds, close):
    return scenarios.run_wrk(url, connections, seconds, headers=["Connection: close"] if close else [])


def _measure(server, s, url, close):
    """wrk's figures and the server's CPU µs per request (its whole tree)."""
    try:
        _wrk(url, 50, s.warmup, close)
    except RuntimeError:
        pass  # a VM's first handshakes load ssl's code: the warm-up is for that
    pids = server.tree()
    cpu0 = cpu_seconds(pids)
    fig = _wrk(url, 50, s.duration, close)
    fig["cpu_us_per_req"] = (cpu_seconds(pids) - cpu0) * 1e6 / max(fig["requests"], 1)
    return fig


def run(run, s, log):
    """Every figure of scenario 12, rounds alternating the two servers."""
    specs = servers()
    res = {"keepalive": {}, "handshake": {}, "idle": {}}
    for r in range(s.rounds):
        for spec in (specs if r % 2 == 0 else list(reversed(specs))):
            def measure(server, spec=spec):
                rows = [("keepalive", spec["name"], f"https://127.0.0.1:{TLS_PORTS[server.port]}/", False),
                        ("handshake", spec["name"], f"https://127.0.0.1:{TLS_PORTS[server.port]}/", True)]
                if spec["name"] == "ferry_tls":
                    rows.append(("keepalive", "ferry_plain", f"http://127.0.0.1:{server.port}/", False))
                for kind, name, url, close in rows:
                    fig = _measure(server, s, url, close)
                    res[kind].setdefault(name, []).append(fig)
                    log(f"round {r + 1}/{s.rounds} {name:12} {kind:9}: {fig['rps']:8.0f} req/s  "
                        f"p99 {fig['p99_ms']:.2f} ms  cpu {fig['cpu_us_per_req']:.0f} us/req  "
                        f"errors {fig['socket_errors']}")
            run.with_server(spec, "scenario 12", measure)
    for spec in specs:
        def idle(server, spec=spec):
            holder = lambda port, src, count: [sys.executable, HOLDER, "127.0.0.1", str(TLS_PORTS[port]), src, str(count)]
            fig = scenarios.idle(server, s, holder)
            res["idle"][spec["name"]] = fig
            log(f"{spec['name']:12} idle TLS: {fig['alive']} alive, {fig['bytes_per_conn']:.0f} B/conn "
                f"(vm {fig['bytes_per_conn_vm']:.0f}, rust {fig['bytes_per_conn_rust']:.0f})")
        run.with_server(spec, "scenario 12 (idle)", idle)
    return res


def _median(figs, key):
    v = sorted(f[key] for f in figs)
    return v[len(v) // 2] if v else 0.0


def table(res):
    """Scenario 12's table, with the issue's three ratios."""
    rows = ["| | keep-alive req/s | p99 ms | CPU µs/req | handshakes/s (connection: close) | p99 ms | CPU µs/conn | idle B/conn |",
            "|---|---|---|---|---|---|---|---|"]
    for name in ("ferry_tls", "mochiweb_ssl", "ferry_plain"):
        ka, hs = res["keepalive"].get(name, []), res["handshake"].get(name, [])
        idle = res["idle"].get(name, {}).get("bytes_per_conn")
        hs_cells = (f"{_median(hs, 'rps'):.0f} | {_median(hs, 'p99_ms'):.2f} | {_median(hs, 'cpu_us_per_req'):.0f}"
                    if hs else "- | - | -")
        idle_cell = f"{idle:.0f}" if idle is not None else "-"
        rows.append(f"| {name} | {_median(ka, 'rps'):.0f} | {_median(ka, 'p99_ms'):.2f} | "
                    f"{_median(ka, 'cpu_us_per_req'):.1f} | {hs_cells} | {idle_cell} |")
    ka = {n: _median(res["keepalive"].get(n, []), "rps") for n in ("ferry_tls", "mochiweb_ssl", "ferry_plain")}
    hs = {n: _median(res["handshake"].get(n, []), "rps") for n in ("ferry_tls", "mochiweb_ssl")}
    ratio = lambda a, b: a / b if b else float("nan")
    rows.append("")
    rows.append(f"keep-alive TLS: Ferry / mochiweb-ssl = {ratio(ka['ferry_tls'], ka['mochiweb_ssl']):.2f} (goal >= 3); "
                f"handshakes: {ratio(hs['ferry_tls'], hs['mochiweb_ssl']):.2f} (goal >= 3); "
                f"Ferry TLS / plain = {ratio(ka['ferry_tls'], ka['ferry_plain']):.2f} (goal >= 0.70)")
    cpu = lambda kind, n: _median(res[kind].get(n, []), "cpu_us_per_req")
    rows.append(f"server CPU per request, mochiweb-ssl / Ferry TLS: keep-alive "
                f"{ratio(cpu('keepalive', 'mochiweb_ssl'), cpu('keepalive', 'ferry_tls')):.1f}x, "
                f"handshakes {ratio(cpu('handshake', 'mochiweb_ssl'), cpu('handshake', 'ferry_tls')):.1f}x")
    return "\n".join(rows)
