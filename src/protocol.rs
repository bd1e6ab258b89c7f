//! The port protocol (docs/PROTOCOL.md): commands from the BEAM decoded into
//! a typed enum, events to the BEAM encoded straight into the outbox.

use crate::config::Config;
use crate::etf::{self, Term};
use crate::frame::Outbox;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

// By path, so the fuzz crate (which includes this file by path) finds it too.
#[path = "protocol/ws.rs"]
mod ws;
pub use ws::{ws_closed, ws_in, ws_open, AcceptOpts, Cause, Frame as WsFrame, Target as WsTarget};

/// A command from the BEAM. Terms inside stay borrowed from the frame.
#[derive(Debug)]
pub enum Command<'a> {
    Listen(Term<'a>),
    ReadBody { id: u64, bytes: u64 },
    Respond { id: u64, status: u16, headers: Term<'a>, body: Term<'a> },
    StreamStart { id: u64, status: u16, headers: Term<'a> },
    StreamChunk { id: u64, data: Term<'a> },
    StreamEnd { id: u64, trailers: Term<'a> },
    Abort { id: u64 },
    SendFile { id: u64, status: u16, headers: Term<'a>, file: FileRange<'a> },
    BodyToFile { id: u64, target: FileTarget<'a>, opts: ToFileOpts },
    Drain { timeout_ms: u64 },
    Stats,
    /// `reload_tls`: read the `tls` option's files again.
    ReloadTls,
    WsAccept { id: u64, headers: Term<'a>, opts: AcceptOpts<'a> },
    WsSend { target: WsTarget, frames: Vec<WsFrame<'a>> },
    WsJoin { id: u64, group: &'a [u8] },
    WsLeave { id: u64, group: &'a [u8] },
    WsPublish { group: &'a [u8], frames: Vec<WsFrame<'a>>, except: Option<u64> },
}

/// `{Path, Offset, Length}` of `send_file`.
#[derive(Debug, Clone, Copy)]
pub struct FileRange<'a> {
    pub path: &'a [u8],
    pub offset: u64,
    pub length: u64,
}

/// Where `body_to_file` writes: the BEAM's path, or a new file Rust names.
#[derive(Debug, Clone, Copy)]
pub enum FileTarget<'a> {
    Path(&'a [u8]),
    Tmp,
}

/// The `Opts` map of `body_to_file`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToFileOpts {
    pub max: Option<u64>,
    pub sha256: bool,
}

/// A command that could not be understood: `{protocol_error, Id, Message}`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCommand {
    /// The request id, when the command got far enough to name one.
    pub id: Option<u64>,
    pub message: String,
}

fn bad(id: Option<u64>, message: impl Into<String>) -> BadCommand {
    BadCommand { id, message: message.into() }
}

pub fn decode_command(frame: &[u8]) -> Result<Command<'_>, BadCommand> {
    let term = etf::decode(frame).map_err(|e| bad(None, format!("malformed term: {e}")))?;
    if term.is_atom("stats") {
        return Ok(Command::Stats);
    }
    if term.is_atom("reload_tls") {
        return Ok(Command::ReloadTls);
    }
    let mut parts = term.tuple().ok_or_else(|| bad(None, "a command is an atom or a tuple"))?;
    let arity = match term {
        Term::Tuple { arity, .. } => arity,
        _ => 0,
    };
    let Some(Term::Atom(tag)) = parts.next() else {
        return Err(bad(None, "a command tuple starts with an atom"));
    };
    let tag_text = String::from_utf8_lossy(tag);
    if tag == b"listen" {
        return match (arity, parts.next()) {
            (2, Some(config)) => Ok(Command::Listen(config)),
            _ => Err(bad(None, "expected {listen, Config}")),
        };
    }
    if tag == b"drain" {
        return match (arity, parts.next().and_then(|t| t.as_u64())) {
            (2, Some(timeout_ms)) => Ok(Command::Drain { timeout_ms }),
            _ => Err(bad(None, "expected {drain, TimeoutMs}")),
        };
    }
    if let Some(ws) = ws::decode(tag, arity, parts.clone()) {
        return ws;
    }
    let id = parts.next().and_then(|t| t.as_u64());
    let Some(id) = id else {
        return Err(bad(None, format!("{tag_text}: expected a non-negative integer id")));
    };
    let mut rest = parts;
    let shape = |expected: &str| bad(Some(id), format!("expected {expected}"));
    let status = |t: Option<Term<'_>>| {
        t.and_then(|s| s.as_int())
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| bad(Some(id), format!("{tag_text}: status must be an integer")))
    };
    match (tag, arity) {
        (b"read_body", 3) => match rest.next().and_then(|t| t.as_u64()) {
            Some(bytes) => Ok(Command::ReadBody { id, bytes }),
            None => Err(shape("{read_body, Id, Bytes} with Bytes >= 0")),
        },
        (b"respond", 5) => {
            let status = status(rest.next())?;
            match (rest.next(), rest.next()) {
                (Some(headers), Some(body)) => Ok(Command::Respond { id, status, headers, body }),
                _ => Err(shape("{respond, Id, Status, Headers, Body}")),
            }
        }
        (b"stream_start", 4) => {
            let status = status(rest.next())?;
            match rest.next() {
                Some(headers) => Ok(Command::StreamStart { id, status, headers }),
                None => Err(shape("{stream_start, Id, Status, Headers}")),
            }
        }
        (b"stream_chunk", 3) => match rest.next() {
            Some(data) => Ok(Command::StreamChunk { id, data }),
            None => Err(shape("{stream_chunk, Id, Data}")),
        },
        (b"stream_end", 3) => match rest.next() {
            Some(trailers) => Ok(Command::StreamEnd { id, trailers }),
            None => Err(shape("{stream_end, Id, Trailers}")),
        },
        (b"abort", 2) => Ok(Command::Abort { id }),
        (b"send_file", 5) => {
            let status = status(rest.next())?;
            match (rest.next(), rest.next().as_ref().and_then(file_range)) {
                (Some(headers), Some(file)) => Ok(Command::SendFile { id, status, headers, file }),
                _ => Err(shape("{send_file, Id, Status, Headers, {Path, Offset, Length}} with a binary Path and integers >= 0")),
            }
        }
        (b"body_to_file", 4) => {
            let target = match rest.next() {
                Some(t) if t.is_atom("tmp") => Some(FileTarget::Tmp),
                Some(Term::Binary(p)) if !p.is_empty() => Some(FileTarget::Path(p)),
                _ => None,
            };
            match (target, rest.next().as_ref().and_then(to_file_opts)) {
                (Some(target), Some(opts)) => Ok(Command::BodyToFile { id, target, opts }),
                _ => Err(shape("{body_to_file, Id, Path | tmp, #{max => Bytes, digest => sha256 | none}}")),
            }
        }
        _ => Err(bad(Some(id), format!("unknown command {tag_text}/{arity}"))),
    }
}

fn file_range<'a>(t: &Term<'a>) -> Option<FileRange<'a>> {
    let mut parts = t.tuple()?;
    let (Some(Term::Binary(path)), Some(offset), Some(length), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    Some(FileRange { path, offset: offset.as_u64()?, length: length.as_u64()? })
}

