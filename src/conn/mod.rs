//! One client connection: reading requests, streaming their bodies to the
//! BEAM under its grant, writing responses, and its one timer.
//!
//! Memory: an idle keep-alive connection holds no buffers (`inbuf` and `out`
//! are empty `Vec`s, freed when emptied); reads go through the event loop's
//! shared scratch buffer and only the bytes not yet used stay here.
//! One request is served at a time; pipelined requests wait in `inbuf` (or
//! in the socket) until the response before them has been written.

mod body_file;
mod body_splice;
mod file_out;
mod credit;
mod rate;
mod reading;
mod respond;
mod ws;
mod ws_out;

pub use ws_out::{encode_shared, Shared};

use crate::config::{Config, LogLevel};
use crate::frame::Outbox;
use crate::http::chunked::ChunkedDecoder;
use crate::http::response::RequestInfo;
use crate::protocol::{self, ClosedReason};
use crate::stats::{IdMap, Stats};
use crate::ws::handshake::Handshake;
use crate::tls::Transport;
use mio::net::TcpStream;
use rate::Wait;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Largest `{body, Id, Chunk}` of bytes read: one socket read's worth (the
/// scratch buffer), so an upload costs the BEAM a message per 256 KiB, not
/// per 64. Spliced frames go up to 1 MiB (body_splice.rs).
pub const MAX_BODY_CHUNK: usize = 256 * 1024;
/// Most body bytes Ferry reads and drops after a response that did not read
/// its request's body, to keep the connection; a larger body closes it.
const MAX_DISCARD: u64 = 1 << 20;
/// Body pieces at least this big are written without copying them first.
const DIRECT_WRITE_MIN: usize = 16 * 1024;
/// Largest output buffer a connection keeps between chunks of a stream.
const MAX_KEPT_OUT: usize = 1 << 20;
/// Bytes a connection's compressed WebSocket messages may inflate to in
/// one drive (`Ctx::inflate_left`): then it waits for the loop's next turn
/// (`again`), after every other connection's, so a compression bomb takes
/// a turn's share of the loop (a socket read's worth), not the loop.
pub const INFLATE_PER_DRIVE: usize = 256 * 1024;
/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, so the response is not lost to a TCP reset.
const LINGER_MS: u64 = 2000;

/// What a connection needs from the event loop while it works.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub events: &'a mut Outbox,
    pub stats: &'a mut Stats,
    pub ids: &'a mut IdMap,
    pub next_id: &'a mut u64,
    /// Milliseconds since the loop started.
    pub now: u64,
    pub date: &'a [u8],
    /// The queue to the BEAM is over its high-water mark: read no new requests.
    pub paused: bool,
    pub paused_slots: &'a mut Vec<usize>,
    pub draining: bool,
    pub slot: usize,
    /// Connections that stopped with work left (a file burst) and want to
    /// be driven again next turn, though no readiness event will come.
    pub again: &'a mut Vec<usize>,
    /// What this connection may still inflate in this drive (`INFLATE_PER_DRIVE`).
    pub inflate_left: usize,
}

impl Ctx<'_> {
    pub fn log(&mut self, level: LogLevel, message: &str) {
        if level >= self.cfg.log_level {
            protocol::log(self.events, level.name(), message);
        }
    }
}

/// Which deadline runs; see `Conn::wanted_timer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    /// Keep-alive, waiting for a request: `idle_timeout`, then close.
    Idle,
    /// A head has started: `header_timeout`, then 408.
    Header,
    /// Ferry waits for body bytes from the client: `idle_timeout` without
    /// any, or an average under `min_body_rate`, then 408.
    Body,
    /// The BEAM owes a response: `handler_timeout` from the request (or its
    /// last `read_body`), then 504.
    Handler,
    /// Output waits for the client: `send_timeout` without progress, or an
    /// average under `min_send_rate`, then close.
    Send,
    /// Closing: dropping what the client still sends.
    Linger,
    /// A WebSocket is silent: ping it, then close it (`ws_idle_timeout`).
    WsIdle,
    /// A client's message is not complete in time: close it (`ws_message_timeout`).
    WsMessage,
    /// The TLS handshake has not finished: `handshake_timeout`, then close.
    Handshake,
    /// Our WebSocket close is queued: its write, and the client's answer
    /// to the BEAM's, are due (`ws_close_timeout`).
    WsClosing,
}

