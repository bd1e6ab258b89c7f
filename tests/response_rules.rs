//! What Rust refuses in the BEAM's responses (docs/PROTOCOL.md "Responses"):
//! header injection through names, values and trailers, bodies that do not
//! match their content-length, commands out of order.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn header_names_that_are_not_tokens_are_refused() {
    for name in ["x bad", "x-a: injected", "", "x\u{7f}"] {
        let mut ferry = Ferry::start(&[]);
        let mut client = ferry.client();
        client.send(get("/"));
        let req = ferry.expect_request();
        ferry.respond(req.id, 200, &[(name, "v")], "body");
        ferry.expect_for("protocol_error", req.id);
        let resp = client.response();
        assert_eq!(resp.status, 500, "name {name:?}");
        assert!(resp.header("x-a").is_none());
    }
}

#[test]
fn trailer_injection_is_refused_and_the_body_left_incomplete() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/t"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "data");
    ferry.stream_end(req.id, &[("x-sum", "1\r\nx-injected: yes")]);
    ferry.expect_for("protocol_error", req.id);
    let head = client.head();
    assert_eq!(head.status, 200);
    // The head is out: PROTOCOL.md says the connection is closed. Read what
    // comes until then (or until the server goes quiet).
    let rest = client.drain_available(Duration::from_millis(200));
    let rest = String::from_utf8_lossy(&rest).into_owned();
    assert!(!rest.contains("x-injected"), "injected trailer written: {rest:?}");
    assert!(client.closed_within(Duration::from_millis(1500)), "invalid trailers after the head: the connection should close; got {rest:?} and an open connection");
}

#[test]
fn stream_longer_than_its_content_length_is_cut() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/long"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[("content-length", "4")]);
    ferry.stream_chunk(req.id, "abcdefgh");
    ferry.stream_end(req.id, &[]);
    ferry.expect_for("protocol_error", req.id);
    // Whatever the client got, nothing beyond the 4 announced bytes may follow
    // on this connection (it would be read as the next response).
    if let Some(head) = client.try_head() {
        assert_eq!(head.status, 200);
        let rest = client.read_to_eof();
        assert!(rest.len() <= 4, "{} bytes after a 4-byte content-length", rest.len());
    }
}

#[test]
fn stream_shorter_than_its_content_length_closes() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/short"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[("content-length", "10")]);
    ferry.stream_chunk(req.id, "abc");
    ferry.stream_end(req.id, &[]);
    ferry.expect_for("protocol_error", req.id);
    let head = client.head();
    assert_eq!(head.header("content-length"), Some("10"));
    let rest = client.read_to_eof();
    assert_eq!(rest, b"abc", "the connection must close after the short body");
}

#[test]
fn stream_chunk_before_stream_start_is_refused() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/order"));
    let req = ferry.expect_request();
    ferry.stream_chunk(req.id, "too early");
    ferry.expect_for("protocol_error", req.id);
    let resp = client.response();
    assert_eq!(resp.status, 500, "an invalid response is a 500");
    assert!(!resp.body_str().contains("too early"));
}

#[test]
fn respond_or_stream_start_during_a_stream_never_reach_the_client() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/order"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "first ");
    ferry.respond(req.id, 200, &[], "not now");
    ferry.stream_start(req.id, 201, &[]);
    ferry.stream_chunk(req.id, "second");
    ferry.stream_end(req.id, &[]);
    let refused = ferry.stat("protocol_errors") + ferry.stat("ignored_commands");
    assert!(refused >= 2, "respond and stream_start inside a stream: {refused} refused or ignored");
    let head = client.head();
    assert_eq!(head.status, 200);
    let rest = client.drain_available(Duration::from_millis(300));
    let rest = String::from_utf8_lossy(&rest).into_owned();
    for stray in ["not now", "HTTP/1.1 201"] {
        assert!(!rest.contains(stray), "{stray:?} reached the client: {rest:?}");
    }
}

