//! permessage-deflate without context takeover, the default
//! (`ws_deflate_takeover` false, docs/OPTIONS.md): what the 101 agrees to,
//! messages that each stand alone both ways, one compressor shared by
//! interleaved connections, and connections that hold no zlib state
//! between messages. With takeover: `websocket_flow.rs`.

mod support;

use flate2::{Decompress, FlushDecompress};
use support::ws::*;
use support::*;

const NO_TAKEOVER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// A server message inflated by a fresh inflater: it must need no
/// context from any message before it.
fn inflate_alone(payload: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync).expect("a message that stands alone");
    assert_eq!(d.total_in() as usize, input.len(), "all of it inflated at once");
    out
}

#[test]
fn every_offer_is_answered_without_context_takeover() {
    let mut ferry = Ferry::start(&[]);
    for (offer, answer) in [
        ("permessage-deflate", NO_TAKEOVER),
        ("permessage-deflate; client_max_window_bits", NO_TAKEOVER),
        ("permessage-deflate; client_no_context_takeover", NO_TAKEOVER),
        (
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
        ),
    ] {
        let (_, _, resp) = ferry.ws_connect("/ws", &[("sec-websocket-extensions", offer)], map(vec![]), 1 << 20);
        assert_eq!(resp.header("sec-websocket-extensions"), Some(answer), "{offer}");
    }
}

#[test]
fn messages_stand_alone_both_ways() {
    let mut ferry = Ferry::start(&[]);
    let offer = [("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")];
    let (mut c, id, _) = ferry.ws_connect("/ws", &offer, map(vec![]), 1 << 20);
    let text = "the same words again and again, ".repeat(100);
    // The client compresses each message afresh, as agreed: the server's
    // inflater, made for each message, reads them all.
    for _ in 0..3 {
        c.send_compressed(TEXT, text.as_bytes());
    }
    for _ in 0..3 {
        assert_eq!(ferry.expect_ws_in(id), ("text".into(), text.as_bytes().to_vec()));
    }
    ferry.ws_send(int(id), vec![out("text", &text), out("text", &text)]);
    let (first, second) = (c.recv(), c.recv());
    assert!(first.rsv1 && first.payload.len() < text.len() / 10, "compressed: {} bytes", first.payload.len());
    assert_eq!(first.payload, second.payload, "the second takes nothing from the first");
    assert_eq!(inflate_alone(&second.payload), text.as_bytes());
}

#[test]
fn one_compressor_serves_interleaved_connections() {
    let mut ferry = Ferry::start(&[]);
    let mut conns = Vec::new();
    for i in 0..21 {
        // Windows of 9 to 15 bits (each its own shared compressor) and none.
        let offer = match i % 8 {
            7 => "permessage-deflate".to_string(),
            w => format!("permessage-deflate; server_max_window_bits={}", 9 + w),
        };
        let (c, id, _) = ferry.ws_connect("/ws", &[("sec-websocket-extensions", &offer)], map(vec![]), 1 << 20);
        conns.push((c, id));
    }
    let text = |i: usize, round: usize| format!("connection {i}, round {round}: the same words again, ").repeat(10 + i);
    for round in 0..3 {
        for (i, (_, id)) in conns.iter().enumerate() {
            ferry.ws_send(int(*id), vec![out("text", text(i, round))]);
        }
    }
    for round in 0..3 {
        for (i, (c, _)) in conns.iter_mut().enumerate() {
            let f = c.recv();
            assert!(f.rsv1, "compressed");
            assert_eq!(inflate_alone(&f.payload), text(i, round).as_bytes(), "connection {i} round {round}");
        }
    }
}

/// Connections that have each sent and received one compressed chat line:
/// with context takeover each would keep a compressor (~300 KiB) and an
/// inflater (~20 KiB); without, nothing of zlib's stays.
#[test]
fn connections_that_talked_hold_no_zlib_state() {
    const CONNS: usize = 400;
    let mut ferry = Ferry::start(&[("max_connections", int(4 * CONNS as i64))]);
    let offer = [("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")];
    let line = r#"{"type":"message","room":"lobby","user":"test-client","text":"hello, everyone in the room!"}"#;
    let talk = |ferry: &mut Ferry, n: usize| -> Vec<WsClient> {
        (0..n)
            .map(|_| {
                let (mut c, id, _) = ferry.ws_connect("/ws", &offer, map(vec![]), 1 << 20);
                c.send_compressed(TEXT, line.as_bytes());
                assert_eq!(ferry.expect_ws_in(id).1, line.as_bytes());
                ferry.ws_send(int(id), vec![out("text", line)]);
                let f = c.recv();
                assert!(f.rsv1, "the echo is compressed");
                c
            })
            .collect()
    };
    // Warm up the allocator (and make the shared compressor) first.
    drop(talk(&mut ferry, 50));
    ferry.wait_stat("connections", 0);
    let before = ferry.rss_kib();
    let clients = talk(&mut ferry, CONNS);
    let after = ferry.rss_kib();
    let per_conn = (after.saturating_sub(before) * 1024) / CONNS as u64;
    println!("{CONNS} WebSockets after a compressed message each way: ferry VmRSS {before} -> {after} KiB, {per_conn} bytes each");
    assert!(per_conn < 4096, "{per_conn} bytes per connection");
    drop(clients);
}
