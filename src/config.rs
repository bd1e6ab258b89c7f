//! The `listen` config: every key, its type, its default and what it drives.
//! This table is the one place those live; `ferry --options-markdown` prints
//! it as docs/OPTIONS.md.

use crate::etf::Term;
use std::fmt::Write as _;
use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Frames from the BEAM may not exceed this until `listen` sets `max_frame`.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;
/// Room for the rest of a `stream_chunk` frame around its data: the BEAM
/// sends a body in pieces of half a `send_window`, each in one frame.
const CHUNK_FRAME_OVERHEAD: u64 = 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub ip: IpAddr,
    pub port: u16,
    pub backlog: u32,
    pub reuseport: bool,
    pub max_connections: usize,
    pub max_request_line: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body: u64,
    pub inline_body: usize,
    pub body_window: u64,
    pub send_window: u64,
    pub header_timeout: u64,
    pub idle_timeout: u64,
    pub handler_timeout: u64,
    pub send_timeout: u64,
    pub min_send_rate: u64,
    pub min_body_rate: u64,
    pub max_frame: usize,
    pub out_high_water: usize,
    pub sent_events: bool,
    pub log_level: LogLevel,
    /// Where `{body_to_file, Id, tmp, _}` creates its files.
    pub upload_dir: PathBuf,
    pub ws_max_frame: u64,
    pub ws_max_message: usize,
    pub ws_max_inflated: usize,
    pub ws_message_timeout: u64,
    pub ws_deflate: bool,
    pub ws_deflate_takeover: bool,
    pub ws_idle_timeout: u64,
    pub ws_close_timeout: u64,
    /// HTTPS: the certificates and client checks (src/tls/options.rs).
    pub tls: Option<Box<crate::tls::TlsOptions>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }

    fn parse(name: &[u8]) -> Option<LogLevel> {
        [LogLevel::Debug, LogLevel::Info, LogLevel::Notice, LogLevel::Warning, LogLevel::Error]
            .into_iter()
            .find(|l| l.name().as_bytes() == name)
    }
}

/// How a value is read from the term.
#[derive(Clone, Copy)]
enum Kind {
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
    Bool,
    Ip,
    Level,
    /// A non-empty binary without NUL: a path.
    Path,
    /// The `tls` map (src/tls/options.rs reads it).
    Tls,
}

struct OptionSpec {
    key: &'static str,
    kind: Kind,
    default: &'static str,
    meaning: &'static str,
    /// The status or behaviour the option drives.
    drives: &'static str,
    set: fn(&mut Config, Value),
}

enum Value {
    Int(u64),
    Bool(bool),
    Ip(IpAddr),
    Level(LogLevel),
    Path(PathBuf),
    Tls(Box<crate::tls::TlsOptions>),
}

const MS_MAX: u64 = 24 * 3600 * 1000;

macro_rules! int_opt {
    ($key:literal, $field:ident, $min:expr, $max:expr, $default:literal, $meaning:literal, $drives:literal) => {
        OptionSpec {
            key: $key,
            kind: Kind::Int { min: $min, max: $max },
            default: $default,
            meaning: $meaning,
            drives: $drives,
            set: |c, v| {
                if let Value::Int(i) = v {
                    c.$field = i as _;
                }
            },
        }
    };
}

