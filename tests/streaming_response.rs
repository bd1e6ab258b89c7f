//! Responses from the BEAM: what Rust adds (date, framing), bodiless
//! responses, streamed bodies chunked or sized, `abort`, invalid responses,
//! `sent` events.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn respond_gets_date_and_content_length_added() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[("x-custom", "yes"), ("x-custom", "twice")], "hello, world");
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello, world");
    assert_eq!(resp.header("content-length"), Some("12"));
    assert_eq!(resp.headers_named("x-custom"), vec!["yes", "twice"], "handler headers kept, in order");
    let date = resp.header("date").expect("date header added");
    assert!(date.ends_with(" GMT") && date.len() == 29, "IMF-fixdate expected, got {date:?}");
    assert_eq!(resp.headers_named("date").len(), 1);
    assert!(resp.header("transfer-encoding").is_none());
}

#[test]
fn handler_date_and_length_are_not_duplicated() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/"));
    let req = ferry.expect_request();
    ferry.respond(
        req.id,
        200,
        &[("date", "Tue, 15 Nov 1994 08:12:31 GMT"), ("content-length", "2")],
        "ok",
    );
    let resp = client.response();
    assert_eq!(resp.headers_named("date"), vec!["Tue, 15 Nov 1994 08:12:31 GMT"]);
    assert_eq!(resp.headers_named("content-length"), vec!["2"]);
    assert_eq!(resp.body, b"ok");
}

#[test]
fn iodata_body_is_flattened() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/"));
    let req = ferry.expect_request();
    // Body as iolist: [<<"ab">>, [99, <<"d">>], []]
    let body = list(vec![bin("ab"), list(vec![int(99), bin("d")]), list(vec![])]);
    ferry.send(&tuple(vec![atom("respond"), int(req.id), int(200), header_list(&[]), body]));
    let resp = client.response();
    assert_eq!(resp.body, b"abcd");
}

#[test]
fn head_response_has_no_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("HEAD /doc HTTP/1.1\r\nhost: t\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.method, "HEAD");
    ferry.respond(req.id, 200, &[], "0123456789");
    let resp = client.head_response();
    assert_eq!(resp.status, 200);
    if let Some(cl) = resp.header("content-length") {
        assert_eq!(cl, "10", "HEAD announces the GET length");
    }
    // If body bytes were sent they would be read here instead of a response.
    client.send(get("/next"));
    ferry.answer_next("next");
    let next = client.response();
    assert_eq!(next.status, 200, "bytes after a HEAD response: {:?}", String::from_utf8_lossy(&next.head));
    assert_eq!(next.body, b"next");
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    for status in [204u16, 304] {
        client.send(get("/"));
        let req = ferry.expect_request();
        ferry.respond(req.id, status as i64, &[("etag", "\"v1\"")], "");
        let resp = client.response();
        assert_eq!(resp.status, status);
        assert!(resp.header("transfer-encoding").is_none(), "{status} with transfer-encoding");
        if status == 204 {
            assert!(resp.header("content-length").is_none(), "204 with content-length");
        }
    }
    // framing intact after 204/304
    ferry.round_trip(&mut client, "/after");
}

#[test]
fn streamed_response_is_chunked_with_trailers() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET /s HTTP/1.1\r\nhost: t\r\nte: trailers\r\n\r\n");
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[("content-type", "text/plain")]);
    ferry.stream_chunk(req.id, "first,");
    ferry.stream_chunk(req.id, "");
    ferry.send(&tuple(vec![atom("stream_chunk"), int(req.id), list(vec![bin("sec"), bin("ond")])]));
    ferry.stream_end(req.id, &[("x-checksum", "42")]);
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert!(resp.chunked, "no content-length: chunked on 1.1");
    assert!(resp.header("date").is_some());
    assert_eq!(resp.body, b"first,second");
    assert_eq!(resp.trailers, vec![("x-checksum".to_string(), "42".to_string())]);
    ferry.round_trip(&mut client, "/again");
}

#[test]
fn streamed_response_with_content_length_is_not_chunked() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/sized"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[("content-length", "6")]);
    ferry.stream_chunk(req.id, "abc");
    ferry.stream_chunk(req.id, "def");
    ferry.stream_end(req.id, &[]);
    let resp = client.response();
    assert!(!resp.chunked);
    assert!(resp.header("transfer-encoding").is_none());
    assert_eq!(resp.header("content-length"), Some("6"));
    assert_eq!(resp.body, b"abcdef");
    ferry.round_trip(&mut client, "/again");
}

#[test]
fn streamed_response_on_http10_closes_to_end_the_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET /old HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "part1 ");
    ferry.stream_chunk(req.id, "part2");
    ferry.stream_end(req.id, &[("x-ignored", "1")]);
    let resp = client.response();
    assert!(!resp.chunked, "HTTP/1.0 cannot be chunked");
    assert_eq!(resp.body, b"part1 part2", "body delimited by close");
}

#[test]
fn head_of_streamed_response_has_no_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("HEAD /s HTTP/1.1\r\nhost: t\r\n\r\n");
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "not for HEAD");
    ferry.stream_end(req.id, &[]);
    let resp = client.head_response();
    assert_eq!(resp.status, 200);
    client.send(get("/next"));
    ferry.answer_next("next");
    let next = client.response();
    assert_eq!(next.status, 200, "bytes after HEAD: {:?}", String::from_utf8_lossy(&next.head));
}

