//! permessage-deflate under attack, each attack played against the real
//! binary over real sockets: what a compressed message may make Rust hold
//! (`ws_max_inflated`, docs/OPTIONS.md), what a compressing echo to a
//! client that never reads keeps, a message left unfinished
//! (`ws_message_timeout`), and a bystander's round trips while others
//! send compression bombs (each connection inflates a bounded amount per
//! turn of the event loop).
//!
//! The bounds are far from both the fixed figures and the unfixed ones
//! (printed by each test; `cargo test --release --test websocket_bombs --
//! --nocapture` shows them), so a noisy 2-core machine moves neither side
//! across.

mod support;

use flate2::{Compress, Compression, FlushCompress};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::ws::*;
use support::*;

const DEFLATE: [(&str, &str); 1] = [("sec-websocket-extensions", "permessage-deflate")];
const MIB: usize = 1 << 20;

/// `len` zero bytes as one permessage-deflate message, without the tail:
/// about 1,000 times smaller than what it inflates to (16 KB for 16 MiB).
fn bomb(len: usize) -> Vec<u8> {
    let zeros = vec![0u8; len];
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(len / 500 + 1024);
    let mut input = &zeros[..];
    loop {
        let before = c.total_in();
        out.reserve(64 * 1024);
        c.compress_vec(input, &mut out, FlushCompress::Sync).expect("compress");
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Waits for Rust to have read everything before: a ping answered (or the
/// close that came instead). Returns the close code, if it closed.
fn settle(c: &mut WsClient) -> Option<u16> {
    if !c.http.try_send(message(PING, b"sync")) {
        return c.try_recv().and_then(|f| f.close()).map(|(code, _)| code).or(Some(1006));
    }
    loop {
        match c.try_recv() {
            Some(f) if f.opcode == PONG => return None,
            Some(f) if f.opcode == CLOSE => return f.close().map(|(code, _)| code),
            Some(_) => {}
            None => return Some(1006),
        }
    }
}

/// 50 connections each send the first fragment of a 16 MiB bomb (16 KB
/// on the wire) and stay. Unfixed, Rust inflated each whole and held it
/// (805 MB for 50); now a compressed message stops at `ws_max_inflated`
/// (1 MiB by default) with 1009, and its bytes go back to the allocator.
#[test]
fn partial_compressed_messages_hold_little() {
    let mut ferry = Ferry::start(&[]);
    let first = ws_frame(0x40 | BINARY, &bomb(16 * MIB - 64 * 1024), true);
    println!("the first fragment: {} bytes on the wire", first.len());
    let before = ferry.rss_kib();
    let mut conns = Vec::new();
    for _ in 0..50 {
        let (mut c, id, _) = ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20);
        c.send(&first);
        conns.push((c, id));
    }
    let codes: Vec<Option<u16>> = conns.iter_mut().map(|(c, _)| settle(c)).collect();
    let after = ferry.rss_kib();
    println!("50 partial compressed messages: ferry VmRSS {before} -> {after} KiB; closes {codes:?}");
    // 50 budgets of 1 MiB at worst, and the inflaters: under 100 MB
    // more. Unfixed: about 800 MB more.
    assert!(after < before + 100 * 1024, "VmRSS {before} -> {after} KiB");
    assert!(codes.iter().all(|c| *c == Some(1009)), "{codes:?}");
    for (_, id) in &conns {
        let (cause, code, _) = ferry.expect_ws_closed(*id);
        assert_eq!((cause.as_str(), code), ("error", 1009));
    }
}

/// The budget on both sides of its edge: a compressed message of exactly
/// `ws_max_inflated` bytes passes, one byte more is 1009; a larger
/// uncompressed message (up to `ws_max_message`) still passes.
#[test]
fn the_inflated_budget_on_both_sides_of_its_edge() {
    let mut ferry = Ferry::start(&[("ws_max_inflated", int(100_000))]);
    let (mut c, id, _) = ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20);
    c.send_compressed(BINARY, &vec![7; 100_000]);
    assert_eq!(ferry.expect_ws_in(id), ("binary".into(), vec![7; 100_000]));
    c.binary(&vec![8; 300_000]);
    assert_eq!(ferry.expect_ws_in(id).1.len(), 300_000);
    c.send_compressed(BINARY, &vec![7; 100_001]);
    c.expect_close_code(1009);
    let (cause, code, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1009));
    // It is capped by ws_max_message.
    let mut ferry = Ferry::start(&[("ws_max_message", int(1000)), ("ws_max_inflated", int(100_000))]);
    let (mut c, _, _) = ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20);
    c.send_compressed(BINARY, &vec![7; 1001]);
    c.expect_close_code(1009);
}

