//! The command side never takes the process down: malformed frames get
//! `{protocol_error, …}`, commands for unknown or finished ids are counted in
//! `ignored_commands`, hostile ETF lengths are refused without allocating,
//! and after each of them the process still serves a normal request.

mod support;

use std::thread;
use std::time::Duration;
use support::*;

/// A normal request round trip: the process is alive and serving.
fn still_serves(ferry: &mut Ferry) {
    assert!(ferry.is_running(), "ferry died; stderr: {}", ferry.stderr());
    let mut client = ferry.client();
    ferry.round_trip(&mut client, "/alive");
}

/// The next frame is `{protocol_error, Id | undefined, Message}`; returns it.
fn expect_protocol_error(ferry: &mut Ferry, what: &str) -> Term {
    let t = ferry.next_frame().unwrap_or_else(|| panic!("no answer to {what}; stderr: {}", ferry.stderr()));
    assert_eq!(t.tag(), Some("protocol_error"), "{what} answered {t}");
    assert_eq!(t.arity(), Some(3), "{t}");
    assert!(t.el(1).atom() == Some("undefined") || t.el(1).int().is_some(), "{t}");
    assert!(t.el(2).bin().is_some_and(|m| !m.is_empty()), "message binary: {t}");
    t
}

fn raw_payload(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

#[test]
fn payloads_that_are_not_etf_are_protocol_errors() {
    let mut ferry = Ferry::start(&[]);
    // Payloads not starting with 131 are batches (PROTOCOL.md): these are
    // batches whose first length runs past their end.
    for payload in [&b"hello, not a term"[..], b"\x00\x00\x00\x09\x83", b"\x83", b"\x00\x01\x02", b"\x83\xc8"] {
        ferry.send_raw(&raw_payload(payload));
        let t = expect_protocol_error(&mut ferry, &format!("payload {payload:?}"));
        assert_eq!(t.el(1).atom(), Some("undefined"), "{t}");
    }
    assert!(ferry.stat("protocol_errors") >= 5);
    still_serves(&mut ferry);
}

#[test]
fn hostile_etf_lengths_are_refused_without_allocating() {
    let mut ferry = Ferry::start(&[]);
    let ff = [0xFF, 0xFF, 0xFF, 0xFF];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary claiming 4 GB", [&[131, 109][..], &ff, b"abc"].concat()),
        ("list claiming 4G elements", [&[131, 108][..], &ff, &[97, 1]].concat()),
        ("tuple claiming 4G elements", [&[131, 105][..], &ff, &[97, 1]].concat()),
        ("map claiming 4G pairs", [&[131, 116][..], &ff, &[97, 1]].concat()),
        ("string claiming 64 KB", vec![131, 107, 0xFF, 0xFF, b'a']),
        ("atom claiming 64 KB", vec![131, 118, 0xFF, 0xFF, b'a']),
        ("bignum claiming 4 GB", [&[131, 111][..], &ff, &[0, 1]].concat()),
        ("bit binary claiming 4 GB", [&[131, 77][..], &ff, &[8, 1]].concat()),
        ("compressed term claiming 4 GB", [&[131, 80][..], &ff, &[0x78, 0x9c, 1, 2, 3]].concat()),
        ("respond with a 4 GB body", {
            let mut t = vec![131, 104, 5, 119, 7];
            t.extend_from_slice(b"respond");
            t.extend_from_slice(&[97, 1, 98, 0, 0, 0, 200, 106, 109]);
            t.extend_from_slice(&ff);
            t
        }),
    ];
    for (what, payload) in cases {
        ferry.send_raw(&raw_payload(&payload));
        expect_protocol_error(&mut ferry, what);
    }
    let rss = ferry.rss_kib();
    assert!(rss < 64 << 10, "RSS {rss} KiB after hostile lengths");
    still_serves(&mut ferry);
}

