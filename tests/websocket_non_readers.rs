//! WebSocket clients that stop reading what Ferry sends them
//! (docs/PROTOCOL.md "WebSocket", "Errors the client sees"). A client
//! that floods pings and reads none of the pongs is cut by
//! `min_send_rate`, as one that reads no pushes is.

mod support;

use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::ws::*;
use support::*;

/// A WebSocket from a client with a small receive buffer, so a client
/// that stops reading is seen early.
fn slow_client(ferry: &mut Ferry, path: &str) -> (WsClient, i64) {
    let mut http = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(8 << 10));
    http.send(handshake(path, &[]));
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.read_body(req.id, 1 << 20);
    assert_eq!(http.head().status, 101);
    ferry.expect_for("ws_open", req.id);
    (WsClient::new(http, false), req.id)
}

/// A thread that writes 125-byte pings as fast as the socket takes them
/// and reads nothing, until the server cuts the connection or `stop`.
fn flood_pings(mut stream: TcpStream, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let pings = message(PING, &[b'p'; 125]).repeat(64);
        stream.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
        let (mut at, mut sent) = (0, 0u64);
        while !stop.load(Ordering::SeqCst) {
            match stream.write(&pings[at..]) {
                Ok(n) => {
                    sent += n as u64;
                    at = (at + n) % pings.len();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => break,
            }
        }
        sent
    })
}

/// Issue 8: the ping flooder held its connection until `send_timeout`
/// while a client that reads no pushes was cut by `min_send_rate` after
/// its 5 s grace: its wait began with pongs queued while the kernel still
/// took more, and the megabytes its send buffer then absorbed counted as
/// read at 240 B/s. Bytes count once the client acknowledged them now.
#[test]
fn a_ping_flooder_is_cut_by_min_send_rate_as_a_push_non_reader_is() {
    // Only the rate can cut either in time: its 5 s grace, plus the time
    // the kernel's buffers take to fill.
    const BOUND: Duration = Duration::from_secs(10);
    let mut ferry = Ferry::start(&[("send_timeout", int(60_000))]);
    let (pushed, pushed_id) = slow_client(&mut ferry, "/pushed");
    let (flooder, flooder_id) = slow_client(&mut ferry, "/flooder");
    let start = Instant::now();
    ferry.ws_send(int(pushed_id), vec![out("binary", pattern(0, tcp_wmem_max() + (4 << 20)))]);
    let stop = Arc::new(AtomicBool::new(false));
    let flood = flood_pings(flooder.http.stream.try_clone().unwrap(), stop.clone());
    let mut cut = [None, None];
    while cut.iter().any(|c| c.is_none()) && start.elapsed() < BOUND + Duration::from_secs(2) {
        let mine = |t: &Term| t.tag() == Some("ws_closed") && matches!(t.el(1).int(), Some(i) if i == pushed_id || i == flooder_id);
        if let Some(t) = ferry.receive_within(Duration::from_millis(100), mine) {
            let reason = String::from_utf8_lossy(t.el(4).bin().unwrap_or_default()).into_owned();
            assert_eq!((t.el(2).atom(), t.el(3).int()), (Some("error"), Some(1006)), "{t}");
            assert!(reason.contains("send_timeout"), "{reason}");
            cut[(t.el(1).int() == Some(flooder_id)) as usize] = Some(start.elapsed());
        }
    }
    stop.store(true, Ordering::SeqCst);
    let sent = flood.join().unwrap();
    println!("cut after: push non-reader {:?}, ping flooder {:?} ({sent} bytes of pings)", cut[0], cut[1]);
    drop((pushed, flooder));
    for (who, c) in ["the push non-reader", "the ping flooder"].into_iter().zip(cut) {
        let c = c.unwrap_or_else(|| panic!("{who} still connected after {:?}", start.elapsed()));
        assert!(c <= BOUND, "{who} cut after {c:?}");
    }
}
