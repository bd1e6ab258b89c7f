//! UTF-8 of text messages, checked as their bytes arrive (RFC 6455 §8.1):
//! an invalid byte fails the connection at once, even in the middle of a
//! fragment, while a code point split between fragments is fine.

use super::WsError;

pub fn is_utf8(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

/// Progress through a growing buffer: everything before `checked` is valid
/// UTF-8 and ends on a code point boundary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Check {
    checked: usize,
}

impl Utf8Check {
    /// Checks what was appended to `buf` since the last call. A code point
    /// cut by the end of `buf` is left for the next call; std's validator
    /// reports a sequence that no continuation can complete (a bad second
    /// byte, a surrogate, a code point over U+10FFFF) as an error at once.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(), WsError> {
        match std::str::from_utf8(&buf[self.checked..]) {
            Ok(_) => {
                self.checked = buf.len();
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                self.checked += e.valid_up_to();
                Ok(())
            }
            Err(_) => Err(WsError::InvalidUtf8),
        }
    }

    /// The message is complete: a code point still cut off is invalid.
    pub fn finish(&mut self, buf: &[u8]) -> Result<(), WsError> {
        self.feed(buf)?;
        if self.checked == buf.len() {
            Ok(())
        } else {
            Err(WsError::InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` growing one byte at a time; returns the length at which
    /// the check failed (fail fast), or `None` if the whole is valid.
    fn fails_at(text: &[u8]) -> Option<usize> {
        let mut c = Utf8Check::default();
        for n in 0..=text.len() {
            if c.feed(&text[..n]).is_err() {
                return Some(n);
            }
        }
        c.finish(text).err().map(|_| text.len() + 1)
    }

    #[test]
    fn valid_text_at_every_split_passes() {
        let text = "κόσμε ascii 𝄞 \u{10FFFF} \u{FFFD}".as_bytes();
        assert_eq!(fails_at(text), None);
        for cut in 0..=text.len() {
            let mut c = Utf8Check::default();
            c.feed(&text[..cut]).unwrap();
            c.finish(text).unwrap();
        }
    }

    #[test]
    fn invalid_byte_fails_as_soon_as_it_arrives() {
        // Autobahn 6.4.x: the message fails at the byte that makes it
        // invalid, not when it ends. "κόσμε" then the start of a surrogate.
        let text = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
        assert_eq!(fails_at(text), Some(13));
        // U+110000: F4 90 is already impossible.
        assert_eq!(fails_at(b"ab\xf4\x90\x80\x80"), Some(4));
        assert_eq!(fails_at(b"\xc0\xaf"), Some(1));
        assert_eq!(fails_at(b"a\x80"), Some(2));
    }

    #[test]
    fn a_code_point_cut_at_the_end_fails_only_at_finish() {
        assert_eq!(fails_at(b"abc\xe2\x82"), Some(6));
        let mut c = Utf8Check::default();
        assert!(c.feed(b"abc\xe2\x82").is_ok());
        assert_eq!(c.finish(b"abc\xe2\x82"), Err(WsError::InvalidUtf8));
    }
}
