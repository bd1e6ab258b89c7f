//! A connection after `ws_accept` (docs/PROTOCOL.md "WebSocket"): the 101,
//! then messages from the client decoded by `ws::Decoder` and sent to the
//! BEAM under its grant, pings answered here, and the close handshake.
//! What goes to the client is `ws_out`'s.
//!
//! The close handshake, by who starts it:
//! * the client: its close is echoed, `ws_closed remote`, then TCP closes;
//! * the BEAM (`{close, …}`) or a drain: our close goes out and the client's
//!   answer is awaited (drain reports `shutdown` at once);
//! * Rust (a protocol error, too big, too slow, silent): our close with its
//!   code, `ws_closed error`, and TCP closes without waiting;
//! * the socket dying: `ws_closed error` 1006.
//!
//! Once a close frame of ours is queued (an echo too), `ws_close_timeout`
//! bounds what is left: its write and, after the BEAM's, the client's
//! answer. A client that has not taken it by then is reset.

use super::credit::Credit;
use super::{Conn, Ctx, Resp, Timer};
use crate::etf::Term;
use crate::protocol::{self, AcceptOpts, Cause};
use crate::ws::close::{self, CloseCode};
use crate::ws::handshake;
use crate::ws::write::{write_close, write_frame};
use crate::ws::{Decoder, DeflateParams, Deflater, Message, OpCode};
use std::rc::Rc;

// A message to the BEAM costs its bytes and this much grant, as a body
// frame does (PROTOCOL.md "Messages in").
use super::reading::BODY_FRAME_COST;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Open,
    /// Our close frame is out: waiting for the client's.
    Closing,
    /// Nothing more is read or sent; the TCP connection is closing.
    Done,
}

/// The WebSocket side of a connection (boxed: only upgraded connections
/// pay for it).
pub struct WsConn {
    pub id: u64,
    decoder: Decoder,
    /// permessage-deflate as agreed, for what we send.
    pub(super) deflate: Option<DeflateParams>,
    /// With context takeover: made when the first message worth
    /// compressing goes out (boxed: a connection that never compresses
    /// keeps 8 bytes for it). Without, messages use a shared one.
    pub(super) deflater: Option<Box<Deflater>>,
    /// Forward pings and pongs to the BEAM.
    control: bool,
    /// Message bytes the BEAM granted (`read_body`).
    grant: u64,
    pub(super) credit: Credit,
    pub(super) state: State,
    /// `ws_closed` has been sent: the id is finished.
    pub(super) reported: bool,
    /// When silence started counting: the last input, or our ping.
    idle_from: u64,
    /// We pinged and have heard nothing since.
    pinged: bool,
    /// Open: where in `out` whole frames begin (past the 101, or past the
    /// rest of a frame written in part at once), so that a member too far
    /// behind can be cut at a frame boundary (`ws_out`). Once our close is
    /// queued: until when it may take to be written and answered. One
    /// field for both, as they never matter at once: 8 bytes more would
    /// take this struct to the next malloc chunk.
    pub(super) mark: u64,
    /// Until when the client's message being read may take to end
    /// (`u64::MAX`: none is).
    message_by: u64,
    /// The groups this connection is in (names shared with the registry).
    /// A boxed slice, 8 bytes less than a `Vec` on every connection: a
    /// join or a leave copies it, and both are rare next to idling.
    groups: Box<[Rc<[u8]>]>,
}

impl WsConn {
    pub fn groups(&self) -> &[Rc<[u8]>] {
        &self.groups
    }

    /// The registry added this connection to group `name`.
    pub fn joined(&mut self, name: Rc<[u8]>) {
        let mut groups = std::mem::take(&mut self.groups).into_vec();
        groups.push(name);
        self.groups = groups.into_boxed_slice();
    }

    /// The registry removed this connection from group `name`.
    pub fn left(&mut self, name: &[u8]) {
        let mut groups = std::mem::take(&mut self.groups).into_vec();
        groups.retain(|g| &**g != name);
        self.groups = groups.into_boxed_slice();
    }
}