/// Every key, in the order OPTIONS.md lists them. Defaults are written once,
/// here, as text; `Config::default` parses them, so the two cannot drift.
const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "ip",
        kind: Kind::Ip,
        default: "0.0.0.0",
        meaning: "Address to listen on: a binary (`<<\"::1\">>`) or an `inet:ip_address()` tuple. A bad one: `listen_error` `{bad_option, <<\"ip\">>}`; one not on this host: `eaddrnotavail`.",
        drives: "`listen_error` `bad_option` / `eaddrnotavail`",
        set: |c, v| {
            if let Value::Ip(ip) = v {
                c.ip = ip;
            }
        },
    },
    int_opt!("port", port, 0, 65535, "0", "TCP port; 0 picks a free one, reported in `ready`. Taken: `listen_error` `eaddrinuse`. A listener started from Erlang defaults to 8080 instead, from Elixir to 4000.", "`ready` port; `listen_error` `eaddrinuse`"),
    int_opt!("backlog", backlog, 1, 65535, "1024", "Length of the kernel's queue of connections not yet accepted.", "accept queue"),
    OptionSpec {
        key: "reuseport",
        kind: Kind::Bool,
        default: "false",
        meaning: "Set SO_REUSEPORT so several ports (shards) can listen on the same address and port.",
        drives: "shards on one address",
        set: |c, v| {
            if let Value::Bool(b) = v {
                c.reuseport = b;
            }
        },
    },
    int_opt!("max_connections", max_connections, 1, 1_000_000, "16384", "Open client connections at most; at the limit Ferry stops accepting (clients wait in the backlog) until one closes.", "stop accepting (no error)"),
    int_opt!("max_request_line", max_request_line, 16, 1 << 20, "8192", "Longest request line in bytes, without its CRLF: this many passes, one more is **414** and close.", "**414**, close"),
    int_opt!("max_header_bytes", max_header_bytes, 64, 16 << 20, "32768", "Most bytes of header fields after the request line (their CRLFs and the final empty line included): more is **431** and close. Also caps the trailers of a chunked body (**400**).", "**431**, close; trailers **400**"),
    int_opt!("max_headers", max_headers, 1, 10_000, "100", "Most header fields in a request: one more is **431** and close. Also caps chunked trailers (**400**).", "**431**, close; trailers **400**"),
    int_opt!("max_body", max_body, 0, 1 << 62, "1073741824", "Largest request body in bytes: a larger `content-length` is **413** before the request reaches the BEAM; a chunked body growing past it is **413** and `{closed, Id, too_large}`.", "**413**, close; `closed` `too_large`"),
    int_opt!("inline_body", inline_body, 0, 16 << 20, "65536", "A body of at most this many bytes that has fully arrived rides in `{request, …}` as a binary; a larger one is `body => stream`.", "`body => Binary` or `stream`"),
    int_opt!("body_window", body_window, 1, 1 << 40, "1048576", "Cap on the outstanding `read_body` grant of a streamed request body: at most this many body bytes are in flight to the BEAM.", "`read_body` grant cap"),
    int_opt!("send_window", send_window, 1024, 1 << 40, "262144", "Bytes of `stream_chunk` data the BEAM may have outstanding per response; `{stream_credit, Id, N}` returns credit. Overrunning it by more than this again: `protocol_error`, connection closed. The BEAM streams a large body in pieces of half a window, so half of it plus 1024 bytes must fit in `max_frame`, else `listen_error` `{bad_option, <<\"send_window\">>}`.", "`stream_credit`; overrun: `protocol_error`, close"),
    int_opt!("header_timeout", header_timeout, 1, MS_MAX, "10000", "Ms from the first byte of a request head until it must be complete: then **408** and close (slowloris).", "**408**, close"),
    int_opt!("idle_timeout", idle_timeout, 1, MS_MAX, "60000", "Ms an idle keep-alive connection is kept open; also how long a request body Ferry waits for may stop arriving altogether (then as below `min_body_rate`).", "close (idle); **408**, `closed` `body_timeout` (body stalls)"),
    int_opt!("handler_timeout", handler_timeout, 1, MS_MAX, "60000", "Ms from `{request, …}` (or from the last `read_body`, or body bytes sent to the BEAM) until the BEAM starts a response: then **504** and `{closed, Id, handler_timeout}`. Not counted while a `read_body` grant waits on the client; a started stream is not cut by it.", "**504**; `closed` `handler_timeout`"),
    int_opt!("send_timeout", send_timeout, 1, MS_MAX, "30000", "Ms a client may read nothing while a response waits for it: then close and `{closed, Id, send_timeout}`.", "close; `closed` `send_timeout`"),
    int_opt!("min_send_rate", min_send_rate, 0, 1 << 40, "240", "Bytes/s a client must read on average while output waits for it, from 5 s into each wait (a wait ends when all that was queued is written): a client that trickles is cut as one that reads nothing, with close and `{closed, Id, send_timeout}`. 0: off.", "close; `closed` `send_timeout`"),
    int_opt!("min_body_rate", min_body_rate, 0, 1 << 40, "240", "Bytes/s a request body must arrive at on average while Ferry waits for it (collecting an inline body, a `read_body` grant outstanding, or dropping an unread body after the response), from 5 s into each wait: below it **408** (if no response began), `{closed, Id, body_timeout}` and close. Waiting for the BEAM's grant does not count. 0: off.", "**408**, close; `closed` `body_timeout`"),
    int_opt!("max_frame", max_frame, 1024, 1 << 31, "67108864", "Largest frame from the BEAM in bytes (the `listen` frame itself is read with the default). A longer length prefix: stderr line, exit 3.", "stderr line, exit 3"),
    int_opt!("out_high_water", out_high_water, 4096, 1 << 40, "8388608", "Bytes queued for the BEAM above which Ferry stops reading new requests from clients, until the queue is below half of it.", "back-pressure on clients"),
    OptionSpec {
        key: "sent_events",
        kind: Kind::Bool,
        default: "false",
        meaning: "Send `{sent, Id, #{status, bytes, duration_us}}` when a response's last byte is written.",
        drives: "`{sent, …}` events",
        set: |c, v| {
            if let Value::Bool(b) = v {
                c.sent_events = b;
            }
        },
    },
    OptionSpec {
        key: "log_level",
        kind: Kind::Level,
        default: "notice",
        meaning: "Least severe `{log, Level, Message}` Ferry sends: `debug`, `info`, `notice`, `warning` or `error`.",
        drives: "`{log, …}` events",
        set: |c, v| {
            if let Value::Level(l) = v {
                c.log_level = l;
            }
        },
    },
    OptionSpec {
        key: "upload_dir",
        kind: Kind::Path,
        default: "/tmp",
        meaning: "Directory where `{body_to_file, Id, tmp, Opts}` creates its files (`ferry-upload-<random>`, O_EXCL, mode 0600); relative to the port's working directory unless absolute. It is not checked at `listen`: a directory that is missing or not writable fails each such upload with **500** and `{closed, Id, file_error}`.",
        drives: "**500**, `closed` `file_error`",
        set: |c, v| {
            if let Value::Path(p) = v {
                c.upload_dir = p;
            }
        },
    },
    int_opt!("ws_max_frame", ws_max_frame, 125, 1 << 31, "16777216", "Largest payload of one WebSocket frame from a client, as its header announces it (compressed size for a compressed frame): a larger one closes the WebSocket with **1009** before its payload is read. 16 MiB: the largest Autobahn frame; browsers send a message as one frame.", "close **1009**; `ws_closed` `error`"),
    int_opt!("ws_max_message", ws_max_message, 125, 1 << 31, "16777216", "Largest WebSocket message from a client in bytes: its frames together, inflated if compressed (a decompression bomb stops here). Larger: close **1009**. A message this size must also fit in a frame to the BEAM (`max_frame`).", "close **1009**; `ws_closed` `error`"),
    int_opt!("ws_max_inflated", ws_max_inflated, 125, 1 << 31, "1048576", "Largest permessage-deflate message from a client once inflated, and so the most a message still arriving may make Ferry hold for its connection (at most `ws_max_message`, which caps it). Larger: close **1009** as soon as the inflated bytes pass it, and the message's memory is freed. A compression bomb inflates about 1,000 times its wire size: this keeps a few KB from pinning `ws_max_message`. Uncompressed messages are limited by `ws_max_message` alone (their bytes cost the client as much).", "close **1009**; `ws_closed` `error`"),
    int_opt!("ws_message_timeout", ws_message_timeout, 0, MS_MAX, "60000", "Ms from a WebSocket data message's first frame until its last must have arrived (control frames and empty fragments between them do not extend it): then close **1008**, and what it held is freed. 0: never. 60 s lets a 16 MiB message come at 2.3 Mbit/s.", "close **1008**; `ws_closed` `error`"),
    OptionSpec {
        key: "ws_deflate",
        kind: Kind::Bool,
        default: "true",
        meaning: "Accept a client's permessage-deflate offer (RFC 7692) when the handler's `ws_accept` allows it. Only messages to one connection are compressed, and only those of 64 bytes or more. What zlib state a connection holds is `ws_deflate_takeover`'s.",
        drives: "`sec-websocket-extensions` in the 101",
        set: |c, v| {
            if let Value::Bool(b) = v {
                c.ws_deflate = b;
            }
        },
    },
    OptionSpec {
        key: "ws_deflate_takeover",
        kind: Kind::Bool,
        default: "false",
        meaning: "Keep permessage-deflate's LZ77 window from one message to the next (context takeover), as far as the client's offer allows. `false`: the 101 always says `server_no_context_takeover; client_no_context_takeover` (RFC 7692 §7.1.1.1–2 let a server add both), every message is compressed alone by a compressor the process's connections share and inflated by an inflater made for it, so a connection keeps no zlib state between messages; runs of small, similar messages compress less. `true`: a connection that sends a message worth compressing keeps its own compressor (about 300 KiB) for its life, and one whose client sends a compressed message its inflater (about 20 KiB).",
        drives: "`sec-websocket-extensions` in the 101; memory per connection",
        set: |c, v| {
            if let Value::Bool(b) = v {
                c.ws_deflate_takeover = b;
            }
        },
    },
    int_opt!("ws_idle_timeout", ws_idle_timeout, 0, MS_MAX, "60000", "Ms a WebSocket may be silent (nothing read from the client) before Ferry pings it; if the next period passes silent too, close **1001**. 0: never. Not counted while the BEAM grants nothing (the socket is not read then).", "ping; close **1001**; `ws_closed` `error`"),
    int_opt!("ws_close_timeout", ws_close_timeout, 1, MS_MAX, "5000", "Ms a WebSocket close frame of Ferry's may take from being queued: its write (after the frames queued before it) and, after the BEAM's `close` or a drain, the client's close in answer. Past it the connection ends (`ws_closed` `error` **1006**), with a reset if the close was not written. A member of a group more than `send_window` behind gets its **1008** after the frame it is reading (the frames it has not begun are dropped), so a client that reads again within this time reads whole frames, the close, then the end of the stream.", "close; reset if our close is unread; `ws_closed` `error` **1006**"),
    OptionSpec {
        key: "tls",
        kind: Kind::Tls,
        default: "none",
        meaning: "HTTPS (and WSS) on this listener, TLS 1.2 and 1.3 with ALPN `http/1.1`, names as in `ssl`: a map with `certfile` (PEM, the chain after the certificate), `keyfile` (PEM: PKCS#8, RSA or EC; defaults to `certfile`), `password` (for an `ENCRYPTED PRIVATE KEY`), `sni_hosts` (`[{ServerName, #{certfile, keyfile, password}}]`; other names get the default), `cacertfile` with `verify => verify_peer` (ask for a client certificate and check it; `fail_if_no_peer_cert => true` refuses clients without one, default `false`), `handshake_timeout` (ms, default `5000`: then close). Files are read at `listen` and at `reload_tls`; one missing, unreadable, not matching its key or with a wrong password: `{bad_option, <<\"tls: keyfile /p: why\">>}`. An expired certificate is a warning `log`.",
        drives: "`listen_error` `bad_option`; `tls` in requests",
        set: |c, v| {
            if let Value::Tls(t) = v {
                c.tls = Some(t);
            }
        },
    },
];

