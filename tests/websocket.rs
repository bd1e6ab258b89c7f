//! WebSocket through the binary (docs/PROTOCOL.md "WebSocket"): the upgrade
//! and its classification, `ws_accept` and the 101, messages both ways,
//! the close handshake from either side, and `ws_closed` for each way a
//! connection ends. The RFC 6455 framing rules are in
//! `websocket_rules.rs`; flow control, fan-out, deflate, timers and drain
//! in `websocket_flow.rs`.

mod support;

use std::time::Duration;
use support::ws::*;
use support::*;

fn ws_check(ferry: &mut Ferry, request: &str) -> Option<String> {
    let mut c = ferry.client();
    c.send(request);
    let req = ferry.expect_request();
    let check = req.term.el(2).get("websocket").map(|w| w.atom().expect("an atom").to_string());
    ferry.respond(req.id, 204, &[], "");
    assert_eq!(c.response().status, 204, "the connection stays HTTP");
    check
}

#[test]
fn requests_say_whether_they_are_a_valid_upgrade() {
    let mut ferry = Ferry::start(&[]);
    assert_eq!(ws_check(&mut ferry, &get("/plain")), None, "an ordinary request has no websocket key");
    assert_eq!(ws_check(&mut ferry, &handshake("/ws", &[])).as_deref(), Some("ok"));
    let bad_version = handshake("/ws", &[]).replace("sec-websocket-version: 13", "sec-websocket-version: 8");
    assert_eq!(ws_check(&mut ferry, &bad_version).as_deref(), Some("bad_version"));
    let bad_key = handshake("/ws", &[]).replace(KEY, "c2hvcnQ=");
    assert_eq!(ws_check(&mut ferry, &bad_key).as_deref(), Some("bad_request"));
    let no_connection = handshake("/ws", &[]).replace("connection: Upgrade\r\n", "");
    assert_eq!(ws_check(&mut ferry, &no_connection).as_deref(), Some("bad_request"));
    let post = handshake("/ws", &[]).replacen("GET", "POST", 1);
    assert_eq!(ws_check(&mut ferry, &post).as_deref(), Some("bad_request"));
    // `upgrade: h2c` is not a WebSocket at all.
    let h2c = handshake("/ws", &[]).replace("upgrade: websocket", "upgrade: h2c");
    assert_eq!(ws_check(&mut ferry, &h2c), None);
}

#[test]
fn ready_says_websocket() {
    let mut ferry = Ferry::spawn();
    let ready = ferry.listen(config(&[]));
    assert_eq!(ready.el(1).get("websocket").and_then(|w| w.atom()), Some("true"), "{ready}");
}

#[test]
fn accept_writes_the_101_and_messages_flow_both_ways() {
    let mut ferry = Ferry::start(&[]);
    let opts = map(vec![("protocol", bin("chat"))]);
    let (mut c, id, resp) = ferry.ws_connect("/chat", &[("sec-websocket-protocol", "chat, superchat")], opts, 1 << 20);
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    assert_eq!(resp.header("sec-websocket-protocol"), Some("chat"));
    assert!(resp.header("content-length").is_none() && resp.header("transfer-encoding").is_none());
    c.text("hello");
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), b"hello".to_vec()));
    c.binary(&[0, 1, 2, 255]);
    assert_eq!(ferry.expect_ws_in(id), ("binary".into(), vec![0, 1, 2, 255]));
    c.text("");
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), vec![]));
    ferry.ws_send(int(id), vec![out("text", "hi"), out("binary", [9, 9]), out("ping", "p")]);
    assert_eq!(c.recv_message(), (TEXT, b"hi".to_vec()));
    assert_eq!(c.recv_message(), (BINARY, vec![9, 9]));
    assert_eq!(c.recv_message(), (PING, b"p".to_vec()));
    // Medium (16-bit length) and large (64-bit length) messages both ways.
    for len in [126, 65535, 65536, 3 << 20] {
        let data = pattern(len as u64, len);
        c.binary(&data);
        let (op, got) = ferry.expect_ws_in(id);
        assert_eq!((op.as_str(), got.len()), ("binary", len));
        assert!(got == data);
        ferry.ws_send(int(id), vec![out("binary", &data)]);
        let (op, back) = c.recv_message();
        assert_eq!((op, back.len()), (BINARY, len));
        assert!(back == data);
    }
}

