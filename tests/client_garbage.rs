//! Mutated requests (deterministic pseudo-random byte edits of valid ones):
//! whatever a client sends, Ferry answers with well-formed HTTP or closes,
//! the BEAM only ever sees well-formed request terms, and the process keeps
//! serving.

mod support;

use std::time::{Duration, Instant};
use support::*;

const CASES: usize = 200;

const BASES: [&[u8]; 5] = [
    b"GET /a?b=c HTTP/1.1\r\nhost: t\r\naccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nt: 1\r\n\r\n",
    b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 0\r\n\r\n",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let specials: [&[u8]; 8] = [b"\r\n", b"\r", b"\n", b":", b" ", b"\0", b"0\r\n\r\n", b"ffffffffffffffffff"];
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 => v.insert(at, rng.next() as u8),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => {
                let s = specials[rng.below(specials.len())];
                v.splice(at..at, s.iter().copied());
            }
            4 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let seg: Vec<u8> = v[at.min(end)..end].to_vec();
                v.splice(at..at, seg);
            }
            _ => v.truncate(at.max(1)),
        }
    }
    v
}

/// The request term is what PROTOCOL.md promises, whatever the bytes were.
fn check_request(req: &Request) {
    assert!(!req.method.is_empty());
    assert!(req.version == (1, 0) || req.version == (1, 1), "{:?}", req.version);
    for (name, value) in &req.headers {
        assert!(!name.is_empty() && !name.iter().any(|b| b.is_ascii_uppercase()), "header name {name:?}");
        assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "header value {value:?}");
    }
}

#[test]
fn mutated_requests_get_http_or_a_close_and_never_a_bad_term() {
    let mut ferry = Ferry::start(&[("header_timeout", int(100)), ("idle_timeout", int(100)), ("inline_body", int(1 << 16))]);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let started = Instant::now();
    let (mut answered, mut refused, mut closed) = (0, 0, 0);
    for case in 0..CASES {
        let bytes = mutate(&mut rng, BASES[case % BASES.len()]);
        let mut client = ferry.client();
        client.try_send(&bytes);
        let deadline = Instant::now() + WAIT;
        let mut head_request = false;
        loop {
            assert!(Instant::now() < deadline, "case {case} {:?}: neither answer nor close", String::from_utf8_lossy(&bytes));
            if let Some(t) = ferry.receive_within(Duration::from_millis(20), |t| t.tag() == Some("request")) {
                let req = Request::from_term(t);
                check_request(&req);
                head_request = req.method == "HEAD";
                ferry.respond(req.id, 200, &[], "ok");
                answered += 1;
                continue;
            }
            match client.response_within(Duration::from_millis(20), head_request) {
                Some(resp) => {
                    assert!((100..600).contains(&resp.status));
                    if resp.status >= 400 {
                        refused += 1;
                    }
                    break;
                }
                None if client.saw_eof() => {
                    closed += 1;
                    break;
                }
                None => {}
            }
        }
        // Commands for requests the mutation ended early are ignored, not errors.
        let _ = ferry.receive_within(Duration::ZERO, |t| t.tag() == Some("closed"));
    }
    println!(
        "{CASES} mutated requests in {:?}: {answered} reached the BEAM, {refused} refused with 4xx/5xx, {closed} closed silently",
        started.elapsed()
    );
    assert!(ferry.is_running());
    assert_eq!(ferry.stat("protocol_errors"), 0, "the test's own commands were all valid");
    let mut client = ferry.client();
    ferry.round_trip(&mut client, "/still-serving");
}
