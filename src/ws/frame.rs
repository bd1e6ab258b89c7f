//! One frame header (RFC 6455 §5.2) read from the client. Every rule that a
//! header alone decides is checked here, in the order of the bytes that
//! decide it, so a header cut anywhere fails with the same error as a whole
//! one: the sequence rules (continuations, fragments) are `message`'s.

use super::close::MAX_CONTROL_PAYLOAD;
use super::WsError;

/// Longest header: 2 bytes, a 64-bit length, a 4-byte mask key.
pub const MAX_HEADER: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        match bits {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// permessage-deflate's "compressed" bit (RFC 7692 §6).
    pub rsv1: bool,
    pub opcode: OpCode,
    pub mask: [u8; 4],
    pub len: u64,
}

/// What the connection allows in a header.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// permessage-deflate was negotiated: RSV1 may be set.
    pub deflate: bool,
    pub max_frame: u64,
}

/// Bytes the header starting `buf` takes: 2 until the length byte is known.
pub fn header_len(buf: &[u8]) -> usize {
    match buf.get(1).map(|b| b & 0x7f) {
        None => 2,
        Some(126) => 2 + 2 + 4,
        Some(127) => 2 + 8 + 4,
        Some(_) => 2 + 4,
    }
}

/// Parses the header at the start of `buf`: `Ok(None)` if it is not all
/// there yet (what is there was checked), else the header and its length.
pub fn parse_header(buf: &[u8], rules: Rules) -> Result<Option<(FrameHeader, usize)>, WsError> {
    let Some(&b0) = buf.first() else { return Ok(None) };
    let Some(opcode) = OpCode::from_bits(b0 & 0x0f) else {
        return Err(WsError::Protocol("unknown opcode (RFC 6455 5.2)"));
    };
    let (fin, rsv1) = (b0 & 0x80 != 0, b0 & 0x40 != 0);
    if b0 & 0x30 != 0 {
        return Err(WsError::Protocol("RSV2 or RSV3 set without an extension (RFC 6455 5.2)"));
    }
    // RSV1 marks the first frame of a compressed message (RFC 7692 §6.1):
    // never on a continuation or a control frame.
    if rsv1 && !(rules.deflate && matches!(opcode, OpCode::Text | OpCode::Binary)) {
        return Err(WsError::Protocol("RSV1 set where no extension allows it (RFC 7692 6.1)"));
    }
    if opcode.is_control() && !fin {
        return Err(WsError::Protocol("fragmented control frame (RFC 6455 5.5)"));
    }
    let Some(&b1) = buf.get(1) else { return Ok(None) };
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("unmasked frame from the client (RFC 6455 5.1)"));
    }
    let len7 = b1 & 0x7f;
    // 126 and 127 announce extended lengths, over 125 either way.
    if opcode.is_control() && len7 as usize > MAX_CONTROL_PAYLOAD {
        return Err(WsError::Protocol("control frame payload over 125 bytes (RFC 6455 5.5)"));
    }
    let total = header_len(buf);
    let ext = &buf[2..buf.len().min(total - 4)];
    let len = match len7 {
        126 if ext.len() == 2 => u16::from_be_bytes([ext[0], ext[1]]) as u64,
        127 if ext.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(ext);
            let len = u64::from_be_bytes(b);
            if len >> 63 != 0 {
                return Err(WsError::Protocol("64-bit length with its top bit set (RFC 6455 5.2)"));
            }
            len
        }
        126 | 127 => return Ok(None),
        short => short as u64,
    };
    // Non-minimal length encodings are not refused: RFC 6455 asks senders
    // for the minimal one but does not ask receivers to check.
    if len > rules.max_frame {
        return Err(WsError::TooBig("frame larger than max_frame (RFC 6455 10.4)"));
    }
    let Some(key) = buf.get(total - 4..total) else { return Ok(None) };
    let mask = [key[0], key[1], key[2], key[3]];
    Ok(Some((FrameHeader { fin, rsv1, opcode, mask, len }, total)))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const RULES: Rules = Rules { deflate: false, max_frame: 1 << 20 };

    /// A client frame: `first` is the whole first byte (FIN, RSV, opcode);
    /// the payload is masked with `KEY` and the shortest length encoding.
    pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&KEY);
        let start = f.len();
        f.extend_from_slice(payload);
        super::super::mask::apply(KEY, 0, &mut f[start..]);
        f
    }

    fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        parse_header(buf, RULES)
    }

    /// The verdict on every prefix of `header`: all `Ok(None)` until the
    /// error, or until the whole header, which must parse.
    fn verdict(header: &[u8], rules: Rules) -> Result<(FrameHeader, usize), WsError> {
        for n in 0..header.len() {
            match parse_header(&header[..n], rules) {
                Ok(None) => {}
                Ok(Some(h)) => panic!("header complete after {n} of {} bytes: {h:?}", header.len()),
                Err(e) => {
                    // Every longer prefix gives the same error.
                    for m in n..=header.len() {
                        assert_eq!(parse_header(&header[..m], rules), Err(e), "prefix {m}");
                    }
                    return Err(e);
                }
            }
        }
        Ok(parse_header(header, rules)?.expect("whole header"))
    }

    #[test]
    fn three_length_encodings() {
        for n in [0usize, 1, 125, 126, 127, 0xffff, 0x10000, 70_000] {
            let f = client_frame(0x82, &vec![7; n]);
            let (h, used) = verdict(&f[..f.len() - n], RULES).unwrap();
            assert_eq!(h, FrameHeader { fin: true, rsv1: false, opcode: OpCode::Binary, mask: KEY, len: n as u64 });
            assert_eq!(used, f.len() - n);
            assert_eq!(header_len(&f), used);
        }
    }

    #[test]
    fn non_minimal_lengths_are_read() {
        let h = [0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4];
        assert_eq!(verdict(&h, RULES).unwrap().0.len, 5);
        let h = [0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4];
        assert_eq!(verdict(&h, RULES).unwrap().0.len, 5);
    }

    #[test]
    fn unmasked_frames_are_refused() {
        assert_eq!(verdict(&[0x81, 0x05], RULES).unwrap_err().code(), 1002);
    }

    #[test]
    fn reserved_bits_need_an_extension() {
        for first in [0xc1, 0xa1, 0x91, 0xf1] {
            assert_eq!(verdict(&[first, 0x80, 1, 2, 3, 4], RULES).unwrap_err().code(), 1002, "{first:x}");
        }
        let deflate = Rules { deflate: true, ..RULES };
        // With deflate: RSV1 on a text or binary frame only, never RSV2/3.
        assert!(verdict(&[0xc1, 0x80, 1, 2, 3, 4], deflate).unwrap().0.rsv1);
        assert!(verdict(&[0x42, 0x80, 1, 2, 3, 4], deflate).unwrap().0.rsv1);
        for first in [0xc0, 0xc9, 0xca, 0xc8, 0xa1, 0x91, 0xe1] {
            assert_eq!(verdict(&[first, 0x80, 1, 2, 3, 4], deflate).unwrap_err().code(), 1002, "{first:x}");
        }
    }

    #[test]
    fn unknown_opcodes_are_refused() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(verdict(&[0x80 | op, 0x80, 1, 2, 3, 4], RULES).unwrap_err().code(), 1002, "{op}");
        }
    }

    #[test]
    fn control_frames_are_short_and_whole() {
        for op in [0x8u8, 0x9, 0xa] {
            assert!(verdict(&client_frame(0x80 | op, &[b'x'; 125])[..6], RULES).is_ok());
            assert_eq!(verdict(&client_frame(0x80 | op, &[b'x'; 126])[..8], RULES).unwrap_err().code(), 1002);
            assert_eq!(verdict(&client_frame(op, b"")[..6], RULES).unwrap_err().code(), 1002, "not fin");
        }
    }

    #[test]
    fn top_bit_of_64_bit_length_is_refused() {
        let h = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(verdict(&h, RULES).unwrap_err().code(), 1002);
    }

    #[test]
    fn frames_over_max_frame_are_refused_from_their_header() {
        let rules = Rules { deflate: false, max_frame: 1000 };
        let at = client_frame(0x82, &[0; 1000]);
        assert_eq!(verdict(&at[..8], rules).unwrap().0.len, 1000);
        // The header alone decides: no payload needs to arrive.
        let over = [0x82, 0x80 | 126, 0x03, 0xe9, 1, 2, 3, 4];
        assert_eq!(verdict(&over, rules).unwrap_err().code(), 1009);
        let huge = [0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
        assert_eq!(verdict(&huge, rules).unwrap_err().code(), 1009);
    }

    #[test]
    fn header_len_follows_the_length_byte() {
        assert_eq!(header_len(&[]), 2);
        assert_eq!(header_len(&[0x81]), 2);
        assert_eq!(header_len(&[0x81, 0x85]), 6);
        assert_eq!(header_len(&[0x81, 0xfe]), 8);
        assert_eq!(header_len(&[0x81, 0xff]), 14);
        assert_eq!(parse(&[0x81, 0xfe, 0]), Ok(None));
    }
}