#[test]
fn stream_sent_event_counts_the_chunked_bytes() {
    let mut ferry = Ferry::start(&[("sent_events", atom("true"))]);
    let mut client = ferry.client();
    client.send(get("/counted"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "0123456789");
    ferry.stream_chunk(req.id, "abc");
    ferry.stream_end(req.id, &[("x-t", "1")]);
    let head = client.head();
    assert!(head.header("transfer-encoding").is_some());
    let mut wire = head.head.clone();
    let (body, _) = client.chunked_body();
    assert_eq!(body, b"0123456789abc");
    // Rebuild the exact bytes: read them again from a second identical response.
    let sent = ferry.expect_for("sent", req.id);
    let bytes = sent.el(2).get("bytes").and_then(|b| b.int()).unwrap() as usize;
    wire.extend_from_slice(b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n");
    assert_eq!(bytes, wire.len(), "sent bytes vs. the chunked response (head {} bytes)", head.head.len());
}

#[test]
fn stalled_inline_body_is_408() {
    let mut ferry = Ferry::start(&[("idle_timeout", int(300))]);
    let mut client = ferry.client();
    client.send("POST /stall HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly ten b");
    let resp = client.try_response(false).expect("a 408");
    assert_eq!(resp.status, 408);
    client.expect_eof();
    ferry.refute_within("a request whose body never came", Duration::from_millis(100), |t| {
        t.tag() == Some("request") && t.el(2).get("body").and_then(|b| b.bin()).is_some()
    });
}

/// A HEAD response announces the length a GET would have: content-length
/// with an empty body is right there, not a disagreement.
#[test]
fn head_response_may_announce_a_length_without_a_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("HEAD /big HTTP/1.1\r\nhost: t\r\n\r\n");
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("content-length", "1000")], "");
    let resp = client.head_response();
    assert_eq!(resp.status, 200, "{:?}", String::from_utf8_lossy(&resp.head));
    assert_eq!(resp.header("content-length"), Some("1000"));
    ferry.round_trip(&mut client, "/after-head");
    // The same for 304 Not Modified on a GET.
    client.send(get("/cached"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 304, &[("content-length", "1000"), ("etag", "\"x\"")], "");
    let resp = client.response();
    assert_eq!(resp.status, 304, "{:?}", String::from_utf8_lossy(&resp.head));
    ferry.round_trip(&mut client, "/after-304");
}

#[test]
fn handler_connection_close_is_honoured() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/bye"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("connection", "close")], "bye");
    let resp = client.response();
    assert_eq!(resp.body, b"bye");
    assert_eq!(resp.headers_named("connection"), vec!["close"], "one connection header");
    client.expect_eof();
}

#[test]
fn handler_transfer_encoding_is_replaced_by_rusts_framing() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/te"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("transfer-encoding", "chunked")], "abc");
    let resp = client.response();
    assert_eq!(resp.body, b"abc");
    assert!(resp.headers_named("transfer-encoding").len() <= 1, "{:?}", String::from_utf8_lossy(&resp.head));
    ferry.round_trip(&mut client, "/after");
}

/// The raw bytes of the response to a `connection: close` request whose
/// handler answers with `status`, `headers` and `body` (for heads the
/// strict client would refuse, and for what must not be on the wire).
fn raw_response(ferry: &mut Ferry, request: &str, status: i64, headers: &[(&str, &str)], body: &str) -> (String, i64) {
    let mut client = ferry.client();
    client.send(request);
    let req = ferry.expect_request();
    ferry.respond(req.id, status, headers, body);
    (String::from_utf8_lossy(&client.read_to_eof()).into_owned(), req.id)
}

fn close_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
}

