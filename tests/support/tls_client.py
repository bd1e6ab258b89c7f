"""A TLS client for tests/tls*.rs, on Python's ssl module.

    tls_client.py PORT CAFILE SNI MODE [key=value ...]

Prints what it learnt (VERSION, ALPN, CERT sha256 of the server's
certificate), then does MODE:
  talk      send stdin's bytes, print everything read until EOF
  upload N  POST N bytes (content-length), print the response
  download  GET (connection: close), print GOT <bytes> <all zero?>
  idle N    open N connections, print OPEN, hold them until stdin ends
  ws        WebSocket handshake, a masked text frame 'hello', print the answer
  ws_slow   WebSocket handshake, print OPEN, read nothing until a line on
            stdin, then read frames up to a close: print FRAMES <binary
            frames> CLOSE <code>, then END eof (the stream ended) or
            END error <why> (a reset)
Options: cert=PEM key=PEM (client certificate), max=1.2 (TLS 1.2 only),
path=/p, rcvbuf=BYTES (SO_RCVBUF, set before connecting). A failed handshake prints HANDSHAKE-FAILED; a failed read
after it (a client certificate refused under TLS 1.3) READ-FAILED.
"""
import hashlib
import os
import socket
import ssl
import sys

port, cafile, sni, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
args = [a for a in sys.argv[5:] if '=' not in a]
opts = dict(a.split('=', 1) for a in sys.argv[5:] if '=' in a)
ctx = ssl.create_default_context(cafile=cafile)
if 'cert' in opts:
    ctx.load_cert_chain(opts['cert'], opts['key'])
if opts.get('max') == '1.2':
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_alpn_protocols(['http/1.1'])
path = opts.get('path', '/')
out = sys.stdout


def connect():
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if 'rcvbuf' in opts:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(opts['rcvbuf']))
    raw.settimeout(15)
    raw.connect(('127.0.0.1', port))
    return ctx.wrap_socket(raw, server_hostname=sni)


def exact(t, n):
    data = b''
    while len(data) < n:
        got = t.recv(n - len(data))
        if not got:
            raise EOFError('the stream ended inside a frame')
        data += got
    return data


def read_all(t):
    data = b''
    try:
        while True:
            got = t.recv(65536)
            if not got:
                break
            data += got
    except (ssl.SSLError, OSError) as e:
        if not data:
            print('READ-FAILED', e)
    return data


def ws_upgrade(t):
    """The opening handshake; returns the response head."""
    key = 'dGhlIHNhbXBsZSBub25jZQ=='
    t.sendall(('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n'
               'sec-websocket-version: 13\r\nsec-websocket-key: %s\r\n\r\n' % key).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        head += t.recv(1)
    return head


if mode == 'idle':
    conns = [connect() for _ in range(int(args[0]))]
    print('OPEN', len(conns), flush=True)
    sys.stdin.read()
    sys.exit(0)

try:
    t = connect()
except (ssl.SSLError, OSError) as e:
    print('HANDSHAKE-FAILED', e)
    sys.exit(0)
print('VERSION', t.version())
print('ALPN', t.selected_alpn_protocol())
print('CERT', hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest(), flush=True)

if mode == 'talk':
    t.sendall(sys.stdin.buffer.read())
    data = read_all(t)
    print('BODY')
    out.flush()
    sys.stdout.buffer.write(data)
elif mode == 'upload':
    n = int(args[0])
    t.sendall(('POST %s HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: %d\r\n\r\n' % (path, n)).encode())
    piece = bytes(range(256)) * 256
    left = n
    while left:
        k = min(left, len(piece))
        t.sendall(piece[:k])
        left -= k
    print(read_all(t).decode(errors='replace'))
elif mode == 'download':
    t.sendall(('GET %s HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n' % path).encode())
    total, zero, head = 0, True, b''
    buf = bytearray(256 * 1024)
    while b'\r\n\r\n' not in head:
        got = t.recv(65536)
        if not got:
            break
        head += got
    head, _, rest = head.partition(b'\r\n\r\n')
    total, zero = len(rest), not any(rest)
    while True:
        n = t.recv_into(buf)
        if not n:
            break
        total += n
        if zero and any(buf[:n]):
            zero = False
    print('HEAD', head.split(b'\r\n')[0].decode())
    print('GOT', total, zero)
elif mode == 'ws':
    print(ws_upgrade(t).split(b'\r\n')[0].decode())
    mask = os.urandom(4)
    payload = b'hello'
    t.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    first = t.recv(2)
    n = first[1] & 0x7f
    data = b''
    while len(data) < n:
        data += t.recv(n - len(data))
    print('FRAME', hex(first[0]), data.decode())
elif mode == 'ws_slow':
    ws_upgrade(t)
    print('OPEN', flush=True)
    sys.stdin.readline()
    frames, close = 0, None
    try:
        while close is None:
            h = exact(t, 2)
            n = h[1] & 0x7f
            if n >= 126:
                n = int.from_bytes(exact(t, 2 if n == 126 else 8), 'big')
            payload = exact(t, n)
            if h[0] == 0x88:
                close = int.from_bytes(payload[:2], 'big')
            elif h[0] == 0x82:
                frames += 1
            else:
                raise ValueError('unexpected frame %s' % hex(h[0]))
        print('FRAMES', frames, 'CLOSE', close)
        end = t.recv(1)
        print('END', 'eof' if not end else 'more')
    except (ssl.SSLError, OSError, EOFError, ValueError) as e:
        print('FRAMES', frames, 'CLOSE', close)
        print('END', 'error', e)
out.flush()
