//! Close frames (RFC 6455 §5.5.1, §7.4): the payload is empty, or a 2-byte
//! status code and a UTF-8 reason. The same code rule governs what the
//! client may send and what the BEAM may ask Rust to send.

use super::utf8::is_utf8;
use super::WsError;

pub type CloseCode = u16;

pub const GOING_AWAY: CloseCode = 1001;
pub const PROTOCOL_ERROR: CloseCode = 1002;
/// Reported when a close frame had no code; never on the wire (§7.4.1).
pub const NO_STATUS: CloseCode = 1005;
/// Reported when the connection died without a close frame; never on the wire.
pub const ABNORMAL: CloseCode = 1006;
pub const INVALID_PAYLOAD: CloseCode = 1007;
pub const POLICY_VIOLATION: CloseCode = 1008;
pub const MESSAGE_TOO_BIG: CloseCode = 1009;
pub const INTERNAL_ERROR: CloseCode = 1011;

/// Largest payload of any control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A code allowed in a close frame on the wire. 1000-1003 and 1007-1011 are
/// RFC 6455's; 1012-1014 were registered with IANA since (and Autobahn
/// accepts them); 3000-3999 are registered by libraries, 4000-4999 private.
/// 1004 is reserved, 1005, 1006 and 1015 are for local reporting only, the
/// rest of 1000-2999 is reserved for future RFCs, and nothing else exists
/// (Autobahn cases 7.7.x, 7.9.x, 7.13.x).
pub fn is_valid_code(code: CloseCode) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A received close frame, checked: `None` when the payload was empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: CloseCode,
    pub reason: Vec<u8>,
}

/// Checks a close frame's (unmasked) payload.
pub fn parse(payload: &[u8]) -> Result<Option<Close>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("close frame with a 1-byte payload (RFC 6455 5.5.1)")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_code(code) {
                return Err(WsError::Protocol("close frame with an invalid code (RFC 6455 7.4)"));
            }
            if !is_utf8(reason) {
                return Err(WsError::InvalidUtf8);
            }
            Ok(Some(Close { code, reason: reason.to_vec() }))
        }
    }
}

/// Checks a close frame the BEAM asked to send; `Err` says why it may not go.
pub fn check_outgoing(code: CloseCode, reason: &[u8]) -> Result<(), &'static str> {
    if !is_valid_code(code) {
        return Err("close code not allowed on the wire (RFC 6455 7.4)");
    }
    if 2 + reason.len() > MAX_CONTROL_PAYLOAD {
        return Err("close reason longer than 123 bytes (RFC 6455 5.5)");
    }
    if !is_utf8(reason) {
        return Err("close reason is not UTF-8 (RFC 6455 5.5.1)");
    }
    Ok(())
}

/// The payload of a close frame with `code` and `reason` (already checked).
pub fn payload(code: CloseCode, reason: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(2 + reason.len());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(reason);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(code: u16, reason: &[u8]) -> Vec<u8> {
        payload(code, reason)
    }

    #[test]
    fn codes_autobahn_calls_valid_are_accepted() {
        // 7.7.x, plus 1012-1014 (IANA) and both ends of each range.
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            assert!(is_valid_code(code), "{code}");
            assert_eq!(parse(&frame(code, b"bye")), Ok(Some(Close { code, reason: b"bye".to_vec() })));
        }
    }

    #[test]
    fn codes_autobahn_calls_invalid_are_a_protocol_error() {
        // 7.9.x, 7.13.x, and the neighbours of every valid range.
        for code in [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!is_valid_code(code), "{code}");
            let e = parse(&frame(code, b"")).unwrap_err();
            assert_eq!(e.code(), 1002, "{code}");
        }
    }

    #[test]
    fn empty_payload_has_no_code_and_one_byte_is_refused() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(&[0x03]).unwrap_err().code(), 1002);
        assert_eq!(parse(&frame(1000, b"")), Ok(Some(Close { code: 1000, reason: vec![] })));
    }

    #[test]
    fn reason_must_be_utf8() {
        // Autobahn 7.5.1 takes 1002 or 1007; 1007 says what was wrong.
        assert_eq!(parse(&frame(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")), Err(WsError::InvalidUtf8));
        assert_eq!(parse(&frame(1000, b"ok \xce\xba")).unwrap().unwrap().reason, "ok κ".as_bytes());
        // A truncated code point at the end is invalid too: nothing follows.
        assert_eq!(parse(&frame(1000, b"\xce")), Err(WsError::InvalidUtf8));
    }

    #[test]
    fn outgoing_close_is_checked_like_an_incoming_one() {
        assert_eq!(check_outgoing(1000, b"bye"), Ok(()));
        assert_eq!(check_outgoing(4999, &[b'x'; 123]), Ok(()));
        assert!(check_outgoing(4999, &[b'x'; 124]).is_err());
        assert!(check_outgoing(1005, b"").is_err());
        assert!(check_outgoing(1006, b"").is_err());
        assert!(check_outgoing(1000, b"\xff").is_err());
        assert_eq!(payload(1001, b"away"), b"\x03\xe9away");
    }
}
