//! Frames the server sends (RFC 6455 §5.2): never masked, always whole
//! (FIN set). Each is encoded once into a `Vec`, so the same bytes can go
//! to every member of a group.

use super::close::{self, CloseCode, MAX_CONTROL_PAYLOAD};
use super::deflate::Deflater;
use super::frame::OpCode;

/// Messages shorter than this go uncompressed even where deflate was
/// agreed (RFC 7692 §6 allows it): their DEFLATE form is no shorter. They
/// never enter the compressor, so its window stays the client's.
pub const MIN_COMPRESS: usize = 64;

/// The longest header of a server frame: no mask, 8 length bytes.
const MAX_SERVER_HEADER: usize = 10;

/// A frame header for `len` bytes of payload, in the shortest encoding.
pub fn write_header(out: &mut Vec<u8>, opcode: OpCode, fin: bool, rsv1: bool, len: usize) {
    out.push((fin as u8) << 7 | (rsv1 as u8) << 6 | opcode.bits());
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// A whole uncompressed frame. Control payloads (ping, pong) are checked.
pub fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) -> Result<(), &'static str> {
    if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
        return Err("control frame payload over 125 bytes (RFC 6455 5.5)");
    }
    write_header(out, opcode, true, false, payload.len());
    out.extend_from_slice(payload);
    Ok(())
}

/// A close frame; `code` and `reason` are checked as `close::check_outgoing` does.
pub fn write_close(out: &mut Vec<u8>, code: CloseCode, reason: &[u8]) -> Result<(), &'static str> {
    close::check_outgoing(code, reason)?;
    write_frame(out, OpCode::Close, &close::payload(code, reason))
}

/// A text or binary message for one connection, compressed with its
/// `deflater` (if deflate was agreed and the message is worth it). `Err`:
/// the compressor failed (a bug: close with 1011); nothing was written.
pub fn write_message(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    deflater: Option<&mut Deflater>,
) -> Result<(), &'static str> {
    match deflater {
        Some(d) if payload.len() >= MIN_COMPRESS && !opcode.is_control() => {
            // Compressed straight into `out`, after room for the longest
            // header; the header, once the length is known, closes it up.
            // No buffer of the input's size is made on the way.
            let start = out.len();
            out.extend_from_slice(&[0; MAX_SERVER_HEADER]);
            if let Err(e) = d.compress(payload, out) {
                out.truncate(start);
                return Err(e);
            }
            let mut head = Vec::with_capacity(MAX_SERVER_HEADER);
            write_header(&mut head, opcode, true, true, out.len() - start - MAX_SERVER_HEADER);
            out.copy_within(start + MAX_SERVER_HEADER.., start + head.len());
            out.truncate(out.len() - (MAX_SERVER_HEADER - head.len()));
            out[start..start + head.len()].copy_from_slice(&head);
        }
        _ => {
            write_header(out, opcode, true, false, payload.len());
            out.extend_from_slice(payload);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::extensions::DeflateParams;
    use super::super::frame::tests::KEY;
    use super::super::{mask, Decoder, Limits, Message};
    use super::*;

    /// What a client reads: the server frame with a mask added, through
    /// our own decoder (the client side differs only by the mask).
    fn as_client_reads(server_frames: &[u8], deflate: Option<&DeflateParams>) -> Vec<Message> {
        let mut masked = Vec::new();
        let mut rest = server_frames;
        while !rest.is_empty() {
            let (len, hdr) = match rest[1] {
                126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
                127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            let second = masked.len() + 1;
            masked.extend_from_slice(&rest[..hdr]);
            masked[second] |= 0x80;
            masked.extend_from_slice(&KEY);
            let start = masked.len();
            masked.extend_from_slice(&rest[hdr..hdr + len]);
            mask::apply(KEY, 0, &mut masked[start..]);
            rest = &rest[hdr + len..];
        }
        let mut dec = Decoder::new(Limits { max_frame: 1 << 24, max_message: 1 << 24, max_inflated: 1 << 24 }, deflate);
        let mut got = Vec::new();
        let mut at = 0;
        while at < masked.len() {
            let (used, m) = dec.decode(&masked[at..]).unwrap();
            at += used;
            got.extend(m);
        }
        got
    }

    #[test]
    fn rfc_6455_examples() {
        // §5.7: an unmasked "Hello", and a ping with it.
        let mut out = Vec::new();
        write_frame(&mut out, OpCode::Text, b"Hello").unwrap();
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        write_frame(&mut out, OpCode::Ping, b"Hello").unwrap();
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // 256 bytes and 64 KiB of binary.
        out.clear();
        write_header(&mut out, OpCode::Binary, true, false, 256);
        assert_eq!(out, [0x82, 0x7e, 0x01, 0x00]);
        out.clear();
        write_header(&mut out, OpCode::Binary, true, false, 65536);
        assert_eq!(out, [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn every_length_encoding_at_its_edges() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (0xffff, 4), (0x10000, 10), (200_000, 10)] {
            let payload = vec![b'x'; len];
            let mut out = Vec::new();
            write_frame(&mut out, OpCode::Binary, &payload).unwrap();
            assert_eq!(out.len(), header + len, "{len}");
            assert_eq!(as_client_reads(&out, None), [Message::Binary(payload)]);
        }
    }

    #[test]
    fn control_frames_are_checked() {
        let mut out = Vec::new();
        assert!(write_frame(&mut out, OpCode::Pong, &[0; 125]).is_ok());
        assert!(write_frame(&mut out, OpCode::Ping, &[0; 126]).is_err());
        assert_eq!(out.len(), 127, "nothing written for the refused ping");
        out.clear();
        write_close(&mut out, 1000, b"bye").unwrap();
        assert_eq!(out, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
        assert!(write_close(&mut out, 1005, b"").is_err());
        assert!(write_close(&mut out, 1000, &[b'x'; 124]).is_err());
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn compressed_messages_set_rsv1_and_read_back() {
        let p = DeflateParams::default();
        let mut d = Deflater::new(&p).unwrap();
        let long = "a JSON-ish payload that repeats, repeats, repeats, repeats itself".repeat(20);
        let mut out = Vec::new();
        write_message(&mut out, OpCode::Text, long.as_bytes(), Some(&mut d)).unwrap();
        assert_eq!(out[0], 0xc1);
        assert!(out.len() < long.len() / 4, "{}", out.len());
        let first = out.len();
        // Short: sent as is, and the compressor's context is untouched.
        write_message(&mut out, OpCode::Binary, b"short", Some(&mut d)).unwrap();
        assert_eq!(out[first], 0x82);
        write_message(&mut out, OpCode::Text, long.as_bytes(), Some(&mut d)).unwrap();
        write_message(&mut out, OpCode::Text, long.as_bytes(), None).unwrap();
        assert_eq!(
            as_client_reads(&out, Some(&p)),
            [
                Message::Text(long.clone().into_bytes()),
                Message::Binary(b"short".to_vec()),
                Message::Text(long.clone().into_bytes()),
                Message::Text(long.into_bytes()),
            ]
        );
    }
}
