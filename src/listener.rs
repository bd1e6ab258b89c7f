//! The listening socket: SO_REUSEADDR always (a restarted port binds again
//! at once), SO_REUSEPORT when asked (shards on one address).

use crate::config::Config;
use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Binds per `cfg`; on failure, the `listen_error` kind and a message.
pub fn bind(cfg: &Config) -> Result<TcpListener, (&'static str, String)> {
    let addr = SocketAddr::new(cfg.ip, cfg.port);
    let fail = |e: io::Error| (error_kind(&e), format!("{addr}: {e}"));
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    if cfg.reuseport {
        socket.set_reuse_port(true).map_err(fail)?;
    }
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(fail)?;
    socket.listen(cfg.backlog.min(i32::MAX as u32) as i32).map_err(fail)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn error_kind(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::AddrInUse => "eaddrinuse",
        io::ErrorKind::PermissionDenied => "eacces",
        io::ErrorKind::AddrNotAvailable => "eaddrnotavail",
        _ => "io",
    }
}
