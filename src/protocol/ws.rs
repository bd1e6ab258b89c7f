//! The WebSocket commands and events of the port protocol (docs/PROTOCOL.md
//! "WebSocket"). Commands are checked whole here, so a malformed one is a
//! `protocol_error` before any of it reaches a connection. The shapes are
//! those `ferry_protocol` writes: ids as integers (a list of them as
//! LIST_EXT, or STRING_EXT as `term_to_binary/1` would write small ones),
//! payloads as binaries or iodata.

use super::{bad, iodata_bytes, BadCommand, Command};
use crate::etf::{self, Term};
use crate::frame::Outbox;
use crate::ws::close::{self, CloseCode, MAX_CONTROL_PAYLOAD};
use crate::ws::OpCode;
use std::borrow::Cow;

/// `Opts` of `{ws_accept, Id, Headers, Opts}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptOpts<'a> {
    /// The subprotocol to name in the 101.
    pub protocol: Option<&'a [u8]>,
    /// Accept the client's permessage-deflate offer (if the listener allows).
    pub deflate: bool,
    /// Also send the client's pings and pongs to the BEAM.
    pub control: bool,
}

/// Who a `ws_send` is for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// One connection: frames take send credit and may be compressed.
    One(u64),
    /// A list: frames are encoded once, uncompressed, without credit.
    Many(Vec<u64>),
}

/// One frame of `Frames`, checked: control payloads fit in 125 bytes,
/// close codes are allowed on the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Text, binary, ping or pong.
    Data(OpCode, Cow<'a, [u8]>),
    /// A close frame; `None`: without a code.
    Close(Option<(CloseCode, Cow<'a, [u8]>)>),
}

/// Decodes the WebSocket commands; `None` when `tag` is not one of them.
/// `parts` are the elements after the tag.
pub(super) fn decode<'a>(
    tag: &[u8],
    arity: u32,
    mut parts: etf::Elements<'a>,
) -> Option<Result<Command<'a>, BadCommand>> {
    let first = parts.next();
    let id = first.and_then(|t| t.as_u64());
    let shape = |expected: &str| bad(id, format!("expected {expected}"));
    Some(match (tag, arity) {
        (b"ws_accept", 4) => (|| {
            let id = id.ok_or_else(|| shape("{ws_accept, Id, Headers, Opts} with an integer Id"))?;
            let (Some(headers), Some(opts)) = (parts.next(), parts.next()) else {
                return Err(shape("{ws_accept, Id, Headers, Opts}"));
            };
            Ok(Command::WsAccept { id, headers, opts: accept_opts(id, &opts)? })
        })(),
        (b"ws_send", 3) => (|| {
            let target = match first {
                Some(t) => target(&t).ok_or_else(|| shape("{ws_send, Id | [Id], Frames} with ids >= 0"))?,
                None => return Err(shape("{ws_send, Id | [Id], Frames}")),
            };
            Ok(Command::WsSend { target, frames: frames(id, parts.next())? })
        })(),
        (b"ws_join" | b"ws_leave", 3) => (|| {
            let id = id.ok_or_else(|| shape("{ws_join | ws_leave, Id, Group} with an integer Id"))?;
            let group = parts.next().and_then(|g| g.as_binary()).ok_or_else(|| shape("a binary Group"))?;
            Ok(if tag == b"ws_join" { Command::WsJoin { id, group } } else { Command::WsLeave { id, group } })
        })(),
        (b"ws_publish", 3 | 4) => (|| {
            let group = first.and_then(|g| g.as_binary()).ok_or_else(|| bad(None, "ws_publish: Group must be a binary"))?;
            let frames = frames(None, parts.next())?;
            let except = match parts.next() {
                None => None,
                Some(t) => Some(t.as_u64().ok_or_else(|| bad(None, "ws_publish: ExceptId must be an integer >= 0"))?),
            };
            Ok(Command::WsPublish { group, frames, except })
        })(),
        (b"ws_accept" | b"ws_send" | b"ws_join" | b"ws_leave" | b"ws_publish", _) => {
            Err(bad(id, format!("{}/{arity}: wrong number of elements", String::from_utf8_lossy(tag))))
        }
        _ => return None,
    })
}

