//! A publish to a group large enough to be written on several threads
//! (src/fanout.rs): every member gets every message once and in order,
//! including a member whose socket is full, which gets the publish after
//! what was already queued for it, and a member whose close ends the
//! publish for it. Small groups and lists: `websocket_flow.rs`.

mod support;

use std::net::Ipv4Addr;
use support::ws::*;
use support::*;

const MEMBERS: usize = 600;

#[test]
fn a_large_group_gets_each_message_once_and_in_order() {
    let mut ferry = Ferry::start(&[("max_connections", int(4 * MEMBERS as i64))]);
    let mut members: Vec<(WsClient, i64)> = (0..MEMBERS).map(|_| ferry.ws_open("/sub")).collect();
    for (_, id) in &members {
        ferry.ws_join(*id, "big");
    }
    // A member that reads nothing yet, with a message queued behind its
    // full socket: the publishes must come after it.
    let mut http = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(8 << 10));
    http.send(handshake("/slow", &[]));
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.read_body(req.id, 1 << 20);
    assert_eq!(http.head().status, 101);
    ferry.expect_for("ws_open", req.id);
    let mut slow = WsClient::new(http, false);
    let big = pattern(7, 1 << 20);
    ferry.ws_send(int(req.id), vec![out("binary", &big)]);
    ferry.ws_join(req.id, "big");

    for i in 0..3 {
        ferry.ws_publish("big", vec![out("text", format!("message {i}"))], None);
    }
    for (c, _) in members.iter_mut() {
        for i in 0..3 {
            assert_eq!(c.recv_message(), (TEXT, format!("message {i}").into_bytes()));
        }
    }
    assert_eq!(slow.recv_message(), (BINARY, big));
    for i in 0..3 {
        assert_eq!(slow.recv_message(), (TEXT, format!("message {i}").into_bytes()));
    }

    // A publish that ends with a close: each member gets the text, then
    // the close, and nothing after it.
    ferry.ws_publish("big", vec![out("text", "last"), out_close(1001, "bye")], None);
    ferry.ws_publish("big", vec![out("text", "after the close")], None);
    for (c, _) in members.iter_mut().take(50) {
        assert_eq!(c.recv_message(), (TEXT, b"last".to_vec()));
        assert_eq!(c.expect_close(), Some((1001, "bye".into())));
    }
    for (c, id) in members.iter_mut().take(50) {
        c.close(1001, "");
        assert_eq!(ferry.expect_ws_closed(*id).0, "remote");
    }
}
