//! Keep-alive (RFC 9112 §9.3): persistent by default on HTTP/1.1, only with
//! `connection: keep-alive` on HTTP/1.0, and what the BEAM sees of each request.

mod support;

use support::*;

#[test]
fn http11_keeps_the_connection_for_the_next_request() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();

    client.send("GET /first?a=1&b=2 HTTP/1.1\r\nHost: example.test\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, b"/first");
    assert_eq!(req.query, b"a=1&b=2");
    assert_eq!(req.version, (1, 1));
    assert_eq!(req.body.as_deref(), Some(&b""[..]), "a request without a body has body => <<>>");
    let names: Vec<&[u8]> = req.headers.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(names, vec![&b"host"[..], b"x-dup", b"x-dup"], "lowercased, in order, duplicates kept");
    assert_eq!(req.headers[1].1, b"1");
    assert_eq!(req.headers[2].1, b"2");
    assert_eq!(req.header("host"), Some(&b"example.test"[..]));
    let peer = &req.peer;
    assert_eq!(peer.el(1).int(), Some(client.local_port() as i64), "peer port is the client's: {peer}");
    let ip: Vec<i64> = (0..4).map(|i| peer.el(0).el(i).int().unwrap()).collect();
    assert_eq!(ip, vec![127, 0, 0, 1]);
    ferry.respond(req.id, 200, &[("content-type", "text/plain")], "one");

    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.minor_version, 1);
    assert_eq!(resp.body, b"one");
    assert_eq!(resp.header("content-length"), Some("3"));
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert!(!resp.closes(), "HTTP/1.1 response must not close: {resp:?}");

    client.send(get("/second"));
    let req2 = ferry.expect_request();
    assert_eq!(req2.path, b"/second");
    assert_eq!(req2.query, b"", "query is <<>> when absent");
    assert_ne!(req2.id, req.id, "ids are unique");
    assert_eq!(req2.peer, req.peer, "same connection");
    ferry.respond(req2.id, 200, &[], "two");
    let resp2 = client.response();
    assert_eq!(resp2.body, b"two");

    assert_eq!(ferry.stat("connections"), 1, "both requests used one connection");
    assert!(ferry.stat("requests") >= 2);
}

#[test]
fn http11_connection_close_closes_after_the_response() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    ferry.answer_next("bye");
    let resp = client.response();
    assert_eq!(resp.body, b"bye");
    assert!(resp.closes(), "connection: close expected in {:?}", String::from_utf8_lossy(&resp.head));
    client.expect_eof();
}

#[test]
fn http10_without_keep_alive_closes_after_the_response() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET /old HTTP/1.0\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.version, (1, 0));
    assert_eq!(req.path, b"/old");
    ferry.respond(req.id, 200, &[], "legacy");
    let resp = client.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"legacy");
    client.expect_eof();
}

#[test]
fn http10_with_keep_alive_stays_open() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    for i in 0..3 {
        client.send(format!("GET /n{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let req = ferry.expect_request();
        assert_eq!(req.version, (1, 0));
        assert_eq!(req.path_str(), format!("/n{i}"));
        ferry.respond(req.id, 200, &[], format!("r{i}"));
        let resp = client.response();
        assert_eq!(resp.body_str(), format!("r{i}"));
        assert!(!resp.closes());
        assert!(resp.header("content-length").is_some(), "a 1.0 keep-alive response needs a length");
    }
    assert_eq!(ferry.stat("connections"), 1);
}

#[test]
fn absolute_form_and_asterisk_targets() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("GET http://example.test/p/q?x=%20y HTTP/1.1\r\nhost: example.test\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.path, b"/p/q");
    assert_eq!(req.query, b"x=%20y", "raw, not percent-decoded");
    ferry.respond(req.id, 200, &[], "");
    assert_eq!(client.response().status, 200);

    client.send("OPTIONS * HTTP/1.1\r\nhost: example.test\r\n\r\n");
    let req = ferry.expect_request();
    assert_eq!(req.method, "OPTIONS");
    assert_eq!(req.path, b"*");
    ferry.respond(req.id, 204, &[], "");
    assert_eq!(client.response().status, 204);
}

#[test]
fn python_http_client_reuses_one_connection() {
    let mut ferry = Ferry::start(&[]);
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('127.0.0.1', {}, timeout=10)\n\
         for i in range(3):\n\
         \x20   c.request('GET', '/py%d' % i)\n\
         \x20   r = c.getresponse()\n\
         \x20   print(r.status, r.read().decode())\n",
        ferry.port
    );
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut peers = Vec::new();
    for i in 0..3 {
        let req = ferry.expect_request();
        assert_eq!(req.path_str(), format!("/py{i}"));
        peers.push(req.peer.clone());
        ferry.respond(req.id, 200, &[], format!("hello {i}"));
    }
    let out = child.wait_with_output().expect("python3 output");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 hello 0\n200 hello 1\n200 hello 2\n");
    assert!(peers.iter().all(|p| *p == peers[0]), "http.client kept its connection: {peers:?}");
}
