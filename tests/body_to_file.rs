//! `{body_to_file, Id, Target, Opts}` (PROTOCOL.md "Files"): Rust writes the
//! rest of a request body to a file, never sending it over the pipe, and
//! reports `{body_file, Id, #{path, bytes, sha256, trailers}}`; limits and
//! failures remove the file.

mod support;

use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use support::files::{body_to_file, TestDir};
use support::*;

/// Ferry's RSS while a 64 MiB body goes to a file (measured: about 3 MiB).
const RSS_BOUND_KIB: u64 = 16 << 10;

fn post(len: usize) -> String {
    format!("POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: {len}\r\n\r\n")
}

const CHUNKED_POST: &str = "POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n";
/// Dispatched at once as `body => stream` (without it a small chunked body
/// would be collected and sent inline).
const CHUNKED_CONTINUE: &str = "POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n";

/// A body as chunks of `size` bytes, then a last chunk with `trailers`.
fn chunked(body: &[u8], size: usize, trailers: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailers}\r\n").as_bytes());
    out
}

/// The map of the next `{body_file, Id, Map}`.
fn expect_body_file(ferry: &mut Ferry, id: i64) -> (PathBuf, i64, Option<Vec<u8>>, Vec<(Vec<u8>, Vec<u8>)>) {
    let t = ferry.expect_for("body_file", id);
    let m = t.el(2);
    let path = PathBuf::from(String::from_utf8(m.get("path").and_then(|p| p.bin()).expect("path").to_vec()).unwrap());
    let bytes = m.get("bytes").and_then(|b| b.int()).expect("bytes");
    let sha = m.get("sha256").expect("sha256 key");
    let sha = if sha.atom() == Some("undefined") { None } else { Some(sha.bin().expect("sha256 binary").to_vec()) };
    (path, bytes, sha, pairs(m.get("trailers").expect("trailers")))
}

#[test]
fn a_content_length_body_goes_to_the_named_file_and_the_connection_stays() {
    let dir = TestDir::new("cl");
    let target = dir.path("upload.bin");
    let body = pattern(1, 300_000);
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(post(body.len()));
    client.send(&body);
    let req = ferry.expect_request();
    assert_eq!(req.body, None, "a 300 KB body streams");
    body_to_file(&mut ferry, req.id, Some(&target), vec![]);
    let (path, bytes, sha, trailers) = expect_body_file(&mut ferry, req.id);
    assert_eq!((path.as_path(), bytes, sha, trailers), (target.as_path(), body.len() as i64, None, vec![]));
    assert_eq!(std::fs::read(&target).unwrap(), body);
    ferry.refute_within("body frames", std::time::Duration::from_millis(100), |t| t.tag() == Some("body"));
    ferry.respond(req.id, 200, &[], "stored");
    assert_eq!(client.response().body_str(), "stored");
    ferry.round_trip(&mut client, "/next");
}

#[test]
fn a_chunked_body_with_trailers_goes_to_a_tmp_file_in_upload_dir() {
    let dir = TestDir::new("tmp");
    let body = pattern(2, 200_000);
    let mut ferry = Ferry::start(&[("upload_dir", bin(dir.0.as_os_str().as_encoded_bytes()))]);
    let mut client = ferry.client();
    // More than inline_body arrives before the request is dispatched: the
    // bytes Ferry collected go to the file first.
    client.send(CHUNKED_POST);
    client.send(chunked(&body, 3000, "x-sum: 42\r\n"));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, None, vec![("digest", atom("sha256"))]);
    let (path, bytes, sha, trailers) = expect_body_file(&mut ferry, req.id);
    assert_eq!(path.parent(), Some(dir.0.as_path()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("ferry-upload-") && name.len() > "ferry-upload-".len() + 8, "{name}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(bytes, body.len() as i64);
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(sha.as_deref(), Some(&Sha256::digest(&body)[..]));
    assert_eq!(trailers, vec![(b"x-sum".to_vec(), b"42".to_vec())]);
    ferry.respond(req.id, 200, &[], "ok");
    assert_eq!(client.response().status, 200);
    // A second upload gets a file of its own.
    client.send(CHUNKED_CONTINUE);
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, None, vec![]);
    assert_eq!(client.head().status, 100);
    client.send(chunked(b"second", 2, ""));
    let (second, bytes, ..) = expect_body_file(&mut ferry, req.id);
    assert_ne!(second, path);
    assert_eq!((bytes, std::fs::read(&second).unwrap()), (6, b"second".to_vec()));
}