/// Why a `listen` config was refused: `{listen_error, {Kind, Message}}`.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The key is unknown or its value is wrong; carries `"key: why"`, the
    /// key's name first (the BEAM reads it back) and then what is allowed.
    BadOption(String),
    /// The config is not a map with atom keys.
    BadConfig(String),
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            backlog: 0,
            reuseport: false,
            max_connections: 0,
            max_request_line: 0,
            max_header_bytes: 0,
            max_headers: 0,
            max_body: 0,
            inline_body: 0,
            body_window: 0,
            send_window: 0,
            header_timeout: 0,
            idle_timeout: 0,
            handler_timeout: 0,
            send_timeout: 0,
            min_send_rate: 0,
            min_body_rate: 0,
            max_frame: 0,
            out_high_water: 0,
            sent_events: false,
            log_level: LogLevel::Notice,
            upload_dir: PathBuf::new(),
            ws_max_frame: 0,
            ws_max_message: 0,
            ws_max_inflated: 0,
            ws_message_timeout: 0,
            ws_deflate: false,
            ws_deflate_takeover: false,
            ws_idle_timeout: 0,
            ws_close_timeout: 0,
            tls: None,
        };
        for spec in OPTIONS {
            if let Some(v) = parse_default(spec) {
                (spec.set)(&mut c, v);
            }
        }
        c
    }
}

