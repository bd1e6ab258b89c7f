//! A raw WebSocket client (RFC 6455, client side) over `Client`: it writes
//! exactly the frames a test builds, masked or not, cut anywhere, and reads
//! the server's frames strictly (a masked or malformed server frame fails
//! the test). permessage-deflate with flate2 for the deflate tests. And the
//! fake BEAM's WebSocket commands.

use super::{atom, bin, int, list, map, tuple, Client, Ferry, Response, Term, TermExt};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::time::Duration;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The key of RFC 6455 §1.3 and the accept it gives.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// A valid opening handshake for `path` with `extra` header lines.
pub fn handshake(path: &str, extra: &[(&str, &str)]) -> String {
    let mut r = format!(
        "GET {path} HTTP/1.1\r\nhost: test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: {KEY}\r\nsec-websocket-version: 13\r\n"
    );
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r
}

/// A client frame: `first` is the whole first byte (FIN, RSV, opcode);
/// masked with a fixed key unless `mask` is false. Lengths in the
/// shortest form.
pub fn ws_frame(first: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![first];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n @ 126..=0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        f.extend_from_slice(&MASK);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A whole masked message in one frame.
pub fn message(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame(0x80 | opcode, payload, true)
}

/// A close frame's payload.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl WsFrame {
    /// The code and reason of a close frame (`None`: it had no payload).
    pub fn close(&self) -> Option<(u16, String)> {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        (self.payload.len() >= 2).then(|| {
            let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
            (code, String::from_utf8(self.payload[2..].to_vec()).expect("close reason utf-8"))
        })
    }
}

pub struct WsClient {
    pub http: Client,
    /// permessage-deflate as the server agreed: our compressor and inflater.
    deflate: Option<(Compress, Decompress)>,
    /// The server said `client_no_context_takeover`: each message we
    /// compress starts afresh.
    pub client_no_context: bool,
}

impl WsClient {
    pub fn new(http: Client, deflate: bool) -> WsClient {
        let deflate = deflate.then(|| (Compress::new(Compression::default(), false), Decompress::new(false)));
        WsClient { http, deflate, client_no_context: false }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.http.send(bytes);
    }

    pub fn text(&mut self, text: &str) {
        self.send(message(TEXT, text.as_bytes()));
    }

    pub fn binary(&mut self, data: &[u8]) {
        self.send(message(BINARY, data));
    }

    pub fn close(&mut self, code: u16, reason: &str) {
        self.send(message(CLOSE, &close_payload(code, reason.as_bytes())));
    }

    /// A message compressed with our deflate context (RSV1 set).
    pub fn send_compressed(&mut self, opcode: u8, data: &[u8]) {
        let (c, _) = self.deflate.as_mut().expect("deflate was not agreed");
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut input = data;
        loop {
            let before = c.total_in();
            out.reserve(input.len() / 2 + 64);
            c.compress_vec(input, &mut out, FlushCompress::Sync).expect("compress");
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        if self.client_no_context {
            c.reset();
        }
        self.send(ws_frame(0xC0 | opcode, &out, true));
    }

    /// The next frame, or None if the server closed the connection first.
    pub fn try_recv(&mut self) -> Option<WsFrame> {
        let head = self.http.try_read_exact_bytes(2)?;
        assert_eq!(head[0] & 0x30, 0, "server frame with RSV2/RSV3: {head:?}");
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked (RFC 6455 5.1)");
        let len = match head[1] & 0x7f {
            126 => u16::from_be_bytes(self.http.read_exact_bytes(2).try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.http.read_exact_bytes(8).try_into().unwrap()) as usize,
            n => n as usize,
        };
        let payload = self.http.read_exact_bytes(len);
        Some(WsFrame { fin: head[0] & 0x80 != 0, rsv1: head[0] & 0x40 != 0, opcode: head[0] & 0x0f, payload })
    }

    pub fn recv(&mut self) -> WsFrame {
        self.try_recv().expect("the server closed the connection instead of sending a frame")
    }

    /// The next message (the server never fragments), inflated if compressed.
    pub fn recv_message(&mut self) -> (u8, Vec<u8>) {
        let f = self.recv();
        self.message_of(f)
    }

    /// The message a frame already read carries, inflated if compressed.
    pub fn message_of(&mut self, f: WsFrame) -> (u8, Vec<u8>) {
        assert!(f.fin, "a fragmented server message: {f:?}");
        if !f.rsv1 {
            return (f.opcode, f.payload);
        }
        let (_, d) = self.deflate.as_mut().expect("RSV1 set without deflate agreed");
        let mut input = f.payload;
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(input.len() * 4 + 1024);
        let mut at = 0;
        loop {
            let before = d.total_in();
            d.decompress_vec(&input[at..], &mut out, FlushDecompress::Sync).expect("inflate a server message");
            at += (d.total_in() - before) as usize;
            if at == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity());
        }
        (f.opcode, out)
    }

    /// The next frame is a close: its code and reason.
    pub fn expect_close(&mut self) -> Option<(u16, String)> {
        let f = self.recv();
        f.close()
    }

    /// The next frame is a close with `code`; then the server closes TCP.
    pub fn expect_close_code(&mut self, code: u16) {
        let got = self.expect_close();
        assert_eq!(got.as_ref().map(|c| c.0), Some(code), "close frame {got:?}");
        assert!(self.http.closed_within(super::WAIT), "TCP still open after the close frame");
    }
}