enum BodyIn {
    Done,
    /// Raw body bytes still to read.
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
}

/// Where the response to the current request stands.
enum Resp {
    /// Nothing written yet.
    Waiting,
    Streaming(respond::StreamOut),
}

/// The request being served.
struct Exchange {
    id: u64,
    /// `{request, …}` has been sent.
    dispatched: bool,
    /// The request term without its body, while an inline body is collected.
    prefix: Vec<u8>,
    info: RequestInfo,
    body: BodyIn,
    body_end_sent: bool,
    trailers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body bytes the BEAM has asked for and not yet received.
    grant: u64,
    continue_pending: bool,
    /// Decoded body bytes read but not yet sent (inline collection, or
    /// beyond the grant).
    pending: Vec<u8>,
    resp: Resp,
    started: Instant,
    status: u16,
    /// Response bytes queued so far, head included.
    bytes_out: u64,
    /// `body_to_file`: the rest of the body goes to this file.
    to_file: Option<Box<body_file::BodyFile>>,
    /// A valid WebSocket opening handshake, kept for `ws_accept`.
    handshake: Option<Box<Handshake>>,
}

impl Exchange {
    fn body_done(&self) -> bool {
        matches!(self.body, BodyIn::Done)
    }

    /// Body bytes worth reading now: what the grant leaves, or all of them
    /// when they go to a file (the disk, not the BEAM, paces them).
    fn body_room(&self) -> u64 {
        if self.to_file.is_some() {
            return u64::MAX;
        }
        self.grant.saturating_sub(self.pending.len() as u64)
    }

    /// After the response, the rest of the body can be read and dropped
    /// (keeping the connection) rather than closing. Not when the client
    /// still waits for `100 Continue`: it may never send the body.
    fn may_discard_rest(&self) -> bool {
        match self.body {
            BodyIn::Done => true,
            _ if self.continue_pending => false,
            BodyIn::Length(left) => left <= MAX_DISCARD,
            BodyIn::Chunked(_) => true,
        }
    }
}

/// For `{sent, …}` once the response has left.
struct SentInfo {
    id: u64,
    status: u16,
    bytes: u64,
    started: Instant,
}

/// What is left of an exchange once its whole response is queued. Both
/// parts are rare and short-lived, so they share one box: a connection
/// keeps 8 bytes for them, not 16 (which took `Conn` to the next malloc
/// chunk size).
struct After {
    sent: Option<SentInfo>,
    /// The unread rest of the request's body, being dropped, and how many
    /// more bytes may be.
    discard: Option<(BodyIn, u64)>,
}

pub struct Conn {
    /// The socket, plain or through TLS.
    stream: Transport,
    peer: SocketAddr,
    /// Input not used yet: part of a head, body beyond the grant, pipelined requests.
    inbuf: Vec<u8>,
    /// Output for the client; `out_written` bytes of it are gone.
    out: Vec<u8>,
    out_written: usize,
    /// Bytes written since output began to wait for the client.
    send_wait: Wait,
    /// Bytes read since Ferry began to wait for body bytes.
    body_wait: Wait,
    timer: Timer,
    pub deadline: u64,
    /// The socket may have input (no `WouldBlock` seen since the last event).
    readable: bool,
    /// The peer shut its side down (or reset): reads will return 0.
    peer_eof: bool,
    close_after_write: bool,
    lingering: bool,
    /// The loop should drop this connection.
    pub dead: bool,
    pub in_paused_list: bool,
    ex: Option<Box<Exchange>>,
    /// Freed once both its parts are done: an idle connection's memory counts.
    after: Option<Box<After>>,
    /// The body of a `send_file` response, sent after `out`.
    file: Option<Box<file_out::FileOut>>,
    /// After `ws_accept`: the WebSocket the exchange became.
    ws: Option<Box<ws::WsConn>>,
}

impl Conn {
    pub fn new(stream: Transport, peer: SocketAddr, now: u64, cfg: &Config) -> Conn {
        Conn {
            stream,
            peer,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_written: 0,
            send_wait: Wait::NONE,
            body_wait: Wait::NONE,
            timer: Timer::Idle,
            deadline: now + cfg.idle_timeout,
            readable: true,
            peer_eof: false,
            close_after_write: false,
            lingering: false,
            dead: false,
            in_paused_list: false,
            ex: None,
            after: None,
            file: None,
            ws: None,
        }
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.stream.tcp_mut()
    }