fn parse_default(spec: &OptionSpec) -> Option<Value> {
    Some(match spec.kind {
        Kind::Int { .. } => Value::Int(spec.default.parse().ok()?),
        Kind::Bool => Value::Bool(spec.default == "true"),
        Kind::Ip => Value::Ip(spec.default.parse().ok()?),
        Kind::Level => Value::Level(LogLevel::parse(spec.default.as_bytes())?),
        Kind::Path => Value::Path(PathBuf::from(spec.default)),
        // No TLS unless asked: `Config::tls` stays `None`.
        Kind::Tls => return None,
    })
}

impl Config {
    /// Reads the `Config` map of `{listen, Config}`: unknown keys and bad
    /// values are refused, naming the key.
    pub fn from_term(term: &Term<'_>) -> Result<Config, ConfigError> {
        let pairs = term.map().ok_or_else(|| ConfigError::BadConfig("the listen config must be a map".into()))?;
        let mut config = Config::default();
        for (key, value) in pairs {
            let Term::Atom(name) = key else {
                return Err(ConfigError::BadConfig("listen config keys must be atoms".into()));
            };
            let name_text = String::from_utf8_lossy(name).into_owned();
            let spec = OPTIONS
                .iter()
                .find(|s| s.key.as_bytes() == name)
                .ok_or_else(|| ConfigError::BadOption(format!("{name_text}: not a listen option (docs/OPTIONS.md lists them)")))?;
            let v = match spec.kind {
                Kind::Tls => Value::Tls(Box::new(
                    crate::tls::options::parse(&value).map_err(|why| ConfigError::BadOption(format!("{name_text}: {why}")))?,
                )),
                kind => read_value(kind, &value).ok_or_else(|| ConfigError::BadOption(format!("{name_text}: {}", allowed(kind))))?,
            };
            (spec.set)(&mut config, v);
        }
        if config.send_window / 2 + CHUNK_FRAME_OVERHEAD > config.max_frame as u64 {
            return Err(ConfigError::BadOption(format!(
                "send_window: half of it plus {CHUNK_FRAME_OVERHEAD} bytes must fit in max_frame ({})",
                config.max_frame
            )));
        }
        Ok(config)
    }
}

