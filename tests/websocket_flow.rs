//! WebSocket flow through the binary: the grant back-pressures a client
//! that sends faster than the BEAM takes, send credit bounds what one
//! connection holds, fan-out to a list and to a group writes one encoding
//! to all, a slow subscriber is closed with 1008, permessage-deflate both
//! ways, the idle ping and its close, drain.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use support::ws::*;
use support::*;

/// The most a socket's send buffer can grow to: what the kernel may
/// absorb (and so what may be credited) while a client reads nothing.
fn tcp_wmem_max() -> usize {
    let v = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("tcp_wmem");
    v.split_whitespace().nth(2).and_then(|m| m.parse().ok()).expect("tcp_wmem max")
}

#[test]
fn the_grant_bounds_messages_in_flight() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id, _) = ferry.ws_connect("/ws", &[], map(vec![]), 0);
    let mut burst = Vec::new();
    for i in 0..10u8 {
        burst.extend(message(BINARY, &[i; 1000]));
    }
    c.send(&burst);
    ferry.refute_within("a message without a grant", Duration::from_millis(300), |t| t.tag() == Some("ws_in"));
    // 2000 bytes of grant: the first costs 1512, the second takes the rest.
    ferry.read_body(id, 2000);
    assert_eq!(ferry.expect_ws_in(id).1, vec![0; 1000]);
    assert_eq!(ferry.expect_ws_in(id).1, vec![1; 1000]);
    ferry.refute_within("a message past the grant", Duration::from_millis(300), |t| t.tag() == Some("ws_in"));
    // Given back per message, as ferry_websocket does: the rest, in order.
    for i in 2..10u8 {
        ferry.read_body(id, 1512);
        assert_eq!(ferry.expect_ws_in(id).1, vec![i; 1000]);
    }
}

