//! TLS under load, with VmRSS bounds: a 200 MB upload and a 200 MB
//! download (send_file, which over TLS takes the read + write path),
//! through Python's ssl and curl, and the bytes an idle TLS connection costs.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::files::{path_bin, TestDir};
use support::tls::{python, run, Certs};
use support::*;

const MB200: u64 = 200 << 20;

fn py(port: u16, certs: &Certs, mode: &[&str]) -> Command {
    let script = std::fs::read_to_string(format!("{}/tests/support/tls_client.py", env!("CARGO_MANIFEST_DIR"))).expect("script");
    let mut args = vec![port.to_string(), certs.ca().display().to_string(), "localhost".into()];
    args.extend(mode.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = python(&script, &args);
    // A 200 MB transfer over a shared machine: more than the usual 20 s.
    c.env("PYTHONUNBUFFERED", "1");
    c
}

#[test]
fn a_200_mb_upload_and_download_over_tls_with_flat_rss() {
    let certs = Certs::new("bulk");
    let mut ferry = Ferry::start(&[("tls", certs.option(vec![]))]);
    let n = MB200.to_string();
    let mut upload = py(ferry.port, &certs, &["upload", &n]);
    let child = std::thread::spawn(move || run(&mut upload, b""));
    let req = ferry.expect_request();
    assert_eq!(req.body, None);
    let (mut got, mut max_rss) = (0u64, 0u64);
    ferry.read_body(req.id, 1 << 20);
    loop {
        match ferry.next_body_frame(req.id) {
            BodyFrame::Data(d) => {
                got += d.len() as u64;
                ferry.read_body(req.id, d.len() as i64 + BODY_FRAME_COST);
            }
            BodyFrame::End(_) => break,
        }
        if got % (16 << 20) < (256 << 10) {
            max_rss = max_rss.max(ferry.rss_kib());
        }
    }
    assert_eq!(got, MB200);
    ferry.respond(req.id, 200, &[], format!("got {got}"));
    let out = child.join().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("got {got}")), "{}", String::from_utf8_lossy(&out.stdout));
    // Download: a sparse 200 MB file, sent by send_file.
    let dir = TestDir::new("tls-bulk");
    let path = dir.path("big");
    std::fs::File::create(&path).unwrap().set_len(MB200).unwrap();
    let mut download = Command::new("curl");
    download.args(["-sS", "--http1.1", "-o", "/dev/null", "-w", "GOT %{size_download}", "--cacert", &certs.path("ca.pem"), "--resolve", &format!("localhost:{}:127.0.0.1", ferry.port), &format!("https://localhost:{}/big", ferry.port)]);
    let child = std::thread::spawn(move || run(&mut download, b""));
    let req = ferry.expect_request();
    ferry.send(&tuple(vec![atom("send_file"), int(req.id), int(200), header_list(&[]), tuple(vec![path_bin(&path), int(0), int(MB200 as i64)])]));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !child.is_finished() && Instant::now() < deadline {
        max_rss = max_rss.max(ferry.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.join().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let late = ferry.receive_within(Duration::from_millis(300), |t| t.tag() == Some("closed"));
    assert!(out.contains(&format!("GOT {MB200}")), "{out} {late:?}");
    println!("200 MB up and down over TLS: VmRSS at most {max_rss} KiB");
    assert!(max_rss < 16 << 10, "VmRSS reached {max_rss} KiB");
}

#[test]
fn idle_tls_connections_cost_little() {
    const N: usize = 500;
    let certs = Certs::new("idle");
    let ferry = Ferry::start(&[("tls", certs.option(vec![]))]);
    // Warm up: one connection, so the one-off allocations are in the baseline.
    let warm = run(&mut py(ferry.port, &certs, &["idle", "1"]), b"");
    assert!(String::from_utf8_lossy(&warm.stdout).contains("OPEN 1"));
    std::thread::sleep(Duration::from_millis(300));
    let before = ferry.rss_kib();
    let mut holder = py(ferry.port, &certs, &["idle", &N.to_string()]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    // A whole line: an unbuffered print writes its words one by one.
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.contains(&format!("OPEN {N}")), "{line}");
    std::thread::sleep(Duration::from_millis(500));
    let after = ferry.rss_kib();
    let per = (after.saturating_sub(before)) * 1024 / N as u64;
    println!("{N} idle TLS connections: VmRSS {before} -> {after} KiB, {per} bytes each");
    let _ = holder.stdin.take().unwrap().write_all(b"");
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(per < 16 << 10, "{per} bytes per idle TLS connection");
}

/// A body to a file over TLS: the plain path splices socket → pipe → file,
/// which would write the TLS records themselves; over TLS the bytes must
/// come out of rustls.
#[test]
fn a_body_to_a_file_over_tls_is_the_decrypted_bytes() {
    let certs = Certs::new("tofile");
    let mut ferry = Ferry::start(&[("tls", certs.option(vec![]))]);
    let n: usize = 8 << 20;
    let mut upload = py(ferry.port, &certs, &["upload", &n.to_string()]);
    let child = std::thread::spawn(move || run(&mut upload, b""));
    let req = ferry.expect_request();
    let dir = TestDir::new("tls-tofile");
    let target = dir.path("upload.bin");
    support::files::body_to_file(&mut ferry, req.id, Some(&target), vec![]);
    let t = ferry.expect_for("body_file", req.id);
    assert_eq!(t.el(2).get("bytes").and_then(|b| b.int()), Some(n as i64));
    ferry.respond(req.id, 200, &[], "stored");
    let out = child.join().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored"), "{}", String::from_utf8_lossy(&out.stdout));
    // tls_client.py sends bytes(range(256)) over and over: byte i is i % 256.
    let got = std::fs::read(&target).unwrap();
    assert_eq!(got.len(), n);
    let bad = got.iter().enumerate().position(|(i, &b)| b != (i % 256) as u8);
    assert_eq!(bad, None, "the file differs from what the client sent at this offset");
}
