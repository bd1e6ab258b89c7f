//! Response heads: the handler's status and headers, checked, plus the
//! headers Ferry owns (`date`, framing, `connection`).

use super::chunked::is_token;
use crate::etf::Term;
use crate::protocol::for_each_header;

/// What the request allows the response to be.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    pub is_head: bool,
    pub minor_version: u8,
    /// The connection will close after this response whatever the handler says.
    pub must_close: bool,
}

/// Whether the whole body is known (`respond`) or follows (`stream_start`).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Complete { body_len: usize },
    Stream,
}

/// How the body that follows the head is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body goes out (HEAD, 1xx, 204, 304); data given is dropped.
    NoBody,
    /// Exactly this many bytes.
    Length(u64),
    Chunked,
    /// HTTP/1.0 without content-length: the body ends when the connection closes.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub framing: BodyFraming,
    pub close: bool,
    /// A 1xx: the request still waits for its final response.
    pub informational: bool,
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A header field the handler may send: a token name, a value without CR,
/// LF or NUL (RFC 7230 §3.2; CR/LF would let it inject headers).
pub(crate) fn check_field(name: &[u8], value: &[u8]) -> Result<(), String> {
    if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
        return Err(format!("invalid header name {:?}", String::from_utf8_lossy(name)));
    }
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {} has CR, LF or NUL in its value", String::from_utf8_lossy(name)));
    }
    Ok(())
}

