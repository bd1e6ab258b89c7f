//! The `tls` listen option: where the certificates are and what is asked
//! of clients. Read from the `listen` map here; the files are read by
//! `load`, at `listen` and again at each `reload_tls`.

use crate::etf::Term;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Ms a client has to finish its handshake unless `handshake_timeout` says
/// otherwise (ranch_ssl's default).
pub const DEFAULT_HANDSHAKE_TIMEOUT: u64 = 5000;
const HANDSHAKE_TIMEOUT_MAX: u64 = 24 * 3600 * 1000;
/// More server names than any one process should serve.
const MAX_SNI_HOSTS: usize = 10_000;

/// One certificate chain and its key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM: the end-entity certificate first, then its chain.
    pub certfile: PathBuf,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC); `certfile` when absent, as in `ssl`.
    pub keyfile: PathBuf,
    /// For an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`).
    pub password: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The certificate for clients that send no SNI name, or one not in `sni_hosts`.
    pub default: CertFiles,
    /// Server name (lowercase) → its certificate.
    pub sni_hosts: Vec<(String, CertFiles)>,
    /// CA certificates that client certificates must chain to.
    pub cacertfile: Option<PathBuf>,
    /// `verify_peer`: ask clients for a certificate and check it.
    pub verify_peer: bool,
    /// With `verify_peer`: refuse a client that sends no certificate.
    pub fail_if_no_peer_cert: bool,
    pub handshake_timeout: u64,
}

/// The `tls` map, or why not (the text after `tls: `).
pub fn parse(t: &Term<'_>) -> Result<TlsOptions, String> {
    let pairs = t.map().ok_or("must be a map with certfile and keyfile (and optionally password, cacertfile, verify, fail_if_no_peer_cert, sni_hosts, handshake_timeout)")?;
    let mut default = Files::default();
    let mut opts = TlsOptions {
        default: CertFiles { certfile: PathBuf::new(), keyfile: PathBuf::new(), password: None },
        sni_hosts: Vec::new(),
        cacertfile: None,
        verify_peer: false,
        fail_if_no_peer_cert: false,
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
    };
    for (k, v) in pairs {
        let Term::Atom(key) = k else { return Err("keys must be atoms".into()) };
        match key {
            b"certfile" | b"keyfile" | b"password" => default.set(key, &v)?,
            b"cacertfile" => opts.cacertfile = Some(path(&v).ok_or("cacertfile: must be a non-empty binary path")?),
            b"verify" if v.is_atom("verify_peer") => opts.verify_peer = true,
            b"verify" if v.is_atom("verify_none") => opts.verify_peer = false,
            b"verify" => return Err("verify: must be verify_peer or verify_none".into()),
            b"fail_if_no_peer_cert" => opts.fail_if_no_peer_cert = boolean(&v).ok_or("fail_if_no_peer_cert: must be true or false")?,
            b"handshake_timeout" => {
                opts.handshake_timeout = v
                    .as_u64()
                    .filter(|ms| (1..=HANDSHAKE_TIMEOUT_MAX).contains(ms))
                    .ok_or_else(|| format!("handshake_timeout: must be an integer 1..{HANDSHAKE_TIMEOUT_MAX}"))?
            }
            b"sni_hosts" => opts.sni_hosts = sni_hosts(&v)?,
            other => return Err(format!("{}: not a tls option", String::from_utf8_lossy(other))),
        }
    }
    opts.default = default.finish("")?;
    if opts.verify_peer && opts.cacertfile.is_none() {
        return Err("verify_peer needs cacertfile (the CAs client certificates must chain to)".into());
    }
    Ok(opts)
}

/// `[{Name, #{certfile, keyfile, password}}]`, as `ssl`'s `sni_hosts`.
fn sni_hosts(t: &Term<'_>) -> Result<Vec<(String, CertFiles)>, String> {
    const SHAPE: &str = "sni_hosts: must be a list of {ServerName :: binary(), #{certfile, keyfile}}";
    let mut out = Vec::new();
    for host in t.list().ok_or(SHAPE)? {
        let mut parts = host.tuple().ok_or(SHAPE)?;
        let (Some(name), Some(files), None) = (parts.next(), parts.next(), parts.next()) else { return Err(SHAPE.into()) };
        let name = name.as_binary().and_then(|n| std::str::from_utf8(n).ok()).filter(|n| !n.is_empty()).ok_or(SHAPE)?;
        let mut f = Files::default();
        for (k, v) in files.map().ok_or(SHAPE)? {
            match k {
                Term::Atom(key @ (b"certfile" | b"keyfile" | b"password")) => f.set(key, &v)?,
                _ => return Err(format!("sni_hosts {name}: only certfile, keyfile and password")),
            }
        }
        out.push((name.to_ascii_lowercase(), f.finish(name)?));
        if out.len() > MAX_SNI_HOSTS {
            return Err(format!("sni_hosts: at most {MAX_SNI_HOSTS} names"));
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Files {
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    password: Option<Vec<u8>>,
}

impl Files {
    fn set(&mut self, key: &[u8], v: &Term<'_>) -> Result<(), String> {
        match key {
            b"certfile" => self.certfile = Some(path(v).ok_or("certfile: must be a non-empty binary path")?),
            b"keyfile" => self.keyfile = Some(path(v).ok_or("keyfile: must be a non-empty binary path")?),
            _ => self.password = Some(v.as_binary().ok_or("password: must be a binary")?.to_vec()),
        }
        Ok(())
    }

    fn finish(self, host: &str) -> Result<CertFiles, String> {
        let Some(certfile) = self.certfile else {
            return Err(if host.is_empty() { "certfile is required".into() } else { format!("sni_hosts {host}: certfile is required") });
        };
        let keyfile = self.keyfile.unwrap_or_else(|| certfile.clone());
        Ok(CertFiles { certfile, keyfile, password: self.password })
    }
}

fn path(t: &Term<'_>) -> Option<PathBuf> {
    t.as_binary().filter(|b| !b.is_empty() && !b.contains(&0)).map(|b| PathBuf::from(OsStr::from_bytes(b)))
}

fn boolean(t: &Term<'_>) -> Option<bool> {
    if t.is_atom("true") {
        Some(true)
    } else if t.is_atom("false") {
        Some(false)
    } else {
        None
    }
}
