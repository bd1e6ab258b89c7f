//! Request bodies (RFC 9112 §6, §7.1): inline content-length bodies, chunked
//! bodies with extensions and trailers, streamed bodies under `read_body`
//! grants with flat memory, and `expect: 100-continue`.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use support::*;

#[test]
fn content_length_body_rides_inline() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("POST /form HTTP/1.1\r\nhost: t\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nhello world");
    let req = ferry.expect_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.body.as_deref(), Some(&b"hello world"[..]));
    ferry.respond(req.id, 201, &[], "created");
    let resp = client.response();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, b"created");
}

#[test]
fn body_split_over_many_writes_is_reassembled() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("PUT /x HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n");
    for b in b"0123456789" {
        client.send([*b]);
        thread::sleep(Duration::from_millis(5));
    }
    let req = ferry.expect_request();
    let body = match req.body.clone() {
        Some(b) => b,
        None => ferry.read_whole_body(req.id, 3).0,
    };
    assert_eq!(body, b"0123456789");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

const CHUNKED_WITH_TRAILERS: &str = "POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n\
    5;name=value\r\nhello\r\n\
    6;a;b=\"quoted;value\"\r\n world\r\n\
    0;last=1\r\nx-checksum: abc\r\nX-Other: 2\r\n\r\n";

#[test]
fn chunked_body_with_extensions_is_decoded_inline() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(CHUNKED_WITH_TRAILERS);
    let req = ferry.expect_request();
    let body = match req.body.clone() {
        Some(b) => b,
        None => ferry.read_whole_body(req.id, 100).0,
    };
    assert_eq!(body, b"hello world");
    ferry.respond(req.id, 200, &[], "ok");
    assert_eq!(client.response().body, b"ok");
}

#[test]
fn chunked_trailers_arrive_with_body_end() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send(CHUNKED_WITH_TRAILERS);
    let req = ferry.expect_request();
    assert_eq!(req.body, None, "inline_body => 0 streams every body");
    let (body, trailers) = ferry.read_whole_body(req.id, 4);
    assert_eq!(body, b"hello world");
    assert_eq!(
        trailers,
        vec![(b"x-checksum".to_vec(), b"abc".to_vec()), (b"x-other".to_vec(), b"2".to_vec())],
        "trailers, names lowercased, in order"
    );
    ferry.respond(req.id, 200, &[], "ok");
    assert_eq!(client.response().body, b"ok");
}

#[test]
fn streamed_body_waits_for_grants_and_respects_them() {
    let mut ferry = Ferry::start(&[("inline_body", int(16))]);
    let mut client = ferry.client();
    let body = pattern(0, 5000);
    client.send("POST /big HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n");
    client.send(&body);
    let req = ferry.expect_request();
    assert_eq!(req.body, None, "5000 bytes over inline_body 16 must stream");
    ferry.refute_within("body before any read_body", Duration::from_millis(300), |t| {
        matches!(t.tag(), Some("body") | Some("body_end"))
    });
    // read_whole_body asserts that no chunk exceeds the outstanding grant.
    let (got, trailers) = ferry.read_whole_body(req.id, 777);
    assert_eq!(got, body);
    assert!(trailers.is_empty());
    ferry.respond(req.id, 200, &[], "done");
    assert_eq!(client.response().body, b"done");
}

#[test]
fn expect_100_continue_is_sent_at_the_first_read_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("POST /up HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.body, None, "expect: 100-continue always streams");
    assert!(!client.closed_within(Duration::from_millis(300)), "nothing may be written before read_body");
    ferry.read_body(req.id, 1024);
    let interim = client.response();
    assert_eq!(interim.status, 100, "got {:?}", String::from_utf8_lossy(&interim.head));
    client.send("data");
    let mut body = Vec::new();
    loop {
        let t = ferry.expect("body/body_end", |t| matches!(t.tag(), Some("body") | Some("body_end")));
        if t.tag() == Some("body_end") {
            break;
        }
        body.extend_from_slice(t.el(2).bin().unwrap());
    }
    assert_eq!(body, b"data");
    ferry.respond(req.id, 200, &[], "thanks");
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"thanks");
}

#[test]
fn expect_100_continue_refused_without_reading() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("POST /up HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n");
    let req = ferry.expect_request();
    ferry.respond(req.id, 417, &[], "no");
    let resp = client.response();
    assert_eq!(resp.status, 417, "a final status without any 100 Continue first");
    assert_eq!(resp.body, b"no");
    // The client may still send the body or not: PROTOCOL.md closes.
    assert!(resp.closes(), "client still waiting for 100 Continue: connection: close");
    client.expect_eof();
}