#[test]
fn abort_before_headers_is_a_500_and_keeps_the_connection() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/boom"));
    let req = ferry.expect_request();
    ferry.abort(req.id);
    let resp = client.response();
    assert_eq!(resp.status, 500);
    // GET had no body to read, so the connection is kept
    ferry.round_trip(&mut client, "/fine");
}

#[test]
fn abort_with_an_unread_body_is_a_500_and_closes() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    let mut client = ferry.client();
    client.send("PUT /x HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello");
    let req = ferry.expect_request();
    ferry.abort(req.id);
    let resp = client.response();
    assert_eq!(resp.status, 500);
    assert!(resp.closes(), "body unread: connection: close expected");
    client.expect_eof();
}

#[test]
fn abort_after_headers_closes_the_connection() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/half"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "partial");
    // The client has the head and the first chunk before the handler fails.
    let head = client.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let (size, _) = client.chunk_header();
    assert_eq!(client.read_exact_bytes(size + 2), b"partial\r\n");
    ferry.abort(req.id);
    let rest = client.read_to_eof();
    assert!(rest.is_empty(), "nothing after an abort, above all no last chunk: {:?}", String::from_utf8_lossy(&rest));
}

/// stream_start, a chunk and abort arrive together: either the head goes out
/// and the connection closes mid-body, or nothing had been written and the
/// client gets a 500. A bare close with no status at all is neither.
#[test]
fn abort_right_after_stream_start_is_a_500_or_a_truncated_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/half"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "partial");
    ferry.abort(req.id);
    let Some(head) = client.try_head() else {
        panic!("aborted stream: the client got a bare close, neither a 500 nor the head that was queued");
    };
    match head.status {
        500 => {}
        200 => {
            let rest = client.read_to_eof();
            assert!(!rest.ends_with(b"0\r\n\r\n"), "an aborted body must not look complete");
        }
        other => panic!("status {other} for an aborted stream"),
    }
}

#[test]
fn crlf_in_response_header_is_a_protocol_error_and_a_500() {
    for (name, value) in [("x-evil", "a\r\nset-cookie: injected=1"), ("x-evil\r\ninjected", "1"), ("x-nul", "a\0b")] {
        let mut ferry = Ferry::start(&[]);
        let mut client = ferry.client();
        client.send(get("/inject"));
        let req = ferry.expect_request();
        ferry.respond(req.id, 200, &[(name, value)], "body");
        let err = ferry.expect_for("protocol_error", req.id);
        assert!(err.el(2).bin().is_some_and(|m| !m.is_empty()), "message binary: {err}");
        let resp = client.response();
        assert_eq!(resp.status, 500);
        assert!(
            !String::from_utf8_lossy(&resp.head).contains("injected"),
            "the header was written: {:?}",
            String::from_utf8_lossy(&resp.head)
        );
    }
}

#[test]
fn invalid_status_and_wrong_content_length_are_protocol_errors() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    for (status, headers, body) in [(1000i64, vec![], "x"), (42, vec![], "x"), (200, vec![("content-length", "10")], "short")] {
        client.send(get("/bad"));
        let req = ferry.expect_request();
        ferry.respond(req.id, status, &headers, body);
        ferry.expect_for("protocol_error", req.id);
        let resp = client.response();
        assert_eq!(resp.status, 500, "status {status} headers {headers:?}");
        if resp.closes() {
            client = ferry.client();
        }
    }
}

#[test]
fn sent_event_counts_every_byte_written() {
    let mut ferry = Ferry::start(&[("sent_events", atom("true"))]);
    let mut client = ferry.client();
    client.send(get("/counted"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 201, &[], "twelve bytes");
    let resp = client.response();
    let sent = ferry.expect_for("sent", req.id);
    let info = sent.el(2);
    assert_eq!(info.get("status").and_then(|s| s.int()), Some(201));
    assert_eq!(
        info.get("bytes").and_then(|b| b.int()),
        Some((resp.head.len() + resp.body.len()) as i64),
        "bytes counts head and body: {sent}"
    );
    assert!(info.get("duration_us").and_then(|d| d.int()).is_some_and(|d| d >= 0));

    // A streamed response is reported too, once its end is written.
    client.send(get("/streamed"));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.stream_chunk(req.id, "abc");
    ferry.stream_end(req.id, &[]);
    client.response();
    let sent = ferry.expect_for("sent", req.id);
    assert_eq!(sent.el(2).get("status").and_then(|s| s.int()), Some(200));
}

#[test]
fn no_sent_events_unless_asked() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/quiet"));
    ferry.answer_next("q");
    client.response();
    ferry.refute_within("a sent event", Duration::from_millis(300), |t| t.tag() == Some("sent"));
}

#[test]
fn informational_response_then_the_final_one() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/hints"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 103, &[("link", "</style.css>; rel=preload")], "");
    ferry.respond(req.id, 200, &[], "final");
    let early = client.response();
    assert_eq!(early.status, 103);
    assert_eq!(early.header("link"), Some("</style.css>; rel=preload"));
    let last = client.response();
    assert_eq!(last.status, 200);
    assert_eq!(last.body, b"final");
}

#[test]
fn status_101_is_refused_in_protocol_version_1() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET /ws HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n");
    let req = ferry.expect_request();
    ferry.respond(req.id, 101, &[("upgrade", "websocket")], "");
    ferry.expect_for("protocol_error", req.id);
    assert_eq!(client.response().status, 500);
}