#[test]
fn accept_adds_the_handlers_headers_but_not_ours() {
    let mut ferry = Ferry::start(&[]);
    let mut c = ferry.client();
    c.send(handshake("/ws", &[]));
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[("set-cookie", "a=b"), ("connection", "close"), ("content-length", "5"), ("sec-websocket-accept", "x")], map(vec![]));
    let resp = c.head();
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("set-cookie"), Some("a=b"));
    assert_eq!(resp.headers_named("connection"), vec!["Upgrade"]);
    assert_eq!(resp.headers_named("sec-websocket-accept"), vec![ACCEPT]);
    assert!(resp.header("content-length").is_none());
    let open = ferry.expect_for("ws_open", req.id);
    assert_eq!(open.el(2).get("protocol").and_then(|p| p.atom()), Some("undefined"));
    assert_eq!(open.el(2).get("deflate").and_then(|p| p.atom()), Some("false"));
}

#[test]
fn a_refused_upgrade_is_an_ordinary_response_and_the_connection_stays_http() {
    let mut ferry = Ferry::start(&[]);
    let mut c = ferry.client();
    c.send(handshake("/ws", &[]));
    let req = ferry.expect_request();
    ferry.respond(req.id, 403, &[], "no");
    let resp = c.response();
    assert_eq!((resp.status, resp.body_str().as_str()), (403, "no"));
    ferry.round_trip(&mut c, "/after");
}

#[test]
fn accept_of_a_request_that_is_no_valid_upgrade_is_a_protocol_error_and_500() {
    let mut ferry = Ferry::start(&[]);
    for request in [get("/plain"), handshake("/ws", &[]).replace("13", "8")] {
        let mut c = ferry.client();
        c.send(&request);
        let req = ferry.expect_request();
        ferry.ws_accept(req.id, &[], map(vec![]));
        let err = ferry.expect_for("protocol_error", req.id);
        assert!(err.el(2).bin().is_some());
        assert_eq!(ferry.expect_closed(req.id), "protocol_error");
        assert_eq!(c.response().status, 500);
    }
    // After a response began, too.
    let mut c = ferry.client();
    c.send(handshake("/ws", &[]));
    let req = ferry.expect_request();
    ferry.stream_start(req.id, 200, &[]);
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.expect_for("protocol_error", req.id);
    // A header that cannot be written: 500, nothing half-written.
    let mut c = ferry.client();
    c.send(handshake("/ws", &[]));
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[("x-bad", "a\r\nb: c")], map(vec![]));
    ferry.expect_for("protocol_error", req.id);
    assert_eq!(c.response().status, 500);
}

#[test]
fn frames_sent_before_the_101_wait_for_the_grant() {
    let mut ferry = Ferry::start(&[]);
    let mut http = ferry.client();
    let mut early = handshake("/ws", &[]).into_bytes();
    early.extend(message(TEXT, b"early"));
    http.send(&early);
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.expect_for("ws_open", req.id);
    ferry.refute_within("a message without a grant", Duration::from_millis(300), |t| t.tag() == Some("ws_in"));
    ferry.read_body(req.id, 1000);
    assert_eq!(ferry.expect_ws_in(req.id), ("text".into(), b"early".to_vec()));
}

