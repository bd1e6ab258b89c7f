//! The decoder's tests: whole inputs, every cut of them, and limits.

use super::super::deflate::Deflater;
use super::super::frame::tests::client_frame;
use super::*;

const LIMITS: Limits = Limits { max_frame: 1 << 20, max_message: 1 << 20, max_inflated: 1 << 20 };

/// Feeds `pieces` in order; returns the messages and the error, if any.
fn run(dec: &mut Decoder, pieces: &[&[u8]]) -> (Vec<Message>, Option<WsError>) {
    let mut got = Vec::new();
    for piece in pieces {
        let mut at = 0;
        loop {
            match dec.decode(&piece[at..]) {
                Ok((used, msg)) => {
                    assert!(at + used <= piece.len());
                    at += used;
                    match msg {
                        Some(m) => got.push(m),
                        None => {
                            assert_eq!(at, piece.len(), "stopped early without a message");
                            break;
                        }
                    }
                }
                Err(e) => return (got, Some(e)),
            }
        }
    }
    (got, None)
}

fn decode_all(input: &[u8], deflate: Option<&DeflateParams>) -> (Vec<Message>, Option<WsError>) {
    run(&mut Decoder::new(LIMITS, deflate), &[input])
}

/// Every cut of `input` in two, and one byte at a time, gives what the
/// whole gives.
fn same_at_every_split(input: &[u8], deflate: Option<&DeflateParams>) -> (Vec<Message>, Option<WsError>) {
    let whole = decode_all(input, deflate);
    for cut in 0..=input.len() {
        let split = run(&mut Decoder::new(LIMITS, deflate), &[&input[..cut], &input[cut..]]);
        assert_eq!(split, whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&mut Decoder::new(LIMITS, deflate), &bytes), whole, "byte at a time");
    whole
}