/// Keys other than `max` and `digest` are ignored: the BEAM's helpers may
/// pass their own options (a timeout) along.
fn to_file_opts(t: &Term<'_>) -> Option<ToFileOpts> {
    let mut opts = ToFileOpts::default();
    for (k, v) in t.map()? {
        if k.is_atom("max") {
            opts.max = Some(v.as_u64()?);
        } else if k.is_atom("digest") {
            opts.sha256 = match v {
                _ if v.is_atom("sha256") => true,
                _ if v.is_atom("none") => false,
                _ => return None,
            };
        }
    }
    Some(opts)
}

/// Bytes of an iodata term, borrowed when it is a single binary.
pub fn iodata_bytes<'a>(t: &Term<'a>) -> Option<Cow<'a, [u8]>> {
    match *t {
        Term::Binary(b) | Term::Bytes(b) => Some(Cow::Borrowed(b)),
        _ => {
            let mut v = Vec::new();
            etf::write_iodata(t, &mut v).ok()?;
            Some(Cow::Owned(v))
        }
    }
}

/// Calls `f` for every `{Name, Value}` of a header list (names and values
/// binaries or iodata). `Err` names what is wrong.
pub fn for_each_header<'a>(
    headers: &Term<'a>,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let list = headers.list().ok_or("headers must be a proper list")?;
    for h in list {
        let mut pair = h.tuple().ok_or("a header must be a {Name, Value} tuple")?;
        let (Some(n), Some(v), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err("a header must be a {Name, Value} tuple".into());
        };
        let name = iodata_bytes(&n).ok_or("a header name must be a binary")?;
        let value = match v {
            Term::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            _ => iodata_bytes(&v).ok_or("a header value must be iodata")?,
        };
        f(&name, &value)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Events (Rust → BEAM).

/// Why a request ended before its response finished: `{closed, Id, Reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    PeerClosed,
    SendTimeout,
    HandlerTimeout,
    TooLarge,
    BadBody,
    BodyTimeout,
    ProtocolError,
    Shutdown,
    FileError,
}