/// Exactly one content-length of digits only, equal to the body (RFC 9110
/// §8.6): anything else is the handler's error and never reaches the wire.
#[test]
fn handler_content_length_must_be_one_field_of_digits_equal_to_the_body() {
    let mut ferry = Ferry::start(&[]);
    let cases: &[&[(&str, &str)]] = &[
        &[("content-length", "50"), ("content-length", "3")],
        &[("content-length", "3"), ("Content-Length", "3")],
        &[("content-length", "+3")],
        &[("content-length", " 3 ")],
        &[("content-length", "3 ")],
        &[("content-length", "3, 3")],
        &[("content-length", "")],
        &[("content-length", "-3")],
        &[("content-length", "0x3")],
        &[("content-length", "99999999999999999999999")],
    ];
    for headers in cases {
        let (wire, id) = raw_response(&mut ferry, &close_request("/cl"), 200, headers, "abc");
        ferry.expect_for("protocol_error", id);
        assert_eq!(ferry.expect_closed(id), "protocol_error");
        assert!(wire.starts_with("HTTP/1.1 500 "), "{headers:?} gave {wire:?}");
        for (_, value) in *headers {
            assert!(!wire.contains(&format!("ength: {value}\r\n")), "{headers:?}: the handler's value is on the wire: {wire:?}");
        }
        assert!(!wire.contains("abc"), "{headers:?}: the handler's body is on the wire: {wire:?}");
    }
    // The same rule for the length a stream announces.
    for value in ["+3", " 3", "3,3", "3, 3"] {
        let mut client = ferry.client();
        client.send(close_request("/stream-cl"));
        let req = ferry.expect_request();
        ferry.stream_start(req.id, 200, &[("content-length", value)]);
        ferry.expect_for("protocol_error", req.id);
        let wire = String::from_utf8_lossy(&client.read_to_eof()).into_owned();
        assert!(wire.starts_with("HTTP/1.1 500 "), "stream_start with content-length {value:?} gave {wire:?}");
    }
    // One field of digits equal to the body goes out as given.
    let (wire, _) = raw_response(&mut ferry, &close_request("/ok"), 200, &[("content-length", "3")], "abc");
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n") && wire.ends_with("\r\n\r\nabc"), "{wire:?}");
    assert_eq!(wire.matches("content-length").count(), 1, "{wire:?}");
}

/// RFC 9110 §15.2: a server must not send a 1xx response to an HTTP/1.0
/// client. The request stays open for its final response.
#[test]
fn informational_response_to_http10_is_not_written() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET /early HTTP/1.0\r\n\r\n");
    let req = ferry.expect_request();
    ferry.respond(req.id, 103, &[("link", "</style.css>; rel=preload")], "");
    ferry.respond(req.id, 200, &[], "final");
    let wire = String::from_utf8_lossy(&client.read_to_eof()).into_owned();
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire:?}");
    assert!(!wire.contains("103") && !wire.contains("link:"), "a 1xx reached an HTTP/1.0 client: {wire:?}");
    assert!(wire.ends_with("\r\n\r\nfinal"), "{wire:?}");
}

/// The `connection` header is Rust's: it says what Rust will do.
#[test]
fn connection_header_on_the_wire_is_rusts() {
    let mut ferry = Ferry::start(&[]);
    // The client closes; a handler's keep-alive must not say otherwise.
    let (wire, _) = raw_response(&mut ferry, &close_request("/a"), 200, &[("connection", "keep-alive")], "a");
    let fields: Vec<&str> = wire.lines().filter(|l| l.to_ascii_lowercase().starts_with("connection:")).collect();
    assert_eq!(fields, vec!["connection: close"], "{wire:?}");

    // Other connection fields of the handler's are dropped on a kept connection.
    let mut client = ferry.client();
    for value in ["keep-alive", "upgrade", "x-hop"] {
        client.send(get("/kept"));
        let req = ferry.expect_request();
        ferry.respond(req.id, 200, &[("connection", value), ("Connection", "keep-alive")], "k");
        let resp = client.response();
        assert!(resp.headers_named("connection").is_empty(), "{value}: {:?}", String::from_utf8_lossy(&resp.head));
    }
    // A close token anywhere in the handler's fields closes, said once.
    client.send(get("/bye"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("connection", "upgrade"), ("connection", "x, Close")], "bye");
    let resp = client.response();
    assert_eq!(resp.headers_named("connection"), vec!["close"], "{:?}", String::from_utf8_lossy(&resp.head));
    client.expect_eof();

    // HTTP/1.0 kept alive: Rust says keep-alive, once.
    let mut client = ferry.client();
    client.send("GET /old HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("connection", "upgrade")], "old");
    let resp = client.response();
    assert_eq!(resp.headers_named("connection"), vec!["keep-alive"], "{:?}", String::from_utf8_lossy(&resp.head));
}