// ---------------------------------------------------------------------------
// The fake BEAM's side.

impl Ferry {
    /// Connects, sends a valid handshake with `extra` headers, accepts it
    /// with `opts` (an Erlang map) and grants `grant` bytes. Returns the
    /// client, the id and the 101.
    pub fn ws_connect(&mut self, path: &str, extra: &[(&str, &str)], opts: Term, grant: i64) -> (WsClient, i64, Response) {
        let mut http = self.client();
        http.send(handshake(path, extra));
        let req = self.expect_request();
        assert_eq!(req.term.el(2).get("websocket").and_then(|w| w.atom()), Some("ok"), "{}", req.term);
        self.ws_accept(req.id, &[], opts);
        if grant > 0 {
            self.read_body(req.id, grant);
        }
        let resp = http.head();
        assert_eq!(resp.status, 101, "{:?}", String::from_utf8_lossy(&resp.head));
        assert_eq!(resp.header("sec-websocket-accept"), Some(ACCEPT));
        let open = self.expect_for("ws_open", req.id);
        let deflate = open.el(2).get("deflate").and_then(|d| d.atom()) == Some("true");
        assert_eq!(deflate, resp.header("sec-websocket-extensions").is_some(), "ws_open and the 101 agree on deflate");
        let mut c = WsClient::new(http, deflate);
        c.client_no_context = resp.header("sec-websocket-extensions").is_some_and(|v| v.contains("client_no_context_takeover"));
        (c, req.id, resp)
    }

    /// `ws_connect` with no options and a 1 MiB grant.
    pub fn ws_open(&mut self, path: &str) -> (WsClient, i64) {
        let (c, id, _) = self.ws_connect(path, &[], map(vec![]), 1 << 20);
        (c, id)
    }

    /// `ws_open` from a client with a small receive buffer (8 KiB), so a
    /// client that stops reading is seen early.
    pub fn ws_open_slow(&mut self, path: &str) -> (WsClient, i64) {
        let mut http = Client::connect_from(std::net::Ipv4Addr::LOCALHOST, self.port, Some(8 << 10));
        http.send(handshake(path, &[]));
        let req = self.expect_request();
        self.ws_accept(req.id, &[], map(vec![]));
        self.read_body(req.id, 1 << 20);
        assert_eq!(http.head().status, 101);
        self.expect_for("ws_open", req.id);
        (WsClient::new(http, false), req.id)
    }

    pub fn ws_accept(&mut self, id: i64, headers: &[(&str, &str)], opts: Term) {
        self.send(&tuple(vec![atom("ws_accept"), int(id), super::header_list(headers), opts]));
    }

    /// `{ws_send, Target, Frames}`; `target` an integer or a list of them.
    pub fn ws_send(&mut self, target: Term, frames: Vec<Term>) {
        self.send(&tuple(vec![atom("ws_send"), target, list(frames)]));
    }

    pub fn ws_join(&mut self, id: i64, group: &str) {
        self.send(&tuple(vec![atom("ws_join"), int(id), bin(group)]));
    }

    pub fn ws_leave(&mut self, id: i64, group: &str) {
        self.send(&tuple(vec![atom("ws_leave"), int(id), bin(group)]));
    }

    pub fn ws_publish(&mut self, group: &str, frames: Vec<Term>, except: Option<i64>) {
        let mut t = vec![atom("ws_publish"), bin(group), list(frames)];
        t.extend(except.map(int));
        self.send(&tuple(t));
    }

    /// The next `{ws_in, Id, Opcode, Data}` for `id`: (opcode, data).
    pub fn expect_ws_in(&mut self, id: i64) -> (String, Vec<u8>) {
        let t = self.expect_for("ws_in", id);
        (t.el(2).atom().expect("opcode").to_string(), t.el(3).bin().expect("data").to_vec())
    }

    /// `{ws_closed, Id, Cause, Code, Reason}` for `id`: (cause, code, reason).
    pub fn expect_ws_closed(&mut self, id: i64) -> (String, i64, String) {
        let t = self.expect_for("ws_closed", id);
        assert_eq!(t.arity(), Some(5), "{t}");
        let reason = String::from_utf8(t.el(4).bin().expect("reason").to_vec()).expect("reason utf-8");
        (t.el(2).atom().expect("cause").to_string(), t.el(3).int().expect("code"), reason)
    }

    /// Asserts no message or end comes for `id` within `wait`.
    pub fn refute_ws(&mut self, id: i64, wait: Duration) {
        self.refute_within(&format!("ws_in or ws_closed for {id}"), wait, |t| {
            matches!(t.tag(), Some("ws_in" | "ws_closed" | "closed")) && t.el(1).int() == Some(id)
        });
    }

    /// Waits until `stats` says `key` is `value` (or fails after WAIT).
    pub fn wait_stat(&mut self, key: &str, value: i64) {
        let deadline = std::time::Instant::now() + super::WAIT;
        loop {
            let got = self.stat(key);
            if got == value {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "stats {key} is {got}, not {value}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `{text, Data}` and the like, as frames in a command.
pub fn out(op: &str, data: impl AsRef<[u8]>) -> Term {
    tuple(vec![atom(op), bin(data)])
}

/// `{close, Code, Reason}`.
pub fn out_close(code: i64, reason: &str) -> Term {
    tuple(vec![atom("close"), int(code), bin(reason)])
}
