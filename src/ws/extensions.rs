//! `sec-websocket-extensions` (RFC 6455 §9.1) and the permessage-deflate
//! negotiation (RFC 7692 §7.1). The client lists offers in its order of
//! preference; the server accepts the first it can honour exactly, or none.
//! A malformed offer is declined, not an error: the connection then goes on
//! uncompressed.

use crate::http::chunked::is_token;

/// What was agreed for permessage-deflate on one connection.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The window the client allowed the server (8..=15), when it said.
    pub server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The window the server compresses with.
    pub fn server_window_bits(&self) -> u8 {
        self.server_max_window_bits.unwrap_or(15)
    }

    /// What we agree to when we keep no compression context between
    /// messages: both no-context-takeover parameters, which a server may
    /// add to any offer it accepts (RFC 7692 §7.1.1.1 for its own, §7.1.1.2
    /// for the client's). Each message is then compressed and inflated
    /// alone, so a connection holds no zlib state between messages.
    pub fn without_context_takeover(self) -> Self {
        DeflateParams { server_no_context_takeover: true, client_no_context_takeover: true, ..self }
    }

    /// The value of the response's `sec-websocket-extensions`. Every
    /// parameter the client sent about the server is echoed (§7.1.1.1,
    /// §7.1.2.1 make that the acceptance); `client_max_window_bits` is
    /// left out, which §7.1.2.2 allows: we inflate with the largest window,
    /// which reads whatever window the client uses.
    pub fn response_value(&self) -> Vec<u8> {
        let mut v = b"permessage-deflate".to_vec();
        if self.server_no_context_takeover {
            v.extend_from_slice(b"; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            v.extend_from_slice(b"; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            v.extend_from_slice(format!("; server_max_window_bits={bits}").as_bytes());
        }
        v
    }
}

/// Picks the first permessage-deflate offer we can accept from the values
/// of every `sec-websocket-extensions` field, in order.
pub fn negotiate<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<DeflateParams> {
    values.into_iter().flat_map(|v| split_outside_quotes(v, b',')).find_map(deflate_offer)
}

/// One offer: `None` unless it is permessage-deflate with parameters that
/// are all known, each at most once, with valid values (RFC 7692 §7.1).
fn deflate_offer(offer: &[u8]) -> Option<DeflateParams> {
    let mut parts = split_outside_quotes(offer, b';').into_iter();
    if !parts.next()?.trim_ascii().eq_ignore_ascii_case(b"permessage-deflate") {
        return None;
    }
    let mut p = DeflateParams::default();
    let mut client_bits = false;
    for param in parts {
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (param[..eq].trim_ascii(), Some(unquote(param[eq + 1..].trim_ascii())?)),
            None => (param.trim_ascii(), None),
        };
        let seen = match name.to_ascii_lowercase().as_slice() {
            b"server_no_context_takeover" if value.is_none() => std::mem::replace(&mut p.server_no_context_takeover, true),
            b"client_no_context_takeover" if value.is_none() => std::mem::replace(&mut p.client_no_context_takeover, true),
            b"server_max_window_bits" => p.server_max_window_bits.replace(window_bits(&value?)?).is_some(),
            b"client_max_window_bits" => {
                // Without a value: the client can take a smaller window. With
                // one: it will use at most that. Either way it must be valid.
                if let Some(v) = value {
                    window_bits(&v)?;
                }
                std::mem::replace(&mut client_bits, true)
            }
            _ => return None,
        };
        if seen {
            return None;
        }
    }
    Some(p)
}

