//! The floor of the benchmark: the least work a server on this machine can do
//! per request. One thread, one mio loop, no HTTP parser, no BEAM: every
//! `\r\n\r\n` read from a connection is answered with the same fixed
//! "Hello, world!" response. What is left is the kernel's TCP work (one
//! recv and one send per request) and the epoll loop, which every server in
//! the table pays too. No server that runs application code per request can
//! beat it; its row says what scenario 1's ratios can be at most here.
//!
//! Usage: floor [PORT]   (default 8080; 0 picks a free port)
//!
//! Only for GET / under keep-alive (scenarios 1 to 3): anything else is
//! answered the same, a request body is not understood.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!";
const LISTENER: Token = Token(usize::MAX);
/// A connection that sends this much without a complete head is closed.
const MAX_HEAD: usize = 8192;

struct Conn {
    stream: TcpStream,
    /// Bytes of a head not complete yet.
    pending: Vec<u8>,
    /// Answers not yet taken by the socket.
    out: Vec<u8>,
}

/// Counts the complete heads in `pending`, keeping the incomplete rest.
fn complete_heads(pending: &mut Vec<u8>) -> usize {
    let mut heads = 0;
    let mut start = 0;
    while let Some(end) = pending[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        heads += 1;
        start += end + 4;
    }
    pending.drain(..start);
    heads
}

/// Reads and answers what the connection has; false when it is done.
/// A read shorter than the buffer emptied the socket: the next bytes raise
/// a new edge, so no read is spent on learning WouldBlock (Ferry does the
/// same; one recv per request, as strace counts it).
fn serve(conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                conn.pending.extend_from_slice(&buf[..n]);
                for _ in 0..complete_heads(&mut conn.pending) {
                    conn.out.extend_from_slice(RESPONSE);
                }
                if conn.pending.len() > MAX_HEAD {
                    return false;
                }
                if n < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    flush(conn)
}

fn flush(conn: &mut Conn) -> bool {
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    true
}

fn run(port: u16) -> io::Result<()> {
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening on {}", listener.local_addr()?);

    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16384];
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            stream.set_nodelay(true)?;
                            let token = Token(next);
                            next += 1;
                            poll.registry().register(&mut stream, token,
                                                     Interest::READABLE | Interest::WRITABLE)?;
                            conns.insert(token.0, Conn { stream, pending: Vec::new(), out: Vec::new() });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // Out of files or an aborted handshake: the rest keep being served.
                        Err(e) => {
                            eprintln!("floor: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let key = event.token().0;
            let alive = match conns.get_mut(&key) {
                Some(conn) if event.is_readable() || event.is_read_closed() => serve(conn, &mut buf),
                Some(conn) => flush(conn),
                None => continue,
            };
            if !alive {
                if let Some(mut conn) = conns.remove(&key) {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
            }
        }
    }
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    if let Err(e) = run(port) {
        eprintln!("floor: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::complete_heads;

    #[test]
    fn counts_heads_and_keeps_the_rest() {
        let mut p = b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /".to_vec();
        assert_eq!(complete_heads(&mut p), 2);
        assert_eq!(p, b"GET /");
        p.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(complete_heads(&mut p), 1);
        assert!(p.is_empty());
    }
}
