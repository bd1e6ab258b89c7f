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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn cfg(port: u16, reuseport: bool) -> Config {
        Config { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), port, reuseport, ..Config::default() }
    }

    #[test]
    fn a_taken_port_is_eaddrinuse_unless_both_reuse_it() {
        let first = bind(&cfg(0, true)).unwrap();
        let port = first.local_addr().unwrap().port();
        assert!(bind(&cfg(port, true)).is_ok(), "reuseport shards share the port");
        let err = bind(&cfg(port, false)).map(|_| ()).unwrap_err();
        assert_eq!(err.0, "eaddrinuse");
        assert!(err.1.contains(&port.to_string()));
    }

    #[test]
    fn an_address_not_on_this_host_is_eaddrnotavail() {
        let c = Config { ip: "192.0.2.1".parse().unwrap(), ..Config::default() };
        assert_eq!(bind(&c).map(|_| ()).unwrap_err().0, "eaddrnotavail");
    }
}
