//! `{send_file, Id, Status, Headers, {Path, Offset, Length}}` (PROTOCOL.md
//! "Files"): Rust sends the file itself with sendfile(2), with the usual
//! framing, keep-alive and pipelining after it, and reports files that
//! cannot be sent as `{closed, Id, file_error}`.

mod support;

use std::fs::OpenOptions;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;
use support::files::{send_file, TestDir};
use support::*;

const GIB: u64 = 1 << 30;
/// Ferry's RSS while it sends a 1 GiB file (measured: about 3 MiB; the
/// bytes go from the page cache to the socket without passing through it).
const RSS_BOUND_KIB: u64 = 16 << 10;

/// A GET on `client`, answered by `send_file` of `file`.
fn get_file(ferry: &mut Ferry, client: &mut Client, status: i64, headers: &[(&str, &str)], file: &Path, offset: u64, length: u64) -> Response {
    get_file_id(ferry, client, status, headers, file, offset, length).1
}

/// `get_file` that also returns the request's id.
fn get_file_id(ferry: &mut Ferry, client: &mut Client, status: i64, headers: &[(&str, &str)], file: &Path, offset: u64, length: u64) -> (i64, Response) {
    client.send(get("/f"));
    let req = ferry.expect_request();
    send_file(ferry, req.id, status, headers, file, offset, length);
    (req.id, client.response())
}

#[test]
fn files_of_0_1_and_100k_bytes_then_keep_alive_and_pipelining() {
    let dir = TestDir::new("sizes");
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    for len in [0usize, 1, 100_000] {
        let body = pattern(7, len);
        let file = dir.file(&format!("f{len}"), &body);
        let resp = get_file(&mut ferry, &mut client, 200, &[("content-type", "application/octet-stream")], &file, 0, len as u64);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-length"), Some(len.to_string().as_str()), "{:?}", String::from_utf8_lossy(&resp.head));
        assert_eq!(resp.header("content-type"), Some("application/octet-stream"));
        assert!(!resp.closes());
        assert_eq!(resp.body, body, "{len} bytes");
    }
    // Two pipelined requests: the file answers the first, in order, and the
    // second is read only once the file is out.
    let file = dir.file("pipelined", &pattern(3, 300_000));
    client.send(format!("{}{}", get("/one"), get("/two")));
    let one = ferry.expect_request();
    send_file(&mut ferry, one.id, 200, &[], &file, 0, 300_000);
    ferry.answer_next("second");
    assert_eq!(client.response().body, pattern(3, 300_000));
    assert_eq!(client.response().body_str(), "second");
    ferry.round_trip(&mut client, "/after");
}

#[test]
fn offset_and_length_send_a_range_with_the_handlers_206() {
    let dir = TestDir::new("range");
    let all = pattern(0, 1 << 20);
    let file = dir.file("range", &all);
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let resp = get_file(&mut ferry, &mut client, 206, &[("content-range", "bytes 1000-5999/1048576")], &file, 1000, 5000);
    assert_eq!(resp.status, 206);
    assert_eq!(resp.header("content-range"), Some("bytes 1000-5999/1048576"));
    assert_eq!(resp.body, &all[1000..6000]);
    // The last byte alone, and the handler's own (equal) content-length.
    let resp = get_file(&mut ferry, &mut client, 206, &[("content-length", "1")], &file, (1 << 20) - 1, 1);
    assert_eq!(resp.headers_named("content-length"), vec!["1"]);
    assert_eq!(resp.body, &all[(1 << 20) - 1..]);
    ferry.round_trip(&mut client, "/still-open");
}

#[test]
fn head_204_and_304_send_no_body() {
    let dir = TestDir::new("head");
    let file = dir.file("h", &pattern(0, 5000));
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("HEAD /h HTTP/1.1\r\nhost: t\r\n\r\n");
    let req = ferry.expect_request();
    send_file(&mut ferry, req.id, 200, &[], &file, 0, 5000);
    let resp = client.head_response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("5000"));
    for status in [204, 304] {
        client.send(get("/cond"));
        let req = ferry.expect_request();
        send_file(&mut ferry, req.id, status, &[], &file, 0, 5000);
        let resp = client.response();
        assert_eq!(resp.status as i64, status);
        assert!(resp.body.is_empty());
    }
    // Nothing of the file leaked into the connection.
    ferry.round_trip(&mut client, "/next");
}

#[test]
fn a_file_that_cannot_be_sent_is_500_and_file_error() {
    let dir = TestDir::new("missing");
    let short = dir.file("short", b"0123456789");
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let cases = [(dir.path("missing"), 0, 1, "No such file"), (short.clone(), 5, 6, "shorter than"), (dir.0.clone(), 0, 1, "not a regular file")];
    for (path, offset, length, says) in cases {
        let (id, resp) = get_file_id(&mut ferry, &mut client, 200, &[], &path, offset, length);
        assert_eq!(resp.status, 500, "{path:?}");
        assert!(!resp.closes(), "the request had no body: the connection stays");
        assert_eq!(ferry.expect_closed(id), "file_error");
        let log = ferry.logs.iter().find(|l| l.el(1).atom() == Some("error")).cloned().expect("an error log line");
        let text = String::from_utf8_lossy(log.el(2).bin().expect("log text")).into_owned();
        assert!(text.contains(&path.display().to_string()) && text.contains(says), "{text}");
        ferry.logs.clear();
    }
    ferry.round_trip(&mut client, "/alive");
}

