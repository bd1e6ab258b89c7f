//! The event loop: one mio `Poll` over stdin, stdout, the listener and
//! every connection. Only this module (and `conn`) does syscalls.

use crate::config::{Config, ConfigError, LogLevel, DEFAULT_MAX_FRAME};
use crate::conn::{self, Conn, Ctx};
use crate::exit::{self, EXIT_BAD_FRAME, EXIT_LISTEN, EXIT_OK, EXIT_STDOUT};
use crate::fanout;
use crate::frame::{self, Fill, FrameError, FrameReader, Outbox};
use crate::groups::Groups;
use crate::http::date::HttpDate;
use crate::listener;
use crate::splice::SplicePipe;
use crate::protocol::{self, ClosedReason, Command, WsFrame, WsTarget};
use crate::stats::{IdMap, Stats};
use crate::tls::{self, Transport};
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

const STDIN: Token = Token(0);
const STDOUT: Token = Token(1);
const LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// The one read buffer every connection reads into: a request body (or a
/// file's bytes on the copy path) moves this much per syscall.
const SCRATCH_BYTES: usize = 256 * 1024;
/// Timers are checked this often; deadlines are this precise.
const TICK_MS: u64 = 100;
/// Socket writes of fan-out (`ws_publish`, `ws_send` to a list) one turn
/// of the loop does before it leaves the rest of stdin's commands for the
/// next turn, so other connections, accepting and stdin itself keep their
/// turn during a flood of publishes (about 10 ms of the kernel's TCP work
/// here). One command is never split: a publish to a larger group takes
/// its turn alone.
const FAN_OUT_TURN_WRITES: usize = 4096;

pub struct Server {
    poll: Poll,
    cfg: Config,
    listening: bool,
    listener: Option<TcpListener>,
    /// With the `tls` option: what new connections handshake with
    /// (swapped by `reload_tls`; open connections keep theirs).
    tls: Option<Arc<rustls::ServerConfig>>,
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    ids: IdMap,
    /// WebSocket groups: name → members.
    groups: Groups,
    next_id: u64,
    events_out: Outbox,
    stdin: FrameReader,
    stdin_file: ManuallyDrop<File>,
    stdout_file: ManuallyDrop<File>,
    /// stdin could not join the poll (a regular file): read it every turn.
    stdin_unpolled: bool,
    /// Whole commands are waiting in `stdin`'s buffer: a turn's fan-out
    /// budget ran out before them. Handled next turn, before reading more.
    stdin_backlog: bool,
    /// Fan-out socket writes this turn (`FAN_OUT_TURN_WRITES`): fan-out
    /// happens only in `on_stdin`, once a turn, so these are also the
    /// writes `publish_credit` reports.
    turn_fan_out: usize,
    /// Fan-out commands done and not yet reported (`publish_credit`).
    fan_out_done: u64,
    stats: Stats,
    paused: bool,
    paused_slots: Vec<usize>,
    dirty: Vec<usize>,
    /// Connections to drive next turn without an event (`Ctx::again`).
    again: Vec<usize>,
    drain_deadline: Option<u64>,
    date: HttpDate,
    scratch: Vec<u8>,
    start: Instant,
    now: u64,
    last_sweep: u64,
    accept_blocked: bool,
}

/// Runs the port program until stdin closes, `drain` finishes, or a fatal error.
pub fn run() -> ! {
    match Server::new() {
        Ok(mut s) => s.run(),
        Err(e) => exit::fatal(EXIT_STDOUT, &format!("cannot set up the event loop: {e}")),
    }
}

fn set_nonblocking(fd: i32, on: bool) {
    // SAFETY: fcntl on a descriptor we own (0 or 1); failure leaves it as it was.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            let flags = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
            libc::fcntl(fd, libc::F_SETFL, flags);
        }
    }
}