impl Conn {
    /// `{ws_accept, Id, Headers, Opts}`: the 101, and the exchange becomes
    /// a WebSocket under the same id. Returns false when the id is not ours.
    pub fn ws_accept(&mut self, ctx: &mut Ctx<'_>, id: u64, headers: &Term<'_>, opts: &AcceptOpts<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        let Some(ex) = self.ex.as_mut() else { return false };
        if !matches!(ex.resp, Resp::Waiting) {
            self.invalid_response(ctx, "ws_accept after a response began");
            return true;
        }
        let Some(hs) = ex.handshake.take() else {
            self.invalid_response(ctx, "ws_accept for a request that is not websocket => ok");
            return true;
        };
        let mut extra = Vec::new();
        if let Err(why) = protocol::for_each_header(headers, |n, v| {
            extra.push((n.to_vec(), v.to_vec()));
            Ok(())
        }) {
            self.invalid_response(ctx, &format!("ws_accept: {why}"));
            return true;
        }
        let extra: Vec<(&[u8], &[u8])> = extra.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let deflate = hs.deflate.filter(|_| opts.deflate && ctx.cfg.ws_deflate).map(|d| match ctx.cfg.ws_deflate_takeover {
            true => d,
            false => d.without_context_takeover(),
        });
        if let Err(why) = handshake::write_response(&mut self.out, &hs, opts.protocol, deflate.as_ref(), &extra) {
            self.invalid_response(ctx, &format!("ws_accept: {why}"));
            return true;
        }
        let frames_from = self.out.len() as u64;
        // The id stays in `ids`, now naming the WebSocket.
        self.ex = None;
        self.ws = Some(Box::new(WsConn {
            id,
            decoder: Decoder::new(ctx.cfg.ws_limits(), deflate.as_ref()),
            deflate,
            deflater: None,
            control: opts.control,
            grant: 0,
            credit: Credit::default(),
            state: State::Open,
            reported: false,
            idle_from: ctx.now,
            pinged: false,
            mark: frames_from,
            message_by: u64::MAX,
            groups: Box::default(),
        }));
        protocol::ws_open(ctx.events, id, deflate.is_some(), opts.protocol);
        self.timer = Timer::Off;
        if ctx.draining {
            self.ws_shutdown(ctx);
        }
        true
    }

    /// The id of the WebSocket, while the BEAM may still address it.
    pub fn ws_id(&self) -> Option<u64> {
        self.ws.as_ref().filter(|ws| !ws.reported).map(|ws| ws.id)
    }

    /// `{read_body, Id, Bytes}` on a WebSocket: a grant for messages.
    pub(super) fn ws_grant(&mut self, ctx: &Ctx<'_>, bytes: u64) {
        if let Some(ws) = self.ws.as_mut() {
            if ws.grant == 0 {
                // Silence counts only while the socket is read.
                ws.idle_from = ctx.now;
            }
            ws.grant = ws.grant.saturating_add(bytes).min(ctx.cfg.body_window);
        }
    }

    // -----------------------------------------------------------------------
    // Reading

    /// Bytes worth reading now: none while the BEAM grants nothing (TCP
    /// back-pressure on the client), or while our own output to a client
    /// that does not read is over a window (its pings cannot grow it).
    pub(super) fn ws_read_limit(&self, ctx: &Ctx<'_>, scratch: usize) -> usize {
        let Some(ws) = self.ws.as_ref() else { return 0 };
        if ctx.paused || ctx.inflate_left == 0 || self.out_pending() as u64 > ctx.cfg.send_window {
            return 0;
        }
        match ws.state {
            State::Open if ws.grant > 0 => scratch,
            State::Closing => scratch,
            _ => 0,
        }
    }