#[test]
fn a_client_faster_than_the_beam_is_stopped_by_tcp() {
    const MESSAGE: usize = 1 << 20;
    const TOTAL: usize = 64;
    let mut ferry = Ferry::start(&[]);
    let (c, id, _) = ferry.ws_connect("/ws", &[], map(vec![]), 0);
    let mut stream = c.http.stream.try_clone().expect("clone");
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = thread::spawn(move || {
        let m = message(BINARY, &vec![5; MESSAGE]);
        for _ in 0..TOTAL {
            stream.write_all(&m).expect("write");
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    thread::sleep(Duration::from_millis(1500));
    let stalled = sent.load(Ordering::SeqCst);
    let rss = ferry.rss_kib();
    println!("no grant: the client got {stalled} of {TOTAL} MiB out; ferry VmRSS {rss} KiB");
    assert!(stalled < TOTAL / 2, "{stalled} MiB accepted with no grant");
    assert!(rss < 16 << 10, "ferry RSS {rss} KiB");
    // The BEAM takes them as ferry_websocket does: a window, then each
    // message's cost back.
    ferry.read_body(id, 4 << 20);
    for _ in 0..TOTAL {
        assert_eq!(ferry.expect_ws_in(id).1.len(), MESSAGE);
        ferry.read_body(id, MESSAGE as i64 + 512);
    }
    writer.join().expect("writer");
    drop(c);
}

#[test]
fn credit_comes_back_as_the_client_reads() {
    const WINDOW: i64 = 256 << 10;
    let mut ferry = Ferry::start(&[("send_window", int(WINDOW)), ("send_timeout", int(60_000))]);
    let (mut c, id) = ferry.ws_open_slow("/ws");
    // One message may pass the window when nothing is outstanding.
    let big = tcp_wmem_max() + (8 << 20);
    ferry.ws_send(int(id), vec![out("binary", pattern(0, big))]);
    let mut credited = 0;
    while let Some(t) = ferry.receive_within(Duration::from_millis(1000), |t| t.tag() == Some("stream_credit")) {
        credited += t.el(2).int().expect("credit") as usize;
    }
    println!("client not reading: {credited} of {big} bytes credited");
    assert!(credited < big - (4 << 20), "{credited} of {big} credited to a client that reads nothing");
    let reader = thread::spawn(move || {
        let (op, data) = c.recv_message();
        assert_eq!((op, data.len()), (BINARY, big));
        assert!(data == pattern(0, big));
        c
    });
    while credited < big {
        let t = ferry.expect_for("stream_credit", id);
        credited += t.el(2).int().expect("credit") as usize;
    }
    assert_eq!(credited, big, "every byte comes back, once");
    let mut c = reader.join().expect("reader");
    // Fan-out and control frames take no credit.
    ferry.ws_send(list(vec![int(id)]), vec![out("text", "shared")]);
    assert_eq!(c.recv_message(), (TEXT, b"shared".to_vec()));
    ferry.refute_within("credit for a shared frame", Duration::from_millis(200), |t| t.tag() == Some("stream_credit"));
}

#[test]
fn overrunning_the_window_is_a_protocol_error_and_closes_1011() {
    const WINDOW: i64 = 64 << 10;
    let mut ferry = Ferry::start(&[("send_window", int(WINDOW))]);
    let (mut c, id) = ferry.ws_open_slow("/ws");
    let piece = pattern(0, 32 << 10);
    // A BEAM that ignores credit: past twice the window is an overrun.
    for _ in 0..((tcp_wmem_max() >> 15) + 16) {
        ferry.ws_send(int(id), vec![out("binary", &piece)]);
    }
    ferry.expect_for("protocol_error", id);
    let (cause, code, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1011));
    // The client gets what was queued, then the close.
    loop {
        let f = c.recv();
        if f.opcode == CLOSE {
            assert_eq!(f.close().map(|c| c.0), Some(1011));
            break;
        }
    }
}

#[test]
fn fan_out_to_a_list_encodes_once_for_all() {
    let mut ferry = Ferry::start(&[]);
    let mut clients: Vec<(WsClient, i64)> = (0..5).map(|_| ferry.ws_open("/ws")).collect();
    let ids: Vec<Term> = clients.iter().map(|(_, id)| int(*id)).chain([int(999_999)]).collect();
    let before = ferry.stat("ignored_commands");
    ferry.ws_send(list(ids), vec![out("text", "to all"), out("binary", pattern(0, 70_000)), out("ping", "")]);
    for (c, _) in clients.iter_mut() {
        assert_eq!(c.recv_message(), (TEXT, b"to all".to_vec()));
        assert_eq!(c.recv_message(), (BINARY, pattern(0, 70_000)));
        assert_eq!(c.recv_message(), (PING, vec![]));
    }
    assert_eq!(ferry.stat("ignored_commands"), before + 1, "the unknown id");
    // A close to a list closes each; each answer is its own `remote`.
    let two: Vec<Term> = clients[..2].iter().map(|(_, id)| int(*id)).collect();
    ferry.ws_send(list(two), vec![out_close(1001, "bye"), out("text", "never")]);
    for (c, id) in clients.iter_mut().take(2) {
        assert_eq!(c.expect_close(), Some((1001, "bye".into())));
        c.close(1001, "");
        assert_eq!(ferry.expect_ws_closed(*id).0, "remote");
    }
    ferry.ws_send(list(vec![]), vec![out("text", "nobody")]);
    let (c, _) = &mut clients[2];
    c.text("still open");
}

#[test]
fn groups_join_leave_publish_and_members_leave_when_they_close() {
    const N: usize = 200;
    let mut ferry = Ferry::start(&[]);
    let mut members: Vec<(WsClient, i64)> = (0..N).map(|_| ferry.ws_open("/ws")).collect();
    for (_, id) in &members {
        ferry.ws_join(*id, "room");
    }
    ferry.ws_join(members[0].1, "room"); // twice is once
    ferry.ws_publish("room", vec![out("text", "hello room")], None);
    for (c, _) in members.iter_mut() {
        assert_eq!(c.recv_message(), (TEXT, b"hello room".to_vec()));
    }
    // Not to the sender.
    let sender = members[1].1;
    ferry.ws_publish("room", vec![out("text", "from 1")], Some(sender));
    for (i, (c, _)) in members.iter_mut().enumerate() {
        if i != 1 {
            assert_eq!(c.recv_message(), (TEXT, b"from 1".to_vec()));
        }
    }
    // Leave; publish to another group; to no group.
    ferry.ws_leave(members[2].1, "room");
    ferry.ws_join(members[2].1, "other");
    ferry.ws_publish("room", vec![out("text", "room only")], None);
    ferry.ws_publish("other", vec![out("text", "other only")], None);
    ferry.ws_publish("nobody", vec![out("text", "lost")], None);
    assert_eq!(members[2].0.recv_message(), (TEXT, b"other only".to_vec()));
    for (i, (c, _)) in members.iter_mut().enumerate() {
        if i != 2 {
            // Member 1's own went to the others only: this is its next.
            assert_eq!(c.recv_message(), (TEXT, b"room only".to_vec()));
        }
    }
    // Closed members leave: a publish then finds only open ones.
    let gone: Vec<(WsClient, i64)> = members.drain(N - 50..).collect();
    for (mut c, id) in gone {
        c.close(1000, "");
        c.expect_close();
        assert_eq!(ferry.expect_ws_closed(id).0, "remote");
    }
    ferry.wait_stat("connections", (N - 50) as i64);
    let before = ferry.stat("ignored_commands");
    ferry.ws_publish("room", vec![out("text", "after")], None);
    assert_eq!(ferry.stat("ignored_commands"), before, "no member left behind");
    for (i, (c, _)) in members.iter_mut().enumerate() {
        if i != 2 {
            assert_eq!(c.recv_message(), (TEXT, b"after".to_vec()));
        }
    }
}

#[test]
fn a_slow_subscriber_is_closed_1008_and_the_others_go_on() {
    const WINDOW: i64 = 64 << 10;
    let mut ferry = Ferry::start(&[("send_window", int(WINDOW)), ("send_timeout", int(60_000))]);
    let (_slow, slow_id) = ferry.ws_open_slow("/slow");
    let (mut fast, fast_id) = ferry.ws_open("/fast");
    ferry.ws_join(slow_id, "news");
    ferry.ws_join(fast_id, "news");
    let piece = pattern(0, 16 << 10);
    let rounds = (tcp_wmem_max() + (8 << 20)) / piece.len();
    // The fast one reads each message before the next is published: it
    // keeps up however loaded the machine is.
    for _ in 0..rounds {
        ferry.ws_publish("news", vec![out("binary", &piece)], None);
        assert_eq!(fast.recv_message().1.len(), 16 << 10);
    }
    let (cause, code, _) = ferry.expect_ws_closed(slow_id);
    assert_eq!((cause.as_str(), code), ("error", 1008));
    let rss = ferry.rss_kib();
    println!("after {rounds} publishes of 16 KiB with a subscriber that reads nothing: ferry VmRSS {rss} KiB");
    assert!(rss < 32 << 10, "ferry RSS {rss} KiB");
    ferry.ws_publish("news", vec![out("text", "still here")], None);
    assert_eq!(fast.recv_message(), (TEXT, b"still here".to_vec()));
}

#[test]
fn deflate_is_negotiated_and_used_both_ways() {
    let offer = [("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")];
    // With context takeover, as the client offered it (the default is
    // without: websocket_deflate.rs).
    let mut ferry = Ferry::start(&[("ws_deflate_takeover", atom("true"))]);
    let (mut c, id, resp) = ferry.ws_connect("/ws", &offer, map(vec![]), 1 << 20);
    assert_eq!(resp.header("sec-websocket-extensions"), Some("permessage-deflate"));
    let text = "the same words again and again, ".repeat(100);
    c.send_compressed(TEXT, text.as_bytes());
    c.send_compressed(TEXT, text.as_bytes()); // with the first as context
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), text.as_bytes().to_vec()));
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), text.as_bytes().to_vec()));
    c.binary(b"uncompressed is fine too");
    assert_eq!(ferry.expect_ws_in(id).1, b"uncompressed is fine too");
    ferry.ws_send(int(id), vec![out("text", &text), out("text", &text), out("text", "short")]);
    for want in [&text[..], &text[..], "short"] {
        let f = c.recv();
        assert_eq!(f.rsv1, want.len() >= 64, "compressed when worth it");
        assert!(f.payload.len() < 200 || !f.rsv1, "{} bytes for {}", f.payload.len(), want.len());
        let (op, got) = c.message_of(f);
        assert_eq!((op, got.as_slice()), (TEXT, want.as_bytes()));
    }
    // Fan-out is never compressed.
    ferry.ws_send(list(vec![int(id)]), vec![out("text", &text)]);
    let f = c.recv();
    assert!(!f.rsv1 && f.payload == text.as_bytes());
    // A decompression bomb stops at ws_max_message.
    drop(c);
    let mut ferry = Ferry::start(&[("ws_max_message", int(1 << 20))]);
    let (mut c, id, _) = ferry.ws_connect("/ws", &offer, map(vec![]), 1 << 20);
    c.send_compressed(BINARY, &vec![0; 64 << 20]);
    assert_eq!(c.expect_close().map(|c| c.0), Some(1009));
    assert_eq!(ferry.expect_ws_closed(id).1, 1009);
}

