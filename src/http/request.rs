//! Request heads: httparse plus the limits and framing rules httparse leaves
//! to its user (RFC 7230 §3.1.1 line length, §3.2 header limits, §3.3.3
//! message body length, §5.4 Host; RFC 9112 §2.2 CRLF only, §3.2.2
//! absolute-form).

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
    // One slot more than the fields allowed: room for the `host` an
    // absolute-form target gives a request that has none.
    let mut stack = [EMPTY_HEADER; STACK_HEADERS + 1];
    let n = limits.max_headers.min(STACK_HEADERS);
    match parse_with(buf, &mut stack[..n + 1], limits, line_end) {
        Err(HttpError::TooManyHeaders) if limits.max_headers > STACK_HEADERS => {
            let mut heap = vec![EMPTY_HEADER; limits.max_headers + 1];
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
    let mut req = httparse::Request::new(&mut *headers);
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
    let count = req.headers.len();
    if count > limits.max_headers {
        return Err(HttpError::TooManyHeaders);
    }
    if has_bare_lf(&buf[..len]) {
        return Err(HttpError::BadRequest("bare LF in the head: lines end with CRLF (RFC 9112 2.2)"));
    }
    let target = split_target(target.as_bytes())?;
    let framing = framing(method.as_bytes(), minor, &headers[..count], limits)?;
    let count = match target.authority {
        Some(authority) => set_host(headers, count, authority),
        None => count,
    };
    let headers: &'h [Header<'b>] = &headers[..count];
    Ok(Some(Head { method: method.as_bytes(), path: target.path, query: target.query, minor_version: minor, headers, len, framing }))
}

/// RFC 9112 §3.2.2: the target's authority replaces the value of the Host
/// field (checked to be single by `framing`), or is added as one (HTTP/1.0
/// needs none) in the spare slot `parse` leaves. Returns the field count.
fn set_host<'b>(headers: &mut [Header<'b>], count: usize, authority: &'b [u8]) -> usize {
    if let Some(h) = headers[..count].iter_mut().find(|h| h.name.eq_ignore_ascii_case("host")) {
        h.value = authority;
        return count;
    }
    match headers.get_mut(count) {
        Some(slot) => {
            *slot = Header { name: "host", value: authority };
            count + 1
        }
        None => count,
    }
}

/// A LF without its CR. httparse accepts it as a line end; a recipient that
/// does while another on the path does not is one way to smuggle requests.
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// httparse stopped at the version. Only a line of `method SP target SP
/// HTTP/x.y` names a version we do not speak (505); anything else, a space
/// inside the target included, is a malformed request line (400).
fn version_error(buf: &[u8], line_end: Option<usize>) -> HttpError {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let line = &buf[start..line_end.unwrap_or(buf.len()).max(start)];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return HttpError::BadRequest("malformed request line");
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if !method.is_empty() && !target.is_empty() && major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::VersionNotSupported
        }
        _ => HttpError::BadRequest("malformed HTTP version"),
    }
}

/// A request target split (RFC 9112 §3.2): raw path and query, and the
/// authority of an absolute-form target.
struct Target<'b> {
    path: &'b [u8],
    query: &'b [u8],
    authority: Option<&'b [u8]>,
}

fn split_target(target: &[u8]) -> Result<Target<'_>, HttpError> {
    if target.contains(&b'#') {
        // RFC 9110 §4.2.5: a fragment is never sent.
        return Err(HttpError::BadRequest("fragment in the request target"));
    }
    let mut authority = None;
    let origin = if target.first() == Some(&b'/') || target == b"*" {
        target
    } else if let Some(at) = find(target, b"://") {
        let scheme = &target[..at];
        if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
            return Err(HttpError::BadRequest("absolute-form target of a scheme other than http(s)"));
        }
        let after = &target[at + 3..];
        let end = after.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(after.len());
        let host = &after[..end];
        // RFC 9110 §4.2.1: an http URI names a host; §4.2.4: no userinfo.
        if host.is_empty() || host.contains(&b'@') {
            return Err(HttpError::BadRequest("absolute-form target without a host, or with user info"));
        }
        authority = Some(host);
        match after.get(end) {
            Some(b'/') => &after[end..],
            Some(_) => return Ok(Target { path: b"/", query: &after[end + 1..], authority }),
            None => b"/",
        }
    } else {
        // authority-form (CONNECT host:port): passed through as the path.
        target
    };
    let (path, query) = match origin.iter().position(|&b| b == b'?') {
        Some(q) => (&origin[..q], &origin[q + 1..]),
        None => (origin, &b""[..]),
    };
    Ok(Target { path, query, authority })
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
            (b"GET / HTTP/2\r\nHost: h\r\n\r\n", 400),
            (b"GET /hel lo HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET /a b HTTP/2.0\r\nHost: h\r\n\r\n", 400),
            (b"\r\nGET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            (b"GET /p#f HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
            (b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            (b"GET http:/// HTTP/1.1\r\nHost: h\r\n\r\n", 400),
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

    #[test]
    fn absolute_form_authority_replaces_or_supplies_host() {
        let hosts = |req: &[u8]| {
            let s = run(req, &LIMITS).unwrap().unwrap();
            s.6.iter().map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v))).collect::<Vec<_>>()
        };
        assert_eq!(hosts(b"GET http://a:1/p HTTP/1.1\r\nX: 1\r\nHost: b\r\n\r\n"), ["X=1", "Host=a:1"]);
        assert_eq!(hosts(b"GET http://a?q HTTP/1.0\r\nX: 1\r\n\r\n"), ["X=1", "host=a"]);
        assert_eq!(hosts(b"GET /p HTTP/1.0\r\nX: 1\r\n\r\n"), ["X=1"], "origin-form adds nothing");
        // max_headers fields already: the spare slot still holds the host.
        let full = b"GET http://a/ HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(hosts(full).last().map(String::as_str), Some("host=a"));
        let many = Limits { max_headers: 100, max_header_bytes: 10_000, ..LIMITS };
        let mut req = b"GET http://a/ HTTP/1.0\r\n".to_vec();
        for i in 0..100 {
            req.extend_from_slice(format!("X{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let s = run(&req, &many).unwrap().unwrap();
        assert_eq!((s.6.len(), s.6[100].0.as_str()), (101, "host"), "past the stack array too");
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
