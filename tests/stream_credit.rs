//! Streamed-response flow control: `{stream_credit, Id, N}` comes back only
//! as bytes leave for the client's socket, so a client that reads slowly
//! costs a bounded buffer, never the whole response.

mod support;

use std::net::Ipv4Addr;
use std::thread;
use std::time::Duration;
use support::*;

const WINDOW: i64 = 128 << 10;
const PIECE: usize = 16 << 10;
const TOTAL: usize = 48 << 20;
/// Ferry's RSS while the client reads nothing and the BEAM still has 40+ MB
/// to send (measured: about 2.5 MiB).
const RSS_BOUND_KIB: u64 = 16 << 10;

/// Sends pieces while the window allows; returns new (sent, credited).
fn send_within_window(ferry: &mut Ferry, id: i64, sent: &mut usize, credited: usize) {
    while (*sent - credited) as i64 + (PIECE as i64) <= WINDOW && *sent < TOTAL {
        ferry.stream_chunk(id, pattern(*sent as u64, PIECE));
        *sent += PIECE;
    }
}

fn credit_within(ferry: &mut Ferry, id: i64, wait: Duration) -> Option<usize> {
    let mut credit = None;
    let deadline = std::time::Instant::now() + wait;
    while credit.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let t = ferry.next_frame_within(left)?;
        if t.tag() == Some("stream_credit") && t.el(1).int() == Some(id) {
            let n = t.el(2).int().expect("credit is an integer");
            assert!(n > 0, "zero credit: {t}");
            credit = Some(n as usize);
        } else {
            panic!("unexpected frame while streaming: {t}");
        }
    }
    credit
}

#[test]
fn slow_reader_holds_back_credit_and_memory_stays_bounded() {
    let mut ferry = Ferry::start(&[("send_window", int(WINDOW)), ("send_timeout", int(120_000))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(16 << 10));
    client.send(get("/slow"));
    let req = ferry.expect_request();
    let id = req.id;
    ferry.stream_start(id, 200, &[("content-type", "application/octet-stream")]);

    // Phase 1: the client reads nothing. A well-behaved BEAM sends only on credit.
    let (mut sent, mut credited) = (0usize, 0usize);
    loop {
        send_within_window(&mut ferry, id, &mut sent, credited);
        match credit_within(&mut ferry, id, Duration::from_millis(1500)) {
            Some(n) => credited += n,
            None => break,
        }
        assert!(credited <= sent, "credit {credited} for more than was sent ({sent})");
    }
    let rss = ferry.rss_kib();
    println!("client not reading: stalled after {sent} bytes sent, {credited} credited; ferry VmRSS {rss} KiB");
    // Credit may cover what the kernel buffers hold (ferry's send buffer, the
    // client's small receive buffer) plus one window in ferry, nothing more.
    let bound = tcp_wmem_max() + (64 << 10) + 2 * WINDOW as usize;
    assert!(sent <= bound, "{sent} bytes sent on credit to a client that reads nothing (bound {bound})");
    assert!(rss < RSS_BOUND_KIB, "ferry RSS {rss} KiB with a stalled client (bound {RSS_BOUND_KIB})");

    // Phase 2: the client reads, slowly at first; credit resumes and the whole
    // body arrives intact.
    let reader = thread::spawn(move || {
        let head = client.head();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        for _ in 0..20 {
            client.fill();
            thread::sleep(Duration::from_millis(10));
        }
        client.chunked_body().0
    });
    while sent < TOTAL {
        send_within_window(&mut ferry, id, &mut sent, credited);
        if sent == TOTAL {
            break;
        }
        let n = credit_within(&mut ferry, id, WAIT).expect("credit resumes once the client reads");
        credited += n;
        assert!(credited <= sent);
    }
    ferry.stream_end(id, &[]);
    let body = reader.join().expect("reader");
    assert_eq!(body.len(), TOTAL);
    assert!(body == pattern(0, TOTAL), "streamed body corrupted");
}

#[test]
fn overrunning_the_window_is_a_protocol_error() {
    let mut ferry = Ferry::start(&[("send_window", int(4096)), ("send_timeout", int(120_000))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(4096));
    client.send(get("/greedy"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    // Ignore credit entirely: 64 MiB at a client that reads nothing.
    for i in 0..1024 {
        ferry.stream_chunk(req.id, pattern(i * 65536, 65536));
    }
    ferry.expect_for("protocol_error", req.id);
    ferry.stats(); // answered after every chunk above was read
    let rss = ferry.rss_kib();
    assert!(rss < RSS_BOUND_KIB, "ferry RSS {rss} KiB after 64 MiB pushed past the window");
    let rest = client.read_to_eof();
    assert!(!rest.ends_with(b"0\r\n\r\n"), "the body must not look complete");
}

#[test]
fn client_that_never_reads_hits_send_timeout() {
    let mut ferry = Ferry::start(&[("send_window", int(WINDOW)), ("send_timeout", int(300))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(4096));
    client.send(get("/never-read"));
    let req = ferry.expect_request();
    let id = req.id;
    ferry.stream_start(id, 200, &[]);
    let (mut sent, mut credited) = (0usize, 0usize);
    let reason = loop {
        send_within_window(&mut ferry, id, &mut sent, credited);
        let t = ferry.expect("credit or closed", |t| {
            matches!(t.tag(), Some("stream_credit") | Some("closed")) && t.el(1).int() == Some(id)
        });
        if t.tag() == Some("closed") {
            break t.el(2).atom().unwrap().to_string();
        }
        credited += t.el(2).int().unwrap() as usize;
        assert!(sent < TOTAL, "never stalled");
    };
    assert_eq!(reason, "send_timeout");
    let _ = client.read_to_eof(); // the connection is closed: reading ends
}

/// send_timeout is about a client that reads nothing: one that reads
/// slowly but steadily keeps its response.
#[test]
fn slow_but_steady_reader_is_not_cut_by_send_timeout() {
    const BODY: usize = 2 << 20;
    let mut ferry = Ferry::start(&[("send_window", int(65536)), ("send_timeout", int(400))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(8192));
    client.send(get("/steady"));
    let req = ferry.expect_request();
    let id = req.id;
    ferry.respond(id, 200, &[], pattern(0, BODY));
    // About 64 KiB every 100 ms: slow, never silent for send_timeout.
    let reader = thread::spawn(move || {
        let head = client.head();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some(BODY.to_string().as_str()));
        let mut body = Vec::new();
        while body.len() < BODY {
            let want = (BODY - body.len()).min(65536);
            body.extend(client.read_exact_bytes(want));
            thread::sleep(Duration::from_millis(100));
        }
        body
    });
    let body = reader.join().expect("reader");
    assert!(body == pattern(0, BODY), "body corrupted");
    ferry.refute_within("closed for a steady reader", Duration::from_millis(100), |t| t.tag() == Some("closed"));
}