#[test]
fn what_the_beam_read_first_stays_its_own_and_the_file_gets_the_rest() {
    let dir = TestDir::new("rest");
    let target = dir.path("rest");
    let body = pattern(3, 500_000);
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(post(body.len()));
    client.send(&body);
    let req = ferry.expect_request();
    ferry.read_body(req.id, 10_000);
    let mut head = Vec::new();
    while head.len() < 10_000 - 512 {
        match ferry.next_body_frame(req.id) {
            BodyFrame::Data(d) => head.extend_from_slice(&d),
            BodyFrame::End(_) => panic!("the body ended early"),
        }
    }
    body_to_file(&mut ferry, req.id, Some(&target), vec![("digest", atom("sha256"))]);
    let (_, bytes, sha, _) = expect_body_file(&mut ferry, req.id);
    let rest = std::fs::read(&target).unwrap();
    assert_eq!(bytes as usize, rest.len());
    assert_eq!([head.as_slice(), rest.as_slice()].concat(), body);
    assert_eq!(sha.as_deref(), Some(&Sha256::digest(&rest)[..]));
}

#[test]
fn expect_100_continue_is_answered_when_the_file_is_asked_for() {
    let dir = TestDir::new("continue");
    let target = dir.path("c");
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send("POST /up HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n");
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, Some(&target), vec![]);
    assert_eq!(client.head().status, 100);
    client.send("hello");
    let (_, bytes, ..) = expect_body_file(&mut ferry, req.id);
    assert_eq!((bytes, std::fs::read(&target).unwrap()), (5, b"hello".to_vec()));
}

#[test]
fn over_max_is_413_too_large_and_no_file_is_left() {
    let dir = TestDir::new("max");
    let mut ferry = Ferry::start(&[("upload_dir", bin(dir.0.as_os_str().as_encoded_bytes()))]);
    // A content-length over max: refused before anything is written.
    let mut client = ferry.client();
    client.send(post(100_001));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, Some(&dir.path("never")), vec![("max", int(100_000))]);
    assert_eq!(client.response().status, 413);
    assert_eq!(ferry.expect_closed(req.id), "too_large");
    // A chunked body that grows past max: the file is removed.
    let mut client = ferry.client();
    client.send(CHUNKED_CONTINUE);
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, None, vec![("max", int(100_000))]);
    assert_eq!(client.head().status, 100);
    let body = pattern(0, 150_000);
    let _ = client.try_send(chunked(&body, 10_000, ""));
    let resp = client.response();
    assert_eq!(resp.status, 413);
    assert!(resp.closes());
    assert_eq!(ferry.expect_closed(req.id), "too_large");
    // Exactly max passes.
    let mut client = ferry.client();
    client.send(post(100_000));
    client.send(pattern(0, 100_000));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, Some(&dir.path("exact")), vec![("max", int(100_000))]);
    assert_eq!(expect_body_file(&mut ferry, req.id).1, 100_000);
    assert_eq!(dir.entries(), vec!["exact".to_string()]);
}

#[test]
fn a_file_that_cannot_be_created_is_500_and_file_error() {
    let dir = TestDir::new("nodir");
    let mut ferry = Ferry::start(&[("upload_dir", bin(dir.path("missing").as_os_str().as_encoded_bytes()))]);
    let mut client = ferry.client();
    for target in [None, Some(dir.path("no/such/dir/f"))] {
        client.send(post(10));
        client.send("0123456789");
        let req = ferry.expect_request();
        body_to_file(&mut ferry, req.id, target.as_deref(), vec![]);
        let resp = client.response();
        assert_eq!(resp.status, 500);
        assert_eq!(ferry.expect_closed(req.id), "file_error");
        let log = ferry.logs.iter().find(|l| l.el(1).atom() == Some("error")).cloned().expect("an error log line");
        assert!(String::from_utf8_lossy(log.el(2).bin().unwrap()).contains("cannot create"), "{log}");
        ferry.logs.clear();
        if resp.closes() {
            client = ferry.client();
        }
    }
    assert!(dir.entries().is_empty());
}

