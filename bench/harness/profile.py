"""Where the CPU goes while Ferry serves a scenario: the profile behind the
findings filed for the owners (bench/README.md, "Profiling").

  python3 bench/harness/profile.py hello|upload|download [SECONDS]

Starts the Ferry bench server (Erlang handler) with the VM's perf map on
(+JPperf true, so JIT-compiled Erlang functions have names), drives it, and
samples the whole machine with `perf record -e cpu-clock -a -g` (the CPU's
hardware counters are not available in this VM; the cpu-clock timer is).
Writes target/bench/profile-<what>.txt: CPU by process, then the top
symbols of the Rust port program, the VM and the kernel on their behalf.
"""
import os
import subprocess
import sys
import threading
import time

# The VM writes /tmp/perf-PID.map so perf can name JIT-compiled Erlang code;
# servers.py reads the flags when it is imported.
# PROFILE_BEAM=msacc|eprof adds bench/servers/bench_probe.erl's report (in
# the server's log, target/bench/profile-<what>.log) for the same window.
_probe = os.environ.get("PROFILE_BEAM")
os.environ["BENCH_VM_EXTRA"] = "+JPperf true" + (
    f" -run bench_probe start {_probe} 3500 3000" if _probe else "")

import procs  # noqa: E402
import scenarios  # noqa: E402
import servers  # noqa: E402


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "hello"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    spec = next(s for s in servers.SERVERS if s["name"] == os.environ.get("PROFILE_SERVER", "ferry_erl"))
    out_dir = os.path.join(servers.ROOT, "target", "bench")
    os.makedirs(out_dir, exist_ok=True)
    data = os.path.join(out_dir, f"perf-{what}.data")
    server = procs.Server(spec, procs.free_port(), os.path.join(out_dir, f"profile-{what}.log"))
    try:
        server.wait_ready(60)
        if what == "hello":
            scenarios.wrk(server.port, 50, 2)  # warm-up
            load = threading.Thread(target=lambda: print(scenarios.wrk(server.port, 50, seconds + 2)))
        else:
            nbytes = int(os.environ.get("PROFILE_BYTES", 4 << 30))
            load = threading.Thread(target=lambda: print(scenarios.transfer(server, what, nbytes)))
        load.start()
        time.sleep(1)
        subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "999", "-a", "-g", "-o", data,
                        "--", "sleep", str(seconds)], capture_output=True, timeout=seconds + 60)
        load.join(timeout=600)
    finally:
        server.stop()
    report = os.path.join(out_dir, f"profile-{what}.txt")
    with open(report, "w") as f:
        def section(title, args):
            f.write(f"\n==== {title}\n")
            f.flush()
            subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                            "--percent-limit", "0.7", "--percentage", "relative", *args], stdout=f,
                           stderr=subprocess.DEVNULL, timeout=300)
        section("CPU by process", ["--sort", "comm", "-g", "none"])
        section("ferry (Rust port program)", ["--comms", "ferry", "--sort", "dso,sym", "-g", "none"])
        section("beam.smp scheduler threads", ["--comms", "1_scheduler,2_scheduler", "--sort", "dso,sym", "-g", "none"])
        section("ferry, call graphs", ["--comms", "ferry", "--sort", "sym", "-g", "caller,0.5,callee,function,percent", "--percent-limit", "3"])
    print(f"profile written to {report}")


if __name__ == "__main__":
    main()