fn accept_opts<'a>(id: u64, opts: &Term<'a>) -> Result<AcceptOpts<'a>, BadCommand> {
    let pairs = opts.map().ok_or_else(|| bad(Some(id), "ws_accept: Opts must be a map"))?;
    let mut o = AcceptOpts { protocol: None, deflate: true, control: false };
    for (k, v) in pairs {
        let flag = || match v {
            t if t.is_atom("true") => Some(true),
            t if t.is_atom("false") => Some(false),
            _ => None,
        };
        let ok = match k {
            Term::Atom(b"protocol") => v.as_binary().map(|p| o.protocol = Some(p)).is_some(),
            Term::Atom(b"deflate") => flag().map(|b| o.deflate = b).is_some(),
            Term::Atom(b"control") => flag().map(|b| o.control = b).is_some(),
            _ => false,
        };
        if !ok {
            return Err(bad(Some(id), "ws_accept: Opts keys are protocol (a binary), deflate and control (booleans)"));
        }
    }
    Ok(o)
}

fn target(t: &Term<'_>) -> Option<Target> {
    if let Some(id) = t.as_u64() {
        return Some(Target::One(id));
    }
    if let Term::Bytes(small) = *t {
        return Some(Target::Many(small.iter().map(|&b| b as u64).collect()));
    }
    let ids = t.list()?.map(|e| e.as_u64()).collect::<Option<Vec<u64>>>()?;
    Some(Target::Many(ids))
}

fn frames<'a>(id: Option<u64>, t: Option<Term<'a>>) -> Result<Vec<Frame<'a>>, BadCommand> {
    let list = t.and_then(|t| t.list()).ok_or_else(|| bad(id, "Frames must be a proper list"))?;
    list.map(|f| frame(&f).map_err(|why| bad(id, why))).collect()
}

fn frame<'a>(t: &Term<'a>) -> Result<Frame<'a>, String> {
    if t.is_atom("close") {
        return Ok(Frame::Close(None));
    }
    let shape = "a frame is {text | binary | ping | pong, iodata()}, {close, Code, Reason} or close";
    let mut els = t.tuple().ok_or(shape)?;
    let payload = |t: Option<Term<'a>>| t.as_ref().and_then(iodata_bytes).ok_or("a frame's payload must be iodata");
    match (els.next(), *t) {
        (Some(Term::Atom(b"close")), Term::Tuple { arity: 3, .. }) => {
            let code = els.next().and_then(|c| c.as_u64()).and_then(|c| CloseCode::try_from(c).ok()).ok_or(shape)?;
            let reason = payload(els.next())?;
            close::check_outgoing(code, &reason)?;
            Ok(Frame::Close(Some((code, reason))))
        }
        (Some(Term::Atom(op)), Term::Tuple { arity: 2, .. }) => {
            let op = match op {
                b"text" => OpCode::Text,
                b"binary" => OpCode::Binary,
                b"ping" => OpCode::Ping,
                b"pong" => OpCode::Pong,
                _ => return Err(shape.into()),
            };
            let data = payload(els.next())?;
            if op.is_control() && data.len() > MAX_CONTROL_PAYLOAD {
                return Err("control frame payload over 125 bytes (RFC 6455 5.5)".into());
            }
            Ok(Frame::Data(op, data))
        }
        _ => Err(shape.into()),
    }
}

// ---------------------------------------------------------------------------
// Events (Rust → BEAM).

/// Why a WebSocket ended: the `Cause` of `ws_closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The client's close frame.
    Remote,
    /// Rust failed the connection.
    Error,
    /// `drain`.
    Shutdown,
}

impl Cause {
    fn atom(self) -> &'static str {
        match self {
            Cause::Remote => "remote",
            Cause::Error => "error",
            Cause::Shutdown => "shutdown",
        }
    }
}

/// `{ws_open, Id, #{deflate => Bool, protocol => Binary | undefined}}`.
pub fn ws_open(out: &mut Outbox, id: u64, deflate: bool, protocol: Option<&[u8]>) {
    let b = super::begin_id_event(out, "ws_open", id);
    etf::put_map(b, 2);
    etf::put_atom(b, "deflate");
    etf::put_atom(b, if deflate { "true" } else { "false" });
    etf::put_atom(b, "protocol");
    match protocol {
        Some(p) => etf::put_binary(b, p),
        None => etf::put_atom(b, "undefined"),
    }
    out.end_frame();
}

/// `{ws_in, Id, Opcode, Data}`.
pub fn ws_in(out: &mut Outbox, id: u64, opcode: &str, data: &[u8]) {
    let b = out.begin_frame();
    etf::put_tuple(b, 4);
    etf::put_atom(b, "ws_in");
    etf::put_uint(b, id);
    etf::put_atom(b, opcode);
    etf::put_binary(b, data);
    out.end_frame();
}

