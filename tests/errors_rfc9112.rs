//! Every error status of docs/PROTOCOL.md "Errors the client sees", each
//! limit checked on both sides of its boundary (RFC 9112 §2.3, §3, §5, §6).

mod support;

use std::time::Duration;
use support::*;

/// Sends `request` and checks the client gets `status`, `connection: close`
/// and then a closed connection; returns the response.
fn expect_rejected(ferry: &mut Ferry, request: &[u8], status: u16) -> Response {
    let mut client = ferry.client();
    client.try_send(request);
    let resp = client.try_response(false).unwrap_or_else(|| {
        panic!("closed without a {status} for {:?}", String::from_utf8_lossy(&request[..request.len().min(200)]))
    });
    assert_eq!(
        resp.status,
        status,
        "for {:?}: {:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)]),
        String::from_utf8_lossy(&resp.head)
    );
    assert!(resp.closes(), "error {status} without connection: close: {:?}", String::from_utf8_lossy(&resp.head));
    client.expect_eof();
    resp
}

/// The head is refused before it reaches the BEAM: no request frame at all.
fn expect_rejected_before_beam(ferry: &mut Ferry, request: &[u8], status: u16) {
    expect_rejected(ferry, request, status);
    ferry.refute_within("a request for a rejected head", Duration::from_millis(100), |t| t.tag() == Some("request"));
}

/// Sends `request`; it must reach the BEAM and get its 200.
fn expect_accepted(ferry: &mut Ferry, request: &[u8]) -> Request {
    let mut client = ferry.client();
    client.send(request);
    let req = ferry.expect_request();
    if req.body.is_none() {
        ferry.read_whole_body(req.id, 1 << 20);
    }
    ferry.respond(req.id, 200, &[], "accepted");
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"accepted");
    req
}

fn request_line_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1".len();
    let line = format!("GET /{} HTTP/1.1", "a".repeat(len - fixed));
    assert_eq!(line.len(), len);
    format!("{line}\r\nhost: t\r\n\r\n").into_bytes()
}

#[test]
fn request_line_at_the_limit_passes_one_more_is_414() {
    let mut ferry = Ferry::start(&[("max_request_line", int(100))]);
    let req = expect_accepted(&mut ferry, &request_line_of(100));
    assert_eq!(req.path.len(), 100 - "GET  HTTP/1.1".len());
    expect_rejected_before_beam(&mut ferry, &request_line_of(101), 414);
    // Far over the limit, and without ever finishing the line.
    let long = format!("GET /{}", "b".repeat(10_000));
    expect_rejected_before_beam(&mut ferry, long.as_bytes(), 414);
}

