#!/usr/bin/env python3
"""idle_holder.py over TLS (scenario 12): holds COUNT idle keep-alive HTTPS
connections to HOST:PORT from SRC, each after one `GET /`, so its handshake
is done and it waits for its next request. Same stdin/stdout protocol as
idle_holder.py: `ready OPEN FAILED`, then `alive N` for each `check`."""
import socket
import ssl

import idle_holder
from idle_holder import REQUEST

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def open_one(host, port, src):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    raw.settimeout(10)
    try:
        raw.bind((src, 0))
        raw.connect((host, port))
        s = CTX.wrap_socket(raw, server_hostname="localhost")
        s.sendall(REQUEST)
        got = b""
        while not got.endswith(b"Hello, world!"):
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed before the answer")
            got += chunk
        return s
    except (OSError, ssl.SSLError):
        raw.close()
        return None


def alive(conns):
    """Open as the kernel sees it: MSG_PEEK on the raw descriptor."""
    n = 0
    for s in conns:
        try:
            peek = socket.socket(fileno=s.fileno())
            try:
                peek.setblocking(False)
                if peek.recv(1, socket.MSG_PEEK) != b"":
                    n += 1
            except BlockingIOError:
                n += 1
            finally:
                peek.detach()
        except OSError:
            pass
    return n


if __name__ == "__main__":
    idle_holder.main(open_one, alive)
