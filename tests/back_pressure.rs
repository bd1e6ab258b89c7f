//! Bounded memory towards both sides: at `max_connections` Ferry stops
//! accepting (and resumes when one closes); when the BEAM stops reading
//! Ferry's stdout, Ferry stops reading new requests instead of queueing them.

mod support;

use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::Duration;
use support::*;

#[test]
fn at_max_connections_new_clients_wait_until_one_closes() {
    let mut ferry = Ferry::start(&[("max_connections", int(2))]);
    let mut a = ferry.client();
    let mut b = ferry.client();
    for c in [&mut a, &mut b] {
        ferry.round_trip(c, "/held");
    }
    // The kernel completes the handshake (backlog), but Ferry does not accept.
    let mut waiting = ferry.client();
    waiting.send(get("/waiting"));
    ferry.refute_within("a request over max_connections", Duration::from_millis(400), |t| t.tag() == Some("request"));
    assert_eq!(ferry.stat("connections"), 2);
    drop(a);
    let req = ferry.expect_request();
    assert_eq!(req.path, b"/waiting");
    ferry.respond(req.id, 200, &[], "your turn");
    assert_eq!(waiting.response().body, b"your turn");
    assert!(ferry.is_running());
}

#[test]
fn a_beam_that_stops_reading_stops_ferry_reading_requests() {
    const CLIENTS: usize = 1000;
    const PAD: usize = 8000; // 1000 requests of ~8 KB: 8 MB of request frames
    let mut ferry = Ferry::start(&[("out_high_water", int(65536))]);
    // Warm up so the baseline includes the code paths and buffers of a served request.
    let mut warm = ferry.client();
    warm.send(get("/warm"));
    ferry.answer_next("warm");
    warm.response();
    let before = ferry.rss_kib();

    ferry.pause_stdout(true);
    let pad = "p".repeat(PAD);
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            let mut c = ferry.client();
            c.send(format!("GET /r{i} HTTP/1.1\r\nhost: t\r\nx-pad: {pad}\r\n\r\n"));
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let during = ferry.rss_kib();
    println!("BEAM not reading: ferry VmRSS {before} KiB -> {during} KiB with {CLIENTS} requests of {PAD} bytes pending");
    assert!(
        during.saturating_sub(before) < 4 << 10,
        "ferry queued {} KiB for a BEAM that reads nothing (requests total {} KiB)",
        during - before,
        CLIENTS * PAD / 1024
    );

    // Nothing was lost: once the BEAM reads again every request arrives and is answered.
    ferry.pause_stdout(false);
    for _ in 0..CLIENTS {
        let req = ferry.expect_request();
        assert_eq!(req.header("x-pad").map(|v| v.len()), Some(PAD));
        let path = req.path_str();
        ferry.respond(req.id, 200, &[], path);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.response().body_str(), format!("/r{i}"));
    }
}

/// One request at a time per connection: a client pipelining 64 MB of
/// requests behind one the BEAM has not answered must wait in the kernel,
/// not in Ferry's memory.
#[test]
fn pipelined_flood_behind_an_unanswered_request_is_not_buffered() {
    const TOTAL: usize = 64 << 20;
    let mut ferry = Ferry::start(&[]);
    let client = ferry.client();
    let mut stream = client.stream.try_clone().unwrap();
    let one = get("/flood");
    let block: Vec<u8> = one.as_bytes().repeat((1 << 20) / one.len());
    let writer = thread::spawn(move || {
        let mut sent = 0;
        while sent < TOTAL {
            if stream.write_all(&block).is_err() {
                return sent;
            }
            sent += block.len();
        }
        sent
    });
    let first = ferry.expect_request();
    let before = ferry.rss_kib();
    thread::sleep(Duration::from_millis(1000));
    let during = ferry.rss_kib();
    println!("pipelined flood behind an unanswered request: ferry VmRSS {before} KiB -> {during} KiB");
    assert!(during.saturating_sub(before) < 4 << 10, "ferry buffered {} KiB of pipelined requests", during - before);
    assert!(!writer.is_finished(), "all {TOTAL} bytes of requests were taken in while the first was unanswered");
    ferry.refute_within("a second request before the first is answered", Duration::from_millis(100), |t| {
        t.tag() == Some("request")
    });
    // Answering one lets exactly the next one through.
    ferry.respond(first.id, 200, &[], "");
    let second = ferry.expect_request();
    assert_eq!(second.path, b"/flood");
    drop(ferry); // kills ferry: the writer's next write fails
    let _ = writer.join();
}

/// Out of file descriptors (EMFILE) is like max_connections: Ferry stops
/// accepting, keeps serving, and takes the waiting clients once one closes.
#[test]
fn out_of_file_descriptors_waits_instead_of_failing() {
    const CLIENTS: usize = 80;
    let mut sh = Command::new("sh");
    sh.args(["-c", "ulimit -n 64 && exec \"$0\"", &ferry_bin()]);
    let mut ferry = Ferry::start_command(sh, &[("max_connections", int(10_000))]);
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            let mut c = ferry.client();
            c.send(get(&format!("/fd{i}")));
            c
        })
        .collect();
    // Serve what gets in until nothing more arrives.
    let mut served = Vec::new();
    while let Some(t) = ferry.next_frame_within(Duration::from_millis(500)) {
        assert_eq!(t.tag(), Some("request"), "{t}");
        let req = Request::from_term(t);
        let i: usize = req.path_str()[3..].parse().unwrap();
        ferry.respond(req.id, 200, &[], format!("{i}"));
        served.push(i);
    }
    println!("with 64 file descriptors ferry took {} of {CLIENTS} clients at first", served.len());
    assert!(!served.is_empty() && served.len() < CLIENTS, "{} served: the fd limit was not reached", served.len());
    assert!(ferry.is_running(), "ferry died at EMFILE; stderr: {}", ferry.stderr());
    for &i in &served {
        assert_eq!(clients[i].response().body_str(), i.to_string());
    }
    // Closing the served connections frees descriptors for the waiting ones.
    let waiting: Vec<usize> = (0..CLIENTS).filter(|i| !served.contains(i)).collect();
    for &i in &served {
        let _ = clients[i].stream.shutdown(std::net::Shutdown::Both);
    }
    for _ in &waiting {
        let req = ferry.expect_request();
        let i: usize = req.path_str()[3..].parse().unwrap();
        ferry.respond(req.id, 200, &[], format!("{i}"));
    }
    for &i in &waiting {
        assert_eq!(clients[i].response().body_str(), i.to_string());
    }
}
