//! Pipelining (RFC 9112 §9.3.2): requests sent back to back on one
//! connection are answered in the order they were sent, whatever order the
//! BEAM answers in.

mod support;

use std::time::Duration;
use support::*;

/// Answers every request that has arrived, newest first, until `n` are answered.
/// Ferry may hand over one request at a time (then the order is forced) or
/// several (then answering in reverse checks that it reorders them).
fn answer_in_reverse(ferry: &mut Ferry, n: usize) -> Vec<Request> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let mut batch = vec![ferry.expect_request()];
        while let Some(t) = ferry.next_frame_within(Duration::from_millis(200)) {
            assert_eq!(t.tag(), Some("request"), "unexpected frame {t}");
            batch.push(Request::from_term(t));
        }
        for req in batch.iter().rev() {
            ferry.respond(req.id, 200, &[], format!("answer to {}", req.path_str()));
        }
        seen.extend(batch);
    }
    seen
}

#[test]
fn pipelined_gets_are_answered_in_order() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("{}{}{}", get("/a"), get("/b"), get("/c")));
    let reqs = answer_in_reverse(&mut ferry, 3);
    let paths: Vec<String> = reqs.iter().map(|r| r.path_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c"], "requests reach the BEAM in order");
    for path in ["/a", "/b", "/c"] {
        let resp = client.response();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body_str(), format!("answer to {path}"));
    }
    assert!(!client.closed_within(Duration::from_millis(100)), "connection stays open");
}

#[test]
fn pipelined_bodies_do_not_bleed_into_the_next_request() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(
        "POST /one HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhelloGET /two HTTP/1.1\r\nhost: t\r\n\r\n\
         POST /three HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
         GET /four HTTP/1.1\r\nhost: t\r\n\r\n",
    );
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let req = ferry.expect_request();
        let body = match req.body.clone() {
            Some(b) => b,
            None => ferry.read_whole_body(req.id, 1024).0,
        };
        bodies.push((req.path_str(), String::from_utf8(body).unwrap()));
        ferry.respond(req.id, 200, &[], req.path_str());
    }
    assert_eq!(
        bodies,
        [("/one", "hello"), ("/two", ""), ("/three", "abc"), ("/four", "")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for path in ["/one", "/two", "/three", "/four"] {
        assert_eq!(client.response().body_str(), path);
    }
}

#[test]
fn pipelined_head_then_get_keeps_framing() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("HEAD /h HTTP/1.1\r\nhost: t\r\n\r\n{}", get("/g")));
    let head = ferry.expect_request();
    assert_eq!(head.method, "HEAD");
    ferry.respond(head.id, 200, &[], "this body must not be sent");
    let get_req = ferry.expect_request();
    assert_eq!(get_req.path, b"/g");
    ferry.respond(get_req.id, 200, &[], "real body");
    let r1 = client.head_response();
    assert_eq!(r1.status, 200);
    let r2 = client.response();
    assert_eq!(r2.status, 200, "the HEAD body leaked into the stream: {:?}", String::from_utf8_lossy(&r2.head));
    assert_eq!(r2.body, b"real body");
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let n = 50;
    let all: String = (0..n).map(|i| get(&format!("/p{i}"))).collect();
    client.send(all);
    for i in 0..n {
        let req = ferry.expect_request();
        assert_eq!(req.path_str(), format!("/p{i}"));
        ferry.respond(req.id, 200, &[], format!("{i}"));
    }
    for i in 0..n {
        assert_eq!(client.response().body_str(), format!("{i}"));
    }
}

/// A body the handler never read must be skipped (or the connection closed):
/// its bytes are never parsed as the next request, even when they look like one.
#[test]
fn unread_body_is_never_parsed_as_a_request() {
    let mut ferry = Ferry::start(&[("inline_body", int(16))]);
    let mut client = ferry.client();
    let smuggled = "GET /smuggled HTTP/1.1\r\nhost: t\r\n\r\n".repeat(20);
    client.send(format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{smuggled}", smuggled.len()));
    let req = ferry.expect_request();
    assert_eq!(req.body, None, "over inline_body: streamed");
    ferry.respond(req.id, 413, &[], "not reading that");
    let resp = client.response();
    assert_eq!(resp.status, 413);
    if !resp.closes() {
        client.send(get("/after"));
        let next = ferry.expect_request();
        assert_eq!(next.path, b"/after", "body bytes were parsed as a request");
        ferry.respond(next.id, 200, &[], "after");
        assert_eq!(client.response().body, b"after");
    } else {
        client.expect_eof();
    }
    ferry.refute_within("a smuggled request", Duration::from_millis(200), |t| {
        t.tag() == Some("request") && t.el(2).get("path").and_then(|p| p.bin()) == Some(b"/smuggled")
    });
}

/// A pipelined request behind a streamed response waits for the stream's end.
#[test]
fn pipelined_request_behind_a_stream_is_answered_after_it() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("{}{}", get("/stream"), get("/after")));
    let s = ferry.expect_request();
    assert_eq!(s.path, b"/stream");
    ferry.stream_start(s.id, 200, &[]);
    ferry.stream_chunk(s.id, "one ");
    // If Ferry hands /after over already, answer it before the stream ends.
    let early = ferry.receive_within(Duration::from_millis(200), |t| t.tag() == Some("request")).map(Request::from_term);
    if let Some(a) = &early {
        assert_eq!(a.path, b"/after");
        ferry.respond(a.id, 200, &[], "after");
    }
    ferry.stream_chunk(s.id, "two");
    ferry.stream_end(s.id, &[]);
    if early.is_none() {
        let a = ferry.expect_request();
        assert_eq!(a.path, b"/after");
        ferry.respond(a.id, 200, &[], "after");
    }
    assert_eq!(client.response().body, b"one two");
    assert_eq!(client.response().body, b"after");
}