/// 200 MB chunked upload through `read_body` grants; the binary's RSS stays
/// under RSS_BOUND_KIB while the body passes through.
#[test]
fn upload_200_mb_chunked_with_flat_memory() {
    const TOTAL: u64 = 200 << 20;
    const CHUNK: usize = 64 << 10;
    const WINDOW: i64 = 1 << 20;
    const RSS_BOUND_KIB: u64 = 16 << 10; // 16 MiB (measured: about 4 MiB)

    let mut ferry = Ferry::start(&[("body_window", int(WINDOW)), ("max_body", int(1 << 40))]);
    let client = ferry.client();
    let mut stream = client.stream.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer_done = done.clone();
    let writer = thread::spawn(move || {
        stream.write_all(b"POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        let mut sent = 0u64;
        let mut frame = Vec::with_capacity(CHUNK + 16);
        while sent < TOTAL {
            frame.clear();
            frame.extend_from_slice(format!("{CHUNK:x};n={sent}\r\n").as_bytes());
            frame.extend_from_slice(&pattern(sent, CHUNK));
            frame.extend_from_slice(b"\r\n");
            stream.write_all(&frame).unwrap();
            sent += CHUNK as u64;
        }
        stream.write_all(b"0\r\nx-sent: done\r\n\r\n").unwrap();
        writer_done.store(true, Ordering::SeqCst);
    });

    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    let baseline = ferry.rss_kib();
    let mut received = 0u64;
    let mut grant = Grant { outstanding: WINDOW };
    ferry.read_body(req.id, WINDOW);
    let mut max_rss = baseline;
    let mut frames = 0u64;
    let trailers = loop {
        let chunk = match ferry.next_body_frame(req.id) {
            BodyFrame::Data(chunk) => chunk,
            BodyFrame::End(trailers) => break trailers,
        };
        grant.take(chunk.len());
        assert!(chunk == pattern(received, chunk.len()), "body corrupted at byte {received}");
        received += chunk.len() as u64;
        // Top the grant back up to the window once half of it is used.
        if grant.outstanding <= WINDOW / 2 {
            ferry.read_body(req.id, WINDOW - grant.outstanding);
            grant.outstanding = WINDOW;
        }
        frames += 1;
        if frames % 64 == 0 {
            max_rss = max_rss.max(ferry.rss_kib());
        }
    };
    writer.join().expect("writer thread");
    assert!(done.load(Ordering::SeqCst));
    assert_eq!(received, TOTAL);
    assert_eq!(trailers, vec![(b"x-sent".to_vec(), b"done".to_vec())]);
    max_rss = max_rss.max(ferry.rss_kib());
    println!("200 MB upload: ferry VmRSS baseline {baseline} KiB, max {max_rss} KiB");
    assert!(max_rss < RSS_BOUND_KIB, "ferry RSS reached {max_rss} KiB during the upload (bound {RSS_BOUND_KIB})");

    ferry.respond(req.id, 200, &[], format!("{received}"));
    let mut client = client;
    let resp = client.response();
    assert_eq!(resp.body_str(), TOTAL.to_string());
}

#[test]
fn chunked_request_split_at_every_byte() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    let bytes = CHUNKED_WITH_TRAILERS.as_bytes().to_vec();
    let mut stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        for b in bytes {
            stream.write_all(&[b]).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
    });
    let req = ferry.expect_request();
    let (body, trailers) = ferry.read_whole_body(req.id, 3);
    writer.join().unwrap();
    assert_eq!(body, b"hello world");
    assert_eq!(trailers.len(), 2);
    ferry.respond(req.id, 200, &[], "ok");
    assert_eq!(client.response().body, b"ok");
}

#[test]
fn chunk_sizes_in_any_hex_case_with_leading_zeros() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let ten = "0123456789";
    client.send(format!(
        "POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n000A\r\n{ten}\r\na\r\n{ten}\r\n0000\r\n\r\n"
    ));
    let req = ferry.expect_request();
    let body = match req.body.clone() {
        Some(b) => b,
        None => ferry.read_whole_body(req.id, 100).0,
    };
    assert_eq!(body, format!("{ten}{ten}").as_bytes());
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

/// Without a grant Ferry stops reading the socket: a client pushing 64 MB
/// blocks in the kernel instead of filling Ferry's memory.
#[test]
fn no_grant_means_no_reading() {
    const TOTAL: usize = 64 << 20;
    let mut ferry = Ferry::start(&[("max_body", int(1 << 30))]);
    let client = ferry.client();
    let mut stream = client.stream.try_clone().unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let writer = thread::spawn(move || {
        stream.write_all(format!("PUT /big HTTP/1.1\r\nhost: t\r\ncontent-length: {TOTAL}\r\n\r\n").as_bytes()).unwrap();
        for i in 0..TOTAL / (1 << 20) {
            stream.write_all(&pattern((i << 20) as u64, 1 << 20)).unwrap();
        }
    });
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    let before = ferry.rss_kib();
    thread::sleep(Duration::from_millis(1000));
    let during = ferry.rss_kib();
    println!("no grant, client pushing {TOTAL} bytes: ferry VmRSS {before} KiB -> {during} KiB");
    assert!(during.saturating_sub(before) < 4 << 10, "ferry read {} KiB ahead of any grant", during - before);
    assert!(!writer.is_finished(), "the client wrote all {TOTAL} bytes with nobody reading them");
    let (body, _) = ferry.read_whole_body(req.id, 1 << 20);
    writer.join().unwrap();
    assert_eq!(body.len(), TOTAL);
    assert!(body == pattern(0, TOTAL), "body corrupted");
    ferry.respond(req.id, 200, &[], "");
    let mut client = client;
    assert_eq!(client.response().status, 200);
}