#[test]
fn deeply_nested_terms_do_not_overflow_the_stack() {
    let mut ferry = Ferry::start(&[]);
    // 200,000 nested 1-tuples, then an atom: 400 KB, far below max_frame.
    let depth = 200_000;
    let mut payload = vec![131];
    for _ in 0..depth {
        payload.extend_from_slice(&[104, 1]);
    }
    payload.extend_from_slice(&[119, 2, b'o', b'k']);
    ferry.send_raw(&raw_payload(&payload));
    expect_protocol_error(&mut ferry, "deeply nested tuples");
    // The same with lists.
    let mut payload = vec![131];
    for _ in 0..depth {
        payload.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    payload.extend_from_slice(&[106]);
    payload.extend(std::iter::repeat_n(106, depth));
    ferry.send_raw(&raw_payload(&payload));
    expect_protocol_error(&mut ferry, "deeply nested lists");
    still_serves(&mut ferry);
}

#[test]
fn garbage_terms_unknown_commands_and_wrong_arities_are_protocol_errors() {
    let mut ferry = Ferry::start(&[]);
    let cases = vec![
        atom("frobnicate"),
        int(42),
        bin("respond"),
        list(vec![atom("respond")]),
        tuple(vec![]),
        tuple(vec![atom("frobnicate"), int(1)]),
        tuple(vec![atom("respond")]),
        tuple(vec![atom("respond"), int(1), int(200)]),
        tuple(vec![atom("respond"), int(1), int(200), list(vec![]), bin(""), atom("extra")]),
        tuple(vec![atom("respond"), bin("1"), int(200), list(vec![]), bin("")]),
        tuple(vec![atom("respond"), int(-1), int(200), list(vec![]), bin("")]),
        tuple(vec![atom("read_body"), int(1)]),
        tuple(vec![atom("read_body"), int(1), atom("all")]),
        tuple(vec![atom("abort")]),
        tuple(vec![atom("stream_end"), int(1)]),
        tuple(vec![atom("drain")]),
        tuple(vec![atom("drain"), atom("now")]),
        tuple(vec![atom("listen"), map(vec![])]),
        tuple(vec![atom("ws_send"), int(1), atom("text"), bin("hi")]),
        tuple(vec![atom("ws_accept"), int(1), list(vec![])]),
    ];
    for term in &cases {
        ferry.send(term);
        expect_protocol_error(&mut ferry, &term.to_string());
    }
    assert!(ferry.is_running());
    still_serves(&mut ferry);
}

#[test]
fn bad_arguments_for_a_live_request_are_protocol_errors_for_that_id() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let mut id = None;
    let bad_commands: Vec<fn(i64) -> Term> = vec![
        |id| tuple(vec![atom("respond"), int(id), atom("ok"), list(vec![]), bin("")]),
        |id| tuple(vec![atom("respond"), int(id), int(200), atom("not_a_list"), bin("")]),
        |id| tuple(vec![atom("respond"), int(id), int(200), list(vec![int(1)]), bin("")]),
        |id| tuple(vec![atom("respond"), int(id), int(200), list(vec![]), atom("not_iodata")]),
        |id| tuple(vec![atom("read_body"), int(id), int(-5)]),
    ];
    for make in bad_commands {
        let live = match id {
            Some(live) => live,
            None => {
                client.send(get("/x"));
                ferry.expect_request().id
            }
        };
        id = Some(live);
        let term = make(live);
        ferry.send(&term);
        let t = ferry.expect(&format!("protocol_error for {term}"), |t| t.tag() == Some("protocol_error"));
        assert!(t.el(1).int() == Some(live) || t.el(1).atom() == Some("undefined"), "{t}");
        // An invalid response may end the request with a 500 (errors table);
        // then the next case gets a fresh request.
        if let Some(resp) = client.response_within(Duration::from_millis(100), false) {
            assert_eq!(resp.status, 500, "an invalid command produced {:?}", String::from_utf8_lossy(&resp.head));
            id = None;
            if resp.closes() {
                client = ferry.client();
            }
        }
    }
    still_serves(&mut ferry);
}

#[test]
fn commands_for_unknown_ids_are_counted_and_ignored() {
    let mut ferry = Ferry::start(&[]);
    let before = ferry.stat("ignored_commands");
    let unknown = 987_654;
    let commands = [
        tuple(vec![atom("respond"), int(unknown), int(200), list(vec![]), bin("")]),
        tuple(vec![atom("stream_start"), int(unknown), int(200), list(vec![])]),
        tuple(vec![atom("stream_chunk"), int(unknown), bin("x")]),
        tuple(vec![atom("stream_end"), int(unknown), list(vec![])]),
        tuple(vec![atom("read_body"), int(unknown), int(10)]),
        tuple(vec![atom("abort"), int(unknown)]),
        tuple(vec![atom("respond"), int(1 << 40), int(200), list(vec![]), bin("")]),
    ];
    for c in &commands {
        ferry.send(c);
    }
    let after = ferry.stat("ignored_commands");
    assert_eq!(after - before, commands.len() as i64, "every unknown-id command is counted");
    ferry.refute_within("protocol_error for an unknown id", Duration::from_millis(100), |t| {
        t.tag() == Some("protocol_error")
    });
    still_serves(&mut ferry);
}

