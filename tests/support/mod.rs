//! Shared helpers for the integration tests: a fake BEAM that drives the real
//! `ferry` binary over stdin/stdout exactly as `open_port(.., [{packet, 4},
//! binary])` does, and a raw HTTP client that controls every byte it sends.
//!
//! Everything that waits has a deadline, so a hung binary fails the test
//! instead of hanging the suite. Deadlines are generous: they catch hangs,
//! they are not performance assertions.

#![allow(dead_code)]

pub mod client;
pub mod files;
pub mod terms;
pub mod tls;
pub mod ws;

#[allow(unused_imports)]
pub use client::{Client, Response};
pub use terms::*;

pub use eetf::Term;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails as hung.
pub const WAIT: Duration = Duration::from_secs(15);

/// Grant each `{body, Id, Chunk}` costs beyond its bytes (PROTOCOL.md
/// "Streamed request bodies").
pub const BODY_FRAME_COST: i64 = 512;

/// Largest `{body, Id, Chunk}` (PROTOCOL.md "Streamed request bodies").
pub const MAX_BODY_CHUNK: usize = 1 << 20;

/// The BEAM's account of a `read_body` grant, kept as Rust keeps it.
#[derive(Debug, Default)]
pub struct Grant {
    /// What Rust may still send; the grant cap (body_window) aside.
    pub outstanding: i64,
}

impl Grant {
    /// One `body` frame of `len` bytes arrived: checks the grant allowed it
    /// (positive, and at least `len`) and takes its cost off, never below 0.
    pub fn take(&mut self, len: usize) {
        assert!(self.outstanding > 0, "a body frame of {len} bytes with no grant outstanding");
        assert!(len as i64 <= self.outstanding, "a body frame of {len} bytes over the grant {}", self.outstanding);
        self.outstanding = (self.outstanding - len as i64 - BODY_FRAME_COST).max(0);
    }
}

/// What `next_body_frame` got.
pub enum BodyFrame {
    Data(Vec<u8>),
    End(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Exit codes from docs/PROTOCOL.md.
pub const EXIT_OK: i32 = 0;
pub const EXIT_LISTEN: i32 = 2;
pub const EXIT_BAD_FRAME: i32 = 3;
pub const EXIT_STDOUT: i32 = 4;

/// The binary under test: `FERRY_BIN` (what `make test` sets) or cargo's build.
pub fn ferry_bin() -> String {
    std::env::var("FERRY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ferry").to_string())
}

/// One frame: 4-byte big-endian length, then the ETF payload.
pub fn frame(term: &Term) -> Vec<u8> {
    let mut payload = Vec::new();
    term.encode(&mut payload).expect("encode test term");
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    out
}

/// A spawned `ferry` process and the BEAM's view of it.
pub struct Ferry {
    child: Child,
    to_stdin: Option<Sender<Vec<u8>>>,
    stdin_closed: Receiver<()>,
    frames: Receiver<Term>,
    /// Frames read but not yet consumed by a selective receive.
    backlog: VecDeque<Term>,
    /// `{log, Level, Message}` frames, set aside so tests need not skip them.
    pub logs: Vec<Term>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// While set, the frame reader stops reading stdout: a BEAM that is busy.
    stdout_paused: Arc<AtomicBool>,
    /// The HTTP port from `ready` (0 before `listen`).
    pub port: u16,
    pub os_pid: u32,
}

/// `#{ip => <<"127.0.0.1">>, port => 0}` plus the given keys.
pub fn config(opts: &[(&str, Term)]) -> Term {
    let mut pairs: Vec<(&str, Term)> = Vec::new();
    if !opts.iter().any(|(k, _)| *k == "ip") {
        pairs.push(("ip", bin("127.0.0.1")));
    }
    if !opts.iter().any(|(k, _)| *k == "port") {
        pairs.push(("port", int(0)));
    }
    pairs.extend(opts.iter().cloned());
    map(pairs)
}

impl Ferry {
    /// Spawns the binary without sending anything.
    pub fn spawn() -> Ferry {
        Ferry::spawn_command(Command::new(ferry_bin()))
    }

    /// Spawns `command` (which must end up exec'ing ferry, e.g. through a
    /// shell that lowers a limit first) without sending anything.
    pub fn spawn_command(mut command: Command) -> Ferry {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", ferry_bin()));
        let os_pid = child.id();

        // stdin is written by a thread so a binary that stops reading its stdin
        // shows up as a missing answer (a timeout), not a test blocked in write.
        let (to_stdin, queued) = mpsc::channel::<Vec<u8>>();
        let (closed_tx, stdin_closed) = mpsc::channel();
        let mut stdin = child.stdin.take().expect("piped stdin");
        thread::spawn(move || {
            for bytes in queued {
                if stdin.write_all(&bytes).and_then(|_| stdin.flush()).is_err() {
                    break;
                }
            }
            drop(stdin);
            let _ = closed_tx.send(());
        });

        let (frames_tx, frames) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_paused = Arc::new(AtomicBool::new(false));
        let paused = stdout_paused.clone();
        thread::spawn(move || read_frames(stdout, frames_tx, paused));

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_stderr = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = child_stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });

