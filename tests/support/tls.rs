//! For the TLS tests: certificates made by the openssl CLI in a scratch
//! directory (a CA, server certificates for two names, client
//! certificates trusted and not), the `tls` option naming them, and the
//! real clients (curl, openssl s_client, Python's ssl) run with deadlines.

use super::files::{path_bin, TestDir};
use super::{atom, int, list, map, tuple, Term};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Everything a test needs, under one directory removed at the end.
pub struct Certs {
    pub dir: TestDir,
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).stdin(Stdio::null()).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Certs {
    /// A CA; `localhost` (ECDSA P-256, the default), `other.test` (RSA
    /// 2048) signed by it; a client certificate it signed and one it did not.
    pub fn new(name: &str) -> Certs {
        let certs = Certs { dir: TestDir::new(name) };
        let p = |f: &str| certs.path(f);
        openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "2", "-subj", "/CN=Ferry Test CA"]);
        certs.issue("localhost", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "localhost", true);
        certs.issue("other", &["-newkey", "rsa:2048"], "other.test", true);
        certs.issue("client", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "test client", true);
        certs.issue("stranger", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "stranger", false);
        certs
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.path(file).display().to_string()
    }

    /// `NAME.pem` and `NAME.key` for `cn`, signed by the CA (or self-signed).
    pub fn issue(&self, name: &str, keygen: &[&str], cn: &str, by_ca: bool) {
        let (key, csr, pem) = (self.path(&format!("{name}.key")), self.path(&format!("{name}.csr")), self.path(&format!("{name}.pem")));
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(&ext, format!("subjectAltName=DNS:{}\n", cn.replace(' ', "-"))).expect("ext file");
        let mut args = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr, "-subj"];
        let subj = format!("/CN={cn}");
        args.push(&subj);
        args.extend_from_slice(keygen);
        openssl(&args);
        if by_ca {
            openssl(&["x509", "-req", "-in", &csr, "-CA", &self.path("ca.pem"), "-CAkey", &self.path("ca.key"), "-CAcreateserial", "-out", &pem, "-days", "2", "-extfile", &ext]);
        } else {
            openssl(&["x509", "-req", "-in", &csr, "-signkey", &key, "-out", &pem, "-days", "2", "-extfile", &ext]);
        }
    }

    /// `#{certfile, keyfile}` of `NAME`.
    pub fn files(&self, name: &str) -> Vec<(&'static str, Term)> {
        vec![("certfile", path_bin(&self.dir.path(&format!("{name}.pem")))), ("keyfile", path_bin(&self.dir.path(&format!("{name}.key"))))]
    }

    /// The `tls` option: `localhost` by default, `other.test` by SNI, and `extra`.
    pub fn option(&self, extra: Vec<(&'static str, Term)>) -> Term {
        let mut pairs = self.files("localhost");
        pairs.push(("sni_hosts", list(vec![tuple(vec![super::bin("other.test"), map(self.files("other"))])])));
        pairs.extend(extra);
        map(pairs)
    }

    /// The option asking clients for a certificate signed by the CA.
    pub fn verify_option(&self, fail_if_no_peer_cert: bool) -> Term {
        self.option(vec![
            ("cacertfile", path_bin(&self.dir.path("ca.pem"))),
            ("verify", atom("verify_peer")),
            ("fail_if_no_peer_cert", atom(if fail_if_no_peer_cert { "true" } else { "false" })),
        ])
    }

    pub fn handshake_timeout(&self, ms: i64) -> Term {
        self.option(vec![("handshake_timeout", int(ms))])
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }
}

/// Runs a client to its end (it has its own time limit); stdout and stderr.
pub fn run(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn client");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("client output");
    let _ = feeder.join();
    out
}

/// `python3 -c SCRIPT ARGS…` under a 20 s limit.
pub fn python(script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["20", "python3", "-c", script]).args(args);
    c
}

/// `openssl s_client` against `port` under a 20 s limit.
pub fn s_client(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["20", "openssl", "s_client", "-connect", &format!("127.0.0.1:{port}")]).args(args);
    c
}
