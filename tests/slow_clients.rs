//! Clients that keep a connection by moving a few bytes now and then
//! (docs/PROTOCOL.md "Streamed-response flow control", "Slow bodies"):
//! `min_send_rate` cuts a reader that trickles, `min_body_rate` a body that
//! trickles; clients at a decent rate, and waits on the BEAM, are not cut.
//! The rates are averages from 5 s into a wait, so these tests take a few
//! seconds each; their deadlines only catch hangs.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// A thread writing bytes one at a time to some streams, stopped (and
/// joined) when dropped.
struct Trickle {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Writes `bytes` to each stream one byte at a time, every `every`, until
/// all is sent, a write fails (the server closed) or the `Trickle` drops.
fn trickle(streams: Vec<TcpStream>, bytes: Vec<u8>, every: Duration) -> Trickle {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = thread::spawn(move || {
        let mut open: Vec<TcpStream> = streams;
        for b in &bytes {
            if open.is_empty() || stopped.load(Ordering::SeqCst) {
                return;
            }
            open.retain_mut(|s| s.write_all(&[*b]).is_ok());
            thread::sleep(every);
        }
    });
    Trickle { stop, thread: Some(thread) }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn post_head(len: usize) -> String {
    format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {len}\r\n\r\n")
}

/// Reads 8 bytes every 100 ms (80 B/s: progress, never silence, far under
/// the default 240 B/s) until `stop` is set; returns the bytes read.
fn trickle_reader(client: &Client, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    let mut stream = client.stream.try_clone().unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    thread::spawn(move || {
        let mut got = 0;
        let mut buf = [0u8; 8];
        while !stop.load(Ordering::SeqCst) {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => break,
            }
            thread::sleep(Duration::from_millis(100));
        }
        got
    })
}

/// After the server cut it: the client reads what is left at full speed
/// and sees the end, well short of `body`.
fn assert_cut_short(mut client: Client, got: usize, body: usize) {
    client.stream.set_read_timeout(Some(WAIT)).unwrap();
    let rest = client.read_to_eof().len();
    assert!(got + rest < body, "the trickle reader got the whole body ({got} + {rest} bytes)");
}

#[test]
fn trickle_reader_of_a_stream_is_cut_by_min_send_rate() {
    const WINDOW: usize = 128 << 10;
    // send_timeout far away: only the rate can cut this client in time.
    let mut ferry = Ferry::start(&[("send_timeout", int(600_000)), ("send_window", int(WINDOW as i64))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(4096));
    client.send(get("/stream"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = trickle_reader(&client, stop.clone());
    // A well-behaved BEAM: chunks within the window as credit comes back.
    let piece = 16 << 10;
    let (mut outstanding, deadline) = (0usize, Instant::now() + WAIT);
    let reason = loop {
        while outstanding + piece <= WINDOW {
            ferry.stream_chunk(req.id, vec![b's'; piece]);
            outstanding += piece;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let t = ferry.receive_within(left, |t| matches!(t.tag(), Some("stream_credit") | Some("closed")) && t.el(1).int() == Some(req.id));
        let Some(t) = t else {
            stop.store(true, Ordering::SeqCst);
            panic!("a client reading 80 B/s still holds its stream after {WAIT:?}");
        };
        if t.tag() == Some("closed") {
            break t.el(2).atom().unwrap().to_string();
        }
        outstanding -= t.el(2).int().unwrap() as usize;
    };
    assert_eq!(reason, "send_timeout");
    stop.store(true, Ordering::SeqCst);
    let got = reader.join().unwrap();
    assert_cut_short(client, got, usize::MAX);
}

/// A whole response already handed over (the BEAM is done with it) is cut
/// the same way: the connection and its buffer go.
#[test]
fn trickle_reader_of_a_response_is_cut_by_min_send_rate() {
    let mut ferry = Ferry::start(&[("send_timeout", int(600_000))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(4096));
    client.send(get("/big"));
    let req = ferry.expect_request();
    let body = tcp_wmem_max() + (4 << 20);
    ferry.respond(req.id, 200, &[], vec![b'b'; body]);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = trickle_reader(&client, stop.clone());
    let deadline = Instant::now() + WAIT;
    while ferry.stat("connections") != 0 {
        if Instant::now() > deadline {
            stop.store(true, Ordering::SeqCst);
            panic!("a client reading 80 B/s still holds its connection after {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let got = reader.join().unwrap();
    assert_cut_short(client, got, body);
}

/// The rate is bytes per second: a reader well above it keeps a wait of
/// more than the 5 s grace.
#[test]
fn steady_reader_is_not_cut_by_min_send_rate() {
    const RATE: i64 = 50_000;
    let mut ferry = Ferry::start(&[("send_timeout", int(600_000)), ("min_send_rate", int(RATE))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(16 << 10));
    client.send(get("/steady"));
    let req = ferry.expect_request();
    // What the kernel absorbs, then ~7 s of reading at 128 KiB per 100 ms
    // (about 25 times RATE).
    let body = tcp_wmem_max() + (9 << 20);
    ferry.respond(req.id, 200, &[], pattern(0, body));
    let reader = thread::spawn(move || {
        let head = client.head();
        assert_eq!(head.status, 200);
        let mut got = Vec::with_capacity(body);
        while got.len() < body {
            let want = (body - got.len()).min(128 << 10);
            got.extend(client.read_exact_bytes(want));
            thread::sleep(Duration::from_millis(100));
        }
        got
    });
    let got = reader.join().expect("the steady reader was cut before the end of its body");
    assert!(got == pattern(0, body), "body corrupted");
}

/// Issue 9: 500 connections trickling a 60 KB body at 1 byte/s were never
/// closed. A handful, at 5 bytes/s (the default rate is 240), are each cut
/// with 408, before their requests reach the BEAM.
#[test]
fn trickled_inline_bodies_are_cut_with_408() {
    const CONNS: usize = 20;
    const BODY: usize = 60_000;
    let mut ferry = Ferry::start(&[]);
    let mut clients: Vec<Client> = (0..CONNS).map(|_| ferry.client()).collect();
    for c in &mut clients {
        c.send(post_head(BODY));
    }
    let streams = clients.iter().map(|c| c.stream.try_clone().unwrap()).collect();
    let _writer = trickle(streams, vec![b'u'; BODY], Duration::from_millis(200));
    for (i, c) in clients.iter_mut().enumerate() {
        let resp = c.try_response(false).unwrap_or_else(|| panic!("connection {i} closed without a 408"));
        assert_eq!(resp.status, 408, "connection {i}");
        assert!(resp.closes(), "connection {i}: 408 without connection: close");
        c.expect_eof();
    }
    ferry.refute_within("a request from a trickled body", Duration::from_millis(100), |t| t.tag() == Some("request"));
}

#[test]
fn trickled_streamed_body_is_408_and_body_timeout() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send("POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    ferry.read_body(req.id, 1 << 20);
    let body = b"1\r\nx\r\n".repeat(10_000);
    let _writer = trickle(vec![client.stream.try_clone().unwrap()], body, Duration::from_millis(50));
    let closed = ferry.receive_within(WAIT, |t| t.tag() == Some("closed") && t.el(1).int() == Some(req.id));
    let closed = closed.expect("a trickled streamed body still open after 15 s");
    assert_eq!(closed.el(2).atom(), Some("body_timeout"), "{closed}");
    let resp = client.try_response(false).expect("a 408 before the close");
    assert_eq!(resp.status, 408);
    client.expect_eof();
}

/// The handler answered without reading the body: Rust drops the rest to
/// keep the connection, but not at any speed.
#[test]
fn trickled_body_left_unread_after_the_response_is_cut() {
    const BODY: usize = 60_000;
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send(post_head(BODY));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[], "not reading that");
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert!(!resp.closes(), "a small unread body is dropped, the connection kept");
    let _writer = trickle(vec![client.stream.try_clone().unwrap()], vec![b'u'; BODY], Duration::from_millis(200));
    assert!(client.closed_within(WAIT), "a trickled unread body still holds the connection after 15 s");
}

/// A body at a decent pace is never cut, over more than the 5 s grace.
#[test]
fn body_at_a_decent_rate_is_not_cut() {
    const BODY: usize = 60_000;
    let mut ferry = Ferry::start(&[("min_body_rate", int(1000))]);
    let mut client = ferry.client();
    client.send(post_head(BODY));
    // About 10 KB/s for 6 s: ten times the rate.
    for piece in pattern(0, BODY).chunks(1000) {
        client.send(piece);
        thread::sleep(Duration::from_millis(100));
    }
    let req = ferry.expect_request();
    assert_eq!(req.body.as_deref(), Some(&pattern(0, BODY)[..]));
    ferry.respond(req.id, 200, &[], "got it");
    assert_eq!(client.response().body, b"got it");
}

/// A body Rust is not reading because the BEAM has not asked for more is
/// not the client's fault, however long the BEAM takes.
#[test]
fn body_waiting_on_the_beam_is_not_cut() {
    const BODY: usize = 60_000;
    let mut ferry = Ferry::start(&[("inline_body", int(0)), ("min_body_rate", int(100_000))]);
    let mut client = ferry.client();
    client.send(post_head(BODY));
    client.send(pattern(0, BODY));
    let req = ferry.expect_request();
    ferry.read_body(req.id, 1000);
    let first = ferry.expect_for("body", req.id);
    thread::sleep(Duration::from_millis(6000));
    let mut body = first.el(2).bin().unwrap().to_vec();
    let (rest, _) = ferry.read_whole_body(req.id, 1 << 20);
    body.extend(rest);
    assert!(body == pattern(0, BODY), "body corrupted");
    ferry.respond(req.id, 200, &[], "done");
    assert_eq!(client.response().body, b"done");
}
