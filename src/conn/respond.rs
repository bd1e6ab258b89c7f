//! The BEAM's side of a request: grants for the body, responses whole or
//! streamed (with credit so a slow client costs a bounded buffer), aborts
//! and the handler deadline.

use super::{After, Conn, Ctx, Resp, SentInfo, Timer, DIRECT_WRITE_MIN, MAX_DISCARD};
use crate::config::LogLevel;
use crate::etf::{self, Term};
use crate::http::response::{self, BodyFraming, Kind, RequestInfo};
use crate::protocol::{self, ClosedReason};

/// A streamed response in progress.
pub struct StreamOut {
    framing: BodyFraming,
    /// Body bytes `content-length` still allows.
    left: u64,
    /// Data bytes the BEAM sent that were not credited back yet.
    outstanding: u64,
    /// Data bytes in `out` not yet written.
    in_out: u64,
    /// Data bytes written and not yet credited.
    uncredited: u64,
}

impl Conn {
    /// The exchange `id` names, if it is this connection's current one.
    pub(super) fn current(&self, id: u64) -> bool {
        self.ex.as_ref().is_some_and(|ex| ex.id == id && ex.dispatched)
    }

    /// What the response may promise about the connection.
    pub(super) fn request_info(&self, ctx: &Ctx<'_>) -> Option<RequestInfo> {
        let ex = self.ex.as_ref()?;
        Some(RequestInfo { must_close: ex.info.must_close || !ex.may_discard_rest() || ctx.draining, ..ex.info })
    }

    /// `{read_body, Id, Bytes}`. Returns false when the id is not ours.
    pub fn read_body(&mut self, ctx: &mut Ctx<'_>, id: u64, bytes: u64) -> bool {
        if self.ws_id() == Some(id) {
            self.ws_grant(ctx, bytes);
            return true;
        }
        if !self.current(id) {
            return false;
        }
        let Some(ex) = self.ex.as_mut() else { return false };
        ex.grant = ex.grant.saturating_add(bytes).min(ctx.cfg.body_window);
        self.release_continue();
        self.timer = Timer::Off;
        self.after_body_progress(ctx);
        true
    }

    /// The BEAM asked for the body: a client waiting for `100 Continue` gets it.
    pub(super) fn release_continue(&mut self) {
        let Some(ex) = self.ex.as_mut() else { return };
        if ex.continue_pending && !ex.body_done() {
            ex.continue_pending = false;
            if matches!(ex.resp, Resp::Waiting) {
                self.out.extend_from_slice(response::CONTINUE);
            }
        }
    }

    /// `{respond, Id, Status, Headers, Body}`.
    pub fn respond(&mut self, ctx: &mut Ctx<'_>, id: u64, status: u16, headers: &Term<'_>, body: &Term<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        if !matches!(self.ex.as_ref().map(|ex| &ex.resp), Some(Resp::Waiting)) {
            self.invalid_response(ctx, "respond after stream_start");
            return true;
        }
        let Ok(body_len) = etf::iodata_len(body) else {
            self.invalid_response(ctx, "respond: body is not iodata");
            return true;
        };
        let Some(info) = self.request_info(ctx) else { return false };
        let start = self.out.len();
        match response::write_head(&mut self.out, status, headers, info, Kind::Complete { body_len }, ctx.date) {
            Ok(plan) if plan.informational => {}
            Ok(plan) => {
                let head_len = self.out.len() - start;
                match *body {
                    Term::Binary(bytes) if plan.framing != BodyFraming::NoBody && start == 0 && bytes.len() >= DIRECT_WRITE_MIN => {
                        let head = std::mem::take(&mut self.out);
                        self.send_piece(ctx, &head, bytes, b"");
                    }
                    // Cannot fail: iodata_len walked the same term.
                    _ if plan.framing != BodyFraming::NoBody => {
                        let _ = etf::write_iodata(body, &mut self.out);
                    }
                    _ => {}
                }
                let sent_body = if plan.framing == BodyFraming::NoBody { 0 } else { body_len };
                self.finish_response(ctx, status, (head_len + sent_body) as u64, plan.close);
            }
            Err(why) => self.invalid_response(ctx, &format!("respond: {why}")),
        }
        true
    }

    /// `{stream_start, Id, Status, Headers}`.
    pub fn stream_start(&mut self, ctx: &mut Ctx<'_>, id: u64, status: u16, headers: &Term<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        let Some(info) = self.request_info(ctx) else { return false };
        if !matches!(self.ex.as_ref().map(|ex| &ex.resp), Some(Resp::Waiting)) {
            self.invalid_response(ctx, "stream_start twice");
            return true;
        }
        let start = self.out.len();
        match response::write_head(&mut self.out, status, headers, info, Kind::Stream, ctx.date) {
            Ok(plan) => {
                let bytes = (self.out.len() - start) as u64;
                let Some(ex) = self.ex.as_mut() else { return true };
                ex.status = status;
                ex.bytes_out = bytes;
                ex.info.must_close |= plan.close;
                let left = match plan.framing {
                    BodyFraming::Length(n) => n,
                    _ => u64::MAX,
                };
                ex.resp = Resp::Streaming(StreamOut { framing: plan.framing, left, outstanding: 0, in_out: 0, uncredited: 0 });
                self.timer = Timer::Off;
            }
            Err(why) => self.invalid_response(ctx, &format!("stream_start: {why}")),
        }
        true
    }

