//! Reading requests: heads (parsed in place, in the shared scratch buffer
//! when possible), inline bodies collected before dispatch, streamed bodies
//! sent to the BEAM under its `read_body` grant.

use super::{BodyIn, Conn, Ctx, Exchange, Resp, Timer, MAX_BODY_CHUNK};
use crate::config::{Config, LogLevel};
use crate::http::chunked::{ChunkedDecoder, ChunkedError, Decoded};
use crate::http::request::{self, BodyKind, Head, Limits};
use crate::http::response::{self, RequestInfo};
use crate::http::HttpError;
use crate::protocol::{self, ClosedReason, RequestBody, RequestEvent};
use crate::ws::handshake::{self, Check};
use std::io::{self, Read};
use std::time::Instant;

/// Raw bytes of a chunked body read beyond the grant, for its framing.
const FRAMING_PEEK: usize = 256;
/// Grant a `{body, Id, Chunk}` frame costs beyond its bytes (PROTOCOL.md
/// "Streamed request bodies"): the grant then bounds the frames in flight
/// to the BEAM, not only the bytes, so a body sent as 1-byte chunks cannot
/// flood it with messages. The BEAM gives the same back per frame it took.
pub(super) const BODY_FRAME_COST: u64 = 512;
/// Most bytes read at once when they may have to wait in `inbuf`.
const SMALL_READ: usize = 64 * 1024;

impl Conn {
    /// Bytes worth reading from the socket now (0: leave them in the kernel).
    /// Only the body of a dispatched request, which leaves at once (in
    /// `body` frames or to a file), is read a whole scratch buffer at a time;
    /// anything that may stay in `inbuf` (heads, pipelined requests, bodies
    /// being collected) is read `SMALL_READ` at a time.
    fn read_limit(&self, ctx: &Ctx<'_>, scratch: usize) -> usize {
        let small = scratch.min(SMALL_READ);
        if self.lingering {
            return small;
        }
        if self.close_after_write || self.dead {
            return 0;
        }
        if self.ws.is_some() {
            return self.ws_read_limit(ctx, scratch);
        }
        let Some(ex) = &self.ex else {
            if self.discarding() {
                return small;
            }
            let may_start = self.out_pending() == 0 && !ctx.paused && !ctx.draining;
            return if may_start { small } else { 0 };
        };
        let room = ex.body_room();
        let n = match ex.body {
            BodyIn::Done => 0,
            BodyIn::Length(left) if !ex.dispatched => left,
            BodyIn::Length(left) => left.min(room),
            BodyIn::Chunked(_) if !ex.dispatched => small as u64,
            // A little more than the grant, so the last chunk and trailers
            // (which need no grant) are seen once the data is all sent.
            BodyIn::Chunked(_) => room.max(FRAMING_PEEK.saturating_sub(self.inbuf.len()) as u64),
        };
        n.min(scratch as u64) as usize
    }