#[test]
fn a_content_length_other_than_the_files_is_a_protocol_error() {
    let dir = TestDir::new("cl");
    let file = dir.file("f", &pattern(0, 10));
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    let resp = get_file(&mut ferry, &mut client, 200, &[("content-length", "5")], &file, 0, 10);
    assert_eq!(resp.status, 500);
    let t = ferry.expect_tag("protocol_error");
    assert!(String::from_utf8_lossy(t.el(2).bin().unwrap()).contains("content-length"), "{t}");
}

/// A 1 GiB sparse file with marks at a few offsets: read back whole by the
/// client, the marks checked where they are, zeros checked around them,
/// and ferry's memory flat while it goes.
#[test]
fn a_1_gib_file_goes_out_whole_with_flat_memory() {
    let dir = TestDir::new("gib");
    let path = dir.path("big");
    let marks: [u64; 5] = [0, 4095, 123_456_789, GIB / 2 + 3, GIB - 16];
    {
        let f = OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
        f.set_len(GIB).unwrap();
        for &at in &marks {
            f.write_all_at(&pattern(at, 16), at).unwrap();
        }
    }
    let mut ferry = Ferry::start(&[("sent_events", atom("true"))]);
    let mut client = ferry.client();
    client.send(get("/big"));
    let req = ferry.expect_request();
    send_file(&mut ferry, req.id, 200, &[], &path, 0, GIB);
    let head = client.head();
    assert_eq!(head.header("content-length"), Some(GIB.to_string().as_str()));
    let mut window = match client.leftover().len() {
        0 => Vec::new(),
        n => client.read_some(n),
    };
    let mut got = window.len() as u64;
    let mut window_at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut max_rss = 0;
    let mut checked = 0;
    while got < GIB {
        let n = client.stream.read(&mut buf).expect("read the file");
        assert!(n > 0, "closed after {got} bytes");
        window.extend_from_slice(&buf[..n]);
        got += n as u64;
        // Check every mark once the bytes around it have arrived.
        for &at in &marks {
            let end = (at + 32).min(GIB);
            if at >= window_at && end <= window_at + window.len() as u64 {
                let w = &window[(at - window_at) as usize..(end - window_at) as usize];
                assert_eq!(&w[..16], &pattern(at, 16)[..], "mark at {at}");
                assert!(w[16..].iter().all(|&b| b == 0) || at + 16 == GIB || marks.contains(&(at + 16)), "zeros after {at}");
                checked += 1;
            }
        }
        let keep = window.len().min(64);
        window_at += (window.len() - keep) as u64;
        window.drain(..window.len() - keep);
        if got % (64 << 20) < n as u64 {
            max_rss = max_rss.max(ferry.rss_kib());
        }
    }
    assert_eq!(got, GIB);
    assert!(checked >= marks.len(), "checked {checked} marks");
    let sent = ferry.expect_for("sent", req.id);
    assert_eq!(sent.el(2).get("bytes").and_then(|b| b.int()), Some((head.head.len() as u64 + GIB) as i64));
    assert!(max_rss > 0 && max_rss < RSS_BOUND_KIB, "ferry RSS {max_rss} KiB while sending 1 GiB");
    eprintln!("1 GiB file: ferry peak RSS sampled {max_rss} KiB");
    ferry.round_trip(&mut client, "/after-the-gib");
}

/// The file is cut short while the client reads: the client sees a short
/// body and a close, the BEAM `{closed, Id, file_error}`.
#[test]
fn a_file_truncated_while_sent_closes_the_connection() {
    let dir = TestDir::new("trunc");
    let path = dir.path("t");
    let total: u64 = 64 << 20;
    let f = OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
    f.set_len(total).unwrap();
    let mut ferry = Ferry::start(&[]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(64 << 10));
    client.send(get("/t"));
    let req = ferry.expect_request();
    send_file(&mut ferry, req.id, 200, &[], &path, 0, total);
    let head = client.head();
    assert_eq!(head.header("content-length"), Some(total.to_string().as_str()));
    let first = client.read_exact_bytes(100_000);
    assert!(first.iter().all(|&b| b == 0));
    f.set_len(1 << 20).unwrap();
    let rest = client.read_to_eof();
    let got = first.len() as u64 + rest.len() as u64;
    assert!(got < total, "the whole file came although it was cut to 1 MiB");
    assert_eq!(ferry.expect_closed(req.id), "file_error");
    let text = ferry.logs.iter().map(|l| String::from_utf8_lossy(l.el(2).bin().unwrap()).into_owned()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("shrank"), "{text}");
    assert_eq!(ferry.stat("connections"), 0);
}

/// A client that stops reading a file is cut by `send_timeout`, as for
/// any response: the file counts as output waiting for it.
#[test]
fn a_reader_that_stops_is_cut_by_send_timeout() {
    let dir = TestDir::new("stall");
    let path = dir.path("s");
    OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap().set_len(256 << 20).unwrap();
    let mut ferry = Ferry::start(&[("send_timeout", int(300))]);
    let mut client = Client::connect_from(Ipv4Addr::LOCALHOST, ferry.port, Some(16 << 10));
    client.send(get("/s"));
    let req = ferry.expect_request();
    send_file(&mut ferry, req.id, 200, &[], &path, 0, 256 << 20);
    let deadline = std::time::Instant::now() + WAIT;
    while ferry.stat("connections") > 0 {
        assert!(std::time::Instant::now() < deadline, "a stalled reader was never cut");
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = client.read_to_eof().len() as u64;
    assert!(got < 256 << 20, "the whole file went to a client that read nothing");
}
