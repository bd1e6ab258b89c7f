//! Deadlines, with small configured values so the tests run quickly. Only
//! generous upper bounds are checked (to catch hangs), never durations.

mod support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn slowloris_gets_408_and_close() {
    let mut ferry = Ferry::start(&[("header_timeout", int(300))]);
    let mut client = ferry.client();
    let mut trickle = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        // One byte every 20 ms, a header that never ends; stop when the server is gone.
        let head = b"GET / HTTP/1.1\r\nhost: t\r\nx-slow: ";
        let deadline = Instant::now() + WAIT;
        for b in head.iter().chain(std::iter::repeat(&b'z')) {
            if Instant::now() > deadline || trickle.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let resp = client.try_response(false).expect("a 408 before the close");
    assert_eq!(resp.status, 408);
    assert!(resp.closes());
    client.expect_eof();
    writer.join().unwrap();
    ferry.refute_within("a request from the slow head", Duration::from_millis(100), |t| t.tag() == Some("request"));
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let mut ferry = Ferry::start(&[("idle_timeout", int(300))]);
    let mut client = ferry.client();
    ferry.round_trip(&mut client, "/");
    assert!(client.closed_within(WAIT), "idle connection still open after {WAIT:?}");
    let deadline = Instant::now() + WAIT;
    while ferry.stat("connections") != 0 {
        assert!(Instant::now() < deadline, "closed connection still counted");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connection_that_never_sends_is_closed() {
    let ferry = Ferry::start(&[("idle_timeout", int(300)), ("header_timeout", int(300))]);
    let mut client = ferry.client();
    // Closed quietly, or with a 408: either way not kept forever.
    if let Some(resp) = client.try_response(false) {
        assert_eq!(resp.status, 408);
    }
    client.expect_eof();
}

#[test]
fn handler_timeout_is_504_and_closed_event() {
    let mut ferry = Ferry::start(&[("handler_timeout", int(300))]);
    let mut client = ferry.client();
    client.send(get("/slow-handler"));
    let req = ferry.expect_request();
    assert_eq!(ferry.expect_closed(req.id), "handler_timeout");
    let resp = client.response();
    assert_eq!(resp.status, 504);

    // The late answer is for a finished id: ignored and counted, never sent.
    let before = ferry.stat("ignored_commands");
    ferry.respond(req.id, 200, &[], "too late");
    assert_eq!(ferry.stat("ignored_commands"), before + 1);

    // The body (none) was read, so the connection is kept.
    client.send(get("/next"));
    let next = ferry.expect_request();
    ferry.respond(next.id, 200, &[], "next");
    let resp = client.response();
    assert_eq!(resp.body, b"next", "the late answer must not reach the client");
}

/// 504 keeps the connection only when the request body was read; an unread
/// body leaves the framing unknown, so the connection closes.
#[test]
fn handler_timeout_with_an_unread_body_closes() {
    let mut ferry = Ferry::start(&[("handler_timeout", int(300)), ("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send("POST /slow HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n0123456789");
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    assert_eq!(ferry.expect_closed(req.id), "handler_timeout");
    let resp = client.response();
    assert_eq!(resp.status, 504);
    assert!(resp.closes(), "body unread: connection: close expected");
    client.expect_eof();
}

#[test]
fn started_stream_is_not_cut_by_handler_timeout() {
    let mut ferry = Ferry::start(&[("handler_timeout", int(200))]);
    let mut client = ferry.client();
    client.send(get("/stream"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    thread::sleep(Duration::from_millis(600));
    ferry.stream_chunk(req.id, "late but fine");
    ferry.stream_end(req.id, &[]);
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"late but fine");
}

#[test]
fn client_disconnect_while_handler_runs_is_peer_closed() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/leaving"));
    let req = ferry.expect_request();
    drop(client);
    assert_eq!(ferry.expect_closed(req.id), "peer_closed");
    // Commands for the closed request are ignored, not errors.
    let before = ferry.stat("ignored_commands");
    ferry.respond(req.id, 200, &[], "nobody listens");
    assert_eq!(ferry.stat("ignored_commands"), before + 1);
    let mut other = ferry.client();
    ferry.round_trip(&mut other, "/still-serving");
}

#[test]
fn client_half_close_while_handler_runs_is_peer_closed() {
    let mut ferry = Ferry::start(&[]);
    let mut c = ferry.client();
    c.send(get("/half"));
    let req = ferry.expect_request();
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(ferry.expect_closed(req.id), "peer_closed");
}

#[test]
fn client_disconnect_mid_body_is_peer_closed() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 100000\r\n\r\n");
    client.send(vec![b'u'; 1000]);
    let req = ferry.expect_request();
    ferry.read_body(req.id, 1 << 20);
    let first = ferry.expect_for("body", req.id);
    assert!(!first.el(2).bin().unwrap().is_empty());
    drop(client);
    assert_eq!(ferry.expect_closed(req.id), "peer_closed");
}

#[test]
fn client_disconnect_during_streamed_response_is_peer_closed() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/stream"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "first");
    let head = client.head();
    assert_eq!(head.status, 200);
    drop(client);
    // Writing more makes the reset visible even if the FIN alone was not.
    let reason = loop {
        ferry.stream_chunk(req.id, vec![b'x'; 1024]);
        if let Some(t) = ferry.next_frame_within(Duration::from_millis(50)) {
            if t.tag() == Some("closed") && t.el(1).int() == Some(req.id) {
                break t.el(2).atom().unwrap().to_string();
            }
            assert_eq!(t.tag(), Some("stream_credit"), "unexpected {t}");
        }
    };
    assert_eq!(reason, "peer_closed");
}

/// Each deadline guards its own phase only: a slow handler is not an idle
/// connection, and a keep-alive pause is not a slow head.
#[test]
fn idle_and_header_timeouts_do_not_cut_other_phases() {
    let mut ferry = Ferry::start(&[("idle_timeout", int(200)), ("header_timeout", int(200)), ("handler_timeout", int(10_000))]);
    let mut client = ferry.client();
    client.send(get("/slow-handler"));
    let req = ferry.expect_request();
    thread::sleep(Duration::from_millis(600));
    ferry.respond(req.id, 200, &[], "worth the wait");
    assert_eq!(client.response().body, b"worth the wait");

    let mut ferry = Ferry::start(&[("idle_timeout", int(10_000)), ("header_timeout", int(200))]);
    let mut client = ferry.client();
    ferry.round_trip(&mut client, "/first");
    thread::sleep(Duration::from_millis(600));
    // a keep-alive pause is not a slow head
    ferry.round_trip(&mut client, "/after-a-pause");
}