fn text(s: &str) -> Message {
    Message::Text(s.as_bytes().to_vec())
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

#[test]
fn single_frames() {
    let input = concat(&[
        client_frame(0x81, b"Hello"),
        client_frame(0x82, &[0, 1, 2, 255]),
        client_frame(0x81, b""),
        client_frame(0x82, &vec![9; 300]),
        client_frame(0x82, &vec![8; 70_000]),
    ]);
    let (got, err) = same_at_every_split(&input[..input.len() - 69_000], None);
    assert_eq!(err, None);
    assert_eq!(got.len(), 4);
    let (got, err) = decode_all(&input, None);
    assert_eq!(err, None);
    assert_eq!(
        got,
        [
            text("Hello"),
            Message::Binary(vec![0, 1, 2, 255]),
            text(""),
            Message::Binary(vec![9; 300]),
            Message::Binary(vec![8; 70_000]),
        ]
    );
}

#[test]
fn fragments_with_control_frames_between() {
    let input = concat(&[
        client_frame(0x01, b"Hel"),
        client_frame(0x89, b"ping!"),
        client_frame(0x00, b""),
        client_frame(0x8a, b""),
        client_frame(0x00, b"lo, "),
        client_frame(0x80, b"world"),
        client_frame(0x02, &[1]),
        client_frame(0x80, &[2]),
        client_frame(0x88, &close::payload(1000, b"bye")),
    ]);
    let (got, err) = same_at_every_split(&input, None);
    assert_eq!(err, None);
    assert_eq!(
        got,
        [
            Message::Ping(b"ping!".to_vec()),
            Message::Pong(vec![]),
            text("Hello, world"),
            Message::Binary(vec![1, 2]),
            Message::Close(Some(Close { code: 1000, reason: b"bye".to_vec() })),
        ]
    );
}

#[test]
fn one_message_per_call_and_the_rest_left() {
    let input = concat(&[client_frame(0x81, b"a"), client_frame(0x81, b"b")]);
    let mut dec = Decoder::new(LIMITS, None);
    let (used, msg) = dec.decode(&input).unwrap();
    assert_eq!((used, msg), (7, Some(text("a"))));
    assert_eq!(dec.decode(&input[used..]).unwrap(), (7, Some(text("b"))));
    assert_eq!(dec.decode(&[]).unwrap(), (0, None));
}

#[test]
fn sequence_errors() {
    // A continuation with nothing to continue (Autobahn 5.9).
    let (got, err) = same_at_every_split(&client_frame(0x80, b"x"), None);
    assert_eq!((got, err.map(WsError::code)), (vec![], Some(1002)));
    // A new message in the middle of a fragmented one (Autobahn 5.18).
    let input = concat(&[client_frame(0x01, b"a"), client_frame(0x81, b"b")]);
    assert_eq!(same_at_every_split(&input, None).1.map(WsError::code), Some(1002));
    // A fragmented ping (Autobahn 5.3).
    let input = concat(&[client_frame(0x09, b"a"), client_frame(0x80, b"b")]);
    assert_eq!(same_at_every_split(&input, None).1.map(WsError::code), Some(1002));
    // The message before an error is still handed out.
    let input = concat(&[client_frame(0x81, b"ok"), client_frame(0x83, b"")]);
    assert_eq!(same_at_every_split(&input, None), (vec![text("ok")], Some(WsError::Protocol("unknown opcode (RFC 6455 5.2)"))));
}

#[test]
fn a_failed_decoder_stays_failed() {
    let mut dec = Decoder::new(LIMITS, None);
    let e = dec.decode(&[0x81, 0x05]).unwrap_err();
    assert_eq!(dec.decode(&client_frame(0x81, b"a")), Err(e));
}

#[test]
fn everything_after_close_is_ignored() {
    let input = concat(&[client_frame(0x88, b""), client_frame(0x81, b"late"), vec![0xff; 10]]);
    assert_eq!(same_at_every_split(&input, None), (vec![Message::Close(None)], None));
}

#[test]
fn close_payloads() {
    for (payload, code) in [(vec![0x03], 1002), (close::payload(1005, b""), 1002), (close::payload(1000, b"\xff"), 1007)] {
        let (got, err) = same_at_every_split(&client_frame(0x88, &payload), None);
        assert_eq!((got, err.map(WsError::code)), (vec![], Some(code)), "{payload:?}");
    }
}

#[test]
fn text_is_checked_as_it_arrives() {
    // "κόσμε" then the bytes of a surrogate, in a first fragment that
    // never ends: the error comes at its byte (Autobahn 6.4.1-6.4.4).
    let bad = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64";
    let frame = client_frame(0x01, bad);
    let header = frame.len() - bad.len();
    let mut dec = Decoder::new(LIMITS, None);
    // Up to the surrogate's first byte: still fine.
    assert_eq!(dec.decode(&frame[..header + 12]).unwrap(), (header + 12, None));
    assert_eq!(dec.decode(&frame[header + 12..header + 13]), Err(WsError::InvalidUtf8));
    // At a fragment boundary: the first fragment ends with the lead
    // byte F4, valid so far; the second's first byte, 90, makes a code
    // point over U+10FFFF and fails before anything else arrives.
    let first = client_frame(0x01, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4");
    let input = concat(&[first.clone(), client_frame(0x80, b"\x90\x80\x80 and more")]);
    let mut dec = Decoder::new(LIMITS, None);
    assert_eq!(dec.decode(&input[..first.len() + 6]).unwrap(), (first.len() + 6, None));
    assert_eq!(dec.decode(&input[first.len() + 6..first.len() + 7]), Err(WsError::InvalidUtf8));
    assert_eq!(same_at_every_split(&input, None).1, Some(WsError::InvalidUtf8));
}

#[test]
fn code_points_may_be_split_between_fragments() {
    let s = "κόσμε𝄞".as_bytes();
    for cut in 0..=s.len() {
        let input = concat(&[client_frame(0x01, &s[..cut]), client_frame(0x80, &s[cut..])]);
        assert_eq!(decode_all(&input, None), (vec![text("κόσμε𝄞")], None), "cut {cut}");
    }
    // Cut and never completed: an error when the message ends.
    let input = concat(&[client_frame(0x01, b"a\xe2\x82"), client_frame(0x80, b"")]);
    assert_eq!(same_at_every_split(&input, None).1, Some(WsError::InvalidUtf8));
    // Binary messages are not checked.
    assert_eq!(decode_all(&client_frame(0x82, b"\xff"), None), (vec![Message::Binary(vec![0xff])], None));
}

#[test]
fn message_limit_is_checked_before_buffering() {
    let limits = Limits { max_frame: 100, max_message: 150, max_inflated: 150 };
    // At the limit passes, in one frame or in several.
    let at = concat(&[client_frame(0x02, &[1; 100]), client_frame(0x80, &[2; 50])]);
    let (got, err) = run(&mut Decoder::new(limits, None), &[&at]);
    assert_eq!((got.len(), err), (1, None));
    // One byte over fails at the header of the frame that passes it,
    // before its payload is kept.
    let over = concat(&[client_frame(0x02, &[1; 100]), client_frame(0x80, &[2; 51])]);
    let mut dec = Decoder::new(limits, None);
    let first = client_frame(0x02, &[1; 100]).len();
    assert_eq!(dec.decode(&over[..first]).unwrap(), (first, None));
    assert_eq!(dec.decode(&over[first..first + 6]).unwrap_err().code(), 1009);
    // A frame over max_frame fails at its header too.
    let big = client_frame(0x82, &[0; 101]);
    assert_eq!(run(&mut Decoder::new(limits, None), &[&big[..4]]).1.map(WsError::code), Some(1009));
}

#[test]
fn a_header_alone_reserves_nothing() {
    let mut dec = Decoder::new(Limits { max_frame: 1 << 30, max_message: 1 << 30, max_inflated: 1 << 30 }, None);
    let header = [0x82, 0xff, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0xff, 1, 2, 3, 4];
    assert_eq!(dec.decode(&header).unwrap(), (14, None));
    assert_eq!(dec.decode(&[0; 10]).unwrap(), (10, None));
    assert!(dec.buffered() < 1024, "{}", dec.buffered());
}

#[test]
fn many_small_fragments_do_not_copy_per_fragment() {
    // 4 MiB in 64-byte fragments (Autobahn 9.3.1): doubling growth.
    let limits = Limits { max_frame: 1 << 22, max_message: 1 << 22, max_inflated: 1 << 22 };
    let chunk = [b'*'; 64];
    let n = (1 << 22) / 64;
    let mut input = client_frame(0x01, &chunk);
    for i in 1..n {
        input.extend_from_slice(&client_frame(if i == n - 1 { 0x80 } else { 0x00 }, &chunk));
    }
    let (got, err) = run(&mut Decoder::new(limits, None), &[&input]);
    assert_eq!(err, None);
    let [Message::Text(t)] = &got[..] else { panic!() };
    assert_eq!(t.len(), 1 << 22);
    assert!(t.capacity() <= 1 << 22);
}

fn deflate() -> DeflateParams {
    DeflateParams::default()
}

#[test]
fn rfc_7692_frames() {
    // §7.2.3.1: one compressed frame; §7.2.3.2: two fragments, only
    // the first with RSV1; then the same message with context takeover.
    let input = concat(&[
        client_frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        client_frame(0x41, &[0xf2, 0x48, 0xcd]),
        client_frame(0x80, &[0xc9, 0xc9, 0x07, 0x00]),
        client_frame(0xc1, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
        client_frame(0x81, b"plain"),
    ]);
    let (got, err) = same_at_every_split(&input, Some(&deflate()));
    assert_eq!(err, None);
    assert_eq!(got, [text("Hello"), text("Hello"), text("Hello"), text("plain")]);
}

#[test]
fn rsv1_needs_deflate_and_a_first_frame() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(decode_all(&client_frame(0xc1, &hello), None).1.map(WsError::code), Some(1002));
    let input = concat(&[client_frame(0x41, &hello[..3]), client_frame(0xc0, &hello[3..])]);
    assert_eq!(same_at_every_split(&input, Some(&deflate())).1.map(WsError::code), Some(1002));
    assert_eq!(decode_all(&client_frame(0xc9, b""), Some(&deflate())).1.map(WsError::code), Some(1002));
}

#[test]
fn compressed_messages_round_trip_with_control_frames_between() {
    let p = deflate();
    let mut d = Deflater::new(&p).unwrap();
    let mut a = Vec::new();
    d.compress("κόσμε κόσμε κόσμε".as_bytes(), &mut a).unwrap();
    let mut b = Vec::new();
    d.compress(&[7; 3000], &mut b).unwrap();
    let input = concat(&[
        client_frame(0x41, &a[..4]),
        client_frame(0x89, b"p"),
        client_frame(0x00, &a[4..]),
        client_frame(0x80, b""),
        client_frame(0xc2, &b),
    ]);
    let (got, err) = same_at_every_split(&input, Some(&p));
    assert_eq!(err, None);
    assert_eq!(got, [Message::Ping(b"p".to_vec()), text("κόσμε κόσμε κόσμε"), Message::Binary(vec![7; 3000])]);
}

#[test]
fn compressed_text_is_checked_after_inflating() {
    let p = deflate();
    let mut d = Deflater::new(&p).unwrap();
    let mut wire = Vec::new();
    d.compress(b"abc\xed\xa0\x80def", &mut wire).unwrap();
    assert_eq!(same_at_every_split(&client_frame(0xc1, &wire), Some(&p)).1, Some(WsError::InvalidUtf8));
}

#[test]
fn a_compressed_bomb_stops_at_the_message_limit() {
    let p = deflate();
    let mut d = Deflater::new(&p).unwrap();
    let mut wire = Vec::new();
    d.compress(&vec![0; 8 << 20], &mut wire).unwrap();
    let mut dec = Decoder::new(LIMITS, Some(&p));
    let (got, err) = run(&mut dec, &[&client_frame(0xc2, &wire)]);
    assert_eq!((got, err.map(WsError::code)), (vec![], Some(1009)));
    assert!(dec.buffered() <= LIMITS.max_message + 1 + wire.len(), "{}", dec.buffered());
    // The limit counts inflated bytes: exactly max_message passes.
    let mut d = Deflater::new(&p).unwrap();
    let mut wire = Vec::new();
    d.compress(&vec![0; LIMITS.max_message], &mut wire).unwrap();
    let (got, err) = run(&mut Decoder::new(LIMITS, Some(&p)), &[&client_frame(0xc2, &wire)]);
    assert_eq!((got.len(), err), (1, None));
}

/// Frames with every feature, mutated at random: whatever the bytes, the
/// result does not depend on the cuts, and nothing panics (the fuzz target
/// fuzz/fuzz_targets/ws_decoder.rs does the same, unguided).
#[test]
fn random_and_mutated_frames_never_panic() {
    let p = deflate();
    let mut d = Deflater::new(&p).unwrap();
    let mut compressed = Vec::new();
    d.compress("κόσμε compressed κόσμε compressed".as_bytes(), &mut compressed).unwrap();
    let valid = concat(&[
        client_frame(0x01, b"Hel\xce"),
        client_frame(0x89, b"ping"),
        client_frame(0x80, b"\xbalo"),
        client_frame(0xc1, &compressed),
        client_frame(0x82, &[5; 200]),
        client_frame(0x88, &close::payload(1001, b"away")),
    ]);
    let limits = Limits { max_frame: 150, max_message: 300, max_inflated: 300 };
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..3000 {
        let r = crate::protocol::garbage_tests::noise(&mut seed, 8);
        let mut input = valid.clone();
        for k in 0..(1 + r[0] % 3) as usize {
            let at = (r[1 + 2 * k] as usize * 7 + round) % input.len();
            input[at] = r[2 + 2 * k];
        }
        let deflate = (r[7] & 1 == 1).then_some(&p);
        let whole = run(&mut Decoder::new(limits, deflate), &[&input]);
        let pieces: Vec<&[u8]> = input.chunks(1 + r[7] as usize % 17).collect();
        assert_eq!(run(&mut Decoder::new(limits, deflate), &pieces), whole, "round {round}");
        for m in &whole.0 {
            if let Message::Text(t) | Message::Binary(t) = m {
                assert!(t.len() <= limits.max_message);
            }
        }
    }
}