    /// Decodes what it may of `input`; returns the bytes used.
    pub(super) fn ws_feed(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> usize {
        if let (Some(ws), false) = (self.ws.as_mut(), input.is_empty()) {
            ws.idle_from = ctx.now;
            ws.pinged = false;
            if matches!(self.timer, Timer::WsIdle | Timer::WsMessage) {
                self.timer = Timer::Off;
            }
        }
        let mut at = 0;
        loop {
            if self.dead || self.close_after_write {
                return input.len();
            }
            let Some(ws) = self.ws.as_mut() else { return input.len() };
            let more = match ws.state {
                State::Open => ws.grant > 0,
                State::Closing => true,
                State::Done => false,
            };
            if !more || at == input.len() {
                return at;
            }
            let decoded = ws.decoder.decode_within(&input[at..], &mut ctx.inflate_left);
            ws.message_by = match (ws.decoder.in_message(), ctx.cfg.ws_message_timeout) {
                (false, _) | (_, 0) => u64::MAX,
                (true, ms) => ws.message_by.min(ctx.now.saturating_add(ms)),
            };
            match decoded {
                Ok((used, Some(message))) => {
                    at += used;
                    self.ws_message(ctx, message);
                }
                Ok((used, None)) => {
                    if ctx.inflate_left == 0 {
                        // This drive's share of inflating is used: the rest next turn.
                        ctx.again.push(ctx.slot);
                    }
                    return at + used;
                }
                Err(e) => {
                    self.ws_fail(ctx, e.code(), e.to_string().as_bytes());
                    return input.len();
                }
            }
        }
    }

    fn ws_message(&mut self, ctx: &mut Ctx<'_>, message: Message) {
        let Some(ws) = self.ws.as_mut() else { return };
        let open = ws.state == State::Open;
        let (opcode, data) = match message {
            Message::Text(d) => ("text", d),
            Message::Binary(d) => ("binary", d),
            Message::Ping(p) => {
                if open {
                    // Cannot fail: the decoder let in at most 125 bytes.
                    let _ = write_frame(&mut self.out, OpCode::Pong, &p);
                }
                ("ping", p)
            }
            Message::Pong(p) => ("pong", p),
            Message::Close(c) => {
                let (code, reason) = c.map_or((close::NO_STATUS, Vec::new()), |c| (c.code, c.reason));
                if open {
                    // The echo (RFC 6455 5.5.1) carries the code, not the reason.
                    let _ = match code {
                        close::NO_STATUS => write_frame(&mut self.out, OpCode::Close, b""),
                        _ => write_close(&mut self.out, code, b""),
                    };
                }
                self.ws_report(ctx, Cause::Remote, code, &reason);
                self.ws_finish(ctx);
                return;
            }
        };
        let forward = matches!(opcode, "text" | "binary") || ws.control;
        if open && forward {
            protocol::ws_in(ctx.events, ws.id, opcode, &data);
            ws.grant = ws.grant.saturating_sub(data.len() as u64 + BODY_FRAME_COST);
        }
    }

    // -----------------------------------------------------------------------
    // Ending

    /// Rust ends the connection: a close frame with `code` (unless ours
    /// is out already), `ws_closed error`, and TCP closes after it.
    pub(super) fn ws_fail(&mut self, ctx: &mut Ctx<'_>, code: CloseCode, reason: &[u8]) {
        let Some(ws) = self.ws.as_ref() else { return };
        if ws.state == State::Open {
            // The reasons are ours and short; a code not for the wire (1006) sends none.
            if write_close(&mut self.out, code, reason).is_err() {
                let _ = write_close(&mut self.out, code, b"");
            }
        }
        self.ws_report(ctx, Cause::Error, code, reason);
        self.ws_finish(ctx);
    }

    /// `drain`: close with 1001 and `ws_closed shutdown` at once; the
    /// client's answer is awaited as after the BEAM's close.
    pub fn ws_shutdown(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ws) = self.ws.as_mut() else { return };
        if ws.state == State::Open {
            let _ = write_close(&mut self.out, close::GOING_AWAY, b"server shutting down");
            ws.state = State::Closing;
            ws.mark = ctx.now.saturating_add(ctx.cfg.ws_close_timeout);
        }
        self.ws_report(ctx, Cause::Shutdown, close::GOING_AWAY, b"");
    }

    /// The socket died (or the connection is dropped) before the close
    /// handshake ended: 1006, if the BEAM was not told already.
    pub fn ws_lost(&mut self, ctx: &mut Ctx<'_>, why: &str) {
        self.ws_report(ctx, Cause::Error, close::ABNORMAL, why.as_bytes());
        if let Some(ws) = self.ws.as_mut() {
            ws.state = State::Done;
            ws.mark = u64::MAX;
        }
    }

