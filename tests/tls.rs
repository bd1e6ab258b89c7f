//! HTTPS terminated in Rust: real TLS clients (curl, openssl s_client,
//! Python's ssl) against the binary. TLS 1.3 and 1.2, ALPN, SNI, client
//! certificates, what the BEAM learns, and what never reaches it.

mod support;

use std::process::Command;
use std::time::Duration;
use support::files::path_bin;
use support::tls::{python, run, s_client, Certs};
use support::*;

fn client_script() -> String {
    format!("{}/tests/support/tls_client.py", env!("CARGO_MANIFEST_DIR"))
}

/// Python's ssl against `port`, SNI `sni`, doing `mode`.
fn py(port: u16, certs: &Certs, sni: &str, mode: &[&str]) -> Command {
    let mut args = vec![port.to_string(), certs.ca().display().to_string(), sni.to_string()];
    args.extend(mode.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python(&std::fs::read_to_string(client_script()).expect("tls_client.py"), &args)
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn start(certs: &Certs, tls: Term) -> Ferry {
    let _ = certs;
    Ferry::start(&[("tls", tls)])
}

/// The `tls` map of a request.
fn tls_info(req: &Request) -> Term {
    req.term.el(2).get("tls").unwrap_or_else(|| panic!("no tls in {}", req.term)).clone()
}

#[test]
fn curl_over_tls13_and_tls12_and_what_the_beam_learns() {
    let certs = Certs::new("curl");
    let mut ferry = start(&certs, certs.option(vec![]));
    for (flags, version) in [(vec!["--tlsv1.3"], "tlsv1.3"), (vec!["--tlsv1.2", "--tls-max", "1.2"], "tlsv1.2")] {
        let url = format!("https://localhost:{}/hello?x=1", ferry.port);
        let resolve = format!("localhost:{}:127.0.0.1", ferry.port);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--http1.1", "--cacert"]).arg(certs.ca()).args(["--resolve", &resolve]).args(&flags).arg(&url);
        let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("curl");
        let req = ferry.expect_request();
        assert_eq!(req.path_str(), "/hello");
        let info = tls_info(&req);
        assert_eq!(info.get("version").and_then(|v| v.atom()), Some(version), "{info}");
        assert_eq!(info.get("alpn").and_then(|v| v.bin()), Some(&b"http/1.1"[..]), "{info}");
        assert_eq!(info.get("sni").and_then(|v| v.bin()), Some(&b"localhost"[..]), "{info}");
        assert!(info.get("cipher").and_then(|v| v.bin()).is_some_and(|c| !c.is_empty()), "{info}");
        assert_eq!(info.get("peer_cert").and_then(|v| v.atom()), Some("undefined"), "{info}");
        ferry.respond(req.id, 200, &[], "over tls");
        let out = child.wait_with_output().expect("curl");
        assert!(out.status.success(), "curl: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "over tls");
    }
}

#[test]
fn alpn_and_sni_choose_what_openssl_s_client_sees() {
    let certs = Certs::new("sni");
    let mut ferry = start(&certs, certs.option(vec![]));
    let port = ferry.port;
    let ca = certs.path("ca.pem");
    let request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let answer = std::thread::spawn(move || {
        for _ in 0..3 {
            let req = ferry.expect_request();
            let sni = tls_info(&req).get("sni").and_then(|s| s.bin()).map(|s| String::from_utf8_lossy(s).into_owned());
            ferry.respond(req.id, 200, &[], format!("sni={sni:?}"));
        }
        ferry
    });
    for (name, subject) in [("other.test", "CN=other.test"), ("localhost", "CN=localhost"), ("unknown.test", "CN=localhost")] {
        let out = run(&mut s_client(port, &["-servername", name, "-alpn", "http/1.1", "-CAfile", &ca, "-ign_eof"]), request);
        let t = text(&out);
        assert!(t.contains("ALPN protocol: http/1.1"), "{t}");
        let subject_line = t.lines().find(|l| l.starts_with("subject=")).unwrap_or_else(|| panic!("no subject: {t}"));
        assert_eq!(subject_line.replace(' ', ""), format!("subject={subject}"), "{name}");
        assert!(t.contains("200 OK") && t.contains(&format!("sni=Some(\"{name}\")")), "{t}");
    }
    let _ferry = answer.join().expect("answers");
    // Python checks the name against the certificate itself.
    let ferry = start(&certs, certs.option(vec![]));
    let out = run(&mut py(ferry.port, &certs, "other.test", &["idle", "1"]), b"");
    assert!(text(&out).contains("OPEN 1"), "{}", text(&out));
}

#[test]
fn client_certificates_accepted_refused_and_optional() {
    let certs = Certs::new("client");
    let (cert, key) = (format!("cert={}", certs.path("client.pem")), format!("key={}", certs.path("client.key")));
    let (stranger, stranger_key) = (format!("cert={}", certs.path("stranger.pem")), format!("key={}", certs.path("stranger.key")));
    let request = b"GET /me HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let mut ferry = start(&certs, certs.verify_option(true));
    let port = ferry.port;
    let mut talk = py(port, &certs, "localhost", &["talk", &cert, &key]);
    let child = std::thread::spawn(move || run(&mut talk, request));
    let req = ferry.expect_request();
    let der = tls_info(&req).get("peer_cert").and_then(|c| c.bin()).expect("peer_cert").to_vec();
    let pem = std::fs::read_to_string(certs.path("client.pem")).unwrap();
    let want = Command::new("openssl").args(["x509", "-outform", "DER"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let want = { use std::io::Write; let mut w = want; w.stdin.take().unwrap().write_all(pem.as_bytes()).unwrap(); w.wait_with_output().unwrap().stdout };
    assert_eq!(der, want, "peer_cert is the client's certificate, DER");
    ferry.respond(req.id, 200, &[], "hello client");
    assert!(text(&child.join().unwrap()).contains("hello client"));
    // Not signed by the CA, or no certificate at all: refused, nothing reaches the BEAM.
    for opts in [vec![&stranger[..], &stranger_key[..]], vec![]] {
        let mut mode = vec!["talk"];
        mode.extend(opts.iter().copied());
        let out = run(&mut py(port, &certs, "localhost", &mode), request);
        let t = text(&out);
        assert!(t.contains("HANDSHAKE-FAILED") || t.contains("READ-FAILED"), "{t}");
        assert!(!t.contains("200 OK"), "{t}");
    }
    // openssl s_client too: the stranger's certificate is refused.
    let out = run(&mut s_client(port, &["-cert", &certs.path("stranger.pem"), "-key", &certs.path("stranger.key"), "-ign_eof"]), request);
    assert!(!text(&out).contains("200 OK"), "{}", text(&out));
    ferry.refute_within("a request from a refused client", Duration::from_millis(300), |t| t.tag() == Some("request"));
    // verify_peer without fail_if_no_peer_cert: a client may send none.
    let mut ferry = start(&certs, certs.verify_option(false));
    let mut talk = py(ferry.port, &certs, "localhost", &["talk"]);
    let child = std::thread::spawn(move || run(&mut talk, request));
    let req = ferry.expect_request();
    assert_eq!(tls_info(&req).get("peer_cert").and_then(|c| c.atom()), Some("undefined"));
    ferry.respond(req.id, 200, &[], "anonymous");
    assert!(text(&child.join().unwrap()).contains("anonymous"));
}

#[test]
fn plain_http_and_garbage_to_the_tls_port_are_closed_and_reach_nothing() {
    let certs = Certs::new("plain");
    let mut ferry = start(&certs, certs.option(vec![]));
    // At most a TLS alert (content type 21) comes back, then the close.
    let mut plain = ferry.client();
    plain.send(get("/"));
    let got = plain.read_to_eof();
    assert!(got.is_empty() || got[0] == 21, "plain HTTP to the TLS port got {got:?}");
    let mut garbage = ferry.client();
    garbage.send([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    let got = garbage.read_to_eof();
    assert!(got.is_empty() || got[0] == 21, "a garbage ClientHello got {got:?}");
    ferry.refute_within("a request", Duration::from_millis(300), |t| t.tag() == Some("request"));
    // Others are served all the while.
    let mut talk = py(ferry.port, &certs, "localhost", &["talk"]);
    let child = std::thread::spawn(move || run(&mut talk, b"GET /ok HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
    ferry.answer_next("still here");
    assert!(text(&child.join().unwrap()).contains("still here"));
}

#[test]
fn a_client_stalling_mid_handshake_is_closed_at_handshake_timeout() {
    let certs = Certs::new("stall");
    let mut ferry = start(&certs, certs.handshake_timeout(300));
    let mut silent = ferry.client();
    // The first bytes of a ClientHello, then nothing.
    let mut half = ferry.client();
    half.send([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00]);
    assert!(silent.closed_within(WAIT), "a silent client was kept past handshake_timeout");
    assert!(half.closed_within(WAIT), "a half ClientHello was kept past handshake_timeout");
    assert_eq!(ferry.stat("connections"), 0);
    // After the handshake, the ordinary timers govern: a keep-alive
    // connection outlives handshake_timeout.
    let mut talk = py(ferry.port, &certs, "localhost", &["talk"]);
    let child = std::thread::spawn(move || {
        use std::io::Write;
        let mut c = talk.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut stdin = c.stdin.take().unwrap();
        stdin.write_all(b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(800));
        stdin.write_all(b"GET /2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
        drop(stdin);
        c.wait_with_output().unwrap()
    });
    ferry.answer_next("one;");
    ferry.answer_next("two;");
    let out = String::from_utf8_lossy(&child.join().unwrap().stdout).into_owned();
    assert!(out.contains("one;") && out.contains("two;"), "{out}");
}

#[test]
fn keep_alive_and_pipelining_over_tls() {
    let certs = Certs::new("pipeline");
    let mut ferry = start(&certs, certs.option(vec![]));
    let mut talk = py(ferry.port, &certs, "localhost", &["talk"]);
    let pipelined = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nPOST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let child = std::thread::spawn(move || run(&mut talk, pipelined));
    let a = ferry.answer_next("A;");
    let b = ferry.answer_next("B;");
    let c = ferry.answer_next("C;");
    assert_eq!((a.path_str(), b.path_str(), c.path_str()), ("/a".into(), "/b".into(), "/c".into()));
    assert_eq!(b.body.as_deref(), Some(&b"hello"[..]));
    assert_eq!(a.peer, c.peer, "one connection");
    let out = String::from_utf8_lossy(&child.join().unwrap().stdout).into_owned();
    let bodies: Vec<&str> = ["A;", "B;", "C;"].into_iter().filter(|b| out.contains(b)).collect();
    assert_eq!(bodies.len(), 3, "{out}");
    assert!(out.find("A;") < out.find("B;") && out.find("B;") < out.find("C;"), "in order: {out}");
}

#[test]
fn wss_echo() {
    let certs = Certs::new("wss");
    let mut ferry = start(&certs, certs.option(vec![]));
    let mut ws = py(ferry.port, &certs, "localhost", &["ws"]);
    let child = std::thread::spawn(move || run(&mut ws, b""));
    let req = ferry.expect_request();
    assert_eq!(req.term.el(2).get("websocket").and_then(|w| w.atom()), Some("ok"));
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.expect_for("ws_open", req.id);
    ferry.read_body(req.id, 1 << 16);
    let msg = ferry.expect_for("ws_in", req.id);
    assert_eq!(msg.el(3).bin(), Some(&b"hello"[..]));
    ferry.ws_send(int(req.id), vec![tuple(vec![atom("text"), bin("hello back")])]);
    let out = text(&child.join().unwrap());
    assert!(out.contains("101 Switching Protocols") && out.contains("FRAME 0x81 hello back"), "{out}");
}

/// A group publish writes straight to the sockets of members with nothing
/// queued: over TLS the frame must still go through rustls.
#[test]
fn wss_group_publish() {
    let certs = Certs::new("wssgroup");
    let mut ferry = start(&certs, certs.option(vec![]));
    let mut ws = py(ferry.port, &certs, "localhost", &["ws"]);
    let child = std::thread::spawn(move || run(&mut ws, b""));
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.expect_for("ws_open", req.id);
    ferry.read_body(req.id, 1 << 16);
    ferry.expect_for("ws_in", req.id);
    ferry.ws_join(req.id, "room");
    ferry.ws_publish("room", vec![tuple(vec![atom("text"), bin("to the room")])], None);
    let out = text(&child.join().unwrap());
    assert!(out.contains("FRAME 0x81 to the room"), "{out}");
}

/// Issue 7 over TLS: a group member too far behind, which reads again
/// within `ws_close_timeout`, reads whole frames, the 1008, then the end
/// of the stream (close_notify and FIN, not a reset). What rustls holds
/// is records of bytes before the frame being finished.
#[test]
fn wss_member_too_far_behind_reads_whole_frames_then_1008_then_the_end() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let certs = Certs::new("wssbehind");
    let mut ferry = Ferry::start(&[("tls", certs.option(vec![])), ("send_window", int(64 << 10)), ("send_timeout", int(1000))]);
    let mut child = py(ferry.port, &certs, "localhost", &["ws_slow", "rcvbuf=8192"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tls_client.py");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let req = ferry.expect_request();
    ferry.ws_accept(req.id, &[], map(vec![]));
    ferry.expect_for("ws_open", req.id);
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l == "OPEN"), "the client saw no 101");
    ferry.ws_join(req.id, "news");
    let deadline = std::time::Instant::now() + WAIT;
    let closed = |t: &Term| t.tag() == Some("ws_closed") && t.el(1).int() == Some(req.id);
    // One at a time, so the socket fills before the queue passes the
    // window: the member is behind, not only sent a burst.
    let t = loop {
        ferry.ws_publish("news", vec![tuple(vec![atom("binary"), bin(vec![b'n'; 16 << 10])])], None);
        if let Some(t) = ferry.receive_within(Duration::from_millis(1), closed) {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "the member that reads nothing is not closed");
    };
    assert_eq!(t.el(3).int(), Some(1008), "{t}");
    // Past send_timeout, within ws_close_timeout.
    std::thread::sleep(Duration::from_millis(2000));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"read\n").expect("tell the client to read");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = child.wait();
    let frames = rest.iter().find(|l| l.starts_with("FRAMES")).unwrap_or_else(|| panic!("{rest:?}"));
    assert!(frames.ends_with("CLOSE 1008"), "{rest:?}");
    assert!(rest.iter().any(|l| l == "END eof"), "{rest:?}");
    println!("{frames}");
}

#[test]
fn bad_files_fail_listen_naming_the_file_and_the_reason() {
    let certs = Certs::new("bad");
    let refused = |tls: Term| {
        let mut ferry = Ferry::spawn();
        let answer = ferry.listen(config(&[("tls", tls)]));
        assert_eq!(answer.tag(), Some("listen_error"), "{answer}");
        assert_eq!(answer.el(1).el(0).atom(), Some("bad_option"));
        ferry.assert_exit(EXIT_LISTEN, WAIT);
        String::from_utf8_lossy(answer.el(1).el(1).bin().expect("message")).into_owned()
    };
    let missing = certs.path("nope.pem");
    let why = refused(map(vec![("certfile", bin(&missing)), ("keyfile", path_bin(&certs.dir.path("localhost.key")))]));
    assert!(why.starts_with("tls: certfile ") && why.contains(&missing) && why.contains("No such file"), "{why}");
    let why = refused(map(vec![("certfile", path_bin(&certs.dir.path("localhost.pem"))), ("keyfile", path_bin(&certs.dir.path("other.key")))]));
    assert!(why.contains("does not match") && why.contains("other.key"), "{why}");
    let why = refused(map(vec![("certfile", path_bin(&certs.dir.path("localhost.key"))), ("keyfile", path_bin(&certs.dir.path("localhost.key")))]));
    assert!(why.contains("no CERTIFICATE"), "{why}");
    let why = refused(map(vec![("keyfile", path_bin(&certs.dir.path("localhost.key")))]));
    assert!(why.contains("certfile is required"), "{why}");
    let why = refused(map(vec![("certfile", path_bin(&certs.dir.path("localhost.pem"))), ("verify", atom("verify_peer"))]));
    assert!(why.contains("cacertfile"), "{why}");
    // An encrypted PKCS#8 key: the right password serves, a wrong one is refused.
    let enc = certs.path("enc.key");
    let out = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:sesame", "-in", &certs.path("localhost.key"), "-out", &enc])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let with_password = |p: &str| map(vec![("certfile", path_bin(&certs.dir.path("localhost.pem"))), ("keyfile", bin(&enc)), ("password", bin(p))]);
    let why = refused(with_password("wrong"));
    assert!(why.contains("wrong password") && why.contains("enc.key"), "{why}");
    let mut ferry = Ferry::start(&[("tls", with_password("sesame"))]);
    let out = run(&mut py(ferry.port, &certs, "localhost", &["talk"]), b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let _ = out;
    ferry.answer_next("decrypted");
}

#[test]
fn an_expired_certificate_starts_with_a_warning() {
    let certs = Certs::new("expired");
    // A certificate whose notAfter has passed: `openssl ca` takes the dates.
    certs.issue("old", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "localhost", true);
    let (key, pem, dir) = (certs.path("old.key"), certs.path("old.pem"), certs.path(""));
    std::fs::write(certs.path("index.txt"), "").unwrap();
    std::fs::write(certs.path("serial"), "1000\n").unwrap();
    let cnf = format!("[ca]\ndefault_ca=d\n[d]\ndatabase={dir}index.txt\nnew_certs_dir={dir}\nserial={dir}serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n");
    std::fs::write(certs.path("ca.cnf"), cnf).unwrap();
    let out = Command::new("openssl")
        .args(["ca", "-batch", "-notext", "-config", &certs.path("ca.cnf"), "-cert", &certs.path("ca.pem"), "-keyfile", &certs.path("ca.key")])
        .args(["-in", &certs.path("old.csr"), "-out", &pem, "-extfile", &certs.path("old.ext"), "-startdate", "20000101000000Z", "-enddate", "20010101000000Z"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut ferry = Ferry::start(&[("tls", map(vec![("certfile", bin(&pem)), ("keyfile", bin(&key))]))]);
    ferry.stats();
    let warned = ferry.logs.iter().any(|l| l.el(1).atom() == Some("warning") && l.el(2).bin().is_some_and(|m| String::from_utf8_lossy(m).contains("expired")));
    assert!(warned, "no warning about the expired certificate: {:?}", ferry.logs);
}

#[test]
fn reload_tls_swaps_the_certificate_for_new_connections_and_keeps_it_on_a_bad_file() {
    let certs = Certs::new("reload");
    let live = |f: &str| certs.dir.path(&format!("live.{f}"));
    let install = |from: &str| {
        std::fs::copy(certs.dir.path(&format!("{from}.pem")), live("pem")).unwrap();
        std::fs::copy(certs.dir.path(&format!("{from}.key")), live("key")).unwrap();
    };
    install("localhost");
    let mut ferry = start(&certs, map(vec![("certfile", path_bin(&live("pem"))), ("keyfile", path_bin(&live("key")))]));
    let cert_of = |port: u16| {
        let out = run(&mut s_client(port, &["-servername", "localhost"]), b"");
        let t = text(&out);
        t.lines().find(|l| l.starts_with("subject=")).map(|l| l.replace(' ', "")).unwrap_or_else(|| panic!("{t}"))
    };
    assert_eq!(cert_of(ferry.port), "subject=CN=localhost");
    // other.test's certificate under the same file names: new connections get it.
    install("other");
    ferry.send(&atom("reload_tls"));
    let answer = ferry.expect_tag("tls_reloaded");
    assert_eq!(answer.el(1).atom(), Some("ok"), "{answer}");
    assert_eq!(cert_of(ferry.port), "subject=CN=other.test");
    // A broken key: an error naming it, and the last good certificate stays.
    std::fs::write(live("key"), "not a key").unwrap();
    ferry.send(&atom("reload_tls"));
    let answer = ferry.expect_tag("tls_reloaded");
    let why = String::from_utf8_lossy(answer.el(1).el(1).bin().unwrap_or_else(|| panic!("{answer}"))).into_owned();
    assert!(why.starts_with("tls: keyfile ") && why.contains("live.key"), "{why}");
    assert_eq!(cert_of(ferry.port), "subject=CN=other.test");
    // A listener without tls says so.
    let mut plain = Ferry::start(&[]);
    plain.send(&atom("reload_tls"));
    let answer = plain.expect_tag("tls_reloaded");
    assert_eq!(answer.el(1).el(0).atom(), Some("error"), "{answer}");
}
