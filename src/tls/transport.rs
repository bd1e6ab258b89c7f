//! A connection's bytes: straight on the `TcpStream`, or through a rustls
//! `ServerConnection` on it. `Conn` reads and writes plaintext either way;
//! the handshake runs inside those reads and writes, never blocking.
//!
//! Buffers over TLS stay bounded: rustls holds at most 16 KiB of decrypted
//! input (and input is only read from the socket once that is empty), one
//! record being received, and `SEND_LIMIT` bytes of records for the socket.

use crate::etf;
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};

/// Encrypted bytes rustls may queue for the socket: a `write` takes no
/// more plaintext until the socket has taken them.
const SEND_LIMIT: usize = 64 * 1024;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    sock: TcpStream,
    tls: ServerConnection,
}

impl Transport {
    pub fn tls(sock: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Transport> {
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(SEND_LIMIT));
        Ok(Transport::Tls(Box::new(TlsStream { sock, tls })))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// The socket's descriptor for sendfile and splice, which only plain
    /// connections may use: TLS bytes must pass through rustls.
    pub fn plain_fd(&self) -> Option<RawFd> {
        match self {
            Transport::Plain(s) => Some(s.as_raw_fd()),
            Transport::Tls(_) => None,
        }
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.tls.is_handshaking())
    }

    /// Encrypted bytes wait for the socket.
    pub fn tls_pending(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.tls.wants_write())
    }

    /// Writes what rustls holds for the socket, until it would block.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush_records(),
        }
    }

    /// Ends our sending side: a close_notify first over TLS (as much of it
    /// as the socket takes now), then the TCP FIN.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            t.flush_records()?;
        }
        self.tcp().shutdown(Shutdown::Write)
    }

    /// The request map's `tls` value (PROTOCOL.md "TLS"); `undefined` for
    /// a plain connection, which the request map never asks about.
    pub fn put_info(&self, b: &mut Vec<u8>) {
        let Transport::Tls(t) = self else {
            etf::put_atom(b, "undefined");
            return;
        };
        let c = &t.tls;
        etf::put_map(b, 5);
        etf::put_atom(b, "version");
        etf::put_atom(
            b,
            match c.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "tlsv1.3",
                _ => "tlsv1.2",
            },
        );
        etf::put_atom(b, "cipher");
        match c.negotiated_cipher_suite().and_then(|s| s.suite().as_str()) {
            Some(name) => etf::put_binary(b, name.as_bytes()),
            None => etf::put_atom(b, "undefined"),
        }
        let put_opt = |b: &mut Vec<u8>, key: &str, v: Option<&[u8]>| {
            etf::put_atom(b, key);
            match v {
                Some(v) => etf::put_binary(b, v),
                None => etf::put_atom(b, "undefined"),
            }
        };
        put_opt(b, "alpn", c.alpn_protocol());
        put_opt(b, "sni", c.server_name().map(str::as_bytes));
        put_opt(b, "peer_cert", c.peer_certificates().and_then(|certs| certs.first()).map(|c| c.as_ref()));
    }
}

impl TlsStream {
    fn flush_records(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fills `buf` with plaintext as far as the socket allows: a short read
    /// means the socket said `WouldBlock` (or ended), as for a plain read,
    /// so the edge-triggered loop may wait for the next readiness event.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        loop {
            match self.tls.reader().read(&mut buf[got..]) {
                Ok(0) if got < buf.len() => return Ok(got), // close_notify: the end
                Ok(n) => {
                    got += n;
                    if got == buf.len() {
                        return Ok(got);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: the end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(got),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Ok(got),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => return Ok(got),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                // The alert rustls queued, if the socket takes it.
                let _ = self.flush_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages, and key updates, go out at once.
            self.flush_records()?;
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush_records()?;
        let n = self.tls.writer().write(data)?;
        self.flush_records()?;
        if n == 0 && !data.is_empty() {
            // rustls holds `SEND_LIMIT` for a socket that takes nothing.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) => {
                // One record per piece would waste bytes; rustls gathers them.
                t.flush_records()?;
                let n = t.tls.writer().write_vectored(bufs)?;
                t.flush_records()?;
                if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}
