//! Content-length bodies reach the BEAM by splice(2), socket to pipe,
//! never copied through ferry (src/splice.rs). The frames must be the same
//! as read + write would make, also when the pipe to the BEAM fills in the
//! middle of one and the rest of it has to be queued.

mod support;

use std::thread;
use std::time::Duration;
use support::*;

/// Reads `id`'s body frames to the end, checking each against the
/// pattern; returns how many there were and the largest.
fn read_checked(ferry: &mut Ferry, id: i64, total: usize) -> (usize, usize) {
    let mut got = 0usize;
    let mut frames = 0;
    let mut largest = 0;
    loop {
        match ferry.next_body_frame(id) {
            BodyFrame::Data(chunk) => {
                assert!(chunk == pattern(got as u64, chunk.len()), "body bytes {got}..{} differ", got + chunk.len());
                got += chunk.len();
                frames += 1;
                largest = largest.max(chunk.len());
            }
            BodyFrame::End(trailers) => {
                assert!(trailers.is_empty());
                assert_eq!(got, total);
                return (frames, largest);
            }
        }
    }
}

#[test]
fn a_body_spliced_while_the_beam_stops_reading_arrives_whole_and_in_order() {
    const TOTAL: usize = 24 << 20;
    let mut ferry = Ferry::start(&[("body_window", int(64 << 20)), ("max_body", int(1 << 30))]);
    let mut client = ferry.client();
    client.send(format!("POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: {TOTAL}\r\n\r\n"));
    let req = ferry.expect_request();
    ferry.read_body(req.id, 64 << 20);
    // The BEAM is busy: the pipe fills with frames, some cut where it filled.
    ferry.pause_stdout(true);
    let mut stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        use std::io::Write;
        for at in (0..TOTAL).step_by(1 << 20) {
            stream.write_all(&pattern(at as u64, 1 << 20)).unwrap();
        }
    });
    thread::sleep(Duration::from_millis(300));
    // Other events queue behind the cut frame and must come after it.
    let mut other = ferry.client();
    other.send(get("/other"));
    thread::sleep(Duration::from_millis(200));
    ferry.pause_stdout(false);
    let (frames, largest) = read_checked(&mut ferry, req.id, TOTAL);
    writer.join().unwrap();
    assert!(frames >= TOTAL / MAX_BODY_CHUNK, "{frames} frames");
    // Spliced bytes are never in a read buffer of ferry's: a frame takes
    // what the grant allows and the socket has, past a read's 256 KiB.
    assert!(largest > 256 << 10, "largest frame {largest} bytes");
    ferry.respond(req.id, 200, &[], "ok");
    assert_eq!(client.response().body_str(), "ok");
    ferry.answer_next("other");
    assert_eq!(other.response().body_str(), "other");
}

#[test]
fn a_spliced_body_under_a_small_grant_keeps_to_it() {
    const TOTAL: usize = 3 << 20;
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: {TOTAL}\r\n\r\n"));
    client.send(pattern(0, TOTAL));
    let req = ferry.expect_request();
    // Grants of 100 KB, each frame checked against what was granted.
    let (body, trailers) = ferry.read_whole_body(req.id, 100_000);
    assert!(trailers.is_empty());
    assert_eq!(body.len(), TOTAL);
    assert!(body == pattern(0, TOTAL), "the body differs");
}