/// `{ws_closed, Id, Cause, Code, Reason}`.
pub fn ws_closed(out: &mut Outbox, id: u64, cause: Cause, code: CloseCode, reason: &[u8]) {
    let b = out.begin_frame();
    etf::put_tuple(b, 5);
    etf::put_atom(b, "ws_closed");
    etf::put_uint(b, id);
    etf::put_atom(b, cause.atom());
    etf::put_int(b, code as i64);
    etf::put_binary(b, reason);
    out.end_frame();
}

#[cfg(test)]
mod tests {
    use super::super::decode_command;
    use super::*;

    /// Builds a command as `ferry_protocol` writes it.
    fn cmd(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = vec![131];
        build(&mut v);
        v
    }

    fn text_frame(v: &mut Vec<u8>, op: &str, payload: &[u8]) {
        etf::put_tuple(v, 2);
        etf::put_atom(v, op);
        etf::put_binary(v, payload);
    }

    #[test]
    fn ws_send_to_one_and_to_many() {
        let raw = cmd(|v| {
            etf::put_tuple(v, 3);
            etf::put_atom(v, "ws_send");
            etf::put_int(v, 7);
            etf::put_list(v, 4);
            text_frame(v, "text", b"hi");
            text_frame(v, "ping", b"");
            etf::put_tuple(v, 3);
            etf::put_atom(v, "close");
            etf::put_int(v, 4000);
            etf::put_binary(v, b"bye");
            etf::put_atom(v, "close");
            etf::put_nil(v);
        });
        let Ok(Command::WsSend { target, frames }) = decode_command(&raw) else { panic!() };
        assert_eq!(target, Target::One(7));
        assert_eq!(
            frames,
            vec![
                Frame::Data(OpCode::Text, Cow::Borrowed(&b"hi"[..])),
                Frame::Data(OpCode::Ping, Cow::Borrowed(&b""[..])),
                Frame::Close(Some((4000, Cow::Borrowed(&b"bye"[..])))),
                Frame::Close(None),
            ]
        );
        // A list of ids, as LIST_EXT (ferry_protocol) or STRING_EXT.
        for ids in [vec![1u64, 300, 70000], vec![]] {
            let raw = cmd(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_send");
                if ids.is_empty() {
                    etf::put_nil(v);
                } else {
                    etf::put_list(v, ids.len());
                    ids.iter().for_each(|&i| etf::put_uint(v, i));
                    etf::put_nil(v);
                }
                etf::put_nil(v);
            });
            let Ok(Command::WsSend { target, .. }) = decode_command(&raw) else { panic!() };
            assert_eq!(target, Target::Many(ids.clone()));
        }
        let raw = cmd(|v| {
            etf::put_tuple(v, 3);
            etf::put_atom(v, "ws_send");
            v.extend_from_slice(&[107, 0, 2, 1, 2]);
            etf::put_nil(v);
        });
        let Ok(Command::WsSend { target, .. }) = decode_command(&raw) else { panic!() };
        assert_eq!(target, Target::Many(vec![1, 2]));
    }

    /// The commands the BEAM counts against its publish window, told
    /// apart by their first bytes alone (`publish_credit`).
    #[test]
    fn fan_out_commands_are_recognised() {
        let send_to = |target: &dyn Fn(&mut Vec<u8>)| {
            cmd(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_send");
                target(v);
                etf::put_nil(v);
            })
        };
        let many = send_to(&|v| {
            etf::put_list(v, 1);
            etf::put_uint(v, 1);
            etf::put_nil(v);
        });
        let string = send_to(&|v| v.extend_from_slice(&[107, 0, 2, 1, 2]));
        let none = send_to(&|v| etf::put_nil(v));
        let one = send_to(&|v| etf::put_int(v, 7));
        let publish = |arity: u8| {
            cmd(|v| {
                etf::put_tuple(v, arity);
                etf::put_atom(v, "ws_publish");
                etf::put_binary(v, b"room");
                etf::put_nil(v);
                if arity == 4 {
                    etf::put_int(v, 9);
                }
            })
        };
        let join = cmd(|v| {
            etf::put_tuple(v, 3);
            etf::put_atom(v, "ws_join");
            etf::put_int(v, 7);
            etf::put_binary(v, b"room");
        });
        let stats = cmd(|v| etf::put_atom(v, "stats"));
        for fan_out in [&many, &string, &none, &publish(3), &publish(4)] {
            assert!(crate::protocol::is_fan_out(fan_out), "{fan_out:?}");
        }
        for other in [&one, &join, &stats, &vec![131], &vec![]] {
            assert!(!crate::protocol::is_fan_out(other), "{other:?}");
        }
    }

    #[test]
    fn ws_accept_join_leave_publish() {
        let raw = cmd(|v| {
            etf::put_tuple(v, 4);
            etf::put_atom(v, "ws_accept");
            etf::put_int(v, 3);
            etf::put_nil(v);
            etf::put_map(v, 2);
            etf::put_atom(v, "protocol");
            etf::put_binary(v, b"chat");
            etf::put_atom(v, "deflate");
            etf::put_atom(v, "false");
        });
        let Ok(Command::WsAccept { id: 3, opts, .. }) = decode_command(&raw) else { panic!() };
        assert_eq!(opts, AcceptOpts { protocol: Some(b"chat"), deflate: false, control: false });
        for tag in ["ws_join", "ws_leave"] {
            let raw = cmd(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, tag);
                etf::put_int(v, 3);
                etf::put_binary(v, b"room");
            });
            let got = format!("{:?}", decode_command(&raw).unwrap());
            assert!(got.contains("id: 3, group: [114, 111, 111, 109]"), "{got}");
        }
        let raw = cmd(|v| {
            etf::put_tuple(v, 4);
            etf::put_atom(v, "ws_publish");
            etf::put_binary(v, b"room");
            etf::put_list(v, 1);
            text_frame(v, "binary", b"x");
            etf::put_nil(v);
            etf::put_int(v, 9);
        });
        let Ok(Command::WsPublish { group: b"room", frames, except: Some(9) }) = decode_command(&raw) else { panic!() };
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn malformed_ws_commands_are_refused_whole() {
        let bad_frames: Vec<Box<dyn Fn(&mut Vec<u8>)>> = vec![
            Box::new(|v| text_frame(v, "ping", &[b'x'; 126])),
            Box::new(|v| text_frame(v, "shout", b"x")),
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "close");
                etf::put_int(v, 1005);
                etf::put_binary(v, b"");
            }),
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "close");
                etf::put_int(v, 1000);
                etf::put_binary(v, &[b'x'; 124]);
            }),
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "close");
                etf::put_int(v, 70000);
                etf::put_binary(v, b"");
            }),
            Box::new(|v| {
                etf::put_tuple(v, 2);
                etf::put_atom(v, "text");
                etf::put_atom(v, "hello");
            }),
        ];
        for (i, f) in bad_frames.iter().enumerate() {
            let raw = cmd(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_send");
                etf::put_int(v, 5);
                etf::put_list(v, 2);
                text_frame(v, "text", b"fine");
                f(v);
                etf::put_nil(v);
            });
            let e = decode_command(&raw).unwrap_err();
            assert_eq!(e.id, Some(5), "case {i}: {}", e.message);
        }
        let shapes: Vec<Box<dyn Fn(&mut Vec<u8>)>> = vec![
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_send");
                etf::put_int(v, -1);
                etf::put_nil(v);
            }),
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_send");
                etf::put_list(v, 1);
                etf::put_atom(v, "x");
                etf::put_nil(v);
                etf::put_nil(v);
            }),
            Box::new(|v| {
                etf::put_tuple(v, 3);
                etf::put_atom(v, "ws_join");
                etf::put_int(v, 1);
                etf::put_atom(v, "room");
            }),
            Box::new(|v| {
                etf::put_tuple(v, 4);
                etf::put_atom(v, "ws_accept");
                etf::put_int(v, 1);
                etf::put_nil(v);
                etf::put_map(v, 1);
                etf::put_atom(v, "hibernate");
                etf::put_atom(v, "true");
            }),
            Box::new(|v| {
                etf::put_tuple(v, 4);
                etf::put_atom(v, "ws_publish");
                etf::put_binary(v, b"g");
                etf::put_nil(v);
                etf::put_atom(v, "me");
            }),
            Box::new(|v| {
                etf::put_tuple(v, 2);
                etf::put_atom(v, "ws_send");
                etf::put_int(v, 1);
            }),
        ];
        for (i, f) in shapes.iter().enumerate() {
            let e = decode_command(&cmd(|v| f(v))).unwrap_err();
            assert!(!e.message.is_empty(), "case {i}");
        }
    }
}