#[test]
fn client_close_is_echoed_and_reported_remote() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    c.close(4001, "going");
    assert_eq!(c.expect_close(), Some((4001, String::new())), "the echo carries the code");
    assert!(c.http.closed_within(WAIT), "the server closes TCP after the handshake");
    assert_eq!(ferry.expect_ws_closed(id), ("remote".into(), 4001, "going".into()));
    // The id is finished: commands to it are ignored.
    let before = ferry.stat("ignored_commands");
    ferry.ws_send(int(id), vec![out("text", "late")]);
    assert_eq!(ferry.stat("ignored_commands"), before + 1);
    drop(c);
    ferry.wait_stat("connections", 0);

    // A close without a code: 1005 to the BEAM, an empty close back.
    let (mut c, id) = ferry.ws_open("/ws");
    c.send(message(CLOSE, b""));
    assert_eq!(c.expect_close(), None);
    assert_eq!(ferry.expect_ws_closed(id), ("remote".into(), 1005, String::new()));
    // Nothing is sent after the close: no closed event either.
    ferry.refute_ws(id, Duration::from_millis(200));
}

#[test]
fn beam_close_waits_for_the_clients_answer() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    ferry.ws_send(int(id), vec![out("text", "last"), out_close(4000, "bye"), out("text", "never")]);
    assert_eq!(c.recv_message(), (TEXT, b"last".to_vec()));
    assert_eq!(c.expect_close(), Some((4000, "bye".into())));
    // Until the client answers, the connection is open and nothing is reported.
    ferry.refute_ws(id, Duration::from_millis(300));
    // Messages after our close are dropped; the answer ends it.
    c.text("dropped");
    c.close(1000, "ok");
    assert_eq!(ferry.expect_ws_closed(id), ("remote".into(), 1000, "ok".into()));
    assert!(c.http.closed_within(WAIT));
    ferry.refute_within("a message after our close", Duration::from_millis(100), |t| t.tag() == Some("ws_in"));
}

#[test]
fn beam_close_without_an_answer_ends_after_ws_close_timeout() {
    let mut ferry = Ferry::start(&[("ws_close_timeout", int(500))]);
    let (mut c, id) = ferry.ws_open("/ws");
    ferry.ws_send(int(id), vec![atom("close")]);
    assert_eq!(c.expect_close(), None, "`close` alone: a close frame without a code");
    let (cause, code, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1006));
    assert!(c.http.closed_within(WAIT));
}

#[test]
fn socket_death_is_1006() {
    let mut ferry = Ferry::start(&[]);
    let (c, id) = ferry.ws_open("/ws");
    drop(c);
    let (cause, code, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1006));
    ferry.refute_within("closed for a WebSocket", Duration::from_millis(200), |t| t.tag() == Some("closed"));
}

#[test]
fn pings_are_answered_by_rust_and_forwarded_only_with_control() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    c.send(message(PING, b"are you there"));
    assert_eq!(c.recv_message(), (PONG, b"are you there".to_vec()));
    c.send(message(PONG, b"unasked"));
    c.text("after");
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), b"after".to_vec()), "pings and pongs stay in Rust");

    let (mut c, id, _) = ferry.ws_connect("/ws", &[], map(vec![("control", atom("true"))]), 1 << 20);
    c.send(message(PING, b"p1"));
    assert_eq!(c.recv_message(), (PONG, b"p1".to_vec()));
    assert_eq!(ferry.expect_ws_in(id), ("ping".into(), b"p1".to_vec()));
    c.send(message(PONG, b"p2"));
    assert_eq!(ferry.expect_ws_in(id), ("pong".into(), b"p2".to_vec()));
}

#[test]
fn malformed_ws_commands_are_protocol_errors_and_the_connection_goes_on() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    ferry.ws_send(int(id), vec![out("text", "fine"), out("ping", [b'x'; 126])]);
    ferry.expect_for("protocol_error", id);
    ferry.ws_send(int(id), vec![out_close(1005, "")]);
    ferry.expect_for("protocol_error", id);
    ferry.ws_send(int(id), vec![out_close(1000, &"x".repeat(124))]);
    ferry.expect_for("protocol_error", id);
    // None of those frames went out; the next does.
    ferry.ws_send(int(id), vec![out("text", "next")]);
    assert_eq!(c.recv_message(), (TEXT, b"next".to_vec()));
}