    /// The id of the request in flight that the BEAM knows about.
    pub fn request_id(&self) -> Option<u64> {
        self.ex.as_ref().filter(|ex| ex.dispatched).map(|ex| ex.id)
    }

    /// Not serving anything: may be closed by `drain` at once.
    pub fn is_idle(&self) -> bool {
        self.ex.is_none() && self.ws.is_none() && self.out_pending() == 0 && !self.close_after_write && !self.lingering
    }

    /// The WebSocket's id and groups, for the registry of groups.
    pub fn ws_conn(&mut self) -> Option<&mut ws::WsConn> {
        self.ws.as_deref_mut()
    }

    /// Output waiting for the client: queued bytes, and a file being sent.
    fn out_pending(&self) -> usize {
        self.out.len() - self.out_written + self.file_pending() as usize + self.stream.tls_pending() as usize
    }

    /// Readiness from the poll.
    pub fn on_event(&mut self, ev: &mio::event::Event, ctx: &mut Ctx<'_>) {
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.readable = true;
        }
        if ev.is_read_closed() || ev.is_error() {
            self.peer_eof = true;
            // A client that hangs up while its request is served is gone
            // (as in Cowboy); nothing will be read to notice it otherwise.
            if ev.is_error() || self.ex.as_ref().is_some_and(|ex| ex.dispatched && ex.body_done()) {
                self.peer_gone(ctx);
            }
        }
    }

    /// Does whatever the connection can do now: write, read, parse, send.
    pub fn drive(&mut self, ctx: &mut Ctx<'_>, scratch: &mut [u8]) {
        let state = |c: &Conn| (c.out.len(), c.out_written, c.ex.is_some(), c.lingering, c.close_after_write);
        for _ in 0..4 {
            let before = state(self);
            self.flush(ctx, scratch);
            if self.dead {
                return;
            }
            if ctx.draining && self.is_idle() {
                self.dead = true;
                return;
            }
            self.pump(ctx, scratch);
            if self.dead {
                return;
            }
            let must_flush = self.out_pending() > 0 || (self.close_after_write && !self.lingering);
            if !must_flush || state(self) == before {
                break;
            }
        }
        self.rearm(ctx);
    }

    /// The client closed or reset the connection.
    pub fn peer_gone(&mut self, ctx: &mut Ctx<'_>) {
        self.end_exchange(ctx, ClosedReason::PeerClosed);
        self.ws_lost(ctx, "the connection was lost without a close frame");
        self.dead = true;
    }

    /// Closes with a reset: what the kernel still holds for a client that
    /// does not read goes at once, rather than waiting on that client in an
    /// orphaned socket.
    fn reset(&mut self) {
        // Failing leaves an ordinary close, which is still a close.
        let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(std::time::Duration::ZERO));
        self.dead = true;
    }

    /// Tells the BEAM a request it knows about ended early.
    pub fn end_exchange(&mut self, ctx: &mut Ctx<'_>, reason: ClosedReason) {
        if let Some(ex) = self.ex.take() {
            ctx.ids.remove(&ex.id);
            if ex.dispatched {
                protocol::closed(ctx.events, ex.id, reason);
            }
        }
    }

    // -----------------------------------------------------------------------
    // Writing

    fn flush(&mut self, ctx: &mut Ctx<'_>, scratch: &mut [u8]) {
        // TLS records queued by an earlier write (or by the handshake) first.
        if self.stream.flush_tls().is_err() {
            self.peer_gone(ctx);
            return;
        }
        let mut progress = false;
        while self.out_written < self.out.len() {
            match self.stream.write(&self.out[self.out_written..]) {
                Ok(0) => {
                    self.peer_gone(ctx);
                    return;
                }
                Ok(n) => {
                    self.out_written += n;
                    ctx.stats.bytes_out += n as u64;
                    self.send_wait.add(n as u64);
                    progress = true;
                    self.on_written(ctx, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.peer_gone(ctx);
                    return;
                }
            }
        }
        if progress && self.timer == Timer::Send {
            self.timer = Timer::Off;
        }
        if self.out_written < self.out.len() {
            return;
        }
        if !self.out.is_empty() {
            if self.ex.is_some() && self.out.capacity() <= MAX_KEPT_OUT {
                // A stream in progress: reuse the buffer for its next chunk.
                self.out.clear();
            } else {
                // Idle connections hold no buffers.
                self.out = Vec::new();
            }
            self.out_written = 0;
            self.on_flushed(ctx);
        }
        if self.file.is_some() {
            self.write_file(ctx, scratch);
            if self.dead || self.file.is_some() {
                return;
            }
        }
        if self.stream.tls_pending() {
            return;
        }
        // Everything is written (some of it maybe straight from a frame).
        if let Some(sent) = self.take_sent() {
            let us = sent.started.elapsed().as_micros() as u64;
            protocol::sent(ctx.events, sent.id, sent.status, sent.bytes, us);
        }
        if self.close_after_write && !self.lingering {
            self.lingering = true;
            self.readable = true;
            self.timer = Timer::Off;
            if self.peer_eof || self.stream.shutdown_write().is_err() {
                self.dead = true;
            }
        }
    }

    /// Sends `head`, `data`, `tail` to the client. A big `data` with nothing
    /// queued before it goes straight from the command frame to the socket
    /// (one copy less); what the socket does not take now is queued.
    /// Returns how many bytes of `data` were written at once.
    fn send_piece(&mut self, ctx: &mut Ctx<'_>, head: &[u8], data: &[u8], tail: &[u8]) -> u64 {
        let mut written = 0;
        if self.out_pending() == 0 && data.len() >= DIRECT_WRITE_MIN {
            let bufs = [IoSlice::new(head), IoSlice::new(data), IoSlice::new(tail)];
            // An error is met again, and handled, by the next `flush`.
            if let Ok(n) = self.stream.write_vectored(&bufs) {
                written = n;
                ctx.stats.bytes_out += n as u64;
                self.timer = Timer::Off;
            }
        }
        let mut skip = written;
        for part in [head, data, tail] {
            let from = skip.min(part.len());
            self.out.extend_from_slice(&part[from..]);
            skip -= from;
        }
        if written > 0 {
            // `out` now holds the rest of a WebSocket frame: whole ones follow it.
            self.ws_frames_from(self.out.len());
        }
        written.saturating_sub(head.len()).min(data.len()) as u64
    }

    /// Starts the deadline the state calls for, unless it already runs.
    fn rearm(&mut self, ctx: &Ctx<'_>) {
        let stream = &self.stream;
        self.send_wait.track_queued(self.out_pending() > 0, ctx.now, || kernel_queued(stream));
        self.body_wait.track(self.waits_for_body(), ctx.now);
        if let Some((wanted, at)) = self.ws_timer(ctx).filter(|_| !self.lingering) {
            if wanted != self.timer {
                self.timer = wanted;
                self.deadline = at;
            }
            return;
        }
        let wanted = self.wanted_timer();
        if wanted == self.timer {
            return;
        }
        self.timer = wanted;
        let (cfg, now) = (ctx.cfg, ctx.now);
        self.deadline = match wanted {
            Timer::Off => u64::MAX,
            Timer::Idle => now + cfg.idle_timeout,
            Timer::Header => now + cfg.header_timeout,
            Timer::Handler => now + cfg.handler_timeout,
            Timer::Linger => now + LINGER_MS,
            Timer::Handshake => now + cfg.tls.as_ref().map_or(0, |t| t.handshake_timeout),
            // Re-armed at each progress: a stall or a falling average,
            // whichever comes first.
            Timer::Body => (now + cfg.idle_timeout).min(self.body_wait.deadline(cfg.min_body_rate)),
            Timer::Send => {
                let rate = self.send_wait.deadline_queued(cfg.min_send_rate, kernel_queued(&self.stream));
                (now + cfg.send_timeout).min(rate)
            }
            // Chosen by `ws_timer`, with their own deadlines.
            Timer::WsIdle | Timer::WsClosing | Timer::WsMessage => u64::MAX,
        };
    }

    fn wanted_timer(&self) -> Timer {
        if self.lingering {
            return Timer::Linger;
        }
        if self.stream.is_handshaking() {
            return Timer::Handshake;
        }
        if self.out_pending() > 0 {
            return Timer::Send;
        }
        if self.waits_for_body() {
            return Timer::Body;
        }
        match &self.ex {
            None if self.inbuf.is_empty() => Timer::Idle,
            None => Timer::Header,
            // Once a response has begun, the handler's own deadline (on the
            // BEAM) governs it.
            Some(ex) if matches!(ex.resp, Resp::Streaming(_)) => Timer::Off,
            Some(_) => Timer::Handler,
        }
    }

    /// Ferry waits for body bytes the client owes: an inline body being
    /// collected, a grant the BEAM gave, the rest of a body being dropped.
    /// Not while the BEAM has granted nothing: that wait is not the client's.
    fn waits_for_body(&self) -> bool {
        if self.close_after_write {
            return false;
        }
        match &self.ex {
            None => self.discarding(),
            Some(ex) if !ex.dispatched => true,
            Some(ex) => !ex.body_done() && ex.grant > ex.pending.len() as u64,
        }
    }

    /// The rest of a finished request's body is being dropped.
    fn discarding(&self) -> bool {
        self.after.as_ref().is_some_and(|a| a.discard.is_some())
    }

    /// The `{sent, …}` due once everything is written, if any.
    fn take_sent(&mut self) -> Option<SentInfo> {
        let sent = self.after.as_mut()?.sent.take();
        self.free_empty_after();
        sent
    }

    /// The rest of the body is dropped, or will not be.
    fn stop_discard(&mut self) {
        if let Some(a) = self.after.as_mut() {
            a.discard = None;
        }
        self.free_empty_after();
    }

    fn free_empty_after(&mut self) {
        if self.after.as_ref().is_some_and(|a| a.sent.is_none() && a.discard.is_none()) {
            self.after = None;
        }
    }

    /// The deadline passed.
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        match self.timer {
            Timer::Off => {}
            Timer::Idle | Timer::Linger => self.dead = true,
            Timer::Handshake => {
                ctx.log(LogLevel::Debug, &format!("{}: TLS handshake not done within handshake_timeout", self.peer));
                self.dead = true;
            }
            Timer::Header => self.reject(ctx, 408, "the request did not arrive within the time allowed"),
            Timer::Body => self.body_timeout(ctx),
            Timer::Handler => self.handler_timeout(ctx),
            Timer::Send => {
                self.end_exchange(ctx, ClosedReason::SendTimeout);
                self.ws_lost(ctx, "send_timeout: the client read too little, too slowly");
                self.reset();
            }
            t @ (Timer::WsIdle | Timer::WsClosing | Timer::WsMessage) => self.ws_timeout(ctx, t),
        }
        self.timer = Timer::Off;
        self.rearm(ctx);
    }

    /// The body Ferry waited for stopped, or came slower than `min_body_rate`.
    fn body_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let Some(ex) = self.ex.as_ref() else {
            // A body being dropped after its response: just close.
            self.dead = true;
            return;
        };
        ctx.log(LogLevel::Info, &format!("{}: request body stalled or slower than min_body_rate", self.peer));
        if ex.dispatched {
            protocol::closed(ctx.events, ex.id, ClosedReason::BodyTimeout);
        }
        if matches!(ex.resp, Resp::Waiting) {
            self.reject(ctx, 408, "the request body did not arrive within the time allowed");
        } else {
            self.cut_response(ctx);
        }
    }
}

/// Bytes the socket's send queue holds that the client has not
/// acknowledged (SIOCOUTQ): output the kernel took but the client does not
/// have yet. 0 if the kernel will not say.
fn kernel_queued(stream: &Transport) -> u64 {
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream.tcp());
    let mut queued: libc::c_int = 0;
    // SIOCOUTQ is TIOCOUTQ on Linux; it writes one int.
    let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) };
    if r == 0 { u64::try_from(queued).unwrap_or(0) } else { 0 }
}

#[cfg(test)]
mod tests {
    /// Every connection keeps one `Conn`, idle keep-alive and WebSocket
    /// alike (scenarios 3 and 8 count their bytes). The budget is glibc's:
    /// 184 bytes and its 8-byte header make a 192-byte chunk; 8 bytes more
    /// would take a 208-byte one. Rare parts go in boxes made when used.
    #[test]
    fn the_connection_state_is_small() {
        let size = std::mem::size_of::<super::Conn>();
        assert!(size <= 184, "{size} bytes");
    }
}