impl ClosedReason {
    pub fn atom(self) -> &'static str {
        match self {
            ClosedReason::PeerClosed => "peer_closed",
            ClosedReason::SendTimeout => "send_timeout",
            ClosedReason::HandlerTimeout => "handler_timeout",
            ClosedReason::TooLarge => "too_large",
            ClosedReason::BadBody => "bad_body",
            ClosedReason::BodyTimeout => "body_timeout",
            ClosedReason::ProtocolError => "protocol_error",
            ClosedReason::Shutdown => "shutdown",
            ClosedReason::FileError => "file_error",
        }
    }
}

/// `{ready, Map}`; the address, the windows and the largest frame in
/// effect ride along so the BEAM need not know Rust's defaults, and
/// `files => true` says `send_file` and `body_to_file` are understood.
pub fn ready(out: &mut Outbox, ip: &str, port: u16, os_pid: u32, cfg: &Config) {
    let b = out.begin_frame();
    etf::put_tuple(b, 2);
    etf::put_atom(b, "ready");
    etf::put_map(b, 11);
    etf::put_atom(b, "files");
    etf::put_atom(b, "true");
    etf::put_atom(b, "tls");
    etf::put_atom(b, "true");
    etf::put_atom(b, "websocket");
    etf::put_atom(b, "true");
    etf::put_atom(b, "ip");
    etf::put_binary(b, ip.as_bytes());
    etf::put_atom(b, "send_window");
    etf::put_uint(b, cfg.send_window);
    etf::put_atom(b, "body_window");
    etf::put_uint(b, cfg.body_window);
    etf::put_atom(b, "max_frame");
    etf::put_uint(b, cfg.max_frame as u64);
    etf::put_atom(b, "port");
    etf::put_int(b, port as i64);
    etf::put_atom(b, "os_pid");
    etf::put_int(b, os_pid as i64);
    etf::put_atom(b, "protocol");
    etf::put_int(b, 1);
    etf::put_atom(b, "version");
    etf::put_binary(b, env!("CARGO_PKG_VERSION").as_bytes());
    out.end_frame();
}

/// `kind` is one of the atoms PROTOCOL.md lists for `listen_error`.
pub fn listen_error(out: &mut Outbox, kind: &str, message: &str) {
    let b = out.begin_frame();
    etf::put_tuple(b, 2);
    etf::put_atom(b, "listen_error");
    etf::put_tuple(b, 2);
    etf::put_atom(b, kind);
    etf::put_binary(b, message.as_bytes());
    out.end_frame();
}

/// The parts of `{request, Id, Req}` but the body.
pub struct RequestEvent<'a> {
    pub id: u64,
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub minor_version: u8,
    pub headers: &'a [httparse::Header<'a>],
    pub peer: SocketAddr,
    /// `websocket => ok | bad_version | bad_request` for a request that
    /// asks for a WebSocket; other requests have no such key.
    pub websocket: Option<&'static str>,
    /// A connection over TLS: what it negotiated goes in as `tls => Map`.
    pub tls: Option<&'a crate::tls::Transport>,
}

