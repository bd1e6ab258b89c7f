//! The life of the port process: start-up answers, exit codes, stdin EOF,
//! framing errors, drain, stats (docs/PROTOCOL.md "Start-up", "Exit codes",
//! "Control").

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn ready_reports_port_pid_protocol_version_and_windows() {
    // Ferry::start asserts the shape of `ready`; the windows are the ones in effect.
    let mut ferry = Ferry::spawn();
    let answer = ferry.listen(config(&[("send_window", int(12345)), ("body_window", int(54321))]));
    assert_eq!(answer.el(1).get("send_window").and_then(|w| w.int()), Some(12345), "{answer}");
    assert_eq!(answer.el(1).get("body_window").and_then(|w| w.int()), Some(54321), "{answer}");
    // The address it listens on, for the BEAM's start-up line.
    let ip = answer.el(1).get("ip").and_then(|ip| ip.bin().map(|b| b.to_vec()));
    assert_eq!(ip.as_deref(), Some(&b"127.0.0.1"[..]), "{answer}");
    assert_eq!(answer.el(1).get("max_frame").and_then(|w| w.int()), Some(64 << 20), "the default max_frame: {answer}");
    let mut ferry = Ferry::spawn();
    let answer = ferry.listen(config(&[("max_frame", int(1 << 20))]));
    assert_eq!(answer.el(1).get("max_frame").and_then(|w| w.int()), Some(1 << 20), "{answer}");
    // And the port really listens.
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    ferry.round_trip(&mut client, "/");
}

/// The BEAM streams a body in pieces of half a window: each piece, with
/// its frame's overhead (1024 bytes), must fit in `max_frame`.
#[test]
fn send_window_must_fit_max_frame() {
    for (send_window, max_frame, fits) in [(6144, 4096, true), (6146, 4096, false), (262_144, 131_072, false), (262_144, 132_096, true)] {
        let mut ferry = Ferry::spawn();
        let answer = ferry.listen(config(&[("send_window", int(send_window)), ("max_frame", int(max_frame))]));
        if fits {
            assert_eq!(answer.tag(), Some("ready"), "send_window {send_window}, max_frame {max_frame}: {answer}");
        } else {
            assert_eq!(answer.tag(), Some("listen_error"), "send_window {send_window}, max_frame {max_frame}: {answer}");
            assert_eq!(answer.el(1).el(0).atom(), Some("bad_option"), "{answer}");
            let msg = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap_or_default()).into_owned();
            assert!(msg.starts_with("send_window: ") && msg.contains("max_frame"), "{msg:?}");
            ferry.assert_exit(EXIT_LISTEN, WAIT);
        }
    }
    // With the default send_window, a small max_frame alone is refused too.
    let mut ferry = Ferry::spawn();
    let answer = ferry.listen(config(&[("max_frame", int(4096))]));
    assert_eq!(answer.tag(), Some("listen_error"), "{answer}");
}

#[test]
fn ip_as_tuple_is_accepted() {
    let mut ferry = Ferry::spawn();
    let ip = tuple(vec![int(127), int(0), int(0), int(1)]);
    let answer = ferry.listen(map(vec![("ip", ip), ("port", int(0))]));
    assert_eq!(answer.tag(), Some("ready"), "{answer}");
}

#[test]
fn ipv6_loopback_listens_and_reports_an_8_tuple_peer() {
    let mut ferry = Ferry::start(&[("ip", bin("::1"))]);
    let stream = std::net::TcpStream::connect(("::1", ferry.port)).expect("connect [::1]");
    let mut client = Client::from_stream(stream);
    client.send(get("/v6"));
    let req = ferry.expect_request();
    assert_eq!(req.peer.el(0).arity(), Some(8), "IPv6 peer as an 8-tuple: {}", req.peer);
    ferry.respond(req.id, 200, &[], "v6");
    assert_eq!(client.response().body, b"v6");
}

#[test]
fn reuseport_shards_share_one_port() {
    let mut first = Ferry::start(&[("reuseport", atom("true"))]);
    let mut second = Ferry::start(&[("reuseport", atom("true")), ("port", int(first.port as i64))]);
    assert_eq!(first.port, second.port);
    // Both serve; which one gets a connection is the kernel's choice, so
    // answer from whichever shard the request reached.
    for _ in 0..8 {
        let mut client = first.client();
        client.send(get("/shard"));
        let (ferry, req) = loop {
            if let Some(t) = first.next_frame_within(Duration::from_millis(20)) {
                break (&mut first, Request::from_term(t));
            }
            if let Some(t) = second.next_frame_within(Duration::from_millis(20)) {
                break (&mut second, Request::from_term(t));
            }
        };
        ferry.respond(req.id, 200, &[], "sharded");
        assert_eq!(client.response().body, b"sharded");
    }
    drop(first);
    let mut client = second.client();
    // a dead shard leaves the other serving
    second.round_trip(&mut client, "/survivor");
}

