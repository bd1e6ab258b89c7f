//! TLS terminated in Rust (rustls, ring provider): the `tls` option, the
//! files it names, and the transport a connection's bytes go through.

pub mod load;
pub mod options;
pub mod transport;

pub use options::TlsOptions;
pub use transport::Transport;