/// A window size: 8 to 15, in decimal without leading zeros (§7.1.2).
fn window_bits(v: &[u8]) -> Option<u8> {
    match v {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A parameter value: a token, or a quoted-string holding a token
/// (RFC 6455 §9.1). `None` when it is neither.
fn unquote(v: &[u8]) -> Option<Vec<u8>> {
    let out = match v {
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut bytes = inner.iter();
            while let Some(&b) = bytes.next() {
                match b {
                    b'\\' => out.push(*bytes.next()?),
                    b'"' => return None,
                    _ => out.push(b),
                }
            }
            out
        }
        _ => v.to_vec(),
    };
    (!out.is_empty() && out.iter().all(|&b| is_token(b))).then_some(out)
}

/// Splits at `delim` where it is not inside a quoted-string.
fn split_outside_quotes(v: &[u8], delim: u8) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in v.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == delim && !quoted => {
                pieces.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&v[start..]);
    // Empty list elements are allowed and mean nothing (RFC 7230 §7).
    pieces.retain(|p| !p.trim_ascii().is_empty() || delim == b';');
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neg(values: &[&str]) -> Option<DeflateParams> {
        negotiate(values.iter().map(|v| v.as_bytes()))
    }

    fn answer(values: &[&str]) -> Option<String> {
        neg(values).map(|p| String::from_utf8(p.response_value()).unwrap())
    }

    #[test]
    fn plain_offer_is_accepted() {
        assert_eq!(neg(&["permessage-deflate"]), Some(DeflateParams::default()));
        assert_eq!(answer(&["permessage-deflate"]).unwrap(), "permessage-deflate");
        assert_eq!(neg(&[]), None);
        assert_eq!(neg(&["x-webkit-deflate-frame"]), None);
    }

    #[test]
    fn what_browsers_send() {
        assert_eq!(answer(&["permessage-deflate; client_max_window_bits"]).unwrap(), "permessage-deflate");
        assert_eq!(
            answer(&["permessage-deflate;client_max_window_bits=15;server_no_context_takeover"]).unwrap(),
            "permessage-deflate; server_no_context_takeover"
        );
    }

    #[test]
    fn every_parameter_is_understood() {
        let p = neg(&["permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"]).unwrap();
        assert_eq!(
            p,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(10)
            }
        );
        assert_eq!(
            String::from_utf8(p.response_value()).unwrap(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"
        );
        assert_eq!(p.server_window_bits(), 10);
        assert_eq!(DeflateParams::default().server_window_bits(), 15);
    }

    #[test]
    fn without_context_takeover_adds_both_parameters_to_any_offer() {
        for (offer, want) in [
            ("permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
            ),
        ] {
            let p = neg(&[offer]).unwrap().without_context_takeover();
            assert_eq!(String::from_utf8(p.response_value()).unwrap(), want, "{offer}");
        }
    }

    #[test]
    fn window_bits_values() {
        for (v, bits) in [("8", 8), ("9", 9), ("10", 10), ("15", 15), ("\"12\"", 12), ("\"1\\3\"", 13)] {
            let offer = format!("permessage-deflate; server_max_window_bits={v}");
            assert_eq!(neg(&[&offer]).unwrap().server_max_window_bits, Some(bits), "{v}");
        }
        for v in ["7", "16", "08", "010", "", "a", "1 0", "\"\"", "\"10", "-9", "99999999999999999999"] {
            let offer = format!("permessage-deflate; server_max_window_bits={v}");
            assert_eq!(neg(&[&offer]), None, "server {v:?}");
            let offer = format!("permessage-deflate; client_max_window_bits={v}");
            assert_eq!(neg(&[&offer]), None, "client {v:?}");
        }
        // server_max_window_bits needs a value.
        assert_eq!(neg(&["permessage-deflate; server_max_window_bits"]), None);
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_is_taken() {
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
            "permessage-deflate; unknown_param",
            "permessage-deflate; ",
            "permessage-deflate; =1",
        ] {
            assert_eq!(neg(&[bad]), None, "{bad}");
            let two = format!("{bad}, permessage-deflate; client_no_context_takeover");
            assert_eq!(answer(&[&two]).unwrap(), "permessage-deflate; client_no_context_takeover", "{bad}");
        }
    }

    #[test]
    fn offers_span_list_elements_and_repeated_fields() {
        assert_eq!(
            answer(&["foo; a=\"x,y\", , permessage-deflate; server_max_window_bits=\"9\""]).unwrap(),
            "permessage-deflate; server_max_window_bits=9"
        );
        assert_eq!(
            answer(&["foo", "PerMessage-Deflate ;  Server_No_Context_Takeover "]).unwrap(),
            "permessage-deflate; server_no_context_takeover"
        );
        // The first acceptable offer wins.
        assert_eq!(
            answer(&["permessage-deflate; server_max_window_bits=12", "permessage-deflate"]).unwrap(),
            "permessage-deflate; server_max_window_bits=12"
        );
    }

    #[test]
    fn quoted_strings_hide_delimiters() {
        assert_eq!(split_outside_quotes(b"a; b=\"c;d\"; e", b';'), [&b"a"[..], b" b=\"c;d\"", b" e"]);
        assert_eq!(split_outside_quotes(b"a=\"\\\",\", b", b','), [&b"a=\"\\\",\""[..], b" b"]);
        assert_eq!(unquote(b"\"a\\b\""), Some(b"ab".to_vec()));
        assert_eq!(unquote(b"\"a b\""), None);
        assert_eq!(unquote(b"\"a\"b\""), None);
    }
}
