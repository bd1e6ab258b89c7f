//! WebSocket (RFC 6455) and permessage-deflate (RFC 7692) as pure codecs on
//! byte slices, like cowlib's `cow_ws`: nothing here touches a socket. The
//! connection code feeds what it read to a `Decoder` and gets whole messages
//! back; it writes what `write` encodes.
//!
//! * `handshake`: is this request an upgrade, and the 101 that accepts it.
//! * `extensions`: the permessage-deflate offer and our answer to it.
//! * `frame`: one frame header, checked.
//! * `mask`: unmasking payloads, 8 bytes at a time.
//! * `message`: the `Decoder`, from bytes to whole checked messages.
//! * `utf8`: text checked as it arrives.
//! * `close`: close codes and close frame payloads.
//! * `deflate`: the compression contexts of one connection.
//! * `write`: the frames the server sends.

pub mod close;
pub mod deflate;
pub mod extensions;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;
pub mod write;

use std::fmt;

pub use deflate::Deflater;
pub use extensions::DeflateParams;
pub use frame::OpCode;
pub use message::{Decoder, Message};

/// What one connection may make Rust hold, checked before anything is
/// buffered (tungstenite's `max_frame_size`, `max_message_size`). The
/// values come from the listener's options (`Config::ws_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame as announced in its header (compressed
    /// size for a compressed frame). Over it: 1009.
    pub max_frame: u64,
    /// Largest message: the sum of its frames' payloads, or for a
    /// compressed message its inflated size. Over it: 1009.
    pub max_message: usize,
    /// Largest compressed message once inflated, at most `max_message`:
    /// what a few KB on the wire may make Rust hold. Over it: 1009.
    pub max_inflated: usize,
}

/// Why the connection must be failed (RFC 6455 §7.1.7); each maps to the
/// close code sent to the client and reported to the BEAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// A framing or sequencing rule broken: 1002.
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8: 1007.
    InvalidUtf8,
    /// A frame or message over `Limits`: 1009.
    TooBig(&'static str),
}

impl WsError {
    /// The one place a decoding error becomes a close code.
    pub fn code(self) -> u16 {
        match self {
            WsError::Protocol(_) => close::PROTOCOL_ERROR,
            WsError::InvalidUtf8 => close::INVALID_PAYLOAD,
            WsError::TooBig(_) => close::MESSAGE_TOO_BIG,
        }
    }
}

/// Short enough (under 123 bytes) to be the reason of a close frame.
impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::Protocol(why) => f.write_str(why),
            WsError::InvalidUtf8 => f.write_str("invalid UTF-8 in a text message (RFC 6455 8.1)"),
            WsError::TooBig(what) => f.write_str(what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(WsError::Protocol("x").code(), 1002);
        assert_eq!(WsError::InvalidUtf8.code(), 1007);
        assert_eq!(WsError::TooBig("x").code(), 1009);
    }

    #[test]
    fn every_reason_fits_in_a_close_frame() {
        // A close payload is 125 bytes: 2 for the code, 123 for the reason.
        let sources =
            [include_str!("frame.rs"), include_str!("message.rs"), include_str!("deflate.rs"), include_str!("close.rs")];
        let mut seen = 0;
        for src in sources {
            for piece in src.split("WsError::").skip(1) {
                if let Some(rest) = piece.strip_prefix("Protocol(\"").or_else(|| piece.strip_prefix("TooBig(\"")) {
                    let reason = &rest[..rest.find('"').unwrap()];
                    assert!(reason.len() <= 123, "{reason}");
                    seen += 1;
                }
            }
        }
        // The scan itself found the reasons.
        assert!(seen >= 15, "{seen}");
        assert!(WsError::InvalidUtf8.to_string().len() <= 123);
    }
}
