//! The opening handshake, server side (RFC 6455 §4.2): whether a request
//! asks for a WebSocket and whether it asks correctly, and the 101 that
//! accepts it. Header names are compared without case, so both the
//! lowercased names sent to the BEAM and httparse's raw ones work.

use super::extensions::{self, DeflateParams};
use crate::http::chunked::is_token;
use crate::http::response::{check_field, header};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: appended to the client's key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Handler headers dropped from the 101: Rust writes these itself, and a
/// 101 has no body to frame.
const OWN_HEADERS: [&[u8]; 7] = [
    b"upgrade",
    b"connection",
    b"sec-websocket-accept",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
    b"content-length",
    b"transfer-encoding",
];

/// What a request is, as far as WebSocket goes (docs/PROTOCOL.md, Upgrade).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No `upgrade: websocket`: an ordinary request.
    NotWebSocket,
    /// A valid opening handshake.
    Ok(Handshake),
    /// `sec-websocket-version` is not 13: answer 426 with
    /// `sec-websocket-version: 13` (§4.2.2).
    BadVersion,
    /// Anything else wrong: answer 400. The reason is for logs.
    BadRequest(&'static str),
}

/// What the 101 needs from the request, kept until the handler accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The `sec-websocket-accept` value.
    pub accept: [u8; 28],
    /// The client's permessage-deflate offer we can accept, if any.
    pub deflate: Option<DeflateParams>,
}

/// Classifies a request by RFC 6455 §4.2.1. `headers` are the request's
/// fields in order, repeated names included.
pub fn check<'a, H>(method: &[u8], minor_version: u8, headers: H) -> Check
where
    H: IntoIterator<Item = (&'a [u8], &'a [u8])> + Clone,
{
    let values =
        |name: &'static [u8]| headers.clone().into_iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    if !has_token(values(b"upgrade"), b"websocket") {
        return Check::NotWebSocket;
    }
    if method != b"GET" {
        return Check::BadRequest("the method of a WebSocket upgrade is GET (RFC 6455 4.2.1)");
    }
    if minor_version != 1 {
        return Check::BadRequest("a WebSocket upgrade is HTTP/1.1 (RFC 6455 4.2.1)");
    }
    if !has_token(values(b"connection"), b"upgrade") {
        return Check::BadRequest("connection header without the upgrade token (RFC 6455 4.2.1)");
    }
    if values(b"transfer-encoding").next().is_some() || values(b"content-length").any(|v| v.trim_ascii() != b"0") {
        return Check::BadRequest("a WebSocket upgrade has no body (RFC 6455 4.1)");
    }
    let mut versions = values(b"sec-websocket-version");
    if !(versions.next().map(<[u8]>::trim_ascii) == Some(b"13") && versions.next().is_none()) {
        return Check::BadVersion;
    }
    let mut keys = values(b"sec-websocket-key");
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Check::BadRequest("not exactly one sec-websocket-key (RFC 6455 4.2.1)");
    };
    let key = key.trim_ascii();
    if !is_valid_key(key) {
        return Check::BadRequest("sec-websocket-key is not 16 bytes in base64 (RFC 6455 4.2.1)");
    }
    Check::Ok(Handshake { accept: accept_key(key), deflate: extensions::negotiate(values(b"sec-websocket-extensions")) })
}

/// 16 bytes in base64: 24 characters, the last two `=`.
fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut decoded) == Ok(16)
}

/// `sec-websocket-accept` for `key` (RFC 6455 §4.2.2 step 5.4).
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let mut out = [0u8; 28];
    // SHA-1 is 20 bytes: always 28 characters of base64.
    let _ = STANDARD.encode_slice(sha.finalize(), &mut out);
    out
}

/// Whether a comma-list header (over all its fields) has `token`, in any case.
fn has_token<'a>(values: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> bool {
    values.flat_map(|v| v.split(|&b| b == b',')).any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Writes the 101 that accepts `hs`: `protocol` is the subprotocol the