/// 20 clients each send one 16 MiB bomb to a compressing echo (allowed
/// here: `ws_max_inflated` raised to 16 MiB) and never read. Unfixed, the
/// compressor reserved half the input for its output, and glibc kept such
/// buffers once freed; now the output grows with what it holds, and
/// buffers of 256 KiB or more go back to the kernel when freed.
#[test]
fn a_compressing_echo_to_clients_that_never_read_holds_little() {
    let mut ferry = Ferry::start(&[("ws_max_inflated", int(16 << 20))]);
    let wire = ws_frame(0xC0 | BINARY, &bomb(16 * MIB - 64 * 1024), true);
    let before = ferry.rss_kib();
    let mut conns: Vec<(WsClient, i64)> =
        (0..20).map(|_| ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20)).map(|(c, id, _)| (c, id)).collect();
    // All at once, as 20 attackers would.
    for (c, _) in &mut conns {
        c.send(&wire);
    }
    for (_, id) in &conns {
        let (op, data) = ferry.expect_ws_in(*id);
        assert_eq!(data.len(), 16 * MIB - 64 * 1024);
        ferry.ws_send(int(*id), vec![out(&op, &data)]);
    }
    // `stats` is answered after every ws_send before it was handled; the
    // loop's own buffers to and from the BEAM shrink after two idle
    // sweeps (100 ms each): what is left is held for the connections.
    let open = ferry.stat("connections");
    thread::sleep(Duration::from_millis(500));
    let after = ferry.rss_kib();
    println!("20 compressing echoes of a bomb, unread: ferry VmRSS {before} -> {after} KiB ({open} connections)");
    assert_eq!(open, 20);
    // What is held for them: 20 compressed echoes of under 256 KiB each,
    // and slack for the allocator: under 16 MiB more (2.4 MB measured).
    // Unfixed: 50 MB more, the compressor's reservations of half the input
    // kept by glibc (and 340 MB with the real BEAM's timing).
    assert!(after < before + 16 * 1024, "VmRSS {before} -> {after} KiB");
    // Each echo is there for its client once it reads, compressed.
    let (c, _) = &mut conns[0];
    let f = c.recv();
    assert!(f.rsv1 && f.payload.len() < 256 * 1024, "{} bytes", f.payload.len());
    assert_eq!(c.message_of(f).1.len(), 16 * MIB - 64 * 1024);
}

/// A message started and kept open by an empty fragment every 200 ms (so
/// the connection is never silent) is closed with 1008 once
/// `ws_message_timeout` has passed since its first frame.
#[test]
fn a_message_left_unfinished_times_out() {
    let mut ferry = Ferry::start(&[("ws_message_timeout", int(1000)), ("ws_idle_timeout", int(500))]);
    let (mut c, id, _) = ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20);
    let started = Instant::now();
    c.send(ws_frame(TEXT, b"the start", true));
    let mut closed = None;
    while started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(200));
        if !c.http.try_send(ws_frame(CONTINUATION, b"", true)) {
            break;
        }
        if let Some(t) = ferry.receive_within(Duration::ZERO, |t| t.tag() == Some("ws_closed")) {
            closed = Some(t);
            break;
        }
    }
    let waited = started.elapsed();
    let t = closed.unwrap_or_else(|| ferry.expect_for("ws_closed", id));
    assert_eq!((t.el(2).atom(), t.el(3).int()), (Some("error"), Some(1008)), "{t}");
    // From 1 s (the timeout) to 1 s and some ticks of the loop (100 ms
    // each), with room for a slow machine.
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "{waited:?}");
    loop {
        let f = c.recv();
        if f.opcode == CLOSE {
            assert_eq!(f.close().map(|c| c.0), Some(1008));
            break;
        }
    }
    // A message that completes in time is unaffected, however slow its pieces.
    let (mut c, id, _) = ferry.ws_connect("/ws", &DEFLATE, map(vec![]), 1 << 20);
    c.send(ws_frame(TEXT, b"slow ", true));
    thread::sleep(Duration::from_millis(600));
    c.send(ws_frame(0x80, b"but whole", true));
    assert_eq!(ferry.expect_ws_in(id).1, b"slow but whole");
    c.send(ws_frame(TEXT, b"and again ", true));
    thread::sleep(Duration::from_millis(600));
    c.send(ws_frame(0x80, b"in time", true));
    assert_eq!(ferry.expect_ws_in(id).1, b"and again in time");
}

