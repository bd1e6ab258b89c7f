//! One client WebSocket on a non-blocking socket: the opening handshake,
//! masked frames out, the server's frames in. Only what the benchmark needs:
//! no UTF-8 checks, no inflating (a compressed message is counted, not read).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use mio::net::TcpStream;
use socket2::{Domain, Socket, Type};

/// Any fixed key will do: the server unmasks whatever it is.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// The largest read at once; a message is reassembled in `Conn::inbuf`.
const READ: usize = 256 * 1024;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    /// The upgrade request is out; waiting for the 101.
    Upgrading,
    Open,
    /// The server closed (or the socket failed).
    Closed,
}

pub struct Conn {
    pub sock: TcpStream,
    pub state: State,
    /// The 101 accepted permessage-deflate.
    pub deflate: bool,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// Payload bytes of the message being received so far.
    partial: usize,
}

/// What `Conn::read` found.
pub enum Event {
    /// The 101 arrived.
    Opened,
    /// A whole data message of this many payload bytes (as on the wire:
    /// compressed size for a compressed one).
    Message(usize),
}

/// A non-blocking connect from `src` (port chosen at connect time, so ports
/// in TIME_WAIT towards other servers of the run are not in the way).
pub fn connect(src: Ipv4Addr, dst: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and an int option of the right size.
    unsafe {
        libc::setsockopt(s.as_raw_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT,
                         &one as *const _ as *const libc::c_void, std::mem::size_of::<libc::c_int>() as u32);
    }
    s.bind(&SocketAddrV4::new(src, 0).into())?;
    match s.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

/// A masked client frame (FIN set); `rsv1` marks a compressed message.
pub fn frame(op: u8, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | if rsv1 { 0x40 } else { 0 } | op);
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// A text message as permessage-deflate sends it: raw DEFLATE, sync flush,
/// without the 00 00 ff ff tail (RFC 7692 7.2.1).
pub fn deflated(text: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(text.len() + 64);
    // A buffer this large holds it in one call.
    let _ = c.compress_vec(text, &mut out, flate2::FlushCompress::Sync);
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

impl Conn {
    pub fn new(sock: TcpStream) -> Self {
        Conn { sock, state: State::Connecting, deflate: false, out: Vec::new(), inbuf: Vec::new(), partial: 0 }
    }

    /// The connect finished (on the first writable event): send the upgrade.
    /// `deflate`: offer permessage-deflate as browsers do.
    pub fn connected(&mut self, host: &str, path: &str, deflate: bool) -> io::Result<()> {
        if let Some(e) = self.sock.take_error()? {
            return Err(e);
        }
        self.sock.peer_addr()?;
        let ext = if deflate { "sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n" } else { "" };
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n{ext}\r\n"
        );
        self.state = State::Upgrading;
        self.send(req.as_bytes())
    }

    /// Queues `bytes` and writes what the socket takes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.out.is_empty() {
            match self.sock.write(bytes) {
                Ok(n) if n == bytes.len() => return Ok(()),
                Ok(n) => self.out.extend_from_slice(&bytes[n..]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.out.extend_from_slice(bytes),
                Err(e) => return Err(e),
            }
            Ok(())
        } else {
            self.out.extend_from_slice(bytes);
            self.flush()
        }
    }

    /// Writes queued bytes (on a writable event).
    pub fn flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        while done < self.out.len() {
            match self.sock.write(&self.out[done..]) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.drain(..done);
        Ok(())
    }

    /// Reads all the socket has and calls `on` for each event. Pings are
    /// answered; a close or EOF makes the state `Closed`.
    pub fn read(&mut self, buf: &mut [u8], mut on: impl FnMut(&mut Conn, Event)) -> io::Result<()> {
        let len = READ.min(buf.len());
        loop {
            let n = match self.sock.read(&mut buf[..len]) {
                Ok(0) => {
                    self.state = State::Closed;
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.state = State::Closed;
                    return Err(e);
                }
            };
            self.inbuf.extend_from_slice(&buf[..n]);
            self.parse(&mut on)?;
            if self.state == State::Closed {
                return Ok(());
            }
        }
    }

    fn parse(&mut self, on: &mut impl FnMut(&mut Conn, Event)) -> io::Result<()> {
        let mut pos = 0;
        if self.state == State::Upgrading {
            let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(()) };
            let head = String::from_utf8_lossy(&self.inbuf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 101") {
                self.state = State::Closed;
                return Err(io::Error::other(head.lines().next().unwrap_or("").to_string()));
            }
            self.deflate = head.contains("permessage-deflate");
            self.state = State::Open;
            pos = end + 4;
            on(self, Event::Opened);
        }
        while let Some((fin, op, start, len)) = header(&self.inbuf[pos..]) {
            let payload = pos + start..pos + start + len;
            pos = payload.end;
            match op {
                CLOSE => {
                    self.state = State::Closed;
                    break;
                }
                PING => {
                    let pong = frame(0xA, false, &self.inbuf[payload]);
                    self.send(&pong)?;
                }
                0xA => {}
                _ => {
                    self.partial += len;
                    if fin {
                        let size = std::mem::take(&mut self.partial);
                        on(self, Event::Message(size));
                    }
                }
            }
        }
        self.inbuf.drain(..pos);
        Ok(())
    }
}

/// (fin, opcode, header length, payload length) of a complete frame at the
/// start of `b`, or None while it is incomplete.
fn header(b: &[u8]) -> Option<(bool, u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let (fin, op) = (b[0] & 0x80 != 0, b[0] & 0x0f);
    let (start, len) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().ok()?) as usize),
        126 | 127 => return None,
        n => (2, n as usize),
    };
    (b.len() >= start + len).then_some((fin, op, start, len))
}