/// Writes the head for `status` and the handler's `headers` into `out`.
/// On `Err` nothing is left in `out`.
pub fn write_head(out: &mut Vec<u8>, status: u16, headers: &Term<'_>, req: RequestInfo, kind: Kind, date: &[u8]) -> Result<Plan, String> {
    let start = out.len();
    let result = write_head_inner(out, status, headers, req, kind, date);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_head_inner(out: &mut Vec<u8>, status: u16, headers: &Term<'_>, req: RequestInfo, kind: Kind, date: &[u8]) -> Result<Plan, String> {
    let informational = (100..200).contains(&status);
    if !(100..=599).contains(&status) || status == 101 {
        return Err(format!("invalid status {status}"));
    }
    if informational && matches!(kind, Kind::Stream) {
        return Err(format!("stream_start with informational status {status}"));
    }
    let start = out.len();
    status_line(out, status);
    let mut content_length: Option<u64> = None;
    let mut has_date = false;
    let mut handler_close = false;
    for_each_header(headers, |name, value| {
        check_field(name, value)?;
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Framing is Ferry's to choose.
            return Ok(());
        }
        if name.eq_ignore_ascii_case(b"connection") {
            // Ferry says what it does with the connection; a handler's
            // keep-alive or upgrade would promise what it will not do.
            handler_close |= value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            return Ok(());
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            // Two fields, a sign, spaces or a list are read differently by
            // different clients and proxies (RFC 9110 §8.6): never sent.
            if content_length.is_some() {
                return Err("more than one content-length field".into());
            }
            content_length = Some(parse_length(value).ok_or_else(|| {
                format!("content-length {:?} is not a number of digits only", String::from_utf8_lossy(value))
            })?);
        } else if name.eq_ignore_ascii_case(b"date") {
            has_date = true;
        }
        header(out, name, value);
        Ok(())
    })?;
    if informational {
        if req.minor_version == 0 {
            // RFC 9110 §15.2: no 1xx to an HTTP/1.0 client.
            out.truncate(start);
        } else {
            out.extend_from_slice(b"\r\n");
        }
        return Ok(Plan { framing: BodyFraming::NoBody, close: false, informational: true });
    }
    if !has_date {
        header(out, b"date", date);
    }
    let bodyless_status = status == 204 || status == 304;
    let framing = match kind {
        Kind::Complete { body_len } => {
            match content_length {
                Some(cl) if cl != body_len as u64 && !req.is_head && !bodyless_status => {
                    return Err(format!("content-length {cl} disagrees with a body of {body_len} bytes"));
                }
                Some(_) => {}
                None if bodyless_status => {}
                None => header(out, b"content-length", body_len.to_string().as_bytes()),
            }
            if req.is_head || bodyless_status {
                BodyFraming::NoBody
            } else {
                BodyFraming::Length(body_len as u64)
            }
        }
        Kind::Stream => match content_length {
            _ if req.is_head || bodyless_status => BodyFraming::NoBody,
            Some(cl) => BodyFraming::Length(cl),
            None if req.minor_version >= 1 => {
                header(out, b"transfer-encoding", b"chunked");
                BodyFraming::Chunked
            }
            None => BodyFraming::UntilClose,
        },
    };
    let close = req.must_close || handler_close || framing == BodyFraming::UntilClose;
    if close {
        header(out, b"connection", b"close");
    } else if req.minor_version == 0 {
        header(out, b"connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Plan { framing, close, informational: false })
}

/// A content-length value: digits only, at least one, fitting a u64.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A response Ferry makes itself (errors, timeouts): a short text body
/// saying what went wrong.
pub fn write_error(out: &mut Vec<u8>, status: u16, close: bool, date: &[u8], detail: &str) {
    let text = if detail.is_empty() { format!("{}\n", reason(status)) } else { format!("{}: {detail}\n", reason(status)) };
    status_line(out, status);
    header(out, b"date", date);
    header(out, b"content-type", b"text/plain");
    header(out, b"content-length", text.len().to_string().as_bytes());
    if close {
        header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(text.as_bytes());
}

/// `100 Continue`, written when the BEAM first asks for the body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The line before `len` bytes of a chunked body (the data and a CRLF follow).
pub fn write_chunk_size(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
}

/// The last chunk and the trailers; on `Err` nothing is written.
pub fn write_last_chunk(out: &mut Vec<u8>, trailers: &Term<'_>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(b"0\r\n");
    let r = for_each_header(trailers, |name, value| {
        check_field(name, value)?;
        header(out, name, value);
        Ok(())
    });
    if let Err(e) = r {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etf;

    fn headers(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut v = vec![131];
        if pairs.is_empty() {
            etf::put_nil(&mut v);
            return v;
        }
        etf::put_list(&mut v, pairs.len());
        for (n, val) in pairs {
            etf::put_tuple(&mut v, 2);
            etf::put_binary(&mut v, n);
            etf::put_binary(&mut v, val);
        }
        etf::put_nil(&mut v);
        v
    }

    const GET11: RequestInfo = RequestInfo { is_head: false, minor_version: 1, must_close: false };
    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(status: u16, pairs: &[(&[u8], &[u8])], req: RequestInfo, kind: Kind) -> Result<(String, Plan), String> {
        let raw = headers(pairs);
        let t = etf::decode(&raw).unwrap();
        let mut out = b"previous".to_vec();
        let r = write_head(&mut out, status, &t, req, kind, DATE);
        if r.is_err() {
            assert_eq!(out, b"previous");
        }
        r.map(|p| (String::from_utf8(out[8..].to_vec()).unwrap(), p))
    }

    #[test]
    fn complete_response_gets_date_and_length() {
        let (h, p) = head(200, &[(b"content-type", b"text/plain")], GET11, Kind::Complete { body_len: 5 }).unwrap();
        assert_eq!(h, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(p, Plan { framing: BodyFraming::Length(5), close: false, informational: false });
    }

    #[test]
    fn stream_is_chunked_on_11_and_closes_on_10() {
        let (h, p) = head(200, &[], GET11, Kind::Stream).unwrap();
        assert!(h.contains("transfer-encoding: chunked\r\n"));
        assert_eq!(p.framing, BodyFraming::Chunked);
        let v10 = RequestInfo { minor_version: 0, ..GET11 };
        let (h, p) = head(200, &[], v10, Kind::Stream).unwrap();
        assert!(h.contains("connection: close\r\n"));
        assert_eq!(p, Plan { framing: BodyFraming::UntilClose, close: true, informational: false });
        let (_, p) = head(200, &[(b"Content-Length", b"10")], GET11, Kind::Stream).unwrap();
        assert_eq!(p.framing, BodyFraming::Length(10));
        let (h, _) = head(200, &[], v10, Kind::Complete { body_len: 0 }).unwrap();
        assert!(h.contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn head_and_bodyless_statuses() {
        let head_req = RequestInfo { is_head: true, ..GET11 };
        let (h, p) = head(200, &[], head_req, Kind::Complete { body_len: 12 }).unwrap();
        assert!(h.contains("content-length: 12\r\n"));
        assert_eq!(p.framing, BodyFraming::NoBody);
        let (h, p) = head(204, &[], GET11, Kind::Complete { body_len: 0 }).unwrap();
        assert!(!h.contains("content-length"));
        assert_eq!(p.framing, BodyFraming::NoBody);
        let (h, p) = head(304, &[], GET11, Kind::Stream).unwrap();
        assert!(!h.contains("transfer-encoding"));
        assert_eq!(p.framing, BodyFraming::NoBody);
        let (h, p) = head(103, &[(b"link", b"</a>")], GET11, Kind::Complete { body_len: 0 }).unwrap();
        assert_eq!(h, "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n");
        assert!(p.informational);
    }

    #[test]
    fn refuses_injection_bad_status_and_wrong_length() {
        type Case<'a> = (u16, &'a [(&'a [u8], &'a [u8])]);
        let bad: &[Case] = &[
            (200, &[(b"x", b"a\r\nset-cookie: evil")]),
            (200, &[(b"x\r\ny", b"a")]),
            (200, &[(b"x", b"a\0")]),
            (200, &[(b"", b"a")]),
            (200, &[(b"bad name", b"a")]),
            (200, &[(b"content-length", b"4")]),
            (200, &[(b"content-length", b"x")]),
            (200, &[(b"content-length", b"50"), (b"content-length", b"5")]),
            (200, &[(b"content-length", b"5"), (b"Content-Length", b"5")]),
            (200, &[(b"content-length", b"+5")]),
            (200, &[(b"content-length", b" 5 ")]),
            (200, &[(b"content-length", b"5 ")]),
            (200, &[(b"content-length", b"5, 5")]),
            (200, &[(b"content-length", b"")]),
            (200, &[(b"content-length", b"-5")]),
            (200, &[(b"content-length", b"99999999999999999999")]),
            (101, &[]),
            (99, &[]),
            (600, &[]),
        ];
        for (status, hs) in bad {
            assert!(head(*status, hs, GET11, Kind::Complete { body_len: 5 }).is_err(), "{status} {hs:?}");
        }
        assert!(head(100, &[], GET11, Kind::Stream).is_err());
        for value in [&b"+5"[..], b" 5", b"5,5", b""] {
            assert!(head(200, &[(b"content-length", value)], GET11, Kind::Stream).is_err(), "{value:?}");
        }
        assert!(head(200, &[(b"content-length", b"5"), (b"content-length", b"5")], GET11, Kind::Stream).is_err());
    }

    #[test]
    fn content_length_of_digits_only() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"007"), Some(7));
        assert_eq!(parse_length(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"+1", b"-1", b" 1", b"1 ", b"1,1", b"0x1", b"18446744073709551616"] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_informational_response_to_http10() {
        let v10 = RequestInfo { minor_version: 0, ..GET11 };
        let (h, p) = head(103, &[(b"link", b"</a>")], v10, Kind::Complete { body_len: 0 }).unwrap();
        assert_eq!(h, "");
        assert!(p.informational);
        // Still checked: an invalid 1xx is an error, whoever it is for.
        assert!(head(103, &[(b"link", b"a\r\nb")], v10, Kind::Complete { body_len: 0 }).is_err());
    }

    #[test]
    fn connection_close_from_request_or_handler() {
        let close = RequestInfo { must_close: true, ..GET11 };
        let (h, p) = head(200, &[], close, Kind::Complete { body_len: 0 }).unwrap();
        assert!(h.contains("connection: close\r\n") && p.close);
        let (h, p) = head(200, &[(b"Connection", b"close")], GET11, Kind::Complete { body_len: 0 }).unwrap();
        assert_eq!(h.matches("onnection").count(), 1);
        assert!(p.close);
    }

    #[test]
    fn connection_header_is_ferrys() {
        let close = RequestInfo { must_close: true, ..GET11 };
        let (h, p) = head(200, &[(b"connection", b"keep-alive")], close, Kind::Complete { body_len: 0 }).unwrap();
        assert_eq!(h.matches("onnection").count(), 1, "{h}");
        assert!(h.contains("connection: close\r\n") && p.close);
        let (h, p) = head(200, &[(b"connection", b"upgrade"), (b"Connection", b"keep-alive")], GET11, Kind::Complete { body_len: 0 }).unwrap();
        assert!(!h.contains("onnection"), "{h}");
        assert!(!p.close);
        let (h, p) = head(200, &[(b"connection", b"upgrade, Close")], GET11, Kind::Stream).unwrap();
        assert_eq!(h.matches("onnection").count(), 1, "{h}");
        assert!(h.contains("connection: close\r\n") && p.close);
        let v10 = RequestInfo { minor_version: 0, ..GET11 };
        let (h, _) = head(200, &[(b"connection", b"upgrade")], v10, Kind::Complete { body_len: 0 }).unwrap();
        assert_eq!(h.matches("onnection").count(), 1, "{h}");
        assert!(h.contains("connection: keep-alive\r\n"));
        let (h, _) = head(103, &[(b"connection", b"close")], GET11, Kind::Complete { body_len: 0 }).unwrap();
        assert!(!h.contains("onnection"), "{h}");
    }

    #[test]
    fn error_responses_are_sized_and_say_why() {
        let mut out = Vec::new();
        write_error(&mut out, 400, true, DATE, "missing host header");
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(body, "Bad Request: missing host header\n");
        let mut out = Vec::new();
        write_error(&mut out, 504, false, DATE, "");
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("connection:"));
        assert!(text.ends_with("\r\n\r\nGateway Timeout\n"));
    }

    #[test]
    fn chunks_and_trailers() {
        let mut out = Vec::new();
        write_chunk_size(&mut out, 26);
        out.extend_from_slice(b"hello world, 26 bytes long\r\n");
        let raw = headers(&[(b"x-sum", b"1")]);
        write_last_chunk(&mut out, &etf::decode(&raw).unwrap()).unwrap();
        assert_eq!(out, b"1a\r\nhello world, 26 bytes long\r\n0\r\nx-sum: 1\r\n\r\n");
    }
}
