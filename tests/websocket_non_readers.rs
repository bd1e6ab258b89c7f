//! WebSocket clients that stop reading what Ferry sends them
//! (docs/PROTOCOL.md "WebSocket", "Errors the client sees"). A group
//! member that falls more than `send_window` behind reads whole frames,
//! then the 1008 close, then the end of the TCP stream (a FIN, not a
//! reset), if it reads within `ws_close_timeout`; one that never reads is
//! cut at that deadline. A client that floods pings and reads none of
//! the pongs is cut by `min_send_rate`, as one that reads no pushes is.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::ws::*;
use support::*;

/// Publishes numbered binary messages of `size` bytes (the number in the
/// first 8) to `group` until `id` is closed for being too slow; returns
/// how many went.
fn publish_until_closed(ferry: &mut Ferry, group: &str, id: i64, size: usize) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut n = 0u64;
    loop {
        for _ in 0..16 {
            ferry.ws_publish(group, vec![out("binary", numbered(n, size))], None);
            n += 1;
        }
        let closed = |t: &Term| t.tag() == Some("ws_closed") && t.el(1).int() == Some(id);
        if let Some(t) = ferry.receive_within(Duration::from_millis(5), closed) {
            assert_eq!((t.el(2).atom(), t.el(3).int()), (Some("error"), Some(1008)), "{t}");
            return n;
        }
        assert!(Instant::now() < deadline, "{n} publishes and the member that reads nothing is not closed");
    }
}

fn numbered(n: u64, size: usize) -> Vec<u8> {
    let mut m = pattern(n, size);
    m[..8].copy_from_slice(&n.to_be_bytes());
    m
}

/// Reads the rest of the stream as the client's kernel has it: `Ok` at
/// the end of the stream (FIN), the error if it was reset.
fn rest_of_stream(stream: &mut TcpStream) -> std::io::Result<usize> {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Issue 7: the member was reset by the send timer after the 1008, which
/// sat behind everything it had not read, so it never saw the close.
/// Now what it had not started reading is dropped and the close follows
/// the frame being written; `send_timeout` is short here so that, before
/// that, the reset came before the member read.
#[test]
fn a_member_too_far_behind_reads_whole_frames_then_1008_then_eof() {
    const SIZE: usize = 16 << 10;
    let mut ferry = Ferry::start(&[("send_window", int(64 << 10)), ("send_timeout", int(1000))]);
    let (mut slow, slow_id) = ferry.ws_open_slow("/slow");
    ferry.ws_join(slow_id, "news");
    let published = publish_until_closed(&mut ferry, "news", slow_id, SIZE);
    // Back from a tunnel, past send_timeout, within ws_close_timeout.
    thread::sleep(Duration::from_millis(2000));
    let mut next = 0u64;
    let close = loop {
        let f = slow.recv();
        if f.opcode == CLOSE {
            break f;
        }
        assert_eq!((f.fin, f.opcode, f.payload.len()), (true, BINARY, SIZE), "frame {next}");
        assert!(f.payload == numbered(next, SIZE), "frame {next} is not message {next}");
        next += 1;
    };
    assert_eq!(close.close().map(|c| c.0), Some(1008), "{close:?}");
    assert!(next < published, "all {published} publishes reached the member, the 1008 too");
    assert!(slow.http.leftover().is_empty(), "bytes after the close frame");
    let end = rest_of_stream(&mut slow.http.stream);
    assert_eq!(end.as_ref().map_err(|e| e.kind()), Ok(&0), "after the close frame: {end:?}, not the end of the stream");
    println!("{published} publishes; the member read {next} whole frames, then the 1008 and a FIN");
}

/// A member that never reads again is cut when `ws_close_timeout` ends,
/// though `send_timeout` and `min_send_rate` would have kept it longer.
#[test]
fn a_member_too_far_behind_that_never_reads_is_cut_at_ws_close_timeout() {
    const CLOSE_TIMEOUT: u64 = 2000;
    let mut ferry = Ferry::start(&[
        ("send_window", int(64 << 10)),
        ("send_timeout", int(60_000)),
        ("min_send_rate", int(0)),
        ("ws_close_timeout", int(CLOSE_TIMEOUT as i64)),
    ]);
    let (_slow, slow_id) = ferry.ws_open_slow("/slow");
    ferry.ws_join(slow_id, "news");
    publish_until_closed(&mut ferry, "news", slow_id, 16 << 10);
    let closed_at = Instant::now();
    while ferry.stat("connections") != 0 {
        assert!(closed_at.elapsed() < Duration::from_millis(CLOSE_TIMEOUT + 3000), "still connected after {:?}", closed_at.elapsed());
        thread::sleep(Duration::from_millis(50));
    }
    let took = closed_at.elapsed();
    println!("the member that never reads was cut {took:?} after its 1008");
    assert!(took >= Duration::from_millis(CLOSE_TIMEOUT - 200), "cut after {took:?}, before ws_close_timeout");
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
    let (pushed, pushed_id) = ferry.ws_open_slow("/pushed");
    let (flooder, flooder_id) = ferry.ws_open_slow("/flooder");
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