#[test]
fn log_frames_are_well_formed() {
    let mut ferry = Ferry::start(&[("log_level", atom("debug"))]);
    // Things worth a log line: a malformed request, a command for nobody.
    let mut client = ferry.client();
    client.send("BROKEN\r\n\r\n");
    let _ = client.read_to_eof();
    ferry.stats();
    for log in &ferry.logs {
        assert_eq!(log.arity(), Some(3), "{log}");
        let level = log.el(1).atom().unwrap_or_else(|| panic!("level not an atom: {log}"));
        assert!(["debug", "info", "notice", "warning", "error"].contains(&level), "{log}");
        assert!(log.el(2).bin().is_some(), "message not a binary: {log}");
    }
    assert!(!ferry.logs.is_empty(), "log_level => debug and a malformed request, yet no log frame");

    // log_level => error: the same event logs nothing less severe.
    let mut quiet = Ferry::start(&[("log_level", atom("error"))]);
    let mut client = quiet.client();
    client.send("BROKEN\r\n\r\n");
    let _ = client.read_to_eof();
    quiet.stats();
    for log in &quiet.logs {
        assert_eq!(log.el(1).atom(), Some("error"), "below log_level: {log}");
    }
}

#[test]
fn stdin_eof_exits_zero_within_one_second() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/in-flight"));
    ferry.expect_request();
    ferry.close_stdin();
    let closed_at = Instant::now();
    ferry.assert_exit(EXIT_OK, Duration::from_secs(1));
    println!("exited {:?} after stdin EOF", closed_at.elapsed());
    // Nothing keeps the port: the client's connection is gone too, and the
    // address can be bound again at once (a restarted port gets it).
    client.expect_eof();
    let rebound = Ferry::start(&[("port", int(ferry.port as i64))]);
    assert_eq!(rebound.port, ferry.port);
}

#[test]
fn stdin_eof_before_listen_exits_zero() {
    let mut ferry = Ferry::spawn();
    ferry.close_stdin();
    ferry.assert_exit(EXIT_OK, Duration::from_secs(1));
}

#[test]
fn frame_length_over_max_frame_exits_3_with_a_message() {
    let mut ferry = Ferry::start(&[("max_frame", int(4096)), ("send_window", int(4096))]);
    let mut bytes = 4097u32.to_be_bytes().to_vec();
    bytes.extend(vec![0u8; 4097]);
    ferry.send_raw(&bytes);
    ferry.assert_exit(EXIT_BAD_FRAME, WAIT);
    assert!(!ferry.stderr_after_exit().trim().is_empty(), "exit 3 without a stderr line");
}

#[test]
fn frame_at_max_frame_is_read() {
    let mut ferry = Ferry::start(&[("max_frame", int(4096)), ("send_window", int(4096))]);
    // A valid term padded to exactly max_frame bytes: {respond, Id, 200, [], <<pad>>}.
    let mut client = ferry.client();
    client.send(get("/"));
    let req = ferry.expect_request();
    let probe = frame(&tuple(vec![atom("respond"), int(req.id), int(200), list(vec![]), bin(b"")]));
    let pad = 4096 - (probe.len() - 4);
    ferry.respond(req.id, 200, &[], vec![b'p'; pad]);
    let resp = client.response();
    assert_eq!(resp.body.len(), pad);
    assert!(ferry.is_running());
}

#[test]
fn huge_length_prefix_exits_3_without_allocating() {
    let mut ferry = Ferry::start(&[]);
    ferry.send_raw(&[0xFF, 0xFF, 0xFF, 0xFF]);
    ferry.assert_exit(EXIT_BAD_FRAME, WAIT);
    assert!(!ferry.stderr_after_exit().trim().is_empty());
}

#[test]
fn first_command_other_than_listen_exits_3() {
    let mut ferry = Ferry::spawn();
    ferry.send(&atom("stats"));
    ferry.assert_exit(EXIT_BAD_FRAME, WAIT);
    assert!(!ferry.stderr_after_exit().trim().is_empty());
}

