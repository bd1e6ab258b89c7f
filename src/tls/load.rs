//! Reads the `tls` option's files into a rustls `ServerConfig`: at `listen`
//! (a failure is `listen_error`, nothing starts) and at `reload_tls` (a
//! failure keeps the config in use). Errors name the file and the reason.

use super::options::{CertFiles, TlsOptions};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A certificate file or key file bigger than this is not one.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// What `listen` and `reload_tls` get: the config, and warnings to log
/// (an expired certificate is served, as `ssl` would, but said).
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    pub warnings: Vec<String>,
}

pub fn server_config(opts: &TlsOptions) -> Result<Loaded, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut warnings = Vec::new();
    let default = certified_key(&opts.default, &provider, &mut warnings)?;
    let mut by_name = Vec::with_capacity(opts.sni_hosts.len());
    for (name, files) in &opts.sni_hosts {
        by_name.push((name.clone(), certified_key(files, &provider, &mut warnings)?));
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("cannot set the TLS versions: {e}"))?;
    let builder = match (&opts.cacertfile, opts.verify_peer) {
        (Some(ca), true) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| format!("cacertfile {}: {e}", ca.display()))?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if opts.fail_if_no_peer_cert { v } else { v.allow_unauthenticated() };
            builder.with_client_cert_verifier(v.build().map_err(|e| format!("cacertfile {}: {e}", ca.display()))?)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(Certs { default, by_name }));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded { config: Arc::new(config), warnings })
}

/// Picks the certificate by the SNI name; the default for none or an unknown one.
#[derive(Debug)]
struct Certs {
    default: Arc<CertifiedKey>,
    by_name: Vec<(String, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands the name over lowercased.
        let chosen = hello.server_name().and_then(|name| self.by_name.iter().find(|(n, _)| n == name));
        Some(chosen.map_or(&self.default, |(_, k)| k).clone())
    }
}

fn certified_key(files: &CertFiles, provider: &CryptoProvider, warnings: &mut Vec<String>) -> Result<Arc<CertifiedKey>, String> {
    let chain = certificates(&files.certfile)?;
    if let Some(warning) = chain.first().and_then(|c| expired(c, &files.certfile)) {
        warnings.push(warning);
    }
    let key = private_key(&files.keyfile, files.password.as_deref())?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("keyfile {}: not a usable RSA, ECDSA or Ed25519 key: {e}", files.keyfile.display()))?;
    let ck = CertifiedKey::new(chain, key);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(ck)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!("keyfile {} does not match certfile {}", files.keyfile.display(), files.certfile.display()))
        }
        Err(e) => Err(format!("certfile {}: not a usable certificate: {e}", files.certfile.display())),
    }
}

fn read_pem(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    let fail = |e: std::io::Error| format!("{what} {}: {e}", path.display());
    let len = std::fs::metadata(path).map_err(fail)?.len();
    if len > MAX_PEM_BYTES {
        return Err(format!("{what} {}: over {MAX_PEM_BYTES} bytes, not a PEM file", path.display()));
    }
    std::fs::read(path).map_err(fail)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem("certfile", path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certfile {}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("certfile {}: no CERTIFICATE in it", path.display()));
    }
    Ok(certs)
}

const ENCRYPTED_PKCS8: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";

fn private_key(path: &Path, password: Option<&[u8]>) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_pem("keyfile", path)?;
    let shown = path.display();
    let text = String::from_utf8_lossy(&pem);
    if let Some(at) = text.find(ENCRYPTED_PKCS8) {
        let Some(password) = password else {
            return Err(format!("keyfile {shown}: the key is encrypted and no password was given"));
        };
        let (_, doc) = pkcs8::Document::from_pem(&text[at..]).map_err(|e| format!("keyfile {shown}: bad encrypted key: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| format!("keyfile {shown}: bad encrypted key: {e}"))?;
        let plain = info.decrypt(password).map_err(|_| format!("keyfile {shown}: wrong password (or a cipher Ferry cannot decrypt)"))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "keyfile {shown}: encrypted in OpenSSL's legacy format, which Ferry cannot decrypt; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!("keyfile {shown}: no PRIVATE KEY in it"),
        e => format!("keyfile {shown}: bad PEM: {e}"),
    })
}

/// A warning if the certificate's notAfter has passed.
fn expired(cert: &CertificateDer<'_>, path: &Path) -> Option<String> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let not_after = parsed.tbs_certificate.validity.not_after.to_unix_duration();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    (not_after < now).then(|| {
        format!("tls: the certificate in {} expired {} s ago (notAfter); clients will refuse it", path.display(), (now - not_after).as_secs())
    })
}