#[test]
fn commands_for_a_finished_id_are_ignored_and_never_reach_a_client() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/once"));
    let req = ferry.expect_request();
    ferry.respond(req.id, 200, &[], "first");
    assert_eq!(client.response().body, b"first");
    let before = ferry.stat("ignored_commands");
    ferry.respond(req.id, 200, &[], "second answer to a finished request");
    ferry.stream_chunk(req.id, "stray");
    ferry.abort(req.id);
    assert_eq!(ferry.stat("ignored_commands"), before + 3);
    client.send(get("/next"));
    let next = ferry.expect_request();
    ferry.respond(next.id, 200, &[], "next");
    let resp = client.response();
    assert_eq!(resp.body, b"next", "a stray answer reached the client");
}

#[test]
fn frames_split_at_every_byte_and_batched_are_read() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/split"));
    let req = ferry.expect_request();
    let bytes = frame(&tuple(vec![atom("respond"), int(req.id), int(200), list(vec![]), bin("split")]));
    for b in bytes {
        ferry.send_raw(&[b]);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(client.response().body, b"split");

    // Several frames in one write: two stats and a respond.
    client.send(get("/batch"));
    let req = ferry.expect_request();
    let mut batch = frame(&atom("stats"));
    batch.extend(frame(&tuple(vec![atom("respond"), int(req.id), int(200), list(vec![]), bin("batched")])));
    batch.extend(frame(&atom("stats")));
    ferry.send_raw(&batch);
    ferry.expect_tag("stats");
    ferry.expect_tag("stats");
    assert_eq!(client.response().body, b"batched");
}

#[test]
fn a_storm_of_garbage_leaves_the_process_serving() {
    let mut ferry = Ferry::start(&[]);
    // Deterministic pseudo-random payloads, some starting with the ETF version byte.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = 2000;
    for i in 0..n {
        let len = (next() % 64) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 {
            payload.insert(0, 131);
        }
        ferry.send_raw(&raw_payload(&payload));
    }
    // stats is handled after all of them: every frame before its answer is a
    // protocol_error, and each payload was answered or counted.
    ferry.send(&atom("stats"));
    let mut errors = 0;
    let stats = loop {
        let t = ferry.next_frame().unwrap_or_else(|| panic!("no stats after the storm; stderr: {}", ferry.stderr()));
        match t.tag() {
            Some("protocol_error") => errors += 1,
            Some("stats") => break t.el(1).clone(),
            _ => panic!("unexpected answer to garbage: {t}"),
        }
    };
    let counted = stats.get("protocol_errors").unwrap().int().unwrap() + stats.get("ignored_commands").unwrap().int().unwrap();
    assert!(errors >= n && counted >= n as i64, "{errors} protocol errors, {counted} counted, for {n} garbage frames");
    still_serves(&mut ferry);
}

fn batch(frames: &[Vec<u8>]) -> Vec<u8> {
    // Each inner frame is <<Len:32, Etf>>; the batch payload is their concatenation.
    let inner: Vec<u8> = frames.concat();
    raw_payload(&inner)
}

#[test]
fn a_batch_frame_is_handled_in_order() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/batched"));
    let req = ferry.expect_request();
    ferry.send_raw(&batch(&[
        frame(&atom("stats")),
        frame(&tuple(vec![atom("respond"), int(req.id), int(200), list(vec![]), bin("from a batch")])),
        frame(&atom("stats")),
    ]));
    let first = ferry.expect_tag("stats");
    let second = ferry.expect_tag("stats");
    assert_eq!(first.el(1).get("in_flight").and_then(|v| v.int()), Some(1), "stats before the respond: {first}");
    assert_eq!(second.el(1).get("in_flight").and_then(|v| v.int()), Some(0), "stats after the respond: {second}");
    assert_eq!(client.response().body, b"from a batch");
}

#[test]
fn a_broken_batch_handles_what_came_before_then_errs() {
    let mut ferry = Ferry::start(&[]);
    // stats, then an inner length running past the end.
    let mut payload = frame(&atom("stats"));
    payload.extend_from_slice(&[0, 0, 1, 0, 131, 97]);
    ferry.send_raw(&raw_payload(&payload));
    ferry.expect_tag("stats");
    expect_protocol_error(&mut ferry, "a truncated inner frame");
    // A batch inside a batch.
    let nested = batch(&[frame(&atom("stats"))]);
    ferry.send_raw(&batch(&[nested]));
    expect_protocol_error(&mut ferry, "a nested batch");
    still_serves(&mut ferry);
}
