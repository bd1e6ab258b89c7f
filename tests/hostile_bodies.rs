//! Request bodies from hostile clients (issue 9): a chunked body of 1-byte
//! chunks must not become one message per chunk for the VM, and framing
//! that outweighs its data is refused (PROTOCOL.md "Streamed request bodies").

mod support;

use std::io::Write;
use std::thread;
use std::time::Duration;
use support::*;

/// `len` bytes of `pattern(offset, ..)` as 1-byte chunks.
fn one_byte_chunks(offset: u64, len: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(len * 6);
    for b in pattern(offset, len) {
        wire.extend_from_slice(b"1\r\n");
        wire.push(b);
        wire.extend_from_slice(b"\r\n");
    }
    wire
}

/// Starts a writer thread sending a chunked upload of `total` bytes as
/// 1-byte chunks, then the last chunk.
fn upload_one_byte_chunks(client: &Client, total: usize) -> thread::JoinHandle<()> {
    let mut stream = client.stream.try_clone().unwrap();
    thread::spawn(move || {
        stream.write_all(b"POST /flood HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
        const PIECE: usize = 64 << 10;
        for start in (0..total).step_by(PIECE) {
            stream.write_all(&one_byte_chunks(start as u64, PIECE.min(total - start))).unwrap();
        }
        stream.write_all(b"0\r\n\r\n").unwrap();
    })
}

/// The grant bounds the messages in flight, not only the bytes: a BEAM that
/// grants body_window once and never again gets at most body_window / 513 + 1
/// frames, however small the client's chunks.
#[test]
fn one_grant_of_body_window_bounds_the_frames() {
    const TOTAL: usize = 4 << 20;
    const WINDOW: i64 = 1 << 20;
    let mut ferry = Ferry::start(&[("body_window", int(WINDOW)), ("max_body", int(1 << 30))]);
    let mut client = ferry.client();
    let writer = upload_one_byte_chunks(&client, TOTAL);
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    ferry.read_body(req.id, WINDOW);
    // Frames until the grant is used up (Grant::take checks each against it),
    // then nothing more may come.
    let mut grant = Grant { outstanding: WINDOW };
    let mut body = Vec::new();
    let mut frames = 0;
    while grant.outstanding > 0 {
        let BodyFrame::Data(chunk) = ferry.next_body_frame(req.id) else { panic!("body_end before {TOTAL} bytes") };
        grant.take(chunk.len());
        frames += 1;
        body.extend_from_slice(&chunk);
    }
    ferry.refute_within("a body frame after the grant is used up", Duration::from_millis(500), |t| t.tag() == Some("body"));
    let bound = WINDOW as usize / (1 + BODY_FRAME_COST as usize) + 1;
    println!("one grant of {WINDOW}: {frames} frames, {} bytes (bound {bound} frames)", body.len());
    assert!(frames <= bound, "{frames} body frames for one grant of {WINDOW} (bound {bound})");
    // Once the BEAM gives back what it took, the body arrives whole and right.
    ferry.read_body(req.id, WINDOW);
    let mut grant = Grant { outstanding: WINDOW };
    let trailers = loop {
        match ferry.next_body_frame(req.id) {
            BodyFrame::Data(chunk) => {
                grant.take(chunk.len());
                ferry.read_body(req.id, chunk.len() as i64 + BODY_FRAME_COST);
                grant.outstanding = (grant.outstanding + chunk.len() as i64 + BODY_FRAME_COST).min(WINDOW);
                body.extend_from_slice(&chunk);
            }
            BodyFrame::End(trailers) => break trailers,
        }
    };
    writer.join().expect("writer");
    assert!(trailers.is_empty());
    assert_eq!(body.len(), TOTAL);
    assert!(body == pattern(0, TOTAL), "body corrupted");
    ferry.respond(req.id, 200, &[], "whole");
    assert_eq!(client.response().body, b"whole");
}

/// Everything one socket read decoded leaves in one frame: 100,000 1-byte
/// chunks are far fewer than 100,000 messages.
#[test]
fn one_byte_chunks_are_coalesced() {
    const TOTAL: usize = 100_000;
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let writer = upload_one_byte_chunks(&client, TOTAL);
    let req = ferry.expect_request();
    let (body, _, frames) = ferry.read_body_windowed(req.id, 1 << 20);
    writer.join().expect("writer");
    println!("{TOTAL} 1-byte chunks: {frames} body frames");
    assert!(body == pattern(0, TOTAL), "body corrupted");
    assert!(frames <= TOTAL / 20, "{frames} body frames for {TOTAL} 1-byte chunks");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

/// Chunk-size lines beyond 16 bytes plus twice their chunk's size add up;
/// past 16 KiB of such excess the body is malformed: 400, `bad_body`.
/// 1024 chunks of 1 byte with a 30-byte extension are 16 bytes over each:
/// exactly the limit passes, one more chunk does not.
#[test]
fn framing_that_outweighs_the_data_is_400_bad_body() {
    let chunks = |n: usize| format!("1;{}\r\nX\r\n", "e".repeat(30)).repeat(n) + "0\r\n\r\n";
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    for (n, refused) in [(1024, false), (1025, true)] {
        let mut client = ferry.client();
        client.try_send(format!("POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n{}", chunks(n)));
        let req = ferry.expect_request();
        ferry.read_body(req.id, 1 << 20);
        let t = ferry.expect(&format!("the end of body {n}"), |t| {
            matches!(t.tag(), Some("closed") | Some("body_end")) && t.el(1).int() == Some(req.id)
        });
        if refused {
            assert_eq!((t.tag(), t.el(2).atom()), (Some("closed"), Some("bad_body")), "{n} chunks: {t}");
            let resp = client.try_response(false).expect("a 400");
            assert_eq!(resp.status, 400);
            client.expect_eof();
        } else {
            assert_eq!(t.tag(), Some("body_end"), "{n} chunks: {t}");
            ferry.respond(req.id, 200, &[], "");
            assert_eq!(client.response().status, 200);
        }
    }
}