#[test]
fn deflate_is_declined_when_the_listener_or_the_handler_says_no() {
    let offer = [("sec-websocket-extensions", "permessage-deflate")];
    let mut ferry = Ferry::start(&[("ws_deflate", atom("false"))]);
    let (mut c, id, resp) = ferry.ws_connect("/ws", &offer, map(vec![]), 1 << 20);
    assert!(resp.header("sec-websocket-extensions").is_none());
    // RSV1 is then a protocol error.
    c.send(ws_frame(0xC0 | TEXT, b"x", true));
    assert_eq!(c.expect_close().map(|c| c.0), Some(1002));
    assert_eq!(ferry.expect_ws_closed(id).1, 1002);
    let mut ferry = Ferry::start(&[]);
    let (_, _, resp) = ferry.ws_connect("/ws", &offer, map(vec![("deflate", atom("false"))]), 1 << 20);
    assert!(resp.header("sec-websocket-extensions").is_none());
}

#[test]
fn a_silent_connection_is_pinged_then_closed_1001() {
    // Long enough for a loaded machine to answer a ping within a period.
    let mut ferry = Ferry::start(&[("ws_idle_timeout", int(1000))]);
    let (mut c, id) = ferry.ws_open("/ws");
    for _ in 0..2 {
        assert_eq!(c.recv_message(), (PING, vec![]), "pinged after silence");
        c.send(message(PONG, b""));
    }
    // Silence again, and no answer to the ping.
    assert_eq!(c.recv_message(), (PING, vec![]));
    assert_eq!(c.expect_close().map(|c| c.0), Some(1001));
    let (cause, code, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1001));
    // Without a grant the socket is not read, and silence does not count.
    let (mut c, id, _) = ferry.ws_connect("/ws", &[], map(vec![]), 0);
    assert!(!c.http.closed_within(Duration::from_millis(2500)), "closed while the BEAM granted nothing");
    ferry.read_body(id, 1000);
    assert_eq!(c.recv_message(), (PING, vec![]));
}

