#!/usr/bin/env python3
"""Holds COUNT idle keep-alive connections to HOST:PORT from source address SRC.

Scenario 3 of the benchmark starts several of these, each from its own
127.0.0.x address (so no process runs short of ephemeral ports) and each far
under the 20,000 open-file limit of a process.

Every connection is bound to SRC, connected, sends one `GET /` and reads the
answer, so it sits in the server's "keep-alive, waiting for the next request"
state. Then, on stdout: `ready OPEN FAILED`. On each line `check` from stdin:
`alive N`, the connections the server has not closed. End of stdin: close all.
"""
import errno
import select
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n"


def open_one(host, port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(10)
    try:
        s.bind((src, 0))
        s.connect((host, port))
        s.sendall(REQUEST)
        got = b""
        # A hello-world answer: the head, then a 13-byte body.
        while not got.endswith(b"Hello, world!"):
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed before the answer")
            got += chunk
        s.setblocking(False)
        return s
    except OSError:
        s.close()
        return None


def alive(conns):
    n = 0
    for s in conns:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue  # the server closed it
            n += 1  # unexpected bytes, but still open
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main(open_one=open_one, alive=alive):
    """The holder's life; tls_idle_holder.py passes its own open and check."""
    host, port, src, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    conns, failed = [], 0
    for _ in range(count):
        s = open_one(host, port, src)
        if s is None:
            failed += 1
        else:
            conns.append(s)
    print(f"ready {len(conns)} {failed}", flush=True)
    for line in sys.stdin:
        if line.strip() == "check":
            print(f"alive {alive(conns)}", flush=True)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
