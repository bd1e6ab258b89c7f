//! RFC 6455 framing rules through the binary: each broken rule closes the
//! WebSocket with its code (1002 protocol error, 1007 bad UTF-8, 1009 too
//! big), tells the BEAM `{ws_closed, Id, error, Code, _}`, and hands it no
//! message; the rules that allow things (fragments, interleaved control
//! frames, any cut of the input) deliver the same messages.

mod support;

use std::thread;
use std::time::Duration;
use support::ws::*;
use support::*;

/// Opens a WebSocket on `ferry`, sends `bytes`, and checks it is failed
/// with `code`: the close frame, TCP closed, `ws_closed error`.
fn fails_with(ferry: &mut Ferry, bytes: &[u8], code: u16) {
    let (mut c, id) = ferry.ws_open("/ws");
    c.send(bytes);
    let close = c.expect_close();
    assert_eq!(close.as_ref().map(|c| c.0), Some(code), "for {:02x?}", &bytes[..bytes.len().min(16)]);
    assert!(close.is_some_and(|(_, reason)| !reason.is_empty()), "the close says why");
    assert!(c.http.closed_within(WAIT), "TCP open after the close frame");
    let (cause, got, _) = ferry.expect_ws_closed(id);
    assert_eq!((cause.as_str(), got), ("error", code as i64));
    ferry.refute_within("a message from a failed connection", Duration::from_millis(50), |t| {
        t.tag() == Some("ws_in") && t.el(1).int() == Some(id)
    });
}

#[test]
fn unmasked_frames_are_refused() {
    let mut ferry = Ferry::start(&[]);
    fails_with(&mut ferry, &ws_frame(0x81, b"hello", false), 1002);
    fails_with(&mut ferry, &ws_frame(0x89, b"", false), 1002);
}

#[test]
fn reserved_bits_and_opcodes_are_refused() {
    let mut ferry = Ferry::start(&[]);
    // RSV1 without deflate, RSV2, RSV3.
    for first in [0xC1, 0xA1, 0x91] {
        fails_with(&mut ferry, &ws_frame(first, b"x", true), 1002);
    }
    for opcode in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        fails_with(&mut ferry, &ws_frame(0x80 | opcode, b"", true), 1002);
    }
}

#[test]
fn control_frames_are_short_and_whole() {
    let mut ferry = Ferry::start(&[]);
    fails_with(&mut ferry, &message(PING, &[b'p'; 126]), 1002);
    fails_with(&mut ferry, &message(CLOSE, &[b'c'; 126]), 1002);
    // A ping without FIN: fragmented control frame.
    fails_with(&mut ferry, &ws_frame(PING, b"p", true), 1002);
    // 125 bytes is fine.
    let (mut c, _) = ferry.ws_open("/ws");
    c.send(message(PING, &[b'p'; 125]));
    assert_eq!(c.recv_message(), (PONG, vec![b'p'; 125]));
}

#[test]
fn fragments_join_with_control_frames_between_them() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    let mut bytes = ws_frame(TEXT, b"Hel", true);
    bytes.extend(message(PING, b"mid"));
    bytes.extend(ws_frame(CONTINUATION, b"", true));
    bytes.extend(message(PONG, b"unasked"));
    bytes.extend(ws_frame(0x80 | CONTINUATION, b"lo", true));
    bytes.extend(ws_frame(BINARY, &[1], true));
    bytes.extend(ws_frame(0x80 | CONTINUATION, &[2], true));
    c.send(&bytes);
    assert_eq!(c.recv_message(), (PONG, b"mid".to_vec()), "the ping is answered at once");
    assert_eq!(ferry.expect_ws_in(id), ("text".into(), b"Hello".to_vec()));
    assert_eq!(ferry.expect_ws_in(id), ("binary".into(), vec![1, 2]));
}

#[test]
fn fragment_sequence_rules() {
    let mut ferry = Ferry::start(&[]);
    // A continuation with nothing to continue.
    fails_with(&mut ferry, &ws_frame(0x80 | CONTINUATION, b"x", true), 1002);
    // A new message while one is fragmented.
    let mut bytes = ws_frame(TEXT, b"a", true);
    bytes.extend(message(TEXT, b"b"));
    fails_with(&mut ferry, &bytes, 1002);
}

