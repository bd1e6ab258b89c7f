//! The byte-level parts of `ferry` (../src), compiled on their own so the
//! fuzz targets can call them. Same files, included by path: what is fuzzed
//! is what ships.

#![allow(dead_code)]

#[path = "../../src/config.rs"]
pub mod config;
#[path = "../../src/etf.rs"]
pub mod etf;
#[path = "../../src/exit.rs"]
pub mod exit;
#[path = "../../src/frame.rs"]
pub mod frame;
#[path = "../../src/http/mod.rs"]
pub mod http;
#[path = "../../src/protocol.rs"]
pub mod protocol;
#[path = "../../src/splice.rs"]
pub mod splice;
#[path = "../../src/ws/mod.rs"]
pub mod ws;

/// The `tls` option's parser is compiled as it ships; the transport (rustls
/// under mio) is not part of this crate: protocol.rs only names its type
/// and asks it for the negotiated facts.
#[path = "../../src/tls/options.rs"]
pub mod tls_options;

pub mod tls {
    pub use crate::tls_options as options;
    pub use options::TlsOptions;

    pub struct Transport;

    impl Transport {
        pub fn put_info(&self, _b: &mut Vec<u8>) {}
    }
}
