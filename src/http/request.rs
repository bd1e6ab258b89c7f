//! Request heads: httparse plus the limits and framing rules httparse leaves
//! to its user (RFC 7230 §3.1.1 line length, §3.2 header limits, §3.3.3
//! message body length, §5.4 Host).

use super::HttpError;
use httparse::{Header, Status, EMPTY_HEADER};

/// Header array kept on the stack; heads with more fields (when
/// `max_headers` allows them) are parsed again with a heap array.
const STACK_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_request_line: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body: u64,
}

/// A complete request head, borrowing from the read buffer.
pub struct Head<'h, 'b> {
    pub method: &'b [u8],
    pub path: &'b [u8],
    pub query: &'b [u8],
    pub minor_version: u8,
    pub headers: &'h [Header<'b>],
    /// Bytes of the head, the blank line included.
    pub len: usize,
    pub framing: Framing,
}

/// What the head says about the body and the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub body: BodyKind,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub is_head: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

/// Parses the head at the start of `buf` and calls `f` with it.
/// `Ok(None)`: incomplete, read more. `Err`: answer with its status, close.
pub fn parse<R>(buf: &[u8], limits: &Limits, f: impl FnOnce(&Head<'_, '_>) -> R) -> Result<Option<R>, HttpError> {
    let line_end = check_request_line(buf, limits.max_request_line)?;
    let mut stack = [EMPTY_HEADER; STACK_HEADERS];
    let n = limits.max_headers.min(STACK_HEADERS);
    match parse_with(buf, &mut stack[..n], limits, line_end) {
        Err(HttpError::TooManyHeaders) if limits.max_headers > STACK_HEADERS => {
            let mut heap = vec![EMPTY_HEADER; limits.max_headers];
            Ok(parse_with(buf, &mut heap, limits, line_end)?.map(|h| f(&h)))
        }
        other => Ok(other?.map(|h| f(&h))),
    }
}

/// Checks the request line against its limit before httparse looks at it;
/// returns where the line ends (its LF), if it has arrived.
fn check_request_line(buf: &[u8], max: usize) -> Result<Option<usize>, HttpError> {
    // Empty lines before the request line are allowed (RFC 7230 §3.5).
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    if start > max {
        // A flood of empty lines would otherwise be buffered without limit.
        return Err(HttpError::BadRequest("too many empty lines before the request line"));
    }
    let rest = &buf[start..];
    let window = &rest[..rest.len().min(max + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let len = if lf > 0 && rest[lf - 1] == b'\r' { lf - 1 } else { lf };
            if len > max {
                Err(HttpError::RequestLineTooLong)
            } else {
                Ok(Some(start + lf))
            }
        }
        // `max` bytes and a CR may still be followed by the LF.
        None if rest.len() > max + 1 || (rest.len() == max + 1 && rest[max] != b'\r') => {
            Err(HttpError::RequestLineTooLong)
        }
        None => Ok(None),
    }
}

fn parse_with<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    limits: &Limits,
    line_end: Option<usize>,
) -> Result<Option<Head<'h, 'b>>, HttpError> {
    let mut req = httparse::Request::new(headers);
    let status = req.parse(buf);
    let header_bytes = |end: usize| line_end.map_or(0, |l| end.saturating_sub(l + 1));
    let len = match status {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => {
            if header_bytes(buf.len()) > limits.max_header_bytes {
                return Err(HttpError::HeadersTooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(version_error(buf, line_end)),
        Err(_) => {
            if header_bytes(buf.len()) > limits.max_header_bytes {
                return Err(HttpError::HeadersTooLarge);
            }
            return Err(HttpError::BadRequest("malformed request line or header field"));
        }
    };
    if header_bytes(len) > limits.max_header_bytes {
        return Err(HttpError::HeadersTooLarge);
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::BadRequest("incomplete request line"));
    };
    let headers: &'h [Header<'b>] = req.headers;
    let (path, query) = split_target(target.as_bytes())?;
    let framing = framing(method.as_bytes(), minor, headers, limits)?;
    Ok(Some(Head { method: method.as_bytes(), path, query, minor_version: minor, headers, len, framing }))
}

/// `HTTP/2.0` is a version we do not speak (505); `FOO` is not a version (400).
fn version_error(buf: &[u8], line_end: Option<usize>) -> HttpError {
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            HttpError::VersionNotSupported
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => HttpError::VersionNotSupported,
        _ => HttpError::BadRequest("malformed HTTP version"),
    }
}

