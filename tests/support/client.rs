//! A raw HTTP/1.1 client over std's TcpStream: the test writes exactly the
//! bytes it wants and reads responses back strictly (a malformed response
//! from ferry fails the test). Every read has a timeout.

use super::WAIT;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub struct Client {
    pub stream: TcpStream,
    /// Bytes read from the socket and not yet consumed by a parse.
    buf: Vec<u8>,
    /// Whether the server closed (EOF or reset) the connection.
    eof: bool,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub minor_version: u8,
    pub status: u16,
    pub reason: String,
    /// Names lowercased, order and duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub chunked: bool,
    /// The head exactly as received, up to and including the blank line.
    pub head: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether the server announced `connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to {port}: {e}"));
        Client::from_stream(stream)
    }

    /// Connects from a chosen loopback source address (bind before connect),
    /// optionally with a small receive buffer so the server sees a slow reader early.
    pub fn connect_from(src: Ipv4Addr, port: u16, recv_buffer: Option<usize>) -> Client {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        socket.bind(&SocketAddr::new(IpAddr::V4(src), 0).into()).unwrap_or_else(|e| panic!("bind {src}: {e}"));
        let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        socket.connect(&to.into()).unwrap_or_else(|e| panic!("connect from {src} to {port}: {e}"));
        Client::from_stream(socket.into())
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream, buf: Vec::new(), eof: false }
    }

    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local_addr").port()
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).unwrap_or_else(|e| panic!("client write: {e}"));
    }

    /// Like `send`, but the server may already have closed: returns whether it all went.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        self.stream.write_all(bytes.as_ref()).is_ok()
    }

    /// Reads more bytes into the buffer; returns how many (0 at EOF or reset).
    /// Panics if nothing arrives within the read timeout.
    pub fn fill(&mut self) -> usize {
        if self.eof {
            return 0;
        }
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return 0;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                    self.eof = true;
                    return 0;
                }
                Err(e) => panic!(
                    "client read failed ({e}); buffered so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads at most `max` bytes of whatever arrives (for slow readers).
    pub fn read_some(&mut self, max: usize) -> Vec<u8> {
        if self.buf.is_empty() {
            let mut chunk = vec![0u8; max];
            loop {
                match self.stream.read(&mut chunk) {
                    Ok(n) => {
                        if n == 0 {
                            self.eof = true;
                        }
                        chunk.truncate(n);
                        return chunk;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => panic!("client read failed: {e}"),
                }
            }
        }
        let n = max.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    /// Exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        let got = self.buf.len();
        self.try_read_exact_bytes(n).unwrap_or_else(|| panic!("connection closed after {got} of {n} bytes"))
    }

    /// Exactly `n` bytes, or None if the server closes first.
    pub fn try_read_exact_bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill() == 0 {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// One response to a request that may carry a body (GET, POST, ...).
    pub fn response(&mut self) -> Response {
        self.try_response(false).unwrap_or_else(|| panic!("connection closed before a response"))
    }

    /// One response to a HEAD request: never a body.
    pub fn head_response(&mut self) -> Response {
        self.try_response(true).unwrap_or_else(|| panic!("connection closed before a response"))
    }

    /// A response, or None if the server closed without sending a byte.
    pub fn try_response(&mut self, head_request: bool) -> Option<Response> {
        let mut resp = self.try_head()?;
        let no_body = head_request || resp.status < 200 || resp.status == 204 || resp.status == 304;
        if no_body {
            return Some(resp);
        }
        if let Some(te) = resp.header("transfer-encoding") {
            assert!(te.eq_ignore_ascii_case("chunked"), "unexpected transfer-encoding {te}");
            assert!(resp.header("content-length").is_none(), "both content-length and chunked: {resp:?}");
            resp.chunked = true;
            let (body, trailers) = self.chunked_body();
            resp.body = body;
            resp.trailers = trailers;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl.trim().parse().unwrap_or_else(|_| panic!("bad content-length {cl:?}"));
            resp.body = self.read_exact_bytes(n);
        } else {
            resp.body = self.read_to_eof();
        }
        Some(resp)
    }

    /// Only the status line and headers; the body stays unread.
    pub fn head(&mut self) -> Response {
        self.try_head().unwrap_or_else(|| panic!("connection closed before a response"))
    }

    pub fn try_head(&mut self) -> Option<Response> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let resp = Response {
                        minor_version: parsed.version.expect("version") as u8,
                        status: parsed.code.expect("status"),
                        reason: parsed.reason.unwrap_or("").to_string(),
                        headers: parsed
                            .headers
                            .iter()
                            .map(|h| {
                                let v = std::str::from_utf8(h.value).expect("header value utf-8");
                                (h.name.to_ascii_lowercase(), v.to_string())
                            })
                            .collect(),
                        body: Vec::new(),
                        trailers: Vec::new(),
                        chunked: false,
                        head: self.buf[..n].to_vec(),
                    };
                    self.buf.drain(..n);
                    return Some(resp);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => panic!("malformed response head ({e}): {:?}", String::from_utf8_lossy(&self.buf)),
            }
            if self.fill() == 0 {
                if self.buf.is_empty() {
                    return None;
                }
                panic!("connection closed inside a response head: {:?}", String::from_utf8_lossy(&self.buf));
            }
        }
    }

    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return line;
            }
            if self.fill() == 0 {
                panic!("connection closed inside a line: {:?}", String::from_utf8_lossy(&self.buf));
            }
        }
    }

    /// Strictly decodes a chunked body and its trailers.
    pub fn chunked_body(&mut self) -> (Vec<u8>, Vec<(String, String)>) {
        let mut body = Vec::new();
        loop {
            let (size, _) = self.chunk_header();
            if size == 0 {
                break;
            }
            body.extend(self.read_exact_bytes(size));
            assert_eq!(self.line(), b"", "chunk data not followed by CRLF");
        }
        let mut trailers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                return (body, trailers);
            }
            let text = String::from_utf8(line).expect("trailer utf-8");
            let (k, v) = text.split_once(':').unwrap_or_else(|| panic!("bad trailer line {text:?}"));
            trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }

    /// One `size[;ext]` line of a chunked body: (size, raw line).
    pub fn chunk_header(&mut self) -> (usize, String) {
        let line = String::from_utf8(self.line()).expect("chunk size line utf-8");
        let hex = line.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        (size, line)
    }

    /// Everything until the server closes.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes the connection (EOF or reset) with no
    /// further bytes.
    pub fn expect_eof(&mut self) {
        let rest = self.read_to_eof();
        assert!(rest.is_empty(), "expected close, got more bytes: {:?}", String::from_utf8_lossy(&rest));
    }

    /// True if the server has closed (or closes within `wait`); false if the
    /// connection is still open and silent after `wait`. Bytes that arrive
    /// fail the test.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        if self.eof {
            return true;
        }
        self.stream.set_read_timeout(Some(wait)).expect("read timeout");
        let deadline = Instant::now() + wait;
        let mut chunk = [0u8; 1024];
        let closed = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => panic!("expected silence or close, got {:?}", String::from_utf8_lossy(&chunk[..n])),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted && Instant::now() < deadline => continue,
                Err(_) => break true,
            }
        };
        self.eof = closed;
        self.stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        closed
    }

    /// A response if one starts arriving within `wait`; None if the
    /// connection stays silent (or closes without a byte). `head_request`:
    /// the response is to a HEAD, so it has no body.
    pub fn response_within(&mut self, wait: Duration, head_request: bool) -> Option<Response> {
        if self.buf.is_empty() && !self.eof {
            self.stream.set_read_timeout(Some(wait)).expect("read timeout");
            let mut chunk = [0u8; 65536];
            let got = loop {
                match self.stream.read(&mut chunk) {
                    Ok(0) => {
                        self.eof = true;
                        break 0;
                    }
                    Ok(n) => {
                        self.buf.extend_from_slice(&chunk[..n]);
                        break n;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break 0,
                    Err(_) => {
                        self.eof = true;
                        break 0;
                    }
                }
            };
            self.stream.set_read_timeout(Some(WAIT)).expect("read timeout");
            if got == 0 {
                return None;
            }
        }
        self.try_response(head_request)
    }

    /// Everything buffered or readable without waiting, after a pause of
    /// `settle` for the server to write; the connection stays as it is.
    pub fn drain_available(&mut self, settle: Duration) -> Vec<u8> {
        std::thread::sleep(settle);
        self.stream.set_nonblocking(true).expect("nonblocking");
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
        }
        self.stream.set_nonblocking(false).expect("blocking");
        std::mem::take(&mut self.buf)
    }

    /// Whether a read has already seen the server close (EOF or reset).
    pub fn saw_eof(&self) -> bool {
        self.eof
    }

    /// Bytes buffered but not consumed by a parse.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }
}