#[test]
fn drain_closes_every_websocket_1001_with_shutdown() {
    let mut ferry = Ferry::start(&[]);
    let (mut a, a_id) = ferry.ws_open("/a");
    let (mut b, b_id) = ferry.ws_open("/b");
    ferry.send(&tuple(vec![atom("drain"), int(10_000)]));
    for (c, id) in [(&mut a, a_id), (&mut b, b_id)] {
        assert_eq!(c.expect_close().map(|c| c.0), Some(1001));
        assert_eq!(ferry.expect_ws_closed(id), ("shutdown".into(), 1001, String::new()));
    }
    a.close(1001, "");
    b.close(1001, "");
    drop((a, b));
    ferry.expect_tag("drained");
    ferry.assert_exit(EXIT_OK, WAIT);
}

#[test]
fn a_client_that_reads_nothing_is_cut_after_send_timeout() {
    let mut ferry = Ferry::start(&[("send_timeout", int(500))]);
    let (_c, id) = ferry.ws_open_slow("/ws");
    ferry.ws_send(int(id), vec![out("binary", pattern(0, tcp_wmem_max() + (4 << 20)))]);
    let (cause, code, reason) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), code), ("error", 1006), "{reason}");
    assert!(reason.contains("send_timeout"), "{reason}");
}

#[test]
fn idle_websockets_cost_under_2_kib_each_in_ferry() {
    const CONNS: usize = 2000;
    const BATCH: usize = 200;
    let mut ferry = Ferry::start(&[("max_connections", int(4 * CONNS as i64)), ("backlog", int(4096))]);
    let open_batch = |ferry: &mut Ferry, n: usize| -> Vec<Client> {
        let mut fresh: Vec<Client> = (0..n)
            .map(|_| {
                let mut c = ferry.client();
                c.send(handshake("/idle", &[("sec-websocket-extensions", "permessage-deflate")]));
                c
            })
            .collect();
        for _ in 0..n {
            let req = ferry.expect_request();
            ferry.ws_accept(req.id, &[], map(vec![]));
            // What ferry_websocket grants at once.
            ferry.read_body(req.id, 64 << 10);
        }
        for c in fresh.iter_mut() {
            assert_eq!(c.head().status, 101);
        }
        fresh
    };
    // Warm up the allocator with connections that then close.
    let warm = open_batch(&mut ferry, BATCH);
    drop(warm);
    ferry.wait_stat("connections", 0);
    let before = ferry.rss_kib();
    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS / BATCH {
        clients.extend(open_batch(&mut ferry, BATCH));
    }
    ferry.wait_stat("connections", CONNS as i64);
    let after = ferry.rss_kib();
    let per_conn = (after.saturating_sub(before) * 1024) / CONNS as u64;
    println!("{CONNS} idle WebSockets (deflate agreed): ferry VmRSS {before} -> {after} KiB, {per_conn} bytes each");
    assert!(per_conn < 2048, "{per_conn} bytes per idle WebSocket");
}