/// handler chose, `deflate` the agreed extension (or `None` to go on
/// uncompressed), `extra` the handler's own headers (those Rust writes are
/// dropped, see `OWN_HEADERS`). On `Err` (an invalid header or protocol)
/// nothing is written.
pub fn write_response(
    out: &mut Vec<u8>,
    hs: &Handshake,
    protocol: Option<&[u8]>,
    deflate: Option<&DeflateParams>,
    extra: &[(&[u8], &[u8])],
) -> Result<(), String> {
    if let Some(p) = protocol {
        if p.is_empty() || !p.iter().all(|&b| is_token(b)) {
            return Err(format!("subprotocol {:?} is not a token (RFC 6455 4.1)", String::from_utf8_lossy(p)));
        }
    }
    for (name, value) in extra {
        check_field(name, value)?;
    }
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    header(out, b"upgrade", b"websocket");
    header(out, b"connection", b"Upgrade");
    header(out, b"sec-websocket-accept", &hs.accept);
    if let Some(p) = protocol {
        header(out, b"sec-websocket-protocol", p);
    }
    if let Some(d) = deflate {
        header(out, b"sec-websocket-extensions", &d.response_value());
    }
    for (name, value) in extra {
        if !OWN_HEADERS.iter().any(|own| name.eq_ignore_ascii_case(own)) {
            header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("host", "server.example.com"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", KEY),
            ("sec-websocket-version", "13"),
        ]
    }

    fn run(method: &str, minor: u8, headers: &[(&str, &str)]) -> Check {
        check(method.as_bytes(), minor, headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    fn with(change: &[(&'static str, &'static str)], drop: &[&str]) -> Vec<(&'static str, &'static str)> {
        let mut h: Vec<_> = valid().into_iter().filter(|(n, _)| !drop.contains(n)).collect();
        h.extend_from_slice(change);
        h
    }

    fn is_ok(c: &Check) -> bool {
        matches!(c, Check::Ok(_))
    }

    #[test]
    fn rfc_6455_sample_key() {
        // §1.3.
        assert_eq!(&accept_key(KEY.as_bytes()), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let Check::Ok(hs) = run("GET", 1, &valid()) else { panic!() };
        assert_eq!(&hs.accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(hs.deflate, None);
    }

    #[test]
    fn not_an_upgrade_without_the_websocket_token() {
        assert_eq!(run("GET", 1, &with(&[], &["upgrade"])), Check::NotWebSocket);
        assert_eq!(run("GET", 1, &with(&[("upgrade", "h2c")], &["upgrade"])), Check::NotWebSocket);
        assert_eq!(run("GET", 1, &with(&[("upgrade", "websocket/13")], &["upgrade"])), Check::NotWebSocket);
        // The token in a list, in any case, in a second field.
        assert!(is_ok(&run("GET", 1, &with(&[("upgrade", "h2c, WebSocket")], &["upgrade"]))));
        assert!(is_ok(&run("GET", 1, &with(&[("upgrade", "h2c"), ("Upgrade", "websocket")], &["upgrade"]))));
    }

    #[test]
    fn method_and_version() {
        for m in ["POST", "HEAD", "get", "CONNECT"] {
            assert!(matches!(run(m, 1, &valid()), Check::BadRequest(_)), "{m}");
        }
        assert!(matches!(run("GET", 0, &valid()), Check::BadRequest(_)));
    }

    #[test]
    fn connection_needs_the_upgrade_token() {
        assert!(matches!(run("GET", 1, &with(&[], &["connection"])), Check::BadRequest(_)));
        assert!(matches!(run("GET", 1, &with(&[("connection", "keep-alive")], &["connection"])), Check::BadRequest(_)));
        assert!(matches!(run("GET", 1, &with(&[("connection", "upgraded")], &["connection"])), Check::BadRequest(_)));
        // Firefox sends "keep-alive, Upgrade"; others split it over fields.
        assert!(is_ok(&run("GET", 1, &with(&[("connection", "keep-alive, Upgrade")], &["connection"]))));
        assert!(is_ok(&run("GET", 1, &with(&[("connection", "keep-alive"), ("Connection", " upgrade ")], &["connection"]))));
    }

    #[test]
    fn version_13_only() {
        assert_eq!(run("GET", 1, &with(&[("sec-websocket-version", "8")], &["sec-websocket-version"])), Check::BadVersion);
        assert_eq!(run("GET", 1, &with(&[], &["sec-websocket-version"])), Check::BadVersion);
        assert_eq!(run("GET", 1, &with(&[("sec-websocket-version", "13, 8")], &["sec-websocket-version"])), Check::BadVersion);
        assert_eq!(run("GET", 1, &with(&[("sec-websocket-version", "13")], &[])), Check::BadVersion, "twice");
        assert!(is_ok(&run("GET", 1, &with(&[("sec-websocket-version", " 13 ")], &["sec-websocket-version"]))));
    }

    #[test]
    fn key_is_exactly_one_base64_of_16_bytes() {
        for bad in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25jZQ===",
            "dGhlIHNhbXBsZSBub25jZXg=",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25j*Q==",
        ] {
            let c = run("GET", 1, &with(&[("sec-websocket-key", bad)], &["sec-websocket-key"]));
            assert!(matches!(c, Check::BadRequest(_)), "{bad:?}: {c:?}");
        }
        assert!(matches!(run("GET", 1, &with(&[], &["sec-websocket-key"])), Check::BadRequest(_)));
        assert!(matches!(run("GET", 1, &with(&[("sec-websocket-key", KEY)], &[])), Check::BadRequest(_)), "twice");
        assert!(is_ok(&run("GET", 1, &with(&[("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==")], &["sec-websocket-key"]))));
    }

    #[test]
    fn no_body() {
        assert!(matches!(run("GET", 1, &with(&[("content-length", "5")], &[])), Check::BadRequest(_)));
        assert!(matches!(run("GET", 1, &with(&[("transfer-encoding", "chunked")], &[])), Check::BadRequest(_)));
        assert!(is_ok(&run("GET", 1, &with(&[("content-length", "0")], &[]))));
    }

    #[test]
    fn bad_request_comes_before_bad_version() {
        // A POST with version 8 is a bad request: no version would fix it.
        let h = with(&[("sec-websocket-version", "8")], &["sec-websocket-version"]);
        assert!(matches!(run("POST", 1, &h), Check::BadRequest(_)));
    }

    #[test]
    fn deflate_offer_is_negotiated() {
        let h = with(&[("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")], &[]);
        let Check::Ok(hs) = run("GET", 1, &h) else { panic!() };
        assert_eq!(hs.deflate, Some(DeflateParams::default()));
    }

    #[test]
    fn the_101() {
        let Check::Ok(hs) = run("GET", 1, &valid()) else { panic!() };
        let mut out = b"before".to_vec();
        let d = DeflateParams { server_no_context_takeover: true, ..Default::default() };
        let extra: [(&[u8], &[u8]); 3] =
            [(b"set-cookie", b"a=b"), (b"Connection", b"close"), (b"sec-websocket-protocol", b"other")];
        write_response(&mut out, &hs, Some(b"chat"), Some(&d), &extra).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "beforeHTTP/1.1 101 Switching Protocols\r\n\
             upgrade: websocket\r\n\
             connection: Upgrade\r\n\
             sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             sec-websocket-protocol: chat\r\n\
             sec-websocket-extensions: permessage-deflate; server_no_context_takeover\r\n\
             set-cookie: a=b\r\n\
             \r\n"
        );
        let mut out = Vec::new();
        write_response(&mut out, &hs, None, None, &[]).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("sec-websocket-protocol"));
    }

    #[test]
    fn the_101_refuses_bad_fields_and_writes_nothing() {
        let Check::Ok(hs) = run("GET", 1, &valid()) else { panic!() };
        let mut out = Vec::new();
        assert!(write_response(&mut out, &hs, Some(b"a b"), None, &[]).is_err());
        assert!(write_response(&mut out, &hs, Some(b""), None, &[]).is_err());
        assert!(write_response(&mut out, &hs, None, None, &[(b"x", b"a\r\nb: c")]).is_err());
        assert!(write_response(&mut out, &hs, None, None, &[(b"x y", b"v")]).is_err());
        assert!(out.is_empty());
    }
}
