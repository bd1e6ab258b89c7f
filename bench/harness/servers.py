"""The servers of the benchmark: how to start each and what it can be asked.

Every server answers GET / with 200 "Hello, world!". `scenarios` says which
of the scenarios 1-11 it takes part in: 1-3 need only that route; 4 and 5
need POST /upload and GET /download?bytes=N; 6 (restart after kill -9) only
means something for Ferry; 7 (chunked uploads, issue 9) runs on Ferry;
8-11 (WebSocket, issue 13) need GET /ws (echo), GET /ws/sub (a subscriber)
and POST /publish, and run on the servers that speak WebSocket (`ws_deflate`:
it speaks permessage-deflate too); 14-15 (files, issue 10) need GET
/file?bytes=N and POST /upload_file (file_scenarios.py). Every BEAM server runs with the same VM flags.
"""
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH_EBIN = os.path.join(ROOT, "target", "bench", "ebin")
FERRY_BIN = os.path.join(ROOT, "target", "release", "ferry")
TINY_HTTP_BIN = os.path.join(ROOT, "target", "release", "examples", "tiny_http_baseline")
FLOOR_BIN = os.path.join(ROOT, "target", "release", "examples", "floor")
WS_CLIENT_BIN = os.path.join(ROOT, "target", "release", "examples", "ws_client")
FERRY_EBIN = os.path.join(ROOT, "erl", "_build", "default", "lib", "ferry", "ebin")
YAWS_EBIN = "/usr/lib/yaws/ebin"
RUN_DIR = os.path.join(ROOT, "target", "bench", "run")

# The same for every BEAM server; BENCH_VM_FLAGS replaces them for experiments.
# No busy-waiting schedulers: on 2 CPUs they take the time wrk and, for Ferry,
# the Rust port process need (msacc: 37% of scheduler time in busy wait at
# OTP defaults); an A/B gave mochiweb and Ferry alike about +10%.
# +swt very_high: a scheduler wakes a sleeping one less eagerly; on 2 CPUs
# each such wake-up is a futex round trip that wrk also waits for. A/B at
# 50 conns: Ferry +10%, mochiweb +4%, yaws +17%, inets +15%.
DEFAULT_VM_FLAGS = "+swt very_high +sbwt none +sbwtdcpu none +sbwtdio none"
# BENCH_VM_EXTRA is added to them (profile.py: perf map, BEAM probes).
VM_FLAGS = (os.environ.get("BENCH_VM_FLAGS", DEFAULT_VM_FLAGS).split()
            + os.environ.get("BENCH_VM_EXTRA", "").split())

# Ferry's shards (port processes on one SO_REUSEPORT address) for scenarios 1-5.
# Ferry's own default, 1: on 2 CPUs that wrk shares, a second Rust process
# costs more than it gives (alternated A/B, 50 conns: 1 shard 71-85k req/s
# at 7 us of Rust CPU per request, 2 shards 66-74k at 9 us).
FERRY_SHARDS = os.environ.get("BENCH_FERRY_SHARDS", "1")


def erl(module, *args, paths=()):
    """argv of a bench server module started with `erl -run`."""
    pa = []
    for p in (BENCH_EBIN, *paths):
        pa += ["-pa", p]
    return lambda port: ["erl", "-noshell", *VM_FLAGS, *pa, "-run", module, "start",
                         str(port), *[a(port) if callable(a) else a for a in args]]


def ferry_elixir(port):
    return ["mix", "run", "--no-compile",
            os.path.join(ROOT, "bench", "servers", "ferry_router_bench.exs"),
            str(port), FERRY_SHARDS, FERRY_BIN]


SERVERS = [
    {"name": "ferry_erl", "label": "Ferry (Erlang handler)", "short": "Ferry\\n(Erlang)", "reference": True,
     "argv": erl("bench_ferry", FERRY_SHARDS, FERRY_BIN, paths=(FERRY_EBIN,)),
     "scenarios": {1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 14, 15}, "ws_deflate": True},
    {"name": "ferry_ex", "label": "Ferry (Elixir Ferry.Router)", "short": "Ferry\\n(Elixir)",
     "argv": ferry_elixir, "cwd": os.path.join(ROOT, "elixir_client"),
     "env": {"MIX_ENV": "prod", "ELIXIR_ERL_OPTIONS": " ".join(VM_FLAGS)},
     "scenarios": {1, 2, 3}},
    {"name": "mochiweb", "label": "mochiweb 3.1",
     "argv": erl("bench_mochiweb"), "scenarios": {1, 2, 3, 4, 5, 14, 15}},
    {"name": "yaws", "label": "yaws 2.1",
     "argv": erl("bench_yaws", os.path.join(RUN_DIR, "yaws"), paths=(YAWS_EBIN,)),
     "scenarios": {1, 2, 3, 8, 9, 10, 11}},
    {"name": "inets", "label": "inets httpd (OTP)",
     "argv": erl("bench_inets", os.path.join(RUN_DIR, "inets")), "scenarios": {1, 2, 3}},
    {"name": "tiny_http", "label": "tiny_http (Rust, no BEAM)",
     "argv": lambda port: [TINY_HTTP_BIN, str(port)], "scenarios": {1, 2, 3, 4, 5, 14, 15}},
    {"name": "floor", "label": "floor (bare mio loop, no HTTP, no BEAM)", "short": "floor\\n(no work)",
     "argv": lambda port: [FLOOR_BIN, str(port)], "scenarios": {1, 2}},
]

# Scenario 6 kills the only port process, so it runs on a one-shard listener.
FERRY_RESTART = {"name": "ferry_restart", "label": "Ferry (Erlang handler, 1 shard)",
                 "argv": erl("bench_ferry", "1", FERRY_BIN, paths=(FERRY_EBIN,))}


def selected():
    """SERVERS, or those named in BENCH_SERVERS (comma-separated)."""
    names = os.environ.get("BENCH_SERVERS")
    if not names:
        return SERVERS
    wanted = names.split(",")
    return [s for s in SERVERS if s["name"] in wanted]
