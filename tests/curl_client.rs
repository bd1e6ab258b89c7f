//! curl, the natural client: connection reuse across URLs, an upload that
//! waits for `100 Continue`, a chunked upload.

mod support;

use std::process::{Command, Stdio};
use support::*;

fn curl(args: &[&str]) -> std::process::Child {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl")
}

fn finish(child: std::process::Child) -> String {
    let out = child.wait_with_output().expect("curl output");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_reuses_the_connection_for_two_urls() {
    let mut ferry = Ferry::start(&[]);
    let base = format!("http://127.0.0.1:{}", ferry.port);
    let child = curl(&[&format!("{base}/one"), &format!("{base}/two")]);
    let one = ferry.expect_request();
    ferry.respond(one.id, 200, &[], "1;");
    let two = ferry.expect_request();
    ferry.respond(two.id, 200, &[], "2;");
    assert_eq!(finish(child), "1;2;");
    assert_eq!(one.peer, two.peer, "curl opened a second connection");
}

#[test]
fn curl_upload_waits_for_100_continue() {
    let mut ferry = Ferry::start(&[]);
    let body = pattern(0, 2 << 20);
    let file = std::env::temp_dir().join(format!("ferry-curl-{}.bin", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let child = curl(&[
        "-H",
        "expect: 100-continue",
        "--expect100-timeout",
        "30",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://127.0.0.1:{}/upload", ferry.port),
    ]);
    let req = ferry.expect_request();
    assert_eq!(req.header("expect"), Some(&b"100-continue"[..]));
    assert_eq!(req.body, None);
    let (got, _) = ferry.read_whole_body(req.id, 256 << 10);
    assert!(got == body, "upload corrupted ({} bytes)", got.len());
    ferry.respond(req.id, 200, &[], format!("{}", got.len()));
    assert_eq!(finish(child), (2 << 20).to_string());
    let _ = std::fs::remove_file(file);
}

#[test]
fn curl_chunked_upload_and_chunked_download() {
    let mut ferry = Ferry::start(&[]);
    let child = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-H", "transfer-encoding: chunked", "--data-binary", "@-"])
        .arg(format!("http://127.0.0.1:{}/echo", ferry.port))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("curl");
    let mut child = child;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"streamed through curl").unwrap();
    }
    let req = ferry.expect_request();
    assert_eq!(req.header("transfer-encoding"), Some(&b"chunked"[..]));
    let body = match req.body.clone() {
        Some(b) => b,
        None => ferry.read_whole_body(req.id, 1024).0,
    };
    assert_eq!(body, b"streamed through curl");
    ferry.stream_start(req.id, 200, &[]);
    for piece in body.chunks(5) {
        ferry.stream_chunk(req.id, piece);
    }
    ferry.stream_end(req.id, &[]);
    assert_eq!(finish(child), "streamed through curl");
}