    pub(super) fn pump(&mut self, ctx: &mut Ctx<'_>, scratch: &mut [u8]) {
        if !self.inbuf.is_empty() && !self.lingering {
            self.feed_buffered(ctx);
        }
        while self.readable && !self.dead {
            let limit = self.read_limit(ctx, scratch.len());
            if limit == 0 {
                break;
            }
            // Body bytes spliced from the socket to a file or the BEAM, or a read.
            let spliced = match self.splice_to_file(ctx) {
                None => self.splice_body(ctx),
                done => done,
            };
            let direct = spliced.is_some();
            match spliced.unwrap_or_else(|| self.stream.read(&mut scratch[..limit])) {
                Ok(0) => {
                    self.peer_gone(ctx);
                    return;
                }
                Ok(n) => {
                    ctx.stats.bytes_in += n as u64;
                    self.body_wait.add(n as u64);
                    if self.timer == Timer::Body {
                        // Progress: the stall and rate deadlines move.
                        self.timer = Timer::Off;
                    }
                    if n < limit && !self.peer_eof {
                        // The kernel had no more; the next arrival is a new event.
                        self.readable = false;
                    }
                    if direct {
                        self.after_body_progress(ctx);
                        continue;
                    }
                    if self.lingering {
                        continue;
                    }
                    if self.inbuf.is_empty() {
                        let used = self.feed(ctx, &scratch[..n]);
                        if used < n && !self.close_after_write {
                            self.inbuf.extend_from_slice(&scratch[used..n]);
                        }
                    } else {
                        self.inbuf.extend_from_slice(&scratch[..n]);
                        self.feed_buffered(ctx);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.peer_gone(ctx);
                    return;
                }
            }
        }
        if self.ex.is_none() && ctx.paused && !self.in_paused_list && !self.close_after_write {
            self.in_paused_list = true;
            ctx.paused_slots.push(ctx.slot);
        }
    }

    fn feed_buffered(&mut self, ctx: &mut Ctx<'_>) {
        let buf = std::mem::take(&mut self.inbuf);
        let used = self.feed(ctx, &buf);
        if used < buf.len() && !self.close_after_write {
            self.inbuf = buf;
            self.inbuf.drain(..used);
        }
    }

    /// Uses what it can of `input`; returns how many bytes. All the body
    /// bytes it decodes leave in one `body` frame (or `MAX_BODY_CHUNK` ones), however
    /// many chunks carried them.
    fn feed(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> usize {
        if self.ws.is_some() {
            return self.ws_feed(ctx, input);
        }
        let used = self.take_input(ctx, input);
        self.after_body_progress(ctx);
        used
    }

    fn take_input(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> usize {
        let mut at = 0;
        loop {
            if self.dead || self.close_after_write {
                return input.len();
            }
            let Some(ex) = self.ex.as_mut() else {
                if self.discarding() && at < input.len() {
                    let used = self.discard_body(&input[at..]);
                    if used == 0 {
                        return at;
                    }
                    at += used;
                    continue;
                }
                if at == input.len() || self.out_pending() > 0 || ctx.paused || ctx.draining || self.discarding() {
                    return at;
                }
                match self.parse_head(ctx, &input[at..]) {
                    Some(used) => at += used,
                    None => return at,
                }
                continue;
            };
            let room = ex.dispatched.then(|| ex.body_room());
            let used = match &mut ex.body {
                BodyIn::Done => return at,
                BodyIn::Length(left) => {
                    let room = room.unwrap_or(u64::MAX);
                    let n = (*left).min(room).min((input.len() - at) as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        ex.body = BodyIn::Done;
                    }
                    self.take_body(ctx, &input[at..at + n]);
                    n
                }
                BodyIn::Chunked(dec) => {
                    let room = room.map_or(MAX_BODY_CHUNK, |r| usize::try_from(r).unwrap_or(usize::MAX));
                    match dec.decode(&input[at..], room) {
                        Ok((used, Decoded::Data(r))) => {
                            let data = &input[at..][r];
                            self.take_body(ctx, data);
                            used
                        }
                        Ok((used, Decoded::NeedMore)) => used,
                        Ok((used, Decoded::Done)) => {
                            ex.trailers = std::mem::take(&mut dec.trailers);
                            ex.body = BodyIn::Done;
                            used
                        }
                        Err(e) => {
                            self.body_error(ctx, e);
                            return input.len();
                        }
                    }
                }
            };
            at += used;
            self.dispatch_when_due(ctx);
            if used == 0 {
                return at;
            }
        }
    }

    /// Drops body bytes of a request already answered; returns the bytes used.
    fn discard_body(&mut self, input: &[u8]) -> usize {
        let Some((body, budget)) = self.after.as_deref_mut().and_then(|a| a.discard.as_mut()) else { return 0 };
        let (used, dropped, done) = match body {
            BodyIn::Done => (0, 0, true),
            BodyIn::Length(left) => {
                let n = (*left).min(input.len() as u64);
                *left -= n;
                (n as usize, n, *left == 0)
            }
            BodyIn::Chunked(dec) => match dec.decode(input, input.len()) {
                Ok((used, Decoded::Data(r))) => (used, r.len() as u64, false),
                Ok((used, Decoded::NeedMore)) => (used, 0, false),
                Ok((used, Decoded::Done)) => (used, 0, true),
                Err(_) => (input.len(), u64::MAX, false),
            },
        };
        if dropped > *budget {
            // Too much to drop (or a broken body): close instead.
            self.stop_discard();
            self.close_after_write = true;
            return input.len();
        }
        *budget -= dropped;
        if done {
            self.stop_discard();
            self.timer = Timer::Off;
        }
        used
    }

    /// Parses a head at the start of `input`; returns the bytes used (head
    /// and any inline body), `None` when it is incomplete or refused.
    fn parse_head(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Option<usize> {
        let limits = Limits {
            max_request_line: ctx.cfg.max_request_line,
            max_header_bytes: ctx.cfg.max_header_bytes,
            max_headers: ctx.cfg.max_headers,
            max_body: ctx.cfg.max_body,
        };
        match request::parse(input, &limits, |head| self.start_request(ctx, head, &input[head.len..])) {
            Ok(Some(body_used)) => Some(body_used),
            Ok(None) => None,
            Err(e) => {
                ctx.log(LogLevel::Info, &format!("{}: {e}", self.peer));
                self.reject(ctx, e.status(), &e.to_string());
                None
            }
        }
    }

    /// A head has arrived: the request begins. Returns the bytes of `input`
    /// (the head and what follows it) now used.
    fn start_request(&mut self, ctx: &mut Ctx<'_>, head: &Head<'_, '_>, rest: &[u8]) -> usize {
        let id = *ctx.next_id;
        *ctx.next_id += 1;
        let f = head.framing;
        let info = RequestInfo { is_head: f.is_head, minor_version: head.minor_version, must_close: !f.keep_alive };
        let check = handshake::check(head.method, head.minor_version, head.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
        let (websocket, handshake) = match check {
            Check::NotWebSocket => (None, None),
            Check::Ok(hs) => (Some("ok"), Some(Box::new(hs))),
            Check::BadVersion => (Some("bad_version"), None),
            Check::BadRequest(why) => {
                ctx.log(LogLevel::Debug, &format!("{}: {why}", self.peer));
                (Some("bad_request"), None)
            }
        };
        let ev = RequestEvent {
            id,
            method: head.method,
            path: head.path,
            query: head.query,
            minor_version: head.minor_version,
            headers: head.headers,
            peer: self.peer,
            websocket,
            tls: matches!(self.stream, crate::tls::Transport::Tls(_)).then_some(&self.stream),
        };
        let mut ex = Box::new(Exchange {
            id,
            dispatched: true,
            prefix: Vec::new(),
            info,
            body: BodyIn::Done,
            body_end_sent: true,
            trailers: Vec::new(),
            grant: 0,
            continue_pending: false,
            pending: Vec::new(),
            resp: Resp::Waiting,
            started: Instant::now(),
            status: 0,
            bytes_out: 0,
            to_file: None,
            handshake,
        });
        let inline = ctx.cfg.inline_body as u64;
        let mut used = head.len;
        match f.body {
            BodyKind::None => protocol::request(ctx.events, &ev, RequestBody::Inline(b"")),
            BodyKind::Length(n) if n <= inline && !f.expect_continue && rest.len() as u64 >= n => {
                protocol::request(ctx.events, &ev, RequestBody::Inline(&rest[..n as usize]));
                used += n as usize;
            }
            BodyKind::Length(n) if n <= inline && !f.expect_continue => {
                protocol::request_prefix(&mut ex.prefix, &ev);
                ex.dispatched = false;
                ex.body = BodyIn::Length(n);
            }
            BodyKind::Chunked if !f.expect_continue && inline > 0 => {
                protocol::request_prefix(&mut ex.prefix, &ev);
                ex.dispatched = false;
                ex.body = BodyIn::Chunked(self.chunked_decoder(ctx.cfg));
            }
            body => {
                protocol::request(ctx.events, &ev, RequestBody::Stream);
                ex.body = match body {
                    BodyKind::Length(n) => BodyIn::Length(n),
                    _ => BodyIn::Chunked(self.chunked_decoder(ctx.cfg)),
                };
                ex.continue_pending = f.expect_continue;
            }
        }
        ex.body_end_sent = ex.body_done();
        if ex.dispatched {
            ctx.stats.requests += 1;
        }
        ctx.ids.insert(id, ctx.slot);
        self.ex = Some(ex);
        self.timer = Timer::Off;
        used
    }

    fn chunked_decoder(&self, cfg: &Config) -> Box<ChunkedDecoder> {
        Box::new(ChunkedDecoder::new(cfg.max_body, cfg.max_header_bytes, cfg.max_headers))
    }

    /// Body bytes decoded: collected, or sent under the grant. Chunked data
    /// is collected too, to leave in one frame with the rest of its read.
    fn take_body(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) {
        let Some(ex) = self.ex.as_mut() else { return };
        if data.is_empty() {
            return;
        }
        self.timer = Timer::Off;
        if ex.to_file.is_some() {
            self.write_body_file(ctx, data);
            return;
        }
        if !ex.dispatched || !ex.pending.is_empty() || matches!(ex.body, BodyIn::Chunked(_)) {
            ex.pending.extend_from_slice(data);
            return;
        }
        let sent = send_body(ctx, ex.id, &mut ex.grant, data);
        ex.pending.extend_from_slice(&data[sent..]);
    }

    /// Sends collected body bytes the grant covers.
    fn send_pending(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ex) = self.ex.as_mut() else { return };
        if ex.pending.is_empty() || ex.grant == 0 {
            return;
        }
        let sent = send_body(ctx, ex.id, &mut ex.grant, &ex.pending);
        ex.pending.drain(..sent);
        if ex.body_done() && ex.pending.is_empty() {
            ex.pending = Vec::new();
        }
    }

    /// Dispatches a request whose inline body is collected, or that turns
    /// out to need `body => stream`.
    fn dispatch_when_due(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ex) = self.ex.as_mut() else { return };
        if ex.dispatched {
            return;
        }
        if ex.body_done() {
            protocol::request_from_prefix(ctx.events, &ex.prefix, RequestBody::Inline(&ex.pending));
            ex.pending = Vec::new();
        } else if ex.pending.len() > ctx.cfg.inline_body {
            protocol::request_from_prefix(ctx.events, &ex.prefix, RequestBody::Stream);
        } else {
            return;
        }
        ex.prefix = Vec::new();
        ex.dispatched = true;
        ex.body_end_sent = ex.body_done();
        ctx.stats.requests += 1;
        self.timer = Timer::Off;
    }

    /// Dispatches a collected request, or sends what the grant allows of a
    /// streamed body and ends it, when due.
    pub(super) fn after_body_progress(&mut self, ctx: &mut Ctx<'_>) {
        self.dispatch_when_due(ctx);
        if !self.ex.as_ref().is_some_and(|ex| ex.dispatched) {
            return;
        }
        self.send_pending(ctx);
        let Some(ex) = self.ex.as_mut() else { return };
        if ex.body_done() && ex.pending.is_empty() && !ex.body_end_sent {
            if ex.to_file.is_some() {
                self.end_body_file(ctx);
                return;
            }
            ex.body_end_sent = true;
            protocol::body_end(ctx.events, ex.id, &ex.trailers);
            ex.trailers = Vec::new();
        }
    }

    /// A malformed or oversized chunked body.
    pub(super) fn body_error(&mut self, ctx: &mut Ctx<'_>, e: ChunkedError) {
        let (error, reason) = match e {
            ChunkedError::TooLarge => (HttpError::PayloadTooLarge, ClosedReason::TooLarge),
            ChunkedError::Malformed(why) => {
                ctx.log(LogLevel::Info, &format!("{}: bad chunked body: {why}", self.peer));
                (HttpError::BadRequest(why), ClosedReason::BadBody)
            }
        };
        let Some(ex) = self.ex.take() else { return };
        ctx.ids.remove(&ex.id);
        if ex.dispatched {
            protocol::closed(ctx.events, ex.id, reason);
        }
        if matches!(ex.resp, Resp::Waiting) {
            self.reject(ctx, error.status(), &error.to_string());
        } else {
            // The response has begun: what is queued goes out, then close.
            self.close_after_write = true;
        }
    }

    /// Answers with an error of Ferry's own and closes after it.
    pub(super) fn reject(&mut self, ctx: &mut Ctx<'_>, status: u16, detail: &str) {
        if let Some(ex) = self.ex.take() {
            ctx.ids.remove(&ex.id);
        }
        response::write_error(&mut self.out, status, true, ctx.date, detail);
        self.close_after_write = true;
        self.inbuf = Vec::new();
    }
}

/// Sends `data` as `body` frames while the grant is positive, each of at
/// most the grant's bytes and `MAX_BODY_CHUNK`, each taking its size plus
/// `BODY_FRAME_COST` off the grant. Returns the bytes sent.
fn send_body(ctx: &mut Ctx<'_>, id: u64, grant: &mut u64, data: &[u8]) -> usize {
    let mut sent = 0;
    while sent < data.len() && *grant > 0 {
        let n = (data.len() - sent).min(MAX_BODY_CHUNK).min(usize::try_from(*grant).unwrap_or(usize::MAX));
        protocol::body(ctx.events, id, &data[sent..sent + n]);
        *grant = grant.saturating_sub(n as u64 + BODY_FRAME_COST);
        sent += n;
    }
    sent
}