#[test]
fn messages_survive_any_cut_of_the_input() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    // κόσμε and a 4-byte code point, fragmented one byte per frame (code
    // points split between fragments), then whole; all of it written one
    // byte at a time.
    let text = "κόσμε 😀 done".as_bytes();
    let mut bytes = Vec::new();
    for (i, b) in text.iter().enumerate() {
        let first = if i == 0 { TEXT } else { CONTINUATION } | if i == text.len() - 1 { 0x80 } else { 0 };
        bytes.extend(ws_frame(first, &[*b], true));
    }
    bytes.extend(message(TEXT, text));
    bytes.extend(message(BINARY, &pattern(0, 300)));
    for b in &bytes {
        c.send([*b]);
        thread::sleep(Duration::from_micros(200));
    }
    for _ in 0..2 {
        assert_eq!(ferry.expect_ws_in(id), ("text".into(), text.to_vec()));
    }
    assert_eq!(ferry.expect_ws_in(id), ("binary".into(), pattern(0, 300)));
}

#[test]
fn invalid_utf8_is_1007_and_fails_fast() {
    let mut ferry = Ferry::start(&[]);
    fails_with(&mut ferry, &message(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), 1007);
    // A code point cut off at the end of the message.
    fails_with(&mut ferry, &message(TEXT, b"ok \xce"), 1007);
    // Fails in the first fragment, without waiting for the message to end.
    fails_with(&mut ferry, &ws_frame(TEXT, b"ok \xff", true), 1007);
    // In a close reason.
    fails_with(&mut ferry, &message(CLOSE, &close_payload(1000, b"\xff")), 1007);
    // Binary is not checked.
    let (mut c, id) = ferry.ws_open("/ws");
    c.binary(b"\xff\xfe");
    assert_eq!(ferry.expect_ws_in(id), ("binary".into(), b"\xff\xfe".to_vec()));
}

#[test]
fn close_codes() {
    let mut ferry = Ferry::start(&[]);
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535] {
        fails_with(&mut ferry, &message(CLOSE, &close_payload(code, b"")), 1002);
    }
    fails_with(&mut ferry, &message(CLOSE, &[0x03]), 1002);
    for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        let (mut c, id) = ferry.ws_open("/ws");
        c.close(code, "fine");
        assert_eq!(c.expect_close().map(|c| c.0), Some(code));
        assert_eq!(ferry.expect_ws_closed(id), ("remote".into(), code as i64, "fine".into()));
    }
}

#[test]
fn bytes_after_the_close_frame_are_ignored() {
    let mut ferry = Ferry::start(&[]);
    let (mut c, id) = ferry.ws_open("/ws");
    let mut bytes = message(CLOSE, &close_payload(1000, b""));
    bytes.extend(message(TEXT, b"after"));
    bytes.extend(ws_frame(0x81, b"unmasked garbage", false));
    c.send(&bytes);
    assert_eq!(c.expect_close().map(|c| c.0), Some(1000));
    assert_eq!(ferry.expect_ws_closed(id).0, "remote");
    ferry.refute_within("a message after the close", Duration::from_millis(200), |t| t.tag() == Some("ws_in"));
}

#[test]
fn too_big_is_1009_before_the_payload_is_read() {
    let mut ferry = Ferry::start(&[("ws_max_frame", int(1000)), ("ws_max_message", int(1500))]);
    // Both sides of each limit.
    let (mut c, id) = ferry.ws_open("/ws");
    c.binary(&[7; 1000]);
    assert_eq!(ferry.expect_ws_in(id).1.len(), 1000);
    fails_with(&mut ferry, &message(BINARY, &[7; 1001]), 1009);
    // A header announcing 2^62 bytes: refused at the header.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    fails_with(&mut ferry, &huge, 1009);
    // The message limit over fragments.
    let mut ok = ws_frame(BINARY, &[1; 1000], true);
    ok.extend(ws_frame(0x80 | CONTINUATION, &[1; 500], true));
    let (mut c, id) = ferry.ws_open("/ws");
    c.send(&ok);
    assert_eq!(ferry.expect_ws_in(id).1.len(), 1500);
    let mut over = ws_frame(BINARY, &[1; 1000], true);
    over.extend(ws_frame(0x80 | CONTINUATION, &[1; 501], true));
    fails_with(&mut ferry, &over, 1009);
}
