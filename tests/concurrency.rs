//! Many clients at once: each response reaches the client that asked, in
//! order, with ids unique across connections.

mod support;

use std::collections::HashSet;
use std::thread;
use support::*;

#[test]
fn fifty_clients_twenty_requests_each_get_their_own_answers() {
    const CLIENTS: usize = 50;
    const REQUESTS: usize = 20;
    let mut ferry = Ferry::start(&[]);
    let port = ferry.port;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut client = Client::connect(port);
                for r in 0..REQUESTS {
                    let body = format!("client {c} request {r}");
                    client.send(format!(
                        "POST /c{c}/r{r} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    ));
                    let resp = client.response();
                    assert_eq!(resp.status, 200);
                    assert_eq!(resp.body_str(), format!("/c{c}/r{r} <- {body}"), "a response reached the wrong client");
                }
            })
        })
        .collect();
    let mut ids = HashSet::new();
    // The BEAM answers in whatever order the requests arrive, echoing path and body.
    for _ in 0..CLIENTS * REQUESTS {
        let req = ferry.expect_request();
        assert!(ids.insert(req.id), "id {} reused", req.id);
        let body = req.body.clone().expect("small bodies ride inline");
        ferry.respond(req.id, 200, &[], format!("{} <- {}", req.path_str(), String::from_utf8_lossy(&body)));
    }
    for w in workers {
        w.join().expect("client thread");
    }
    assert_eq!(ferry.stat("requests"), (CLIENTS * REQUESTS) as i64);
}

#[test]
fn concurrent_streams_get_their_own_credit() {
    let mut ferry = Ferry::start(&[("send_window", int(8192))]);
    let mut a = ferry.client();
    let mut b = ferry.client();
    a.send(get("/a"));
    let ra = ferry.expect_request();
    b.send(get("/b"));
    let rb = ferry.expect_request();
    ferry.stream_start(ra.id, 200, &[]);
    ferry.stream_start(rb.id, 200, &[]);
    // Interleave 64 KiB on each, 4 KiB at a time, each stream waiting for its own credit.
    let (mut sent, mut credit) = ([0usize; 2], [0usize; 2]);
    let ids = [ra.id, rb.id];
    let readers: Vec<_> = [(a, b'a'), (b, b'b')]
        .into_iter()
        .map(|(mut c, byte)| {
            thread::spawn(move || {
                let resp = c.response();
                assert_eq!(resp.body, vec![byte; 65536]);
            })
        })
        .collect();
    while sent != [65536; 2] {
        for s in 0..2 {
            while sent[s] < 65536 && sent[s] - credit[s] + 4096 <= 8192 {
                ferry.stream_chunk(ids[s], vec![if s == 0 { b'a' } else { b'b' }; 4096]);
                sent[s] += 4096;
            }
        }
        if sent == [65536; 2] {
            break;
        }
        let t = ferry.expect_tag("stream_credit");
        let s = ids.iter().position(|&i| Some(i) == t.el(1).int()).expect("credit for a known stream");
        credit[s] += t.el(2).int().unwrap() as usize;
        assert!(credit[s] <= sent[s], "credit beyond what stream {s} sent");
    }
    ferry.stream_end(ra.id, &[]);
    ferry.stream_end(rb.id, &[]);
    for r in readers {
        r.join().expect("reader");
    }
}