    /// Our close is out (the BEAM's): wait for the client's answer.
    pub(super) fn ws_closing(&mut self, ctx: &Ctx<'_>) {
        if let Some(ws) = self.ws.as_mut() {
            ws.state = State::Closing;
            ws.mark = ctx.now.saturating_add(ctx.cfg.ws_close_timeout);
        }
    }

    /// Nothing more to read or send: what is queued goes (our close last,
    /// within `ws_close_timeout` of now unless one runs already), then
    /// TCP closes.
    fn ws_finish(&mut self, ctx: &Ctx<'_>) {
        if let Some(ws) = self.ws.as_mut() {
            if ws.state == State::Open {
                ws.mark = ctx.now.saturating_add(ctx.cfg.ws_close_timeout);
            }
            ws.state = State::Done;
        }
        self.close_after_write = true;
        self.inbuf = Vec::new();
    }

    /// `{ws_closed, …}` once; the id is finished after it.
    fn ws_report(&mut self, ctx: &mut Ctx<'_>, cause: Cause, code: CloseCode, reason: &[u8]) {
        let Some(ws) = self.ws.as_mut() else { return };
        if !ws.reported {
            ws.reported = true;
            ctx.ids.remove(&ws.id);
            protocol::ws_closed(ctx.events, ws.id, cause, code, reason);
        }
    }

    // -----------------------------------------------------------------------
    // Timers

    /// The WebSocket's deadline: once our close is queued, its write and
    /// the answer due (whether output waits or not); else, when no output
    /// waits, silence (only while the socket is read). `None`: the
    /// connection's own rules (`send_timeout`, `min_send_rate`) apply.
    pub(super) fn ws_timer(&self, ctx: &Ctx<'_>) -> Option<(Timer, u64)> {
        let ws = self.ws.as_ref()?;
        match ws.state {
            State::Closing | State::Done if ws.mark != u64::MAX => Some((Timer::WsClosing, ws.mark)),
            _ if self.out_pending() > 0 => None,
            State::Open if ws.grant > 0 && ws.message_by != u64::MAX => Some((Timer::WsMessage, ws.message_by)),
            State::Open if ws.grant > 0 && ctx.cfg.ws_idle_timeout > 0 => {
                Some((Timer::WsIdle, ws.idle_from.saturating_add(ctx.cfg.ws_idle_timeout)))
            }
            _ => Some((Timer::Off, u64::MAX)),
        }
    }

    pub(super) fn ws_timeout(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        let Some(ws) = self.ws.as_mut() else { return };
        match timer {
            Timer::WsIdle if !ws.pinged => {
                let _ = write_frame(&mut self.out, OpCode::Ping, b"");
                ws.pinged = true;
                ws.idle_from = ctx.now;
            }
            Timer::WsIdle => self.ws_fail(ctx, close::GOING_AWAY, b"no answer to a ping within ws_idle_timeout"),
            Timer::WsMessage => self.ws_fail(ctx, close::POLICY_VIOLATION, b"message not complete within ws_message_timeout"),
            Timer::WsClosing if self.out_pending() > 0 => {
                // Our close frame is not out yet: what the kernel holds for a
                // client that reads nothing goes too.
                self.ws_report(ctx, Cause::Error, close::ABNORMAL, b"the client did not read our close frame within ws_close_timeout");
                self.reset();
            }
            Timer::WsClosing => {
                self.ws_report(ctx, Cause::Error, close::ABNORMAL, b"no close frame from the client within ws_close_timeout");
                self.dead = true;
            }
            _ => {}
        }
    }
}


#[cfg(test)]
mod tests {
    /// What every upgraded connection carries while it is idle (its
    /// buffers are empty then): thousands of them must stay cheap. zlib's
    /// contexts are boxed and made on first use. The budget is glibc's:
    /// 232 bytes and its 8-byte header make a 240-byte chunk; 8 bytes
    /// more would take a 256-byte one (scenario 8 counts each idle
    /// WebSocket's bytes).
    #[test]
    fn the_websocket_state_is_small() {
        let size = std::mem::size_of::<super::WsConn>();
        assert!(size <= 232, "{size} bytes");
    }
}