        Ferry {
            child,
            to_stdin: Some(to_stdin),
            stdin_closed,
            frames,
            backlog: VecDeque::new(),
            logs: Vec::new(),
            stderr,
            stdout_paused,
            port: 0,
            os_pid,
        }
    }

    /// Spawns, sends `{listen, config(opts)}` and waits for `ready`.
    pub fn start(opts: &[(&str, Term)]) -> Ferry {
        Ferry::start_command(Command::new(ferry_bin()), opts)
    }

    /// `start` through `command` (see `spawn_command`).
    pub fn start_command(command: Command, opts: &[(&str, Term)]) -> Ferry {
        let mut ferry = Ferry::spawn_command(command);
        let answer = ferry.listen(config(opts));
        assert_eq!(answer.tag(), Some("ready"), "listen answered {answer}, stderr: {}", ferry.stderr());
        let info = answer.el(1);
        ferry.port = info.get("port").and_then(|p| p.int()).expect("ready has port") as u16;
        ferry.os_pid = info.get("os_pid").and_then(|p| p.int()).expect("ready has os_pid") as u32;
        assert_eq!(ferry.os_pid, ferry.child.id(), "ready names the wrong os_pid");
        assert_eq!(info.get("protocol").and_then(|p| p.int()), Some(1), "protocol version: {answer}");
        assert!(info.get("version").and_then(|v| v.bin()).is_some(), "version binary: {answer}");
        for window in ["send_window", "body_window", "max_frame"] {
            assert!(info.get(window).and_then(|w| w.int()).is_some_and(|w| w > 0), "ready lacks {window}: {answer}");
        }
        assert_ne!(ferry.port, 0, "ready with port 0");
        ferry
    }

    /// Sends `{listen, Config}` and returns the answer (`ready` or `listen_error`).
    pub fn listen(&mut self, config: Term) -> Term {
        self.send(&tuple(vec![atom("listen"), config]));
        self.next_frame().unwrap_or_else(|| panic!("no answer to listen; stderr: {}", self.stderr()))
    }

    pub fn send(&mut self, term: &Term) {
        self.send_raw(&frame(term));
    }

    /// Raw bytes on stdin: for hostile frames that no encoder would produce.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Some(tx) = &self.to_stdin {
            let _ = tx.send(bytes.to_vec());
        }
    }

    /// Closes stdin (after what was already queued is written): the VM is gone.
    pub fn close_stdin(&mut self) {
        self.to_stdin = None;
        let _ = self.stdin_closed.recv_timeout(WAIT);
    }

    /// The next frame that is not a log line, or None at EOF or after WAIT.
    pub fn next_frame(&mut self) -> Option<Term> {
        self.next_frame_within(WAIT)
    }

    pub fn next_frame_within(&mut self, wait: Duration) -> Option<Term> {
        if let Some(t) = self.backlog.pop_front() {
            return Some(t);
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(t) if t.tag() == Some("log") => self.logs.push(t),
                Ok(t) => return Some(t),
                Err(_) => return None,
            }
        }
    }

    /// Selective receive: the first frame for which `pred` holds; others are
    /// kept, in order, for later receives. Panics after `wait`.
    pub fn expect_within(&mut self, what: &str, wait: Duration, pred: impl Fn(&Term) -> bool) -> Term {
        match self.receive_within(wait, pred) {
            Some(t) => t,
            None => panic!(
                "waiting for {what}: nothing within {wait:?}{}; unconsumed frames: [{}]; stderr: {}",
                if self.is_running() { "" } else { " (ferry exited)" },
                self.backlog.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
                self.stderr()
            ),
        }
    }

    /// Selective receive that may come back empty: the first frame for which
    /// `pred` holds within `wait`, others kept for later.
    pub fn receive_within(&mut self, wait: Duration, pred: impl Fn(&Term) -> bool) -> Option<Term> {
        if let Some(pos) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(pos);
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(t) if pred(&t) => return Some(t),
                Ok(t) if t.tag() == Some("log") => self.logs.push(t),
                Ok(t) => self.backlog.push_back(t),
                Err(_) => return None,
            }
        }
    }

    pub fn expect(&mut self, what: &str, pred: impl Fn(&Term) -> bool) -> Term {
        self.expect_within(what, WAIT, pred)
    }

    /// The next frame tagged `tag` (a tuple whose first element is that atom, or the bare atom).
    pub fn expect_tag(&mut self, tag: &str) -> Term {
        self.expect(tag, |t| t.tag() == Some(tag))
    }

    /// The next frame tagged `tag` for request `id`.
    pub fn expect_for(&mut self, tag: &str, id: i64) -> Term {
        self.expect(&format!("{{{tag}, {id}, ..}}"), |t| t.tag() == Some(tag) && t.el(1).int() == Some(id))
    }

    /// Asserts that no frame matching `pred` arrives within `wait`
    /// (frames that do arrive are kept for later receives).
    pub fn refute_within(&mut self, what: &str, wait: Duration, pred: impl Fn(&Term) -> bool) {
        if let Some(t) = self.backlog.iter().find(|t| pred(t)) {
            panic!("unexpected {what}: {t}");
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(t) if pred(&t) => panic!("unexpected {what}: {t}"),
                Ok(t) if t.tag() == Some("log") => self.logs.push(t),
                Ok(t) => self.backlog.push_back(t),
                Err(_) => return,
            }
        }
    }

    /// The next `{request, Id, Req}`.
    pub fn expect_request(&mut self) -> Request {
        Request::from_term(self.expect_tag("request"))
    }

    /// `{closed, Id, Reason}` for `id`; returns the reason.
    pub fn expect_closed(&mut self, id: i64) -> String {
        let t = self.expect_for("closed", id);
        t.el(2).atom().unwrap_or_else(|| panic!("closed reason not an atom: {t}")).to_string()
    }

    pub fn respond(&mut self, id: i64, status: i64, headers: &[(&str, &str)], body: impl AsRef<[u8]>) {
        self.send(&tuple(vec![atom("respond"), int(id), int(status), header_list(headers), bin(body)]));
    }

    pub fn stream_start(&mut self, id: i64, status: i64, headers: &[(&str, &str)]) {
        self.send(&tuple(vec![atom("stream_start"), int(id), int(status), header_list(headers)]));
    }

    pub fn stream_chunk(&mut self, id: i64, data: impl AsRef<[u8]>) {
        self.send(&tuple(vec![atom("stream_chunk"), int(id), bin(data)]));
    }

    pub fn stream_end(&mut self, id: i64, trailers: &[(&str, &str)]) {
        self.send(&tuple(vec![atom("stream_end"), int(id), header_list(trailers)]));
    }

    pub fn abort(&mut self, id: i64) {
        self.send(&tuple(vec![atom("abort"), int(id)]));
    }

    pub fn read_body(&mut self, id: i64, bytes: i64) {
        self.send(&tuple(vec![atom("read_body"), int(id), int(bytes)]));
    }

    /// Grants `grant` bytes whenever the last grant is used up, until
    /// `body_end`; returns body and trailers.
    pub fn read_whole_body(&mut self, id: i64, grant: i64) -> (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>) {
        let mut body = Vec::new();
        let mut g = Grant::default();
        loop {
            if g.outstanding == 0 {
                self.read_body(id, grant);
                g.outstanding = grant;
            }
            match self.next_body_frame(id) {
                BodyFrame::Data(chunk) => {
                    g.take(chunk.len());
                    body.extend_from_slice(&chunk);
                }
                BodyFrame::End(trailers) => return (body, trailers),
            }
        }
    }

    /// Reads a body as the real BEAM does: grants `window` once, then gives
    /// back each frame's size plus `BODY_FRAME_COST` as it takes it.
    /// Returns body, trailers and the number of `body` frames.
    pub fn read_body_windowed(&mut self, id: i64, window: i64) -> (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>, usize) {
        self.read_body(id, window);
        let mut g = Grant { outstanding: window };
        let (mut body, mut frames) = (Vec::new(), 0);
        loop {
            let chunk = match self.next_body_frame(id) {
                BodyFrame::Data(chunk) => chunk,
                BodyFrame::End(trailers) => return (body, trailers, frames),
            };
            g.take(chunk.len());
            frames += 1;
            body.extend_from_slice(&chunk);
            let back = chunk.len() as i64 + BODY_FRAME_COST;
            self.read_body(id, back);
            g.outstanding = (g.outstanding + back).min(window);
        }
    }

    /// The next `{body, Id, Chunk}` or `{body_end, Id, Trailers}` for `id`.
    pub fn next_body_frame(&mut self, id: i64) -> BodyFrame {
        let t = self.expect(&format!("body or body_end for {id}"), |t| {
            matches!(t.tag(), Some("body") | Some("body_end")) && t.el(1).int() == Some(id)
        });
        if t.tag() == Some("body_end") {
            return BodyFrame::End(pairs(t.el(2)));
        }
        let chunk = t.el(2).bin().unwrap_or_else(|| panic!("body chunk not a binary: {t}"));
        assert!(!chunk.is_empty(), "empty body chunk: {t}");
        assert!(chunk.len() <= MAX_BODY_CHUNK, "a body frame over 1 MiB");
        BodyFrame::Data(chunk.to_vec())
    }

    /// `stats` → the map of `{stats, Map}`.
    pub fn stats(&mut self) -> Term {
        self.send(&atom("stats"));
        self.expect_tag("stats").el(1).clone()
    }

    pub fn stat(&mut self, key: &str) -> i64 {
        let s = self.stats();
        s.get(key).and_then(|v| v.int()).unwrap_or_else(|| panic!("stats has no integer {key}: {s}"))
    }

    /// Resident set size of the ferry process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.os_pid)
    }

    /// Waits up to `wait` for the process to exit.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asserts the process exits with `code` within `wait`.
    pub fn assert_exit(&mut self, code: i32, wait: Duration) {
        match self.wait_exit(wait) {
            Some(status) => assert_eq!(status.code(), Some(code), "exit status {status}; stderr: {}", self.stderr()),
            None => panic!("ferry still running after {wait:?}; stderr: {}", self.stderr()),
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Stops (or resumes) reading ferry's stdout, as a BEAM too busy to keep up.
    /// Frames already read stay readable.
    pub fn pause_stdout(&self, paused: bool) {
        self.stdout_paused.store(paused, Ordering::SeqCst);
    }

    /// Everything the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until stderr holds a line (the stderr thread may lag the exit).
    pub fn stderr_after_exit(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.stderr.lock().unwrap().is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        self.stderr()
    }

    /// A client connected to the HTTP port.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A GET of `path` on `client`, answered 200 with the path as body:
    /// the connection (and the process) still serve. Returns the response.
    pub fn round_trip(&mut self, client: &mut Client, path: &str) -> Response {
        client.send(get(path));
        let req = self.expect_request();
        assert_eq!(req.path_str(), path, "the request that arrived");
        self.respond(req.id, 200, &[], path);
        let resp = client.response();
        assert_eq!(resp.status, 200, "{:?}", String::from_utf8_lossy(&resp.head));
        assert_eq!(resp.body_str(), path, "the response that came back");
        resp
    }

    /// The common round trip: the next request gets a 200 with `body`.
    pub fn answer_next(&mut self, body: &str) -> Request {
        let req = self.expect_request();
        self.respond(req.id, 200, &[("content-type", "text/plain")], body);
        req
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_frames(mut out: ChildStdout, tx: Sender<Term>, paused: Arc<AtomicBool>) {
    loop {
        while paused.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        let mut len = [0u8; 4];
        if out.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        assert!(len < 64 << 20, "ferry sent a frame of {len} bytes");
        let mut payload = vec![0u8; len];
        if out.read_exact(&mut payload).is_err() {
            return;
        }
        let term = match Term::decode(&payload[..]) {
            Ok(t) => t,
            Err(e) => tuple(vec![atom("test_undecodable_frame"), bin(format!("{e}")), bin(payload)]),
        };
        if tx.send(term).is_err() {
            return;
        }
    }
}

/// The most a socket's send buffer can grow to (tcp_wmem's maximum): what
/// the kernel may absorb for a client that reads nothing.
pub fn tcp_wmem_max() -> usize {
    let v = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("tcp_wmem");
    v.split_whitespace().nth(2).and_then(|m| m.parse().ok()).expect("tcp_wmem max")
}

/// VmRSS of a process, in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// A decoded `{request, Id, Req}`.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: i64,
    pub method: String,
    pub path: Vec<u8>,
    pub query: Vec<u8>,
    pub version: (i64, i64),
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub peer: Term,
    /// `None` when the body is `stream`.
    pub body: Option<Vec<u8>>,
    pub term: Term,
}

impl Request {
    pub fn from_term(t: Term) -> Request {
        let id = t.el(1).int().unwrap_or_else(|| panic!("request id: {t}"));
        let m = t.el(2);
        let field = |k: &str| m.get(k).unwrap_or_else(|| panic!("request without {k}: {t}"));
        let text = |k: &str| field(k).bin().unwrap_or_else(|| panic!("{k} not a binary: {t}")).to_vec();
        let v = field("version");
        let body = match field("body") {
            b if b.atom() == Some("stream") => None,
            b => Some(b.bin().unwrap_or_else(|| panic!("body neither binary nor stream: {t}")).to_vec()),
        };
        Request {
            id,
            method: String::from_utf8(text("method")).expect("method utf-8"),
            path: text("path"),
            query: text("query"),
            version: (v.el(0).int().expect("version"), v.el(1).int().expect("version")),
            headers: pairs(field("headers")),
            peer: field("peer").clone(),
            body,
            term: t.clone(),
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name.as_bytes()).map(|(_, v)| v.as_slice())
    }

    pub fn path_str(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// `"GET {path} HTTP/1.1"` with a host header.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n")
}

/// Deterministic, non-repeating-looking body bytes.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| ((offset + i) % 251) as u8).collect()
}