fn expect_listen_error(config: Term, kind: &str) -> (Ferry, Term) {
    let mut ferry = Ferry::spawn();
    let answer = ferry.listen(config);
    assert_eq!(answer.tag(), Some("listen_error"), "{answer}");
    let reason = answer.el(1);
    assert_eq!(reason.el(0).atom(), Some(kind), "{answer}");
    assert!(reason.el(1).bin().is_some_and(|m| !m.is_empty()), "reason message: {answer}");
    ferry.assert_exit(EXIT_LISTEN, WAIT);
    (ferry, answer)
}

#[test]
fn port_in_use_is_eaddrinuse_and_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (ferry, _) = expect_listen_error(config(&[("port", int(port as i64))]), "eaddrinuse");
    // The BEAM logs listen_error: a line of Ferry's own on stderr would be
    // the same failure twice, once around the VM's logger.
    assert_eq!(ferry.stderr_after_exit(), "", "nothing on stderr after listen_error");
    // Another ferry holding the port is the same.
    let first = Ferry::start(&[]);
    expect_listen_error(config(&[("port", int(first.port as i64))]), "eaddrinuse");
}

#[test]
fn unknown_option_is_bad_option_naming_the_key() {
    let (_, answer) = expect_listen_error(config(&[("no_such_option", int(1))]), "bad_option");
    let msg = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap()).into_owned();
    assert!(msg.starts_with("no_such_option: "), "the message starts with the key: {msg:?}");
    assert!(msg.contains("not a listen option"), "and says why: {msg:?}");
}

#[test]
fn bad_values_are_refused() {
    for (key, value) in [
        ("port", bin("80")),
        ("port", int(70000)),
        ("port", int(-1)),
        ("ip", bin("not an address")),
        ("ip", tuple(vec![int(300), int(0), int(0), int(1)])),
        ("max_headers", atom("many")),
        ("sent_events", atom("maybe")),
        ("header_timeout", int(0)),
    ] {
        let (_, answer) = expect_listen_error(config(&[(key, value.clone())]), "bad_option");
        let msg = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap()).into_owned();
        assert!(msg.starts_with(&format!("{key}: ")), "{key} => {value}: message {msg:?} should start with the key");
    }
    // A bad value's message says what is allowed.
    let (_, answer) = expect_listen_error(config(&[("max_request_line", int(1))]), "bad_option");
    let msg = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap()).into_owned();
    assert_eq!(msg, "max_request_line: must be an integer 16..1048576");
    let (_, answer) = expect_listen_error(config(&[("sent_events", atom("maybe"))]), "bad_option");
    let msg = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap()).into_owned();
    assert_eq!(msg, "sent_events: must be true or false");
}

#[test]
fn config_that_is_not_a_map_is_bad_config() {
    expect_listen_error(list(vec![]), "bad_config");
}

#[test]
fn address_not_on_this_host_is_eaddrnotavail() {
    expect_listen_error(config(&[("ip", bin("192.0.2.1"))]), "eaddrnotavail");
}

#[test]
fn drain_finishes_in_flight_closes_idle_then_exits_0() {
    let mut ferry = Ferry::start(&[]);
    let mut idle = ferry.client();
    ferry.round_trip(&mut idle, "/idle");

    let mut busy = ferry.client();
    busy.send(get("/busy"));
    let req = ferry.expect_request();

    ferry.send(&tuple(vec![atom("drain"), int(10_000)]));
    assert!(idle.closed_within(WAIT), "idle connection kept during drain");
    // The listener is closed once drain has started (the idle close shows it has).
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ferry.port)).is_err(),
        "still accepting after drain"
    );
    ferry.respond(req.id, 200, &[], "finished");
    let resp = busy.response();
    assert_eq!(resp.body, b"finished");
    assert!(resp.closes(), "a response during drain carries connection: close");
    busy.expect_eof();
    ferry.expect_tag("drained");
    ferry.assert_exit(EXIT_OK, WAIT);
}

#[test]
fn drain_deadline_closes_what_is_left_with_shutdown() {
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(get("/forever"));
    let req = ferry.expect_request();
    ferry.send(&tuple(vec![atom("drain"), int(300)]));
    assert_eq!(ferry.expect_closed(req.id), "shutdown");
    ferry.expect_tag("drained");
    ferry.assert_exit(EXIT_OK, WAIT);
    let _ = client.read_to_eof();
}