/// Body of a `{request, …}`: inline bytes or `stream`.
#[derive(Clone, Copy)]
pub enum RequestBody<'a> {
    Inline(&'a [u8]),
    Stream,
}

/// Encodes `{request, Id, Req}` without its frame header and without the
/// value of `body`, the last map entry: a request whose body is still being
/// collected keeps this and finishes it with `request_body`.
pub fn request_prefix(b: &mut Vec<u8>, r: &RequestEvent<'_>) {
    etf::put_tuple(b, 3);
    etf::put_atom(b, "request");
    etf::put_uint(b, r.id);
    etf::put_map(b, 7 + r.websocket.is_some() as u32 + r.tls.is_some() as u32);
    etf::put_atom(b, "method");
    etf::put_binary(b, r.method);
    etf::put_atom(b, "path");
    etf::put_binary(b, r.path);
    etf::put_atom(b, "query");
    etf::put_binary(b, r.query);
    etf::put_atom(b, "version");
    etf::put_tuple(b, 2);
    etf::put_int(b, 1);
    etf::put_int(b, r.minor_version as i64);
    etf::put_atom(b, "headers");
    put_headers(b, r.headers.iter().map(|h| (h.name.as_bytes(), h.value)), r.headers.len());
    etf::put_atom(b, "peer");
    put_peer(b, r.peer);
    if let Some(check) = r.websocket {
        etf::put_atom(b, "websocket");
        etf::put_atom(b, check);
    }
    if let Some(t) = r.tls {
        etf::put_atom(b, "tls");
        t.put_info(b);
    }
    etf::put_atom(b, "body");
}

pub fn request_body(b: &mut Vec<u8>, body: RequestBody<'_>) {
    match body {
        RequestBody::Inline(bytes) => etf::put_binary(b, bytes),
        RequestBody::Stream => etf::put_atom(b, "stream"),
    }
}

/// `{request, Id, Req}` in one go.
pub fn request(out: &mut Outbox, r: &RequestEvent<'_>, body: RequestBody<'_>) {
    let b = out.begin_frame();
    request_prefix(b, r);
    request_body(b, body);
    out.end_frame();
}

/// Finishes a request kept by `request_prefix`.
pub fn request_from_prefix(out: &mut Outbox, prefix: &[u8], body: RequestBody<'_>) {
    let b = out.begin_frame();
    b.extend_from_slice(prefix);
    request_body(b, body);
    out.end_frame();
}

/// A header list whose names are lowercased on the way (they arrive as the
/// client wrote them).
fn put_headers<'h>(b: &mut Vec<u8>, headers: impl Iterator<Item = (&'h [u8], &'h [u8])>, len: usize) {
    if len == 0 {
        etf::put_nil(b);
        return;
    }
    etf::put_list(b, len);
    for (name, value) in headers {
        etf::put_tuple(b, 2);
        let at = b.len() + 5;
        etf::put_binary(b, name);
        b[at..].make_ascii_lowercase();
        etf::put_binary(b, value);
    }
    etf::put_nil(b);
}

fn put_peer(b: &mut Vec<u8>, peer: SocketAddr) {
    etf::put_tuple(b, 2);
    match peer.ip() {
        IpAddr::V4(v4) => {
            etf::put_tuple(b, 4);
            for o in v4.octets() {
                etf::put_int(b, o as i64);
            }
        }
        IpAddr::V6(v6) => {
            etf::put_tuple(b, 8);
            for s in v6.segments() {
                etf::put_int(b, s as i64);
            }
        }
    }
    etf::put_int(b, peer.port() as i64);
}

/// Starts a frame holding `{Tag, Id, _}`, the shape of every per-request
/// event but `request`; the caller writes the third element and ends the frame.
fn begin_id_event<'a>(out: &'a mut Outbox, tag: &str, id: u64) -> &'a mut Vec<u8> {
    let b = out.begin_frame();
    etf::put_tuple(b, 3);
    etf::put_atom(b, tag);
    etf::put_uint(b, id);
    b
}

pub fn body(out: &mut Outbox, id: u64, chunk: &[u8]) {
    let b = begin_id_event(out, "body", id);
    etf::put_binary(b, chunk);
    out.end_frame();
}