/// Splits a request target into raw path and query (RFC 7230 §5.3).
fn split_target(target: &[u8]) -> Result<(&[u8], &[u8]), HttpError> {
    let origin = if target.first() == Some(&b'/') || target == b"*" {
        target
    } else if let Some(at) = find(target, b"://") {
        let after = &target[at + 3..];
        match after.iter().position(|&b| b == b'/' || b == b'?') {
            Some(p) if after[p] == b'/' => &after[p..],
            Some(p) => {
                return Ok((b"/", &after[p + 1..]));
            }
            None => b"/",
        }
    } else {
        // authority-form (CONNECT host:port): passed through as the path.
        target
    };
    Ok(match origin.iter().position(|&b| b == b'?') {
        Some(q) => (&origin[..q], &origin[q + 1..]),
        None => (origin, b""),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn framing(method: &[u8], minor: u8, headers: &[Header<'_>], limits: &Limits) -> Result<Framing, HttpError> {
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut te_seen = false;
    let mut te_codings = 0;
    let mut te_other = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for h in headers {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for part in h.value.split(|&b| b == b',') {
                let v = parse_length(trim(part)).ok_or(HttpError::BadRequest("malformed content-length"))?;
                if length.is_some_and(|l| l != v) {
                    return Err(HttpError::BadRequest("conflicting content-length headers"));
                }
                length = Some(v);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_seen = true;
            for token in h.value.split(|&b| b == b',').map(trim) {
                te_codings += 1;
                te_other |= !token.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',').map(trim) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= trim(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    // chunked must be the one and only coding: we decode no other.
    if te_seen && (te_other || te_codings != 1) {
        return Err(HttpError::NotImplemented);
    }
    let chunked = te_seen;
    if minor == 1 && hosts != 1 {
        return Err(HttpError::BadRequest(if hosts == 0 { "missing host header" } else { "more than one host header" }));
    }
    let body = match (chunked, length) {
        (true, Some(_)) => return Err(HttpError::BadRequest("both content-length and transfer-encoding")),
        (true, None) => BodyKind::Chunked,
        (false, Some(n)) if n > limits.max_body => return Err(HttpError::PayloadTooLarge),
        (false, Some(0)) | (false, None) => BodyKind::None,
        (false, Some(n)) => BodyKind::Length(n),
    };
    // RFC 9112 §6.1: transfer-encoding on HTTP/1.0 is faulty framing: answer,
    // then close.
    let keep_alive = !close && (minor == 1 || keep_alive_token) && !(minor == 0 && te_seen);
    Ok(Framing {
        body,
        keep_alive,
        expect_continue: expect_continue && minor == 1 && body != BodyKind::None,
        is_head: method == b"HEAD",
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add((d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_request_line: 64, max_header_bytes: 128, max_headers: 4, max_body: 1000 };

    type Summary = (Vec<u8>, Vec<u8>, Vec<u8>, u8, usize, Framing, Vec<(String, Vec<u8>)>);

    fn run(buf: &[u8], limits: &Limits) -> Result<Option<Summary>, HttpError> {
        parse(buf, limits, |h| {
            (
                h.method.to_vec(),
                h.path.to_vec(),
                h.query.to_vec(),
                h.minor_version,
                h.len,
                h.framing,
                h.headers.iter().map(|x| (x.name.to_string(), x.value.to_vec())).collect(),
            )
        })
    }

    fn status(buf: &[u8]) -> u16 {
        match run(buf, &LIMITS) {
            Err(e) => e.status(),
            Ok(Some(_)) => 0,
            Ok(None) => 1,
        }
    }

    #[test]
    fn parses_a_simple_get() {
        let req = b"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\nNEXT";
        let (m, p, q, v, len, f, hs) = run(req, &LIMITS).unwrap().unwrap();
        assert_eq!((&m[..], &p[..], &q[..], v), (&b"GET"[..], &b"/a/b"[..], &b"x=1&y"[..], 1));
        assert_eq!(len, req.len() - 4);
        assert_eq!(f, Framing { body: BodyKind::None, keep_alive: true, expect_continue: false, is_head: false });
        assert_eq!(hs.len(), 3);
        assert_eq!(hs[2], ("x-dup".to_string(), b"2".to_vec()));
    }

    #[test]
    fn partial_heads_wait_at_every_split() {
        let req = b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
        for cut in 0..req.len() {
            assert_eq!(status(&req[..cut]), 1, "cut {cut}");
        }
        let (.., f, _) = run(req, &LIMITS).unwrap().unwrap();
        assert_eq!(f.body, BodyKind::Length(5));
    }

    #[test]
    fn request_line_limit_on_both_sides() {
        // "GET /" + pad + " HTTP/1.1" is exactly max_request_line bytes.
        let line = |len: usize| {
            let pad = "a".repeat(len - "GET / HTTP/1.1".len());
            format!("GET /{pad} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
        };
        assert_eq!(status(&line(64)), 0);
        assert_eq!(status(&line(65)), 414);
        // Refused before the line ends, once it is longer than allowed.
        let long = line(200);
        assert_eq!(status(&long[..66]), 414);
        assert_eq!(status(&long[..64]), 1);
        // Exactly max bytes then CR: the LF may still come.
        let exact = line(64);
        assert_eq!(status(&exact[..65]), 1);
    }

    #[test]
    fn empty_lines_before_the_request_are_bounded() {
        let mut req = b"\r\n".repeat(3);
        req.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(status(&req), 0);
        assert_eq!(status(&b"\r\n".repeat(32)), 1);
        assert_eq!(status(&b"\r\n".repeat(33)), 400);
    }

    #[test]
    fn header_bytes_limit_on_both_sides() {
        // Header section = "Host: h\r\n" (9) + "X: <pad>\r\n" + "\r\n" (2).
        let head = |section: usize| {
            let pad = "v".repeat(section - 9 - 2 - 5);
            format!("GET / HTTP/1.1\r\nHost: h\r\nX: {pad}\r\n\r\n").into_bytes()
        };
        assert_eq!(status(&head(128)), 0);
        assert_eq!(status(&head(129)), 431);
        let big = head(400);
        assert_eq!(status(&big[..200]), 431, "refused before the head is complete");
    }

    #[test]
    fn header_count_limit_on_both_sides() {
        let head = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
            for i in 1..n {
                s.push_str(&format!("X{i}: v\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        };
        assert_eq!(status(&head(4)), 0);
        assert_eq!(status(&head(5)), 431);
        let many = Limits { max_headers: 100, max_header_bytes: 10_000, ..LIMITS };
        let h = |n| {
            let b = head(n);
            run(&b, &many).map(|r| r.map(|s| s.6.len())).map_err(|e| e.status())
        };
        assert_eq!(h(100), Ok(Some(100)), "more than the stack array");
        assert_eq!(h(101), Err(431));
    }

    #[test]
    fn error_statuses() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.0\r\n\r\n", 0),
            (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
            (b"GET / FOO/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 0),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n", 0),
            (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 413),
        ];
        for (req, want) in cases {
            assert_eq!(status(req), *want, "{}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn framing_rules() {
        let f = |req: &[u8]| run(req, &LIMITS).unwrap().unwrap().5;
        assert!(!f(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(f(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!f(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
        let c = f(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(c.body, BodyKind::Chunked);
        assert!(c.expect_continue);
        assert!(!f(b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        assert!(f(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n").is_head);
        let te10 = f(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(te10.body, BodyKind::Chunked);
        assert!(!te10.keep_alive);
    }

    #[test]
    fn request_targets() {
        let pq = |req: &[u8]| {
            let s = run(req, &LIMITS).unwrap().unwrap();
            (String::from_utf8(s.1).unwrap(), String::from_utf8(s.2).unwrap())
        };
        assert_eq!(pq(b"GET http://h:8/p/q?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"), ("/p/q".into(), "x=1".into()));
        assert_eq!(pq(b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n"), ("/".into(), "".into()));
        assert_eq!(pq(b"GET http://h?a HTTP/1.1\r\nHost: h\r\n\r\n"), ("/".into(), "a".into()));
        assert_eq!(pq(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), ("*".into(), "".into()));
        assert_eq!(pq(b"GET /%20x? HTTP/1.1\r\nHost: h\r\n\r\n"), ("/%20x".into(), "".into()));
    }
}

#[cfg(test)]
mod garbage_tests {
    use super::*;

    #[test]
    fn random_and_mutated_heads_never_panic() {
        let limits = Limits { max_request_line: 64, max_header_bytes: 128, max_headers: 4, max_body: 1000 };
        let valid = b"POST /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut seed = 0x1234_5678_9abc_def1u64;
        for round in 0..20_000 {
            let mut req = valid.to_vec();
            let r = crate::protocol::garbage_tests::noise(&mut seed, 3);
            let at = r[0] as usize % req.len();
            if round % 3 == 0 {
                req.truncate(at);
            } else {
                req[at] = r[1];
            }
            let _ = parse(&req, &limits, |h| h.len);
        }
    }
}
