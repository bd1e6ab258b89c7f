"""Starting, probing and stopping bench servers, and reading their memory.

A server is started in a session of its own, so stopping it (SIGTERM, then
SIGKILL) reaches the whole tree it spawned: the VM, erl_child_setup and the
Ferry port programs. Memory is read from /proc/PID/status of every process in
that tree, split into the VM (beam.smp), the Rust port programs and the rest.
"""
import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get_ok(port, path="/", timeout=1.0):
    """True when GET path answers 200 on a fresh connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n" % path.encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return data.split(b"\r\n", 1)[0].split()[1] == b"200"
    except (OSError, IndexError):
        return False


class Server:
    """One running bench server; `spec` is an entry of servers.SERVERS."""

    def __init__(self, spec, port, log_path, extra_env=None):
        self.spec, self.port = spec, port
        env = dict(os.environ, **spec.get("env", {}), **(extra_env or {}))
        self.log = open(log_path, "ab")
        # A VM that fails to start writes erl_crash.dump into its cwd: keep
        # that out of the checkout.
        cwd = spec.get("cwd") or os.path.dirname(log_path)
        self.proc = subprocess.Popen(spec["argv"](port), cwd=cwd, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec['name']} exited with {self.proc.returncode}"
                                   f" (log: {self.log.name})")
            if http_get_ok(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec['name']} not answering on {self.port} after {timeout}s"
                           f" (log: {self.log.name})")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self.log.close()

    def tree(self):
        return process_tree(self.proc.pid)

    def rust_pids(self):
        return [p for p in self.tree() if proc_kind(p) == "rust"]


def process_tree(root):
    """root and all its descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def proc_kind(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return "gone"
    if comm.startswith("beam"):
        return "vm"
    if comm in ("ferry", "tiny_http_basel", "floor"):
        return "rust"
    return "other"


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pids, field="VmRSS"):
    """{vm, rust, other, total} in KiB for `field` (VmRSS or VmHWM)."""
    out = {"vm": 0, "rust": 0, "other": 0}
    for pid in pids:
        kind = proc_kind(pid)
        if kind != "gone":
            out[kind] += status_kb(pid, field)
    out["total"] = out["vm"] + out["rust"] + out["other"]
    return out


def cpu_seconds(pids):
    """User + system CPU time used so far by these processes (all threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def reset_peak(pids):
    """Resets VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