/// `{body, Id, Chunk}` up to the bytes of `Chunk`, which follow in the pipe.
pub fn body_head(b: &mut Vec<u8>, id: u64, len: usize) {
    etf::put_tuple(b, 3);
    etf::put_atom(b, "body");
    etf::put_uint(b, id);
    etf::put_binary_head(b, len);
}

pub fn body_end(out: &mut Outbox, id: u64, trailers: &[(Vec<u8>, Vec<u8>)]) {
    let b = begin_id_event(out, "body_end", id);
    put_headers(b, trailers.iter().map(|(n, v)| (&n[..], &v[..])), trailers.len());
    out.end_frame();
}

/// What `{body_file, Id, Map}` reports.
pub struct BodyFileDone<'a> {
    pub path: &'a [u8],
    pub bytes: u64,
    pub sha256: Option<&'a [u8]>,
    pub trailers: &'a [(Vec<u8>, Vec<u8>)],
}

pub fn body_file(out: &mut Outbox, id: u64, done: &BodyFileDone<'_>) {
    let b = begin_id_event(out, "body_file", id);
    etf::put_map(b, 4);
    etf::put_atom(b, "path");
    etf::put_binary(b, done.path);
    etf::put_atom(b, "bytes");
    etf::put_uint(b, done.bytes);
    etf::put_atom(b, "sha256");
    match done.sha256 {
        Some(d) => etf::put_binary(b, d),
        None => etf::put_atom(b, "undefined"),
    }
    etf::put_atom(b, "trailers");
    put_headers(b, done.trailers.iter().map(|(n, v)| (&n[..], &v[..])), done.trailers.len());
    out.end_frame();
}

pub fn closed(out: &mut Outbox, id: u64, reason: ClosedReason) {
    let b = begin_id_event(out, "closed", id);
    etf::put_atom(b, reason.atom());
    out.end_frame();
}

pub fn sent(out: &mut Outbox, id: u64, status: u16, bytes: u64, duration_us: u64) {
    let b = begin_id_event(out, "sent", id);
    etf::put_map(b, 3);
    etf::put_atom(b, "status");
    etf::put_int(b, status as i64);
    etf::put_atom(b, "bytes");
    etf::put_uint(b, bytes);
    etf::put_atom(b, "duration_us");
    etf::put_uint(b, duration_us);
    out.end_frame();
}

pub fn stream_credit(out: &mut Outbox, id: u64, bytes: u64) {
    let b = begin_id_event(out, "stream_credit", id);
    etf::put_uint(b, bytes);
    out.end_frame();
}

/// `{publish_credit, N, Writes}`: N fan-out commands (`ws_publish`,
/// `ws_send` to a list) have been done since the last one, writing to
/// `Writes` sockets; the BEAM lets more in, as many as it judges that
/// many writes take.
pub fn publish_credit(out: &mut Outbox, n: u64, writes: u64) {
    let b = out.begin_frame();
    etf::put_tuple(b, 3);
    etf::put_atom(b, "publish_credit");
    etf::put_uint(b, n);
    etf::put_uint(b, writes);
    out.end_frame();
}

/// Is this command frame one the BEAM counts against its publish window:
/// `ws_publish`, or `ws_send` to a list? Read from the frame's first bytes,
/// before and whatever its decoding, so a malformed one is counted too and
/// the BEAM's count never drifts from ours.
pub fn is_fan_out(frame: &[u8]) -> bool {
    const PUBLISH: &[u8] = b"\x77\x0aws_publish";
    const SEND: &[u8] = b"\x77\x07ws_send";
    match frame {
        // 131, SMALL_TUPLE, arity, then the tag as a SMALL_ATOM_UTF8.
        [131, 104, _, rest @ ..] if rest.starts_with(PUBLISH) => true,
        // A list target: LIST_EXT, STRING_EXT or NIL_EXT.
        [131, 104, _, rest @ ..] if rest.starts_with(SEND) => matches!(rest.get(SEND.len()), Some(106..=108)),
        _ => false,
    }
}

pub fn drained(out: &mut Outbox) {
    etf::put_atom(out.begin_frame(), "drained");
    out.end_frame();
}

