//! What the BEAM gets from a request head, and heads that RFC 9112 says a
//! server must refuse or stop at.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn header_values_are_passed_as_raw_bytes() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let mut head = b"GET /caf\xc3\xa9 HTTP/1.1\r\nhost: t\r\nx-name: J\xc3\xbcrgen\r\nx-empty:\r\nx-spaces:   padded value  \r\n\r\n".to_vec();
    client.send(&head);
    let req = ferry.expect_request();
    assert_eq!(req.header("x-name"), Some("Jürgen".as_bytes()));
    assert_eq!(req.header("x-empty"), Some(&b""[..]));
    assert_eq!(req.header("x-spaces"), Some(&b"padded value"[..]), "optional whitespace trimmed");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
    head.clear();
}

#[test]
fn large_head_under_the_default_limits_passes() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let mut head = format!("GET /{} HTTP/1.1\r\nhost: t\r\n", "a".repeat(4000));
    for i in 0..50 {
        head.push_str(&format!("x-h{i}: {}\r\n", "v".repeat(400)));
    }
    head.push_str("\r\n");
    client.send(&head);
    let req = ferry.expect_request();
    assert_eq!(req.headers.len(), 51);
    assert_eq!(req.path.len(), 4001);
    ferry.respond(req.id, 200, &[], "big head ok");
    assert_eq!(client.response().body, b"big head ok");
}

/// RFC 9112 §3.2: more than one Host field line is a 400.
#[test]
fn duplicate_host_is_400() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\n\r\n");
    let resp = client.try_response(false).expect("a 400");
    assert_eq!(resp.status, 400);
    client.expect_eof();
    ferry.refute_within("a request with two hosts", Duration::from_millis(100), |t| t.tag() == Some("request"));
}

#[test]
fn requests_after_connection_close_are_not_served() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("GET /last HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n{}", get("/ignored")));
    let req = ferry.expect_request();
    assert_eq!(req.path, b"/last");
    ferry.respond(req.id, 200, &[], "last");
    let resp = client.response();
    assert_eq!(resp.body, b"last");
    assert!(resp.closes());
    client.expect_eof();
    ferry.refute_within("a request after connection: close", Duration::from_millis(100), |t| t.tag() == Some("request"));
}

#[test]
fn http10_post_with_body() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("POST /form HTTP/1.0\r\ncontent-length: 7\r\n\r\na=1&b=2");
    let req = ferry.expect_request();
    assert_eq!(req.version, (1, 0));
    assert_eq!(req.body.as_deref(), Some(&b"a=1&b=2"[..]));
    ferry.respond(req.id, 200, &[], "posted");
    assert_eq!(client.response().body, b"posted");
    client.expect_eof();
}

#[test]
fn leading_empty_lines_before_a_request_are_ignored() {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!("\r\n{}", get("/after-crlf")));
    let req = ferry.expect_request();
    assert_eq!(req.path, b"/after-crlf");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

/// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
/// framing: the server may answer it but must close the connection after.
#[test]
fn http10_with_transfer_encoding_is_not_kept_alive() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(format!(
        "POST /te HTTP/1.0\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n{}",
        "GET /next HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"
    ));
    let resp = match ferry.next_frame_within(Duration::from_millis(500)) {
        Some(t) => {
            assert_eq!(t.tag(), Some("request"), "{t}");
            let req = Request::from_term(t);
            if req.body.is_none() {
                ferry.read_whole_body(req.id, 1024);
            }
            ferry.respond(req.id, 200, &[], "answered once");
            client.response()
        }
        None => client.try_response(false).expect("an answer or a 400"),
    };
    assert!(resp.status == 200 || resp.status == 400, "status {}", resp.status);
    if let Some(t) = ferry.next_frame_within(Duration::from_millis(300)) {
        panic!("after faulty HTTP/1.0 framing the connection was kept and served: {t}; response head {:?}", String::from_utf8_lossy(&resp.head));
    }
    client.expect_eof();
    ferry.refute_within("a request after faulty 1.0 framing", Duration::from_millis(100), |t| {
        t.tag() == Some("request")
    });
}

/// RFC 9112 §2.2, §5.2: bare CR, NUL and obsolete line folding in a header
/// value are refused with 400 (or folded to spaces); never handed on raw.
#[test]
fn bare_cr_nul_and_folding_never_reach_the_beam_raw() {
    let mut ferry = Ferry::start(&[]);
    for (head, raw) in [
        ("GET / HTTP/1.1\r\nhost: t\r\nx-a: one\rtwo\r\n\r\n", &b"one\rtwo"[..]),
        ("GET / HTTP/1.1\r\nhost: t\r\nx-a: one\0two\r\n\r\n", b"one\0two"),
        ("GET / HTTP/1.1\r\nhost: t\r\nx-a: one\r\n two\r\n\r\n", b"one\r\n two"),
    ] {
        let mut client = ferry.client();
        client.send(head);
        match ferry.next_frame_within(Duration::from_millis(300)) {
            Some(t) => {
                let req = Request::from_term(t);
                let value = req.header("x-a").unwrap_or(b"").to_vec();
                assert!(value != raw && !value.contains(&b'\r') && !value.contains(&0), "{head:?} passed on as {value:?}");
                ferry.respond(req.id, 200, &[], "");
                assert_eq!(client.response().status, 200);
            }
            None => {
                let resp = client.try_response(false).expect("a 400");
                assert_eq!(resp.status, 400, "{head:?}");
                client.expect_eof();
            }
        }
    }
}

/// RFC 9112 §3.2.2: the authority of an absolute-form target replaces the
/// Host field; the BEAM sees one `host`, the target's.
#[test]
fn absolute_form_authority_overrides_host() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET http://example.com:81/p?q HTTP/1.1\r\nx-before: 1\r\nHost: other.example\r\nx-after: 2\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!((req.path_str().as_str(), &req.query[..]), ("/p", &b"q"[..]));
    let hosts: Vec<_> = req.headers.iter().filter(|(k, _)| k == b"host").map(|(_, v)| v.clone()).collect();
    assert_eq!(hosts, vec![b"example.com:81".to_vec()], "one host field, the target's authority");
    assert_eq!(req.headers.len(), 3, "no field added or lost: {:?}", req.headers);
    assert_eq!(req.headers[1].0, b"host", "the host field keeps its place");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);

    // HTTP/1.0 needs no host field; the target's authority still names the host.
    let mut client = ferry.client();
    client.send("GET HTTPS://Example.org/ HTTP/1.0\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.header("host"), Some(&b"Example.org"[..]));
    assert_eq!(req.path, b"/");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);
}

/// An absolute-form target that names no host, carries user info
/// (RFC 9110 §4.2.4) or another scheme than http(s) is a 400.
#[test]
fn bad_absolute_form_targets_are_400() {
    let mut ferry = Ferry::start(&[]);
    for target in ["http:///p", "http://user@h/p", "http://", "ftp://h/p"] {
        let mut client = ferry.client();
        client.send(format!("GET {target} HTTP/1.1\r\nhost: t\r\n\r\n"));
        let resp = client.try_response(false).unwrap_or_else(|| panic!("no answer to {target}"));
        assert_eq!(resp.status, 400, "{target}");
        client.expect_eof();
    }
    ferry.refute_within("a request with a bad absolute-form target", Duration::from_millis(100), |t| t.tag() == Some("request"));
}