    /// `{stream_chunk, Id, Data}`.
    pub fn stream_chunk(&mut self, ctx: &mut Ctx<'_>, id: u64, data: &Term<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        let Ok(len) = etf::iodata_len(data) else {
            self.invalid_response(ctx, "stream_chunk: data is not iodata");
            return true;
        };
        let window = ctx.cfg.send_window;
        let Some(ex) = self.ex.as_mut() else { return false };
        let Resp::Streaming(s) = &mut ex.resp else {
            self.invalid_response(ctx, "stream_chunk before stream_start");
            return true;
        };
        if len == 0 {
            return true;
        }
        let len64 = len as u64;
        s.outstanding += len64;
        if s.outstanding > window.saturating_mul(2) {
            self.invalid_response(ctx, &format!("stream_chunk overran send_window ({window} bytes) by more than a window"));
            return true;
        }
        let framing = s.framing;
        match framing {
            BodyFraming::NoBody => s.uncredited += len64,
            BodyFraming::Length(_) if len64 > s.left => {
                self.invalid_response(ctx, "stream_chunk: more data than content-length");
                return true;
            }
            _ => s.left -= len64.min(s.left),
        }
        if framing != BodyFraming::NoBody {
            let mut size_line = Vec::new();
            let tail: &[u8] = if framing == BodyFraming::Chunked {
                response::write_chunk_size(&mut size_line, len);
                b"\r\n"
            } else {
                b""
            };
            let direct = match *data {
                Term::Binary(bytes) => self.send_piece(ctx, &size_line, bytes, tail),
                _ => {
                    self.out.extend_from_slice(&size_line);
                    let _ = etf::write_iodata(data, &mut self.out);
                    self.out.extend_from_slice(tail);
                    0
                }
            };
            if let Some(ex) = self.ex.as_mut() {
                ex.bytes_out += (size_line.len() + len + tail.len()) as u64;
                if let Resp::Streaming(s) = &mut ex.resp {
                    s.in_out += len64 - direct;
                    s.uncredited += direct;
                }
            }
        }
        self.timer = Timer::Off;
        let nothing_queued = self.out_pending() == 0;
        self.maybe_credit(ctx, window, nothing_queued);
        true
    }

    /// `{stream_end, Id, Trailers}`.
    pub fn stream_end(&mut self, ctx: &mut Ctx<'_>, id: u64, trailers: &Term<'_>) -> bool {
        if !self.current(id) {
            return false;
        }
        let Some(ex) = self.ex.as_mut() else { return false };
        let Resp::Streaming(s) = &ex.resp else {
            self.invalid_response(ctx, "stream_end before stream_start");
            return true;
        };
        let (framing, left) = (s.framing, s.left);
        let mut close = ex.info.must_close;
        match framing {
            BodyFraming::Chunked => {
                let before = self.out.len();
                if let Err(why) = response::write_last_chunk(&mut self.out, trailers) {
                    // No last chunk: the client sees the body is cut.
                    self.invalid_response(ctx, &format!("stream_end: {why}"));
                    return true;
                }
                ex.bytes_out += (self.out.len() - before) as u64;
            }
            BodyFraming::Length(_) if left > 0 => {
                // The client would wait for bytes that never come.
                ctx.stats.protocol_errors += 1;
                protocol::protocol_error(ctx.events, Some(id), &format!("stream_end {left} bytes short of content-length"));
                close = true;
            }
            BodyFraming::UntilClose => close = true,
            _ => {}
        }
        let (status, bytes) = (ex.status, ex.bytes_out);
        self.finish_response(ctx, status, bytes, close);
        true
    }

    /// `{abort, Id}`: 500 if nothing went out yet, else the connection closes.
    pub fn abort(&mut self, ctx: &mut Ctx<'_>, id: u64) -> bool {
        if !self.current(id) {
            return false;
        }
        let Some(ex) = self.ex.as_ref() else { return false };
        if matches!(ex.resp, Resp::Waiting) {
            self.answer_error(ctx, 500, "");
        } else {
            self.cut_response(ctx);
        }
        true
    }

    /// A streamed response cannot be finished: what is queued still goes
    /// out (without a last chunk, so the client sees it is cut), then the
    /// connection closes.
    pub(super) fn cut_response(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(ex) = self.ex.take() {
            ctx.ids.remove(&ex.id);
        }
        self.close_after_write = true;
        self.timer = Timer::Off;
    }

    /// The BEAM stayed silent past `handler_timeout`.
    pub(super) fn handler_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ex) = self.ex.as_ref() else { return };
        ctx.log(LogLevel::Warning, &format!("request {} got no answer within handler_timeout", ex.id));
        protocol::closed(ctx.events, ex.id, ClosedReason::HandlerTimeout);
        if matches!(ex.resp, Resp::Waiting) {
            self.answer_error(ctx, 504, "the application did not answer in time");
        } else {
            self.cut_response(ctx);
        }
    }

    /// Ends the exchange with an error status of Ferry's own (500, 504):
    /// the connection stays only if the body was read.
    pub(super) fn answer_error(&mut self, ctx: &mut Ctx<'_>, status: u16, detail: &str) {
        let Some(ex) = self.ex.as_ref() else { return };
        // An unread body is not dropped here: after a failure, close.
        let close = ex.info.must_close || !ex.body_done() || ctx.draining;
        let start = self.out.len();
        response::write_error(&mut self.out, status, close, ctx.date, detail);
        let bytes = (self.out.len() - start) as u64;
        self.finish_response(ctx, status, bytes, close);
    }

    /// The BEAM's response is invalid: it is told, the client gets 500 (or
    /// a close, once the head is out).
    pub(super) fn invalid_response(&mut self, ctx: &mut Ctx<'_>, why: &str) {
        let Some(ex) = self.ex.as_ref() else { return };
        let id = ex.id;
        ctx.stats.protocol_errors += 1;
        protocol::protocol_error(ctx.events, Some(id), why);
        protocol::closed(ctx.events, id, ClosedReason::ProtocolError);
        if matches!(ex.resp, Resp::Waiting) {
            self.answer_error(ctx, 500, "");
        } else {
            self.cut_response(ctx);
        }
    }

    /// The whole response is in `out`: the request is finished.
    pub(super) fn finish_response(&mut self, ctx: &mut Ctx<'_>, status: u16, bytes: u64, close: bool) {
        let Some(ex) = self.ex.take() else { return };
        ctx.ids.remove(&ex.id);
        let sent = ctx.cfg.sent_events.then(|| SentInfo { id: ex.id, status, bytes, started: ex.started });
        let close = close || !ex.may_discard_rest();
        self.close_after_write |= close;
        let discard = if !close && !ex.body_done() { Some((ex.body, MAX_DISCARD)) } else { None };
        if sent.is_some() || discard.is_some() {
            self.after = Some(Box::new(After { sent, discard }));
        }
        self.timer = Timer::Off;
    }

    /// `n` bytes of `out` reached the socket.
    pub(super) fn on_written(&mut self, ctx: &mut Ctx<'_>, n: u64) {
        self.ws_written(ctx, n);
        let window = ctx.cfg.send_window;
        if let Some(Resp::Streaming(s)) = self.ex.as_mut().map(|ex| &mut ex.resp) {
            let d = n.min(s.in_out);
            s.in_out -= d;
            s.uncredited += d;
            self.maybe_credit(ctx, window, false);
        }
    }

    /// `out` is empty: every data byte queued has been written.
    pub(super) fn on_flushed(&mut self, ctx: &mut Ctx<'_>) {
        self.ws_flushed(ctx);
        let window = ctx.cfg.send_window;
        if let Some(Resp::Streaming(s)) = self.ex.as_mut().map(|ex| &mut ex.resp) {
            s.uncredited += s.in_out;
            s.in_out = 0;
            self.maybe_credit(ctx, window, true);
        }
    }

    /// Returns credit to the BEAM once half a window has been written, or
    /// when everything it sent has been (`all_written`), so a handler
    /// waiting for credit always gets it.
    fn maybe_credit(&mut self, ctx: &mut Ctx<'_>, window: u64, all_written: bool) {
        let Some(ex) = self.ex.as_mut() else { return };
        if let Resp::Streaming(s) = &mut ex.resp {
            if s.uncredited > 0 && (all_written || s.uncredited >= window / 2) {
                protocol::stream_credit(ctx.events, ex.id, s.uncredited);
                s.outstanding = s.outstanding.saturating_sub(s.uncredited);
                s.uncredited = 0;
            }
        }
    }
}

impl Conn {
    /// Drain's deadline passed and the process is about to exit: a request
    /// still waiting for its response gets 503 with `connection: close`
    /// rather than a bare close (what the socket takes at once; nothing
    /// waits for the rest), and the BEAM hears `{closed, Id, shutdown}`.
    pub fn shut_down(&mut self, ctx: &mut Ctx<'_>) {
        let waiting = self.ws.is_none() && self.ex.as_ref().is_some_and(|ex| ex.dispatched && matches!(ex.resp, Resp::Waiting));
        if waiting {
            response::write_error(&mut self.out, 503, true, ctx.date, "the server is shutting down");
        }
        self.end_exchange(ctx, ClosedReason::Shutdown);
        if waiting && self.out_written < self.out.len() {
            use std::io::Write;
            let _ = self.stream.write(&self.out[self.out_written..]);
        }
    }
}