/// `{tls_reloaded, ok | {error, Message}}`, the answer to `reload_tls`.
pub fn tls_reloaded(out: &mut Outbox, result: Result<(), &str>) {
    let b = out.begin_frame();
    etf::put_tuple(b, 2);
    etf::put_atom(b, "tls_reloaded");
    match result {
        Ok(()) => etf::put_atom(b, "ok"),
        Err(why) => {
            etf::put_tuple(b, 2);
            etf::put_atom(b, "error");
            etf::put_binary(b, why.as_bytes());
        }
    }
    out.end_frame();
}

pub fn stats(out: &mut Outbox, entries: &[(&str, u64)]) {
    let b = out.begin_frame();
    etf::put_tuple(b, 2);
    etf::put_atom(b, "stats");
    etf::put_map(b, entries.len() as u32);
    for &(k, v) in entries {
        etf::put_atom(b, k);
        etf::put_uint(b, v);
    }
    out.end_frame();
}

pub fn log(out: &mut Outbox, level: &str, message: &str) {
    let b = out.begin_frame();
    etf::put_tuple(b, 3);
    etf::put_atom(b, "log");
    etf::put_atom(b, level);
    etf::put_binary(b, message.as_bytes());
    out.end_frame();
}

pub fn protocol_error(out: &mut Outbox, id: Option<u64>, message: &str) {
    let b = out.begin_frame();
    etf::put_tuple(b, 3);
    etf::put_atom(b, "protocol_error");
    match id {
        Some(id) => etf::put_uint(b, id),
        None => etf::put_atom(b, "undefined"),
    }
    etf::put_binary(b, message.as_bytes());
    out.end_frame();
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{Atom, Binary, FixInteger, List, Term as E, Tuple};

    fn enc(t: E) -> Vec<u8> {
        let mut v = Vec::new();
        t.encode(&mut v).unwrap();
        v
    }
    fn a(s: &str) -> E {
        E::from(Atom::from(s))
    }
    fn i(n: i32) -> E {
        E::from(FixInteger::from(n))
    }
    fn bin(b: &[u8]) -> E {
        E::from(Binary::from(b))
    }
    fn tup(v: Vec<E>) -> E {
        E::from(Tuple::from(v))
    }
    fn list(v: Vec<E>) -> E {
        E::from(List::from(v))
    }

    /// Decodes every frame the outbox holds with eetf.
    fn frames(out: &mut Outbox) -> Vec<E> {
        let mut raw = Vec::new();
        out.flush(&mut raw).unwrap();
        let mut r = crate::frame::FrameReader::new(1 << 20);
        r.push(&raw);
        let mut v = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            v.push(E::decode(f).unwrap());
        }
        v
    }

    #[test]
    fn decodes_every_command() {
        let hs = list(vec![tup(vec![bin(b"content-type"), bin(b"text/plain")])]);
        let cases = vec![
            (tup(vec![a("listen"), E::from(eetf::Map::from(std::collections::HashMap::<E, E>::new()))]), "Listen"),
            (tup(vec![a("read_body"), i(1), i(4096)]), "ReadBody { id: 1, bytes: 4096 }"),
            (tup(vec![a("respond"), i(2), i(200), hs.clone(), bin(b"ok")]), "Respond { id: 2, status: 200"),
            (tup(vec![a("stream_start"), i(3), i(200), hs]), "StreamStart { id: 3, status: 200"),
            (tup(vec![a("stream_chunk"), i(3), list(vec![bin(b"a"), i(98)])]), "StreamChunk { id: 3"),
            (tup(vec![a("stream_end"), i(3), list(vec![])]), "StreamEnd { id: 3"),
            (tup(vec![a("abort"), i(4)]), "Abort { id: 4 }"),
            (tup(vec![a("drain"), i(5000)]), "Drain { timeout_ms: 5000 }"),
            (
                tup(vec![a("send_file"), i(6), i(206), list(vec![]), tup(vec![bin(b"/f"), i(10), i(20)])]),
                "SendFile { id: 6, status: 206, headers: Nil, file: FileRange { path: [47, 102], offset: 10, length: 20 } }",
            ),
            (
                tup(vec![a("body_to_file"), i(7), a("tmp"), E::from(eetf::Map::from(std::collections::HashMap::from([(a("max"), i(9)), (a("digest"), a("sha256")), (a("timeout"), i(1))])))]),
                "BodyToFile { id: 7, target: Tmp, opts: ToFileOpts { max: Some(9), sha256: true } }",
            ),
            (
                tup(vec![a("body_to_file"), i(8), bin(b"/u"), E::from(eetf::Map::from(std::collections::HashMap::<E, E>::new()))]),
                "BodyToFile { id: 8, target: Path([47, 117]), opts: ToFileOpts { max: None, sha256: false } }",
            ),
            (a("stats"), "Stats"),
        ];
        for (term, expect) in cases {
            let raw = enc(term);
            let cmd = decode_command(&raw).unwrap();
            assert!(format!("{cmd:?}").starts_with(expect), "{cmd:?} vs {expect}");
        }
    }

    #[test]
    fn malformed_commands_say_why() {
        let cases = vec![
            (enc(a("nonsense")), None),
            (enc(tup(vec![a("respond"), i(1), i(200)])), Some(1)),
            (enc(tup(vec![a("respond"), i(-1), i(200), list(vec![]), bin(b"")])), None),
            (enc(tup(vec![a("respond"), i(7), bin(b"200"), list(vec![]), bin(b"")])), Some(7)),
            (enc(tup(vec![a("read_body"), i(7), i(-5)])), Some(7)),
            (enc(tup(vec![a("ws_send"), i(7), a("text"), bin(b"x")])), Some(7)),
            (enc(tup(vec![a("ws_send"), i(7), list(vec![a("text")])])), Some(7)),
            (enc(tup(vec![i(1), i(2)])), None),
            (enc(tup(vec![a("drain"), a("now")])), None),
            (enc(tup(vec![a("send_file"), i(7), i(200), list(vec![]), tup(vec![bin(b"/f"), i(-1), i(2)])])), Some(7)),
            (enc(tup(vec![a("send_file"), i(7), i(200), list(vec![]), bin(b"/f")])), Some(7)),
            (enc(tup(vec![a("body_to_file"), i(7), a("temp"), E::from(eetf::Map::from(std::collections::HashMap::<E, E>::new()))])), Some(7)),
            (enc(tup(vec![a("body_to_file"), i(7), a("tmp"), E::from(eetf::Map::from(std::collections::HashMap::from([(a("digest"), a("md5"))])))])), Some(7)),
            (vec![131, 104], None),
            (vec![], None),
            (b"GET / HTTP/1.1".to_vec(), None),
        ];
        for (raw, id) in cases {
            let err = decode_command(&raw).unwrap_err();
            assert_eq!(err.id, id, "{}", err.message);
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn header_lists_accept_iodata_and_refuse_junk() {
        let raw = enc(list(vec![
            tup(vec![bin(b"a"), bin(b"1")]),
            tup(vec![list(vec![bin(b"x-"), bin(b"b")]), list(vec![i(50)])]),
            tup(vec![bin(b"n"), i(42)]),
        ]));
        let t = etf::decode(&raw).unwrap();
        let mut seen = Vec::new();
        for_each_header(&t, |n, v| {
            seen.push((n.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(b"a".to_vec(), b"1".to_vec()), (b"x-b".to_vec(), b"2".to_vec()), (b"n".to_vec(), b"42".to_vec())]
        );
        for junk in [enc(bin(b"x")), enc(list(vec![bin(b"x")])), enc(list(vec![tup(vec![bin(b"a"), a("b")])]))] {
            let t = etf::decode(&junk).unwrap();
            assert!(for_each_header(&t, |_, _| Ok(())).is_err());
        }
    }

    #[test]
    fn events_round_trip_through_eetf() {
        let mut out = Outbox::default();
        ready(&mut out, "127.0.0.1", 4000, 123, &Config::default());
        let headers = [
            httparse::Header { name: "Host", value: b"x" },
            httparse::Header { name: "X-A", value: b"1" },
        ];
        request(
            &mut out,
            &RequestEvent {
                id: 1 << 40,
                method: b"GET",
                path: b"/p",
                query: b"a=1",
                minor_version: 1,
                headers: &headers,
                peer: "127.0.0.1:5000".parse().unwrap(),
                websocket: None,
                tls: None,
            },
            RequestBody::Inline(b""),
        );
        body(&mut out, 9, b"chunk");
        body_end(&mut out, 9, &[]);
        closed(&mut out, 9, ClosedReason::PeerClosed);
        body_file(&mut out, 9, &BodyFileDone { path: b"/p", bytes: 3, sha256: None, trailers: &[] });
        sent(&mut out, 9, 200, 100, 5);
        stream_credit(&mut out, 9, 65536);
        drained(&mut out);
        stats(&mut out, &[("requests", 3)]);
        log(&mut out, "info", "hello");
        protocol_error(&mut out, None, "bad");
        listen_error(&mut out, "eaddrinuse", "taken");
        // eetf prints terms without spaces; the expectations keep them for reading.
        let got: Vec<String> = frames(&mut out).iter().map(|t| format!("{t}")).collect();
        let has = |i: usize, want: &str| {
            let want = want.replace(' ', "");
            assert!(got[i].contains(&want), "frame {i}: {} does not contain {want}", got[i]);
        };
        assert_eq!(got.len(), 13);
        has(0, "{'ready', #{");
        has(0, "'port' => 4000");
        has(0, "'send_window' => 262144");
        has(0, "'websocket' => 'true'");
        has(0, "'max_frame' => 67108864");
        has(1, "1099511627776");
        has(1, "{<<104,111,115,116>>, <<120>>}");
        has(1, "'peer' => {{127, 0, 0, 1}, 5000}");
        has(1, "'body' => <<>>");
        has(2, "{'body', 9, <<99,104,117,110,107>>}");
        has(3, "{'body_end', 9, []}");
        has(4, "{'closed', 9, 'peer_closed'}");
        has(5, "{'body_file', 9, #{");
        has(5, "'sha256' => 'undefined'");
        has(0, "'files' => 'true'");
        has(6, "'duration_us' => 5");
        has(7, "{'stream_credit', 9, 65536}");
        has(8, "'drained'");
        has(9, "{'stats', #{'requests' => 3}}");
        has(10, "{'log', 'info', <<104,101,108,108,111>>}");
        has(11, "{'protocol_error', 'undefined', <<98,97,100>>}");
        has(12, "{'listen_error', {'eaddrinuse', <<116,97,107,101,110>>}}");
    }
}

#[cfg(test)]
pub(crate) mod garbage_tests {
    use super::*;

    /// xorshift: reproducible pseudo-random bytes without a dependency.
    pub fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                (*seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn random_and_mutated_frames_never_panic() {
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        let mut valid = vec![131];
        etf::put_tuple(&mut valid, 5);
        etf::put_atom(&mut valid, "respond");
        etf::put_int(&mut valid, 7);
        etf::put_int(&mut valid, 200);
        etf::put_list(&mut valid, 1);
        etf::put_tuple(&mut valid, 2);
        etf::put_binary(&mut valid, b"a");
        etf::put_binary(&mut valid, b"b");
        etf::put_nil(&mut valid);
        etf::put_list(&mut valid, 2);
        etf::put_binary(&mut valid, b"body");
        etf::put_int(&mut valid, 33);
        etf::put_nil(&mut valid);
        assert!(decode_command(&valid).is_ok());
        for round in 0..20_000 {
            let frame = if round % 2 == 0 {
                let len = (round % 64) + 1;
                let mut f = noise(&mut seed, len);
                f[0] = 131;
                f
            } else {
                // Flip one byte of a valid command.
                let mut f = valid.clone();
                let r = noise(&mut seed, 2);
                let at = 1 + r[0] as usize % (f.len() - 1);
                f[at] = r[1];
                f
            };
            if let Ok(Command::Respond { headers, body, .. }) = decode_command(&frame) {
                let _ = for_each_header(&headers, |_, _| Ok(()));
                let _ = etf::iodata_len(&body);
            }
        }
    }
}