impl Server {
    fn new() -> io::Result<Server> {
        let poll = Poll::new()?;
        crate::pipes::enlarge_stdio();
        set_nonblocking(0, true);
        let stdin_unpolled = poll.registry().register(&mut SourceFd(&0), STDIN, Interest::READABLE).is_err();
        if stdin_unpolled {
            set_nonblocking(0, false);
        }
        set_nonblocking(1, true);
        let stdout_polled = poll.registry().register(&mut SourceFd(&1), STDOUT, Interest::WRITABLE).is_ok();
        if !stdout_polled {
            // A regular file: writes never block anyway.
            set_nonblocking(1, false);
        }
        let mut events_out = Outbox::default();
        if stdout_polled {
            events_out.splice = SplicePipe::new();
        }
        Ok(Server {
            poll,
            cfg: Config::default(),
            listening: false,
            listener: None,
            tls: None,
            conns: Vec::new(),
            free: Vec::new(),
            ids: IdMap::default(),
            groups: Groups::default(),
            next_id: 0,
            events_out,
            stdin: FrameReader::new(DEFAULT_MAX_FRAME),
            // SAFETY: fds 0 and 1 stay open for the life of the process;
            // ManuallyDrop keeps these from closing them.
            stdin_file: ManuallyDrop::new(unsafe { File::from_raw_fd(0) }),
            stdout_file: ManuallyDrop::new(unsafe { File::from_raw_fd(1) }),
            stdin_unpolled,
            stdin_backlog: false,
            turn_fan_out: 0,
            fan_out_done: 0,
            stats: Stats::default(),
            paused: false,
            paused_slots: Vec::new(),
            dirty: Vec::new(),
            again: Vec::new(),
            drain_deadline: None,
            date: HttpDate::default(),
            scratch: vec![0; SCRATCH_BYTES],
            start: Instant::now(),
            now: 0,
            last_sweep: 0,
            accept_blocked: false,
        })
    }

