//! HTTP/1.1 codecs on byte slices: no sockets here.

pub mod chunked;
pub mod date;
pub mod request;
pub mod response;

use std::fmt;

/// Why a request cannot be served; each maps to one status (RFC 7230/7231).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// RFC 7230 §3.1.1: request line over `max_request_line`.
    RequestLineTooLong,
    /// RFC 6585 §5: head over `max_header_bytes`.
    HeadersTooLarge,
    /// RFC 6585 §5: more than `max_headers` fields.
    TooManyHeaders,
    /// RFC 7230 §3.2, §3.3.3, §5.4, §4.1: malformed head or body framing.
    BadRequest(&'static str),
    /// RFC 7230 §3.3.1: a transfer coding other than chunked.
    NotImplemented,
    /// RFC 7230 §2.6: a version other than HTTP/1.0 and HTTP/1.1.
    VersionNotSupported,
    /// RFC 7231 §6.5.11: body over `max_body`.
    PayloadTooLarge,
}

impl HttpError {
    /// The one place a parse error becomes a status.
    pub fn status(self) -> u16 {
        match self {
            HttpError::RequestLineTooLong => 414,
            HttpError::HeadersTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BadRequest(_) => 400,
            HttpError::NotImplemented => 501,
            HttpError::VersionNotSupported => 505,
            HttpError::PayloadTooLarge => 413,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::RequestLineTooLong => f.write_str("request line longer than max_request_line (RFC 7230 3.1.1)"),
            HttpError::HeadersTooLarge => f.write_str("header fields larger than max_header_bytes (RFC 6585 5)"),
            HttpError::TooManyHeaders => f.write_str("more header fields than max_headers (RFC 6585 5)"),
            HttpError::BadRequest(why) => write!(f, "bad request: {why} (RFC 7230)"),
            HttpError::NotImplemented => f.write_str("transfer coding other than chunked (RFC 7230 3.3.1)"),
            HttpError::VersionNotSupported => f.write_str("HTTP version not supported (RFC 7230 2.6)"),
            HttpError::PayloadTooLarge => f.write_str("body larger than max_body (RFC 7231 6.5.11)"),
        }
    }
}
