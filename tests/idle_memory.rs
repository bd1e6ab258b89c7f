//! Memory per idle keep-alive connection: 10,000 connections, each having
//! completed one request, spread over source addresses 127.0.0.2..=127.0.0.11,
//! all left open. The VmRSS delta of the ferry process (from /proc/PID/status)
//! divided by the connection count must stay under 2 KiB (the target;
//! Cowboy is about 14 KB, Bandit about 20 KB).

mod support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use support::*;

const CONNS: usize = 10_000;
const SOURCES: usize = 10;
const BATCH: usize = 500;
const BOUND_BYTES_PER_CONN: u64 = 2048;

fn source(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (n % SOURCES) as u8)
}

fn wait_for_connections(ferry: &mut Ferry, want: i64) {
    let deadline = Instant::now() + WAIT;
    while ferry.stat("connections") != want {
        assert!(Instant::now() < deadline, "connections never reached {want}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ten_thousand_idle_keep_alive_connections_cost_under_2_kib_each() {
    let started = Instant::now();
    let mut ferry = Ferry::start(&[
        ("idle_timeout", int(600_000)),
        ("header_timeout", int(600_000)),
        ("max_connections", int(2 * CONNS as i64)),
        ("backlog", int(4096)),
    ]);

    // Warm up allocator arenas and code paths with connections that then close,
    // so the baseline is a server that has already served.
    for n in 0..200 {
        let mut c = Client::connect_from(source(n), ferry.port, None);
        c.send("GET /warm HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        ferry.answer_next("warm");
        assert_eq!(c.response().body, b"warm");
    }
    wait_for_connections(&mut ferry, 0);
    let before = ferry.rss_kib();

    let mut clients: Vec<Client> = Vec::with_capacity(CONNS);
    for batch in 0..CONNS / BATCH {
        let mut fresh: Vec<Client> = (0..BATCH)
            .map(|i| {
                let mut c = Client::connect_from(source(batch * BATCH + i), ferry.port, None);
                c.send(get("/idle"));
                c
            })
            .collect();
        for _ in 0..BATCH {
            ferry.answer_next("ok");
        }
        for c in fresh.iter_mut() {
            let resp = c.response();
            assert_eq!(resp.status, 200);
            assert!(!resp.closes());
        }
        clients.extend(fresh);
    }
    wait_for_connections(&mut ferry, CONNS as i64);
    let after = ferry.rss_kib();
    let per_conn = after.saturating_sub(before) * 1024 / CONNS as u64;
    println!(
        "{CONNS} idle keep-alive connections over {SOURCES} source addresses: ferry VmRSS {before} KiB -> {after} KiB, \
         {per_conn} bytes/connection (built in {:?})",
        started.elapsed()
    );

    // They are really open and usable: the first and the last still answer.
    for i in [0, CONNS - 1] {
        ferry.round_trip(&mut clients[i], "/still-there");
    }
    let peers: std::collections::HashSet<_> = clients.iter().map(|c| c.stream.local_addr().unwrap().ip()).collect();
    assert_eq!(peers.len(), SOURCES);
    assert!(
        per_conn < BOUND_BYTES_PER_CONN,
        "{per_conn} bytes per idle connection (bound {BOUND_BYTES_PER_CONN})"
    );
}