    fn run(&mut self) -> ! {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if !self.again.is_empty() || self.stdin_backlog {
                Some(Duration::ZERO)
            } else if self.stdin_unpolled {
                Some(Duration::from_millis(10))
            } else if self.stats.connections > 0 || self.drain_deadline.is_some() || self.accept_blocked {
                Some(Duration::from_millis(TICK_MS))
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    exit::fatal(EXIT_STDOUT, &format!("poll failed: {e}"));
                }
            }
            self.now = self.start.elapsed().as_millis() as u64;
            self.date.refresh();
            self.dirty.append(&mut self.again);
            self.turn_fan_out = 0;
            let mut stdin_ready = std::mem::take(&mut self.stdin_backlog) || self.stdin_unpolled;
            for ev in events.iter() {
                match ev.token() {
                    // Read after the connections' events: a turn whose
                    // fan-out budget runs out leaves them nothing.
                    STDIN => stdin_ready = true,
                    STDOUT => self.events_out.writable = true,
                    LISTENER => self.accept(),
                    Token(t) => {
                        let slot = t - FIRST_CONN;
                        self.with_conn(slot, |c, ctx, scratch| {
                            c.on_event(ev, ctx);
                            if !c.dead {
                                c.drive(ctx, scratch);
                            }
                        });
                    }
                }
            }
            if stdin_ready {
                self.on_stdin();
            }
            if self.now >= self.last_sweep + TICK_MS {
                self.last_sweep = self.now;
                self.sweep_timers();
            }
            self.drive_dirty();
            self.flush_stdout();
            self.check_drain();
        }
    }

    /// Runs `f` on the connection in `slot` with the loop's context, then
    /// drops the connection if it is done.
    fn with_conn<R>(&mut self, slot: usize, f: impl FnOnce(&mut Conn, &mut Ctx<'_>, &mut [u8]) -> R) -> Option<R> {
        if self.events_out.queued() > self.cfg.out_high_water {
            self.paused = true;
        }
        let r = self.with_conn_raw(slot, f)?;
        if self.conns[slot].as_ref().is_some_and(|c| c.dead) {
            self.reap(slot);
        }
        Some(r)
    }

    /// `with_conn` without the reaping (`reap` uses it).
    fn with_conn_raw<R>(&mut self, slot: usize, f: impl FnOnce(&mut Conn, &mut Ctx<'_>, &mut [u8]) -> R) -> Option<R> {
        let Server {
            conns, cfg, events_out, stats, ids, next_id, now, date, paused, paused_slots, drain_deadline, scratch, again, ..
        } = self;
        let conn = conns.get_mut(slot)?.as_mut()?;
        let mut ctx = Ctx {
            cfg,
            events: events_out,
            stats,
            ids,
            next_id,
            now: *now,
            date: date.as_bytes(),
            paused: *paused,
            paused_slots,
            draining: drain_deadline.is_some(),
            slot,
            again,
            inflate_left: conn::INFLATE_PER_DRIVE,
        };
        Some(f(conn, &mut ctx, scratch))
    }

    fn reap(&mut self, slot: usize) {
        if self.conns.get(slot).and_then(|c| c.as_ref()).is_some_and(|c| c.request_id().is_some() || c.ws_id().is_some()) {
            self.with_conn_raw(slot, |c, ctx, _| {
                c.end_exchange(ctx, ClosedReason::PeerClosed);
                c.ws_lost(ctx, "the connection was dropped");
            });
        }
        let Some(Some(mut conn)) = self.conns.get_mut(slot).map(Option::take) else { return };
        if let Some(ws) = conn.ws_conn() {
            for name in ws.groups() {
                self.groups.leave(name, ws.id);
            }
        }
        let _ = self.poll.registry().deregister(conn.stream());
        drop(conn);
        self.free.push(slot);
        self.stats.connections -= 1;
        if self.accept_blocked {
            self.accept();
        }
    }

    fn accept(&mut self) {
        loop {
            if self.stats.connections as usize >= self.cfg.max_connections {
                if !self.accept_blocked {
                    self.log(LogLevel::Warning, &format!("max_connections ({}) reached: not accepting", self.cfg.max_connections));
                }
                self.accept_blocked = true;
                return;
            }
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    let token = Token(slot + FIRST_CONN);
                    if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
                        self.log(LogLevel::Error, &format!("cannot watch a new connection: {e}"));
                        self.free.push(slot);
                        continue;
                    }
                    let transport = match &self.tls {
                        None => Transport::Plain(stream),
                        Some(config) => match Transport::tls(stream, config.clone()) {
                            Ok(t) => t,
                            Err(e) => {
                                self.log(LogLevel::Error, &format!("cannot start TLS on a new connection: {e}"));
                                self.free.push(slot);
                                continue;
                            }
                        },
                    };
                    self.conns[slot] = Some(Box::new(Conn::new(transport, peer, self.now, &self.cfg)));
                    self.stats.connections += 1;
                    self.stats.accepted += 1;
                    self.dirty.push(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_blocked = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)) => {
                    // Retried when a connection closes or at the next tick.
                    if !self.accept_blocked {
                        self.log(LogLevel::Error, &format!("accept failed: {e}"));
                    }
                    self.accept_blocked = true;
                    return;
                }
                Err(_) => {} // ECONNABORTED and the like: that client is gone.
            }
        }
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        if level >= self.cfg.log_level {
            protocol::log(&mut self.events_out, level.name(), message);
        }
    }

    // -----------------------------------------------------------------------
    // Commands from the BEAM

    /// Handles the commands from stdin: those left in its buffer by the
    /// turn before first, then what a read brings. A backlog is not added
    /// to: the pipe holds the rest until this process is ready for it.
    fn on_stdin(&mut self) {
        let mut reader = std::mem::replace(&mut self.stdin, FrameReader::new(0));
        let mut filled = None;
        loop {
            if !reader.has_frame() {
                if filled.is_some() {
                    break;
                }
                filled = Some(reader.fill(&mut *self.stdin_file));
            }
            if self.turn_fan_out >= FAN_OUT_TURN_WRITES && reader.has_frame() {
                self.stdin_backlog = true;
                break;
            }
            match reader.next_frame() {
                Ok(Some(frame)) if frame::is_batch(frame) => {
                    for inner in frame::Batch(frame) {
                        match inner {
                            Ok(f) if !frame::is_batch(f) => self.handle_frame(f),
                            _ => {
                                self.stats.protocol_errors += 1;
                                protocol::protocol_error(&mut self.events_out, None, "malformed batch frame: a length runs past its end, or a batch inside a batch");
                            }
                        }
                    }
                }
                Ok(Some(frame)) => self.handle_frame(frame),
                Ok(None) => {}
                Err(FrameError::TooLong { len, max }) => {
                    self.flush_stdout_before_exit();
                    exit::fatal(EXIT_BAD_FRAME, &format!("frame of {len} bytes from the BEAM is over max_frame ({max})"));
                }
            }
        }
        reader.set_max_frame(self.cfg.max_frame);
        self.stdin = reader;
        if self.fan_out_done > 0 {
            protocol::publish_credit(&mut self.events_out, std::mem::take(&mut self.fan_out_done), self.turn_fan_out as u64);
        }
        match filled {
            None | Some(Ok(Fill::Progress)) => {}
            // The VM is gone: nobody to serve. Exit at once.
            Some(Ok(Fill::Eof) | Err(_)) => std::process::exit(EXIT_OK),
        }
    }

    fn handle_frame(&mut self, frame: &[u8]) {
        if protocol::is_fan_out(frame) {
            self.fan_out_done += 1;
        }
        let cmd = match protocol::decode_command(frame) {
            Ok(cmd) => cmd,
            Err(bad) => {
                if !self.listening {
                    exit::fatal(EXIT_BAD_FRAME, &format!("first command is not {{listen, Config}}: {}", bad.message));
                }
                self.stats.protocol_errors += 1;
                protocol::protocol_error(&mut self.events_out, bad.id, &bad.message);
                return;
            }
        };
        if !self.listening {
            match cmd {
                Command::Listen(config) => return self.listen(&config),
                _ => exit::fatal(EXIT_BAD_FRAME, "first command is not {listen, Config}"),
            }
        }
        match cmd {
            Command::Listen(_) => {
                self.stats.protocol_errors += 1;
                protocol::protocol_error(&mut self.events_out, None, "listen: already listening");
            }
            Command::ReadBody { id, bytes } => self.for_request(id, |c, ctx| c.read_body(ctx, id, bytes)),
            Command::Respond { id, status, headers, body } => {
                self.for_request(id, |c, ctx| c.respond(ctx, id, status, &headers, &body))
            }
            Command::StreamStart { id, status, headers } => {
                self.for_request(id, |c, ctx| c.stream_start(ctx, id, status, &headers))
            }
            Command::StreamChunk { id, data } => self.for_request(id, |c, ctx| c.stream_chunk(ctx, id, &data)),
            Command::StreamEnd { id, trailers } => self.for_request(id, |c, ctx| c.stream_end(ctx, id, &trailers)),
            Command::Abort { id } => self.for_request(id, |c, ctx| c.abort(ctx, id)),
            Command::SendFile { id, status, headers, file } => {
                self.for_request(id, |c, ctx| c.send_file(ctx, id, status, &headers, file))
            }
            Command::BodyToFile { id, target, opts } => self.for_request(id, |c, ctx| c.body_to_file(ctx, id, target, opts)),
            Command::Drain { timeout_ms } => self.start_drain(timeout_ms),
            Command::Stats => self.send_stats(),
            Command::ReloadTls => self.reload_tls(),
            Command::WsAccept { id, headers, opts } => self.for_request(id, |c, ctx| c.ws_accept(ctx, id, &headers, &opts)),
            Command::WsSend { target: WsTarget::One(id), frames } => self.for_request(id, |c, ctx| c.ws_send(ctx, id, &frames)),
            Command::WsSend { target: WsTarget::Many(ids), frames } => self.ws_send_many(&ids, &frames),
            Command::WsJoin { id, group } => self.ws_join(id, group),
            Command::WsLeave { id, group } => self.ws_leave(id, group),
            Command::WsPublish { group, frames, except } => self.ws_publish(group, &frames, except),
        }
    }

    /// Applies a command to the connection serving request `id`; an unknown
    /// or finished id is counted and ignored.
    fn for_request(&mut self, id: u64, f: impl FnOnce(&mut Conn, &mut Ctx<'_>) -> bool) {
        let Some(&slot) = self.ids.get(&id) else {
            self.stats.ignored_commands += 1;
            return;
        };
        match self.with_conn(slot, |c, ctx, _| f(c, ctx)) {
            Some(true) => self.dirty.push(slot),
            _ => self.stats.ignored_commands += 1,
        }
    }

    // -----------------------------------------------------------------------
    // WebSocket fan-out: frames encoded once, the same bytes appended to
    // every target's output. No target is dropped here (`with_conn_raw`):
    // one that fails is reaped when it is driven.

    fn ws_send_many(&mut self, ids: &[u64], frames: &[WsFrame<'_>]) {
        let shared = conn::encode_shared(frames);
        if shared.bytes.is_empty() {
            return;
        }
        let mut targets = Vec::with_capacity(ids.len());
        for &id in ids {
            match self.ids.get(&id) {
                Some(&slot) => targets.push((id, slot)),
                None => self.stats.ignored_commands += 1,
            }
        }
        self.fan_out(&targets, &shared);
    }

    fn ws_publish(&mut self, group: &[u8], frames: &[WsFrame<'_>], except: Option<u64>) {
        let shared = conn::encode_shared(frames);
        if shared.bytes.is_empty() {
            return;
        }
        let targets: Vec<(u64, usize)> = match self.groups.members(group) {
            Some(members) => members.iter().filter(|(&id, _)| Some(id) != except).map(|(&id, &slot)| (id, slot)).collect(),
            None => return,
        };
        self.fan_out(&targets, &shared);
    }

    /// The frames go straight to every target with nothing queued (on
    /// several threads for a large group, `fanout`), then each connection
    /// queues what its socket did not take, or is closed if too far behind.
    fn fan_out(&mut self, targets: &[(u64, usize)], shared: &conn::Shared) {
        self.turn_fan_out += targets.len();
        let written = {
            let socks: Vec<_> = targets
                .iter()
                .map(|&(id, slot)| self.conns.get(slot).and_then(|c| c.as_ref()).and_then(|c| c.ws_fan_target(id)))
                .collect();
            fanout::write_each(&socks, &shared.bytes)
        };
        for (&(id, slot), &n) in targets.iter().zip(&written) {
            match self.with_conn_raw(slot, |c, ctx, _| c.ws_fan_in(ctx, id, shared, n)) {
                // All of it written and nothing else to do: no need to drive it.
                Some(true) if n == shared.bytes.len() && !shared.closes => {}
                Some(true) => self.dirty.push(slot),
                _ => self.stats.ignored_commands += 1,
            }
        }
    }

    fn ws_join(&mut self, id: u64, group: &[u8]) {
        let Some(slot) = self.ws_slot(id) else { return };
        if let Some(name) = self.groups.join(group, id, slot) {
            if let Some(ws) = self.conns[slot].as_mut().and_then(|c| c.ws_conn()) {
                ws.joined(name);
            }
        }
    }

    fn ws_leave(&mut self, id: u64, group: &[u8]) {
        let Some(slot) = self.ws_slot(id) else { return };
        if self.groups.leave(group, id) {
            if let Some(ws) = self.conns[slot].as_mut().and_then(|c| c.ws_conn()) {
                ws.left(group);
            }
        }
    }

    /// The slot of WebSocket `id`; an id that names none is counted and ignored.
    fn ws_slot(&mut self, id: u64) -> Option<usize> {
        let slot = self.ids.get(&id).copied();
        let is_ws = |slot: usize| self.conns[slot].as_ref().is_some_and(|c| c.ws_id() == Some(id));
        match slot {
            Some(slot) if is_ws(slot) => Some(slot),
            _ => {
                self.stats.ignored_commands += 1;
                None
            }
        }
    }

    fn listen(&mut self, config: &crate::etf::Term<'_>) {
        let cfg = match Config::from_term(config) {
            Ok(cfg) => cfg,
            Err(ConfigError::BadOption(why)) => self.listen_failed("bad_option", &why),
            Err(ConfigError::BadConfig(why)) => self.listen_failed("bad_config", &why),
        };
        if let Some(opts) = &cfg.tls {
            match tls::load::server_config(opts) {
                Ok(loaded) => {
                    self.tls = Some(loaded.config);
                    for w in loaded.warnings {
                        protocol::log(&mut self.events_out, LogLevel::Warning.name(), &w);
                    }
                }
                Err(why) => self.listen_failed("bad_option", &format!("tls: {why}")),
            }
        }
        let mut listener = match listener::bind(&cfg) {
            Ok(l) => l,
            Err((kind, message)) => self.listen_failed(kind, &message),
        };
        if let Err(e) = self.poll.registry().register(&mut listener, LISTENER, Interest::READABLE) {
            self.listen_failed("io", &format!("cannot watch the listening socket: {e}"));
        }
        let port = listener.local_addr().map_or(cfg.port, |a| a.port());
        protocol::ready(&mut self.events_out, &cfg.ip.to_string(), port, std::process::id(), &cfg);
        self.cfg = cfg;
        self.listener = Some(listener);
        self.listening = true;
    }

    /// No line on stderr: the BEAM logs `listen_error`, and a second copy
    /// outside its logger would only be noise next to it.
    fn listen_failed(&mut self, kind: &str, message: &str) -> ! {
        protocol::listen_error(&mut self.events_out, kind, message);
        self.flush_stdout_before_exit();
        std::process::exit(EXIT_LISTEN)
    }

    /// Reads the `tls` files again: new connections get the new config,
    /// open ones keep theirs; a failure keeps the old one.
    fn reload_tls(&mut self) {
        let result = match &self.cfg.tls {
            None => Err("this listener has no tls option".to_string()),
            Some(opts) => tls::load::server_config(opts).map(|loaded| {
                self.tls = Some(loaded.config);
                loaded.warnings
            }),
        };
        match result {
            Ok(warnings) => {
                for w in warnings {
                    self.log(LogLevel::Warning, &w);
                }
                protocol::tls_reloaded(&mut self.events_out, Ok(()));
            }
            Err(why) => protocol::tls_reloaded(&mut self.events_out, Err(&format!("tls: {why}"))),
        }
    }

    fn send_stats(&mut self) {
        let s = &self.stats;
        let entries = [
            ("connections", s.connections),
            ("accepted", s.accepted),
            ("requests", s.requests),
            ("in_flight", self.ids.len() as u64),
            ("bytes_in", s.bytes_in),
            ("bytes_out", s.bytes_out),
            ("ignored_commands", s.ignored_commands),
            ("protocol_errors", s.protocol_errors),
            ("out_queue_bytes", self.events_out.queued() as u64),
        ];
        protocol::stats(&mut self.events_out, &entries);
    }

    // -----------------------------------------------------------------------
    // Drain

    fn start_drain(&mut self, timeout_ms: u64) {
        if self.drain_deadline.is_some() {
            return;
        }
        self.drain_deadline = Some(self.now.saturating_add(timeout_ms));
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        for slot in 0..self.conns.len() {
            if self.conns[slot].as_ref().is_some_and(|c| c.is_idle()) {
                self.reap(slot);
            } else if self.conns[slot].as_ref().is_some_and(|c| c.ws_id().is_some()) {
                self.with_conn_raw(slot, |c, ctx, _| c.ws_shutdown(ctx));
                self.dirty.push(slot);
            }
        }
    }

    fn check_drain(&mut self) {
        let Some(deadline) = self.drain_deadline else { return };
        if self.stats.connections > 0 && self.now < deadline {
            return;
        }
        for slot in 0..self.conns.len() {
            self.with_conn_raw(slot, |c, ctx, _| c.shut_down(ctx));
            self.reap(slot);
        }
        protocol::drained(&mut self.events_out);
        self.flush_stdout_before_exit();
        std::process::exit(EXIT_OK);
    }

    // -----------------------------------------------------------------------
    // Timers and output

    fn sweep_timers(&mut self) {
        self.stdin.shrink_if_idle();
        self.events_out.shrink_if_idle();
        for slot in 0..self.conns.len() {
            let due = self.conns[slot].as_ref().is_some_and(|c| c.deadline <= self.now);
            if due {
                self.with_conn(slot, |c, ctx, scratch| {
                    c.on_timeout(ctx);
                    if !c.dead {
                        c.drive(ctx, scratch);
                    }
                });
            }
        }
        if self.accept_blocked {
            self.accept();
        }
    }

    fn drive_dirty(&mut self) {
        while !self.dirty.is_empty() {
            let mut dirty = std::mem::take(&mut self.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            for slot in dirty.drain(..) {
                self.with_conn(slot, |c, ctx, scratch| c.drive(ctx, scratch));
            }
            if self.dirty.is_empty() {
                self.dirty = dirty;
            }
        }
    }

    fn flush_stdout(&mut self) {
        if self.events_out.queued() > 0 && (self.events_out.writable || self.stdin_unpolled) {
            if let Err(e) = self.events_out.flush(&mut *self.stdout_file) {
                exit::fatal(EXIT_STDOUT, &format!("writing to the BEAM failed: {e}"));
            }
        }
        if self.paused && self.events_out.queued() < self.cfg.out_high_water / 2 {
            self.paused = false;
            let slots = std::mem::take(&mut self.paused_slots);
            for &slot in &slots {
                if let Some(Some(c)) = self.conns.get_mut(slot) {
                    c.in_paused_list = false;
                }
            }
            self.dirty.extend(slots);
            self.drive_dirty();
            if let Err(e) = self.events_out.flush(&mut *self.stdout_file) {
                exit::fatal(EXIT_STDOUT, &format!("writing to the BEAM failed: {e}"));
            }
        }
    }

    /// Writes every queued frame, blocking if it must: the process is about
    /// to exit and these are its last words.
    fn flush_stdout_before_exit(&mut self) {
        set_nonblocking(1, false);
        let _ = self.events_out.flush_all(&mut *self.stdout_file);
    }
}