/// What a value of `kind` must be, for the `bad_option` message.
fn allowed(kind: Kind) -> String {
    match kind {
        Kind::Int { min, max } => format!("must be an integer {min}..{max}"),
        Kind::Bool => "must be true or false".into(),
        Kind::Ip => "must be an IP address: a binary such as <<\"::1\">> or an inet:ip_address() tuple".into(),
        Kind::Level => "must be one of debug, info, notice, warning, error".into(),
        Kind::Path => "must be a non-empty binary path without NUL bytes".into(),
        Kind::Tls => "must be a map".into(),
    }
}

fn read_value(kind: Kind, t: &Term<'_>) -> Option<Value> {
    match kind {
        Kind::Int { min, max } => t.as_u64().filter(|v| (min..=max).contains(v)).map(Value::Int),
        Kind::Bool if t.is_atom("true") => Some(Value::Bool(true)),
        Kind::Bool if t.is_atom("false") => Some(Value::Bool(false)),
        Kind::Bool => None,
        Kind::Ip => read_ip(t).map(Value::Ip),
        Kind::Level => match t {
            Term::Atom(a) => LogLevel::parse(a).map(Value::Level),
            _ => None,
        },
        Kind::Path => t
            .as_binary()
            .filter(|b| !b.is_empty() && !b.contains(&0))
            .map(|b| Value::Path(PathBuf::from(OsStr::from_bytes(b)))),
        Kind::Tls => None,
    }
}