/// One attacker: connects with deflate and sends a 16 MiB bomb (16 KB)
/// every 10 ms, 1.6 MB/s as in the report; when the server closes (any
/// byte from it is its close frame), connects again at once. Until `stop`.
fn attacker(port: u16, wire: Arc<Vec<u8>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { continue };
        let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(handshake("/bomb", &DEFLATE).as_bytes()).is_err() {
            continue;
        }
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            continue;
        }
        let _ = s.set_read_timeout(Some(Duration::from_millis(1)));
        let mut buf = [0u8; 256];
        while !stop.load(Ordering::Relaxed) {
            let next = Instant::now() + Duration::from_millis(10);
            match s.write_all(&wire) {
                Err(e) if !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                _ => {}
            }
            match s.read(&mut buf) {
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                _ => break,
            }
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
}

/// A bystander's plain requests while 20 connections send 16 MiB bombs
/// (16 KB each on the wire) and reconnect when closed. Unfixed, Rust
/// inflated each bomb whole in one go and shipped it to the BEAM; now a
/// bomb stops at the 1 MiB budget with 1009, and a connection inflates at
/// most 256 KiB before the loop turns to the others.
#[test]
fn compression_bombs_do_not_starve_a_bystander() {
    let mut ferry = Ferry::start(&[]);
    let port = ferry.port;
    let wire = Arc::new(ws_frame(0xC0 | BINARY, &bomb(16 * MIB - 64 * 1024), true));
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..20)
        .map(|_| {
            let (wire, stop) = (wire.clone(), stop.clone());
            thread::spawn(move || attacker(port, wire, stop))
        })
        .collect();
    // The bystander: round trips on one keep-alive connection for 6 s,
    // after 1 s for the attack to start; one that takes over 10 s counts
    // as 10 s.
    let bystander = thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut times = Vec::new();
        let start = Instant::now();
        thread::sleep(Duration::from_secs(1));
        while start.elapsed() < Duration::from_secs(7) {
            let t = Instant::now();
            c.send(get("/bystander"));
            match c.response_within(Duration::from_secs(10), false) {
                Some(r) => assert_eq!(r.status, 200),
                None => {
                    times.push(Duration::from_secs(10));
                    break;
                }
            }
            times.push(t.elapsed());
        }
        times
    });
    // The BEAM: accepts every WebSocket with a 1 MiB grant and gives each
    // message's cost back as it takes it (as ferry_websocket does), and
    // answers the bystander.
    let (mut bombs, mut closes) = (0u64, 0u64);
    while !bystander.is_finished() {
        let Some(t) = ferry.next_frame_within(Duration::from_millis(50)) else { continue };
        match t.tag() {
            Some("request") => {
                let req = Request::from_term(t);
                if req.path_str() == "/bystander" {
                    ferry.respond(req.id, 200, &[], "ok");
                } else {
                    ferry.ws_accept(req.id, &[], map(vec![]));
                    ferry.read_body(req.id, 1 << 20);
                }
            }
            Some("ws_in") => {
                bombs += 1;
                let len = t.el(3).bin().map_or(0, |b| b.len()) as i64;
                ferry.read_body(t.el(1).int().expect("id"), len + BODY_FRAME_COST);
            }
            Some("ws_closed") => closes += 1,
            _ => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut times = bystander.join().expect("bystander");
    for a in attackers {
        let _ = a.join();
    }
    times.sort();
    let p50 = times[times.len() / 2];
    println!(
        "bystander: {} round trips, p50 {p50:?}, max {:?}; {bombs} bombs reached the BEAM, {closes} WebSockets closed",
        times.len(),
        times.last().copied().unwrap_or_default()
    );
    // Alone, a round trip takes about 0.5 ms; unfixed, with 20 attackers,
    // seconds. 100 ms leaves a loaded 2-core machine (the attackers, this
    // fake BEAM and ferry share it) a wide margin.
    assert!(p50 < Duration::from_millis(100), "p50 {p50:?} over {} round trips", times.len());
    assert_eq!(bombs, 0, "no bomb reached the BEAM whole");
}