fn with_header_count(n: usize) -> Vec<u8> {
    let mut r = String::from("GET / HTTP/1.1\r\nhost: t\r\n");
    for i in 1..n {
        r.push_str(&format!("x-h{i}: v\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// Past 64 fields Ferry parses again with a heap array: the boundary holds there too.
#[test]
fn header_count_boundary_at_the_default_and_past_the_stack_array() {
    let mut ferry = Ferry::start(&[]);
    let req = expect_accepted(&mut ferry, &with_header_count(100));
    assert_eq!(req.headers.len(), 100, "default max_headers is 100 (docs/OPTIONS.md)");
    expect_rejected_before_beam(&mut ferry, &with_header_count(101), 431);
    let mut ferry = Ferry::start(&[("max_headers", int(300))]);
    let req = expect_accepted(&mut ferry, &with_header_count(300));
    assert_eq!(req.headers.len(), 300);
    assert_eq!(req.headers[299].0, b"x-h299", "order kept past the stack array");
    expect_rejected_before_beam(&mut ferry, &with_header_count(301), 431);
}

#[test]
fn header_count_at_the_limit_passes_one_more_is_431() {
    let mut ferry = Ferry::start(&[("max_headers", int(20))]);
    let req = expect_accepted(&mut ferry, &with_header_count(20));
    assert_eq!(req.headers.len(), 20);
    expect_rejected_before_beam(&mut ferry, &with_header_count(21), 431);
}

/// A head whose header section (after the request line's CRLF, final empty
/// line included) is exactly `bytes` long.
fn with_header_bytes(bytes: usize) -> Vec<u8> {
    let overhead = "host: t\r\n".len() + "x-pad: \r\n".len() + "\r\n".len();
    let section = format!("host: t\r\nx-pad: {}\r\n\r\n", "p".repeat(bytes - overhead));
    assert_eq!(section.len(), bytes);
    format!("GET / HTTP/1.1\r\n{section}").into_bytes()
}

#[test]
fn header_bytes_at_the_limit_pass_one_more_is_431() {
    let mut ferry = Ferry::start(&[("max_header_bytes", int(500))]);
    expect_accepted(&mut ferry, &with_header_bytes(500));
    expect_rejected_before_beam(&mut ferry, &with_header_bytes(501), 431);
    // A head that never ends.
    let endless = format!("GET / HTTP/1.1\r\nhost: t\r\nx-pad: {}", "p".repeat(5000));
    expect_rejected_before_beam(&mut ferry, endless.as_bytes(), 431);
}

#[test]
fn malformed_heads_are_400() {
    let mut ferry = Ferry::start(&[]);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nhost t\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost : t\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: t\r\nx\0y: 1\r\n\r\n",
    ] {
        expect_rejected_before_beam(&mut ferry, bad, 400);
    }
}

#[test]
fn missing_host_on_http11_is_400() {
    let mut ferry = Ferry::start(&[]);
    expect_rejected_before_beam(&mut ferry, b"GET / HTTP/1.1\r\naccept: */*\r\n\r\n", 400);
    let req = expect_accepted(&mut ferry, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(req.version, (1, 0), "HTTP/1.0 needs no host");
}

#[test]
fn unknown_transfer_encoding_is_501() {
    let mut ferry = Ferry::start(&[]);
    for te in ["gzip", "gzip, chunked", "x-custom"] {
        let r = format!("POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: {te}\r\n\r\n0\r\n\r\n");
        expect_rejected_before_beam(&mut ferry, r.as_bytes(), 501);
    }
    // Case-insensitive chunked is fine.
    let req = expect_accepted(&mut ferry, b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
    assert_eq!(req.method, "POST");
}

#[test]
fn unsupported_http_version_is_505() {
    let mut ferry = Ferry::start(&[]);
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/3.0"] {
        let r = format!("GET / {v}\r\nhost: t\r\n\r\n");
        expect_rejected_before_beam(&mut ferry, r.as_bytes(), 505);
    }
}

/// Only a well-formed `HTTP/x.y` is a version Ferry may not support (505);
/// a request line that is not `method SP target SP version` is a 400, even
/// when its last word looks like a version (RFC 9112 §3).
#[test]
fn malformed_request_lines_are_400_not_505() {
    let mut ferry = Ferry::start(&[]);
    for line in [
        "GET /hel lo HTTP/1.1",
        "GET /a b c HTTP/2.0",
        "GET / x HTTP/1.1",
        "GET / HTTP/2",
        "GET / HTTP/1.10",
        "GET / http/1.1",
    ] {
        expect_rejected_before_beam(&mut ferry, format!("{line}\r\nhost: t\r\n\r\n").as_bytes(), 400);
    }
}

/// RFC 9112 §2.2 lets a server accept a bare LF as a line end; Ferry does
/// not, in heads as in chunked framing: one rule, CRLF only.
#[test]
fn bare_lf_in_a_head_is_400() {
    let mut ferry = Ferry::start(&[]);
    for head in [
        &b"GET / HTTP/1.1\nhost: t\n\n"[..],
        b"GET / HTTP/1.1\r\nhost: t\n\r\n",
        b"GET / HTTP/1.1\r\nhost: t\r\n\n",
        b"GET / HTTP/1.1\nhost: t\r\n\r\n",
        b"\nGET / HTTP/1.1\r\nhost: t\r\n\r\n",
        b"GET / HTTP/1.0\n\n",
    ] {
        expect_rejected_before_beam(&mut ferry, head, 400);
    }
    expect_accepted(&mut ferry, b"\r\nGET / HTTP/1.1\r\nhost: t\r\n\r\n");
}

/// A fragment is the client's business, never sent (RFC 9110 §4.2.5): a
/// target carrying one is a 400.
#[test]
fn fragment_in_the_target_is_400() {
    let mut ferry = Ferry::start(&[]);
    for target in ["/p#frag", "/p?q=1#f", "#", "http://h/p#f"] {
        expect_rejected_before_beam(&mut ferry, format!("GET {target} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes(), 400);
    }
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_nothing_is_smuggled() {
    let mut ferry = Ferry::start(&[]);
    let smuggle = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n\
        0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: t\r\n\r\n";
    expect_rejected_before_beam(&mut ferry, smuggle, 400);
    let reversed = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\ncontent-length: 40\r\n\r\n\
        0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: t\r\n\r\n";
    expect_rejected_before_beam(&mut ferry, reversed, 400);
}

#[test]
fn conflicting_content_lengths_are_400_and_nothing_is_smuggled() {
    let mut ferry = Ferry::start(&[]);
    let two = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ncontent-length: 30\r\n\r\n\
        helloGET /smuggled HTTP/1.1\r\nhost: t\r\n\r\n";
    expect_rejected_before_beam(&mut ferry, two, 400);
    let listed = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5, 30\r\n\r\nhello";
    expect_rejected_before_beam(&mut ferry, listed, 400);
    for bad in ["abc", "-1", "+5", "99999999999999999999999"] {
        let r = format!("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: {bad}\r\n\r\nhello");
        expect_rejected_before_beam(&mut ferry, r.as_bytes(), 400);
    }
}

#[test]
fn body_at_max_body_passes_one_more_is_413() {
    let mut ferry = Ferry::start(&[("max_body", int(1000))]);
    let at = [format!("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n").into_bytes(), vec![b'x'; 1000]].concat();
    let req = expect_accepted(&mut ferry, &at);
    assert!(req.body.as_ref().is_none_or(|b| b.len() == 1000));
    let over = [format!("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 1001\r\n\r\n").into_bytes(), vec![b'x'; 1001]].concat();
    expect_rejected_before_beam(&mut ferry, &over, 413);
}

#[test]
fn chunked_body_growing_past_max_body_is_413_and_closed_too_large() {
    let mut ferry = Ferry::start(&[("max_body", int(1000)), ("inline_body", int(0))]);
    let mut client = ferry.client();
    let mut r = b"POST /grow HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        r.extend_from_slice(format!("{:x}\r\n{}\r\n", 400, "y".repeat(400)).as_bytes());
    }
    r.extend_from_slice(b"0\r\n\r\n");
    client.try_send(&r);
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    ferry.read_body(req.id, 1 << 20);
    let mut forwarded = 0;
    let reason = loop {
        let t = ferry.expect("body or closed", |t| {
            matches!(t.tag(), Some("body") | Some("closed") | Some("body_end")) && t.el(1).int() == Some(req.id)
        });
        match t.tag() {
            Some("body") => forwarded += t.el(2).bin().unwrap().len(),
            Some("closed") => break t.el(2).atom().unwrap().to_string(),
            _ => panic!("body over max_body completed: {t}"),
        }
    };
    assert_eq!(reason, "too_large");
    assert!(forwarded <= 1000, "{forwarded} body bytes forwarded past max_body");
    let resp = client.try_response(false).expect("a 413");
    assert_eq!(resp.status, 413);
    client.expect_eof();
}

/// Chunked bodies that break the grammar: 400 and `{closed, Id, bad_body}`.
#[test]
fn malformed_chunked_bodies_are_400_bad_body() {
    let mut ferry = Ferry::start(&[("inline_body", int(0))]);
    for body in [
        "zz\r\nhello\r\n0\r\n\r\n",
        "fffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
    ] {
        let mut client = ferry.client();
        client.try_send(format!("POST /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n{body}"));
        // With inline_body => 0 the request is dispatched before its body is
        // decoded; match it by the client's port, not by arrival order.
        let port = client.local_port() as i64;
        let t = ferry.expect("the request of this client", |t| {
            t.tag() == Some("request") && t.el(2).get("peer").is_some_and(|p| p.el(1).int() == Some(port))
        });
        let req = Request::from_term(t);
        ferry.read_body(req.id, 1 << 20);
        let t = ferry.expect(&format!("closed for {body:?}"), |t| {
            matches!(t.tag(), Some("closed") | Some("body_end")) && t.el(1).int() == Some(req.id)
        });
        assert_eq!(t.tag(), Some("closed"), "malformed chunked body {body:?} accepted");
        assert_eq!(t.el(2).atom(), Some("bad_body"));
        let resp = client.try_response(false).expect("a 400");
        assert_eq!(resp.status, 400, "for {body:?}");
        client.expect_eof();
    }
}

#[test]
fn error_responses_are_well_formed_http() {
    let mut ferry = Ferry::start(&[]);
    let resp = expect_rejected(&mut ferry, b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_eq!(resp.minor_version, 1);
    assert!(resp.header("date").is_some());
    assert!(resp.header("content-length").is_some(), "error responses are sized");
}

/// RFC 9112 §6.1: chunked applied twice is not a framing anyone can trust.
#[test]
fn chunked_twice_is_refused() {
    let mut ferry = Ferry::start(&[]);
    for te in ["chunked, chunked", "chunked\r\ntransfer-encoding: chunked"] {
        let r = format!("POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: {te}\r\n\r\n0\r\n\r\n");
        let mut client = ferry.client();
        client.try_send(r.as_bytes());
        let resp = client.try_response(false).expect("an error status");
        assert!(resp.status == 400 || resp.status == 501, "{te:?}: {}", resp.status);
        client.expect_eof();
    }
    ferry.refute_within("a request with chunked twice", Duration::from_millis(100), |t| t.tag() == Some("request"));
}