fn read_ip(t: &Term<'_>) -> Option<IpAddr> {
    if let Some(text) = t.as_binary() {
        return std::str::from_utf8(text).ok()?.parse().ok();
    }
    let parts: Vec<i64> = t.tuple()?.map(|e| e.as_int()).collect::<Option<_>>()?;
    match parts.len() {
        4 => {
            let b: Vec<u8> = parts.iter().map(|&p| u8::try_from(p).ok()).collect::<Option<_>>()?;
            Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        8 => {
            let w: Vec<u16> = parts.iter().map(|&p| u16::try_from(p).ok()).collect::<Option<_>>()?;
            Some(IpAddr::V6(Ipv6Addr::new(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])))
        }
        _ => None,
    }
}

impl Config {
    /// What one WebSocket may make the decoder hold.
    pub fn ws_limits(&self) -> crate::ws::Limits {
        crate::ws::Limits {
            max_frame: self.ws_max_frame,
            max_message: self.ws_max_message,
            max_inflated: self.ws_max_inflated.min(self.ws_max_message),
        }
    }
}

/// docs/OPTIONS.md, generated from `OPTIONS`.
pub fn options_markdown() -> String {
    let mut s = String::new();
    s.push_str("# `listen` options\n\n");
    s.push_str("<!-- Generated by `target/release/ferry --options-markdown` from src/config.rs; do not edit. -->\n\n");
    s.push_str("Keys of the map in `{listen, Config}` (docs/PROTOCOL.md). Every key is optional; an unknown key or a bad value is `{listen_error, {bad_option, <<\"key: why\">>}}`, e.g. `<<\"max_request_line: must be an integer 16..1048576\">>`. Sizes are bytes, times milliseconds.\n\n");
    s.push_str("| key | type | default | meaning | drives |\n|---|---|---|---|---|\n");
    for spec in OPTIONS {
        let ty = match spec.kind {
            Kind::Int { min, max } => format!("integer {min}..{max}"),
            Kind::Bool => "boolean".into(),
            Kind::Ip => "binary or tuple".into(),
            Kind::Level => "atom".into(),
            Kind::Path => "binary".into(),
            Kind::Tls => "map".into(),
        };
        let _ = writeln!(s, "| `{}` | {} | `{}` | {} | {} |", spec.key, ty, spec.default, spec.meaning, spec.drives);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etf;

    fn map_frame(pairs: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![131];
        etf::put_map(&mut out, pairs.len() as u32);
        for (k, v) in pairs {
            etf::put_atom(&mut out, k);
            out.extend_from_slice(v);
        }
        out
    }

    fn int(i: i64) -> Vec<u8> {
        let mut v = Vec::new();
        etf::put_int(&mut v, i);
        v
    }

    fn atom(a: &str) -> Vec<u8> {
        let mut v = Vec::new();
        etf::put_atom(&mut v, a);
        v
    }

    fn bin(b: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        etf::put_binary(&mut v, b);
        v
    }

    fn parse(pairs: &[(&str, Vec<u8>)]) -> Result<Config, ConfigError> {
        let frame = map_frame(pairs);
        Config::from_term(&etf::decode(&frame).unwrap())
    }

    #[test]
    fn every_default_parses() {
        for spec in OPTIONS.iter().filter(|s| !matches!(s.kind, Kind::Tls)) {
            assert!(parse_default(spec).is_some(), "{}", spec.key);
        }
        let c = Config::default();
        assert!(c.max_connections >= 10_000);
        assert_eq!(c.max_frame, DEFAULT_MAX_FRAME);
    }

    #[test]
    fn reads_values() {
        let mut ip_tuple = vec![104, 4];
        for b in [127, 0, 0, 1] {
            ip_tuple.extend(int(b));
        }
        let c = parse(&[
            ("port", int(8080)),
            ("reuseport", atom("true")),
            ("ip", ip_tuple),
            ("max_body", int(5)),
            ("log_level", atom("debug")),
        ])
        .unwrap();
        assert_eq!(c.port, 8080);
        assert!(c.reuseport);
        assert_eq!(c.ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(c.max_body, 5);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.upload_dir, PathBuf::from("/tmp"));
        let c = parse(&[("ip", bin(b"::1")), ("upload_dir", bin(b"up/loads"))]).unwrap();
        assert_eq!(c.upload_dir, PathBuf::from("up/loads"));
        assert_eq!(c.ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn refuses_bad_options_naming_the_key() {
        let refused = |pairs: &[(&str, Vec<u8>)]| match parse(pairs) {
            Err(ConfigError::BadOption(message)) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(&[("nope", int(1))]), "nope: not a listen option (docs/OPTIONS.md lists them)");
        assert_eq!(refused(&[("port", int(65536))]), "port: must be an integer 0..65535");
        assert_eq!(refused(&[("port", int(-1))]), "port: must be an integer 0..65535");
        assert_eq!(refused(&[("port", bin(b"80"))]), "port: must be an integer 0..65535");
        assert!(refused(&[("ip", bin(b"300.1.1.1"))]).starts_with("ip: must be an IP address"));
        assert_eq!(refused(&[("reuseport", atom("yes"))]), "reuseport: must be true or false");
        assert_eq!(refused(&[("max_request_line", int(15))]), "max_request_line: must be an integer 16..1048576");
        assert_eq!(refused(&[("log_level", atom("loud"))]), "log_level: must be one of debug, info, notice, warning, error");
        // Half a send_window and a frame's overhead must fit in max_frame.
        assert!(parse(&[("send_window", int(6144)), ("max_frame", int(4096))]).is_ok());
        assert!(refused(&[("send_window", int(6146)), ("max_frame", int(4096))]).starts_with("send_window: "));
        assert!(refused(&[("max_frame", int(4096))]).starts_with("send_window: "));
        assert!(refused(&[("upload_dir", bin(b""))]).starts_with("upload_dir: "));
        assert!(refused(&[("upload_dir", bin(b"a\0b"))]).starts_with("upload_dir: "));
        assert!(refused(&[("upload_dir", atom("tmp"))]).starts_with("upload_dir: "));
        assert!(matches!(Config::from_term(&etf::Term::Nil), Err(ConfigError::BadConfig(_))));
        // tls: a map of known keys, with a certfile; its files are read later (src/tls/load.rs).
        let tls_map = |pairs: &[(&str, Vec<u8>)]| {
            let mut v = Vec::new();
            etf::put_map(&mut v, pairs.len() as u32);
            for (k, val) in pairs {
                etf::put_atom(&mut v, k);
                v.extend_from_slice(val);
            }
            v
        };
        assert!(refused(&[("tls", int(1))]).starts_with("tls: must be a map"));
        assert_eq!(refused(&[("tls", tls_map(&[("nope", int(1))]))]), "tls: nope: not a tls option");
        assert_eq!(refused(&[("tls", tls_map(&[("keyfile", bin(b"k.pem"))]))]), "tls: certfile is required");
        assert!(refused(&[("tls", tls_map(&[("certfile", bin(b"c.pem")), ("verify", atom("verify_peer"))]))]).contains("cacertfile"));
        let c = parse(&[("tls", tls_map(&[("certfile", bin(b"c.pem")), ("handshake_timeout", int(250))]))]).unwrap();
        let tls = c.tls.expect("tls");
        assert_eq!((tls.default.keyfile.to_str(), tls.handshake_timeout), (Some("c.pem"), 250));
        assert!(Config::default().tls.is_none());
    }

    #[test]
    fn markdown_lists_every_key() {
        let md = options_markdown();
        for spec in OPTIONS {
            assert!(md.contains(&format!("| `{}` |", spec.key)));
        }
    }
}