/// Grants add up, but the outstanding grant is capped at body_window.
#[test]
fn outstanding_grant_is_capped_at_body_window() {
    let mut ferry = Ferry::start(&[("body_window", int(1024)), ("inline_body", int(0))]);
    let mut client = ferry.client();
    let body = pattern(0, 10_000);
    client.send("POST /w HTTP/1.1\r\nhost: t\r\ncontent-length: 10000\r\n\r\n");
    client.send(&body);
    let req = ferry.expect_request();
    ferry.read_body(req.id, 1 << 20);
    // What Rust may send is what a grant of 1024 allows (each frame costing
    // its size plus BODY_FRAME_COST): `take` fails on anything more.
    let mut capped = Grant { outstanding: 1024 };
    let mut got = Vec::new();
    while let Some(t) = ferry.next_frame_within(Duration::from_millis(300)) {
        assert_eq!(t.tag(), Some("body"), "{t}");
        capped.take(t.el(2).bin().unwrap().len());
        got.extend_from_slice(t.el(2).bin().unwrap());
    }
    assert_eq!(capped.outstanding, 0, "the capped grant is used up");
    let (rest, _) = ferry.read_whole_body(req.id, 1024);
    got.extend(rest);
    assert_eq!(got, body);
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

/// A handler may answer without reading a big body: the connection then
/// closes (the rest is not worth reading), and its bytes are never requests.
#[test]
fn big_unread_body_closes_after_the_response() {
    const SIZE: usize = 3 << 20;
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let mut stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let _ = stream.write_all(format!("POST /big HTTP/1.1\r\nhost: t\r\ncontent-length: {SIZE}\r\n\r\n").as_bytes());
        let _ = stream.write_all(&get("/smuggled").as_bytes().repeat(SIZE / get("/smuggled").len() + 1)[..SIZE]);
    });
    let req = ferry.expect_request();
    ferry.respond(req.id, 413, &[], "too big for me");
    let resp = client.response();
    assert_eq!(resp.status, 413);
    assert!(resp.closes(), "more than the 1 MiB Ferry drops: connection: close expected");
    let _ = client.read_to_eof();
    let _ = writer.join();
    ferry.refute_within("a smuggled request", Duration::from_millis(200), |t| t.tag() == Some("request"));
}

/// An unread rest of at most 1 MiB is read and dropped after the response,
/// and the connection is kept (PROTOCOL.md "Responses").
#[test]
fn small_unread_body_is_dropped_and_the_connection_kept() {
    for chunked in [false, true] {
        let mut ferry = Ferry::start(&[("inline_body", int(0))]);
        let mut client = ferry.client();
        let body = get("/smuggled").repeat(1000); // about 27 KB of request look-alikes
        if chunked {
            client.send(format!("POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len()));
        } else {
            client.send(format!("POST /c HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}", body.len()));
        }
        let req = ferry.expect_request();
        ferry.respond(req.id, 200, &[], "answered unread");
        let resp = client.response();
        assert_eq!(resp.body, b"answered unread");
        assert!(!resp.closes(), "chunked={chunked}: a small unread rest keeps the connection");
        ferry.round_trip(&mut client, "/next");
    }
}

/// `body_end` needs no grant: granting exactly the body's size is enough.
#[test]
fn body_end_needs_no_grant_of_its_own() {
    for chunked in [false, true] {
        let mut ferry = Ferry::start(&[("inline_body", int(0))]);
        let mut client = ferry.client();
        let body = pattern(0, 100);
        let mut request = if chunked {
            b"POST /e HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n64\r\n".to_vec()
        } else {
            b"POST /e HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n".to_vec()
        };
        request.extend_from_slice(&body);
        if chunked {
            request.extend_from_slice(b"\r\n0\r\n\r\n");
        }
        client.send(&request);
        let req = ferry.expect_request();
        ferry.read_body(req.id, 100);
        let mut got = Vec::new();
        loop {
            let t = ferry.expect(&format!("body_end after exactly 100 granted (chunked={chunked})"), |t| {
                matches!(t.tag(), Some("body") | Some("body_end")) && t.el(1).int() == Some(req.id)
            });
            if t.tag() == Some("body_end") {
                break;
            }
            got.extend_from_slice(t.el(2).bin().unwrap());
        }
        assert_eq!(got, body);
        ferry.respond(req.id, 200, &[], "");
        assert_eq!(client.response().status, 200);
    }
}