#[test]
fn a_client_that_goes_away_mid_body_leaves_no_file() {
    let dir = TestDir::new("gone");
    let mut ferry = Ferry::start(&[("upload_dir", bin(dir.0.as_os_str().as_encoded_bytes()))]);
    let mut client = ferry.client();
    client.send(post(1_000_000));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, None, vec![]);
    client.send(pattern(0, 300_000));
    let deadline = std::time::Instant::now() + WAIT;
    while dir.entries().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no upload file appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(client);
    assert_eq!(ferry.expect_closed(req.id), "peer_closed");
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());
}

#[test]
fn a_64_mib_upload_to_a_file_keeps_memory_flat() {
    let dir = TestDir::new("big");
    let target = dir.path("big");
    let total = 64usize << 20;
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(post(total));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, Some(&target), vec![("digest", atom("sha256"))]);
    let mut sha = Sha256::new();
    let mut max_rss = 0;
    for i in 0..64u64 {
        let piece = pattern(i << 20, 1 << 20);
        sha.update(&piece);
        client.send(&piece);
        if i % 8 == 7 {
            max_rss = max_rss.max(ferry.rss_kib());
        }
    }
    let (_, bytes, digest, _) = expect_body_file(&mut ferry, req.id);
    assert_eq!(bytes as usize, total);
    assert_eq!(digest.as_deref(), Some(&sha.finalize()[..]));
    assert_eq!(std::fs::metadata(&target).unwrap().len() as usize, total);
    assert!(max_rss < RSS_BOUND_KIB, "ferry RSS {max_rss} KiB during a 64 MiB upload to a file");
    ferry.refute_within("body frames", std::time::Duration::from_millis(100), |t| t.tag() == Some("body"));
}

/// A content-length body without a digest is spliced socket → pipe → file,
/// at most up to its own end: the request pipelined right behind it (in the
/// same write) stays whole, and a tail too short to splice is read as usual.
#[test]
fn a_spliced_body_ends_at_its_length_and_the_pipelined_request_is_served() {
    let dir = TestDir::new("spliced");
    let target = dir.path("spliced.bin");
    let body = pattern(7, (3 << 20) + 12_345);
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(post(body.len()));
    let req = ferry.expect_request();
    body_to_file(&mut ferry, req.id, Some(&target), vec![]);
    let mut rest = body.clone();
    rest.extend_from_slice(get("/next").as_bytes());
    client.send(&rest);
    let (path, bytes, _, _) = expect_body_file(&mut ferry, req.id);
    assert_eq!((path.as_path(), bytes), (target.as_path(), body.len() as i64));
    assert!(std::fs::read(&target).unwrap() == body, "the file differs from the body");
    ferry.respond(req.id, 200, &[], "stored");
    assert_eq!(client.response().body_str(), "stored");
    let next = ferry.expect_request();
    assert_eq!(next.path_str(), "/next");
    ferry.respond(next.id, 200, &[], "next");
    assert_eq!(client.response().body_str(), "next");
}

#[test]
fn an_inline_body_already_given_leaves_an_empty_file() {
    let dir = TestDir::new("inline");
    let target = dir.path("empty");
    let mut ferry = Ferry::start(&[]);
    let mut client = ferry.client();
    client.send(post(3));
    client.send("abc");
    let req = ferry.expect_request();
    assert_eq!(req.body.as_deref(), Some(&b"abc"[..]));
    body_to_file(&mut ferry, req.id, Some(&target), vec![]);
    assert_eq!(expect_body_file(&mut ferry, req.id).1, 0);
    assert_eq!(std::fs::read(&target).unwrap(), b"");
    ferry.respond(req.id, 204, &[], "");
    assert_eq!(client.response().status, 204);
}