#[test]
fn drain_with_nothing_in_flight_is_immediate() {
    let mut ferry = Ferry::start(&[]);
    ferry.send(&tuple(vec![atom("drain"), int(60_000)]));
    ferry.expect_tag("drained");
    ferry.assert_exit(EXIT_OK, WAIT);
}

#[test]
fn stats_has_exactly_the_documented_keys_and_counts() {
    const KEYS: [&str; 9] = [
        "connections",
        "accepted",
        "requests",
        "in_flight",
        "bytes_in",
        "bytes_out",
        "ignored_commands",
        "protocol_errors",
        "out_queue_bytes",
    ];
    let mut ferry = Ferry::start(&[]);
    let s = ferry.stats();
    for key in KEYS {
        assert!(s.get(key).and_then(|v| v.int()).is_some_and(|v| v >= 0), "stats lacks {key}: {s}");
    }
    match &s {
        Term::Map(m) => assert_eq!(m.map.len(), KEYS.len(), "undocumented keys in {s}"),
        _ => panic!("stats is not a map: {s}"),
    }
    assert_eq!(s.get("requests").unwrap().int(), Some(0));
    let mut client = ferry.client();
    let request = get("/counted");
    client.send(&request);
    let req = ferry.expect_request();
    let s = ferry.stats();
    assert_eq!(s.get("in_flight").unwrap().int(), Some(1), "{s}");
    ferry.respond(req.id, 200, &[], "12345");
    let resp = client.response();
    let s = ferry.stats();
    assert_eq!(s.get("requests").unwrap().int(), Some(1));
    assert_eq!(s.get("in_flight").unwrap().int(), Some(0), "{s}");
    assert_eq!(s.get("connections").unwrap().int(), Some(1));
    assert_eq!(s.get("accepted").unwrap().int(), Some(1));
    assert_eq!(s.get("bytes_in").unwrap().int(), Some(request.len() as i64));
    assert_eq!(s.get("bytes_out").unwrap().int(), Some((resp.head.len() + resp.body.len()) as i64));
    drop(client);
    let mut again = ferry.client();
    again.send(get("/second"));
    ferry.answer_next("x");
    again.response();
    assert_eq!(ferry.stat("accepted"), 2, "accepted is a total");
}

/// The BEAM side of the pipe is gone (stdout closed): nothing can be told,
/// so ferry exits EXIT_STDOUT (4) instead of serving blind.
#[test]
fn closed_stdout_exits_4() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new(ferry_bin())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin.write_all(&frame(&tuple(vec![atom("listen"), config(&[])]))).unwrap();
    let mut len = [0u8; 4];
    stdout.read_exact(&mut len).unwrap();
    let mut ready = vec![0u8; u32::from_be_bytes(len) as usize];
    stdout.read_exact(&mut ready).unwrap();
    drop(stdout);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        // Asked again and again: while another test of this binary forks a
        // child, that child holds a copy of our read end until it execs, and
        // a write then still succeeds.
        let _ = stdin.write_all(&frame(&atom("stats")));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ferry kept running with its stdout closed");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(EXIT_STDOUT), "exit status {status}");
}

#[test]
fn drain_lets_a_stream_finish_and_serves_no_pipelined_request() {
    let mut ferry = Ferry::start(&[]);
    let mut streaming = ferry.client();
    streaming.send(get("/stream"));
    let s = ferry.expect_request();
    ferry.stream_start(s.id, 200, &[]);
    ferry.stream_chunk(s.id, "before drain, ");

    let mut pipelined = ferry.client();
    pipelined.send(format!("{}{}", get("/first"), get("/second")));
    let first = ferry.expect_request();
    assert_eq!(first.path, b"/first");

    ferry.send(&tuple(vec![atom("drain"), int(10_000)]));
    ferry.stream_chunk(s.id, "after drain");
    ferry.stream_end(s.id, &[]);
    let resp = streaming.response();
    assert_eq!(resp.body, b"before drain, after drain");

    ferry.respond(first.id, 200, &[], "first");
    let resp = pipelined.response();
    assert_eq!(resp.body, b"first");
    assert!(resp.closes(), "in flight during drain: connection: close");
    pipelined.expect_eof();
    ferry.expect_tag("drained");
    ferry.assert_exit(EXIT_OK, WAIT);
    ferry.refute_within("the pipelined request after drain", Duration::from_millis(50), |t| {
        t.tag() == Some("request")
    });
}
