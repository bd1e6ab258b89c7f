#!/usr/bin/env python3
"""One large transfer against a bench server, for scenarios 4, 5, 7, 14 and 15.

  transfer.py upload      HOST PORT BYTES         POST /upload with a content-length body
  transfer.py download    HOST PORT BYTES         GET /download?bytes=BYTES
  transfer.py chunked     HOST PORT BYTES CHUNK   POST /upload, chunked, in chunks of CHUNK bytes
  transfer.py file        HOST PORT BYTES         GET /file?bytes=BYTES (a file of that size)
  transfer.py upload_file HOST PORT BYTES         POST /upload_file (the server writes it to a file)

Sends or receives in 1 MiB pieces (zeros, never held whole in memory; a
chunked upload's pieces are 1 MiB of data with their framing) and prints one
JSON line: bytes moved, seconds, status, and whether the server's
count (upload) or the received length (download) matched BYTES. Exit 1 on a
mismatch, so a broken transfer cannot pass for a fast one.
"""
import json
import socket
import sys
import time

PIECE = 1 << 20


def read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def read_body(sock, headers, rest):
    """The whole body, for a small response (content-length or chunked)."""
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return rest[:n]
    body = b""
    while True:
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        body += rest[:size]
        rest = rest[size + 2:]
        if size == 0:
            return body


def upload(sock, nbytes, path=b"/upload"):
    sock.sendall(b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: application/octet-stream\r\n"
                 b"content-length: %d\r\n\r\n" % (path, nbytes))
    piece = memoryview(bytes(PIECE))
    left = nbytes
    while left > 0:
        n = min(left, PIECE)
        sock.sendall(piece[:n])
        left -= n
    status, headers, rest = read_head(sock, b"")
    counted = read_body(sock, headers, rest)
    return status, counted.strip() == str(nbytes).encode()


def chunked_piece(chunk, nbytes):
    """nbytes of zeros as chunks of `chunk` bytes (the last one shorter)."""
    full, rest = divmod(nbytes, chunk)
    one = b"%x\r\n%s\r\n" % (chunk, bytes(chunk))
    return one * full + (b"%x\r\n%s\r\n" % (rest, bytes(rest)) if rest else b"")


def chunked_upload(sock, nbytes, chunk):
    """The body as chunks of `chunk` bytes, 1 MiB of data per send."""
    sock.sendall(b"POST /upload HTTP/1.1\r\nhost: bench\r\ncontent-type: application/octet-stream\r\n"
                 b"transfer-encoding: chunked\r\n\r\n")
    per_piece = max(chunk, PIECE // chunk * chunk)
    piece = chunked_piece(chunk, per_piece)
    left = nbytes
    while left >= per_piece:
        sock.sendall(piece)
        left -= per_piece
    sock.sendall(chunked_piece(chunk, left) + b"0\r\n\r\n")
    status, headers, rest = read_head(sock, b"")
    counted = read_body(sock, headers, rest)
    return status, counted.strip() == str(nbytes).encode()


def download(sock, nbytes, path=b"/download"):
    sock.sendall(b"GET %s?bytes=%d HTTP/1.1\r\nhost: bench\r\n\r\n" % (path, nbytes))
    status, headers, rest = read_head(sock, b"")
    buf = bytearray(PIECE)
    got = len(rest)
    if "content-length" in headers:
        want = int(headers["content-length"])
        while got < want:
            n = sock.recv_into(buf)
            if n == 0:
                break
            got += n
    else:  # chunked: count payload bytes only
        raise SystemExit("download: server did not send content-length")
    return status, got == nbytes


MODES = {"upload": (upload, b"/upload"), "download": (download, b"/download"),
         "file": (download, b"/file"), "upload_file": (upload, b"/upload_file")}


def main():
    mode, host, port, nbytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sock = socket.create_connection((host, port), timeout=60)
    t0 = time.perf_counter()
    if mode == "chunked":
        status, ok = chunked_upload(sock, nbytes, int(sys.argv[5]))
    else:
        run, path = MODES[mode]
        status, ok = run(sock, nbytes, path)
    seconds = time.perf_counter() - t0
    sock.close()
    print(json.dumps({"mode": mode, "bytes": nbytes, "seconds": seconds,
                      "status": status, "ok": ok and status == 200}))
    sys.exit(0 if ok and status == 200 else 1)


if __name__ == "__main__":
    main()
