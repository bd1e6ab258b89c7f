#!/usr/bin/env python3
"""WebSocket clients for ferry_realtime_SUITE, in an OS process of their own
so that they do not take the VM's schedulers from the server they load.

    flood.py read PORT PATH COUNT SECONDS   COUNT members that read all they get
    flood.py chat PORT PATH COUNT SECONDS   COUNT clients that each send text
                                            frames as fast as they can, and
                                            read all they get

Prints `ready` once every connection is open (the handshake done), then,
after SECONDS, one line: `done OPEN SENT BYTES` (connections still open,
frames sent, bytes read).
"""
import base64, os, selectors, socket, sys, time

def connect(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\n"
               f"connection: Upgrade\r\nsec-websocket-key: {key}\r\n"
               "sec-websocket-version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit(f"closed during the handshake: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"no 101: {head!r}")
    s.setblocking(False)
    return s

def frame(text):
    # Masked with a zero mask: the server unmasks it all the same.
    return bytes([0x81, 0x80 | len(text)]) + b"\0\0\0\0" + text

def main():
    mode, port, path, count, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    socks = [connect(port, path) for _ in range(count)]
    print("ready", flush=True)
    sel = selectors.DefaultSelector()
    chat = mode == "chat"
    for s in socks:
        sel.register(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if chat else 0))
    msg = frame(b"hello, room")
    # What a socket did not take of its last frame, sent before the next.
    rest = {}
    open_, sent, read = len(socks), 0, 0
    until = time.monotonic() + seconds
    while time.monotonic() < until and open_:
        for key, events in sel.select(timeout=0.1):
            s = key.fileobj
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    sel.unregister(s)
                    open_ -= 1
                    continue
                if data:
                    read += len(data)
            if events & selectors.EVENT_WRITE:
                out = rest.pop(s, None) or msg
                try:
                    n = s.send(out)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError:
                    continue
                if n < len(out):
                    rest[s] = out[n:]
                elif out is msg:
                    sent += 1
    print(f"done {open_} {sent} {read}", flush=True)

main()
