//! permessage-deflate (RFC 7692 §7.2): a message is raw DEFLATE ending in a
//! sync flush whose 00 00 ff ff tail is left off the wire. Each direction
//! keeps its LZ77 window from message to message unless the negotiation
//! said "no context takeover".

use super::extensions::DeflateParams;
use super::utf8::Utf8Check;
use super::WsError;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// What a sync flush ends with; removed by the sender, put back by the receiver.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Level 1: a server compresses for many clients, and the fastest level
/// gets most of the gain on text and JSON for a fraction of the CPU.
const LEVEL: u32 = 1;

/// Output room reserved first while inflating a message.
const INFLATE_STEP: usize = 16 * 1024;

/// Output room reserved first while compressing a message.
const DEFLATE_STEP: usize = 16 * 1024;

/// The client's compressed messages, inflated into a capped buffer.
pub struct Inflater {
    inner: Decompress,
    /// The client resets its window after each message
    /// (`client_no_context_takeover`): so do we, to match.
    reset_each: bool,
    /// The stream ended (a BFINAL block): what follows it in this message
    /// is ignored, and the next message starts a new stream.
    ended: bool,
}

impl Inflater {
    pub fn new(params: &DeflateParams) -> Self {
        // A 32 KiB window inflates what any smaller window compressed, so
        // the client's window bits need not be matched.
        Inflater { inner: Decompress::new(false), reset_each: params.client_no_context_takeover, ended: false }
    }

    /// Inflates `input` (part of a message) onto `out`, until the input is
    /// used up or `quota` more bytes have come out; returns the input used
    /// (the rest is for a later call). Output past `max` bytes is a
    /// decompression bomb: 1009, with at most `max` + 1 bytes ever
    /// reserved. `text`: the message's UTF-8 check, run on the output as it
    /// comes out.
    ///
    /// Errors are reported in the order of the inflated bytes, whatever
    /// cuts the input had: invalid UTF-8 within the first `max` bytes, then
    /// the limit, then corrupt data (zlib writes out everything it decoded
    /// before it).
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        quota: &mut usize,
        mut text: Option<&mut Utf8Check>,
    ) -> Result<usize, WsError> {
        let given = input.len();
        while !self.ended && *quota > 0 {
            if out.len() == out.capacity() {
                // One byte over `max` is room enough to see it is passed.
                let allowed = (max + 1).saturating_sub(out.len());
                // Doubling, from one step, so a large message grows in few steps.
                out.reserve_exact(out.len().max(INFLATE_STEP).min(allowed));
            }
            // zlib writes into initialized bytes: the room there is, up to
            // the quota, a step at a time (zeroing more for an empty frame
            // would cost more than the frame did).
            let (at, room) = (out.len(), (out.capacity() - out.len()).min(*quota).min(INFLATE_STEP));
            out.resize(at + room, 0);
            let (in_before, out_before) = (self.inner.total_in(), self.inner.total_out());
            let status = self.inner.decompress(input, &mut out[at..], FlushDecompress::None);
            let produced = (self.inner.total_out() - out_before) as usize;
            out.truncate(at + produced);
            *quota -= produced;
            if let Some(check) = text.as_deref_mut() {
                check.feed(&out[..out.len().min(max)])?;
            }
            if out.len() > max {
                return Err(WsError::TooBig("inflated message larger than the server allows (RFC 6455 10.4)"));
            }
            let status = status.map_err(|_| WsError::Protocol("invalid compressed data (RFC 7692 7.2.2)"))?;
            let used = (self.inner.total_in() - in_before) as usize;
            input = &input[used..];
            match status {
                Status::StreamEnd => self.ended = true,
                // Done when all input went in and the output was not the
                // limit (zlib may hold more to write when the room ran out).
                _ if input.is_empty() && produced < room => break,
                _ if used == 0 && produced == 0 => {
                    return Err(WsError::Protocol("invalid compressed data (RFC 7692 7.2.2)"));
                }
                _ => {}
            }
        }
        // After the stream's end the rest of the message is ignored: all used.
        Ok(if self.ended { given } else { given - input.len() })
    }

    /// The message's last frame has been inflated: put back the tail the
    /// sender removed, and start the next message where the
    /// negotiation says.
    /// It is not under a quota: what zlib still holds of input it took
    /// (a few back-references at most) and the tail's empty block.
    pub fn finish(&mut self, out: &mut Vec<u8>, max: usize, text: Option<&mut Utf8Check>) -> Result<(), WsError> {
        self.inflate(&TAIL, out, max, &mut { usize::MAX }, text)?;
        if self.ended || self.reset_each {
            self.inner.reset(false);
            self.ended = false;
        }
        Ok(())
    }
}

/// The server's compressor for one connection.
pub struct Deflater {
    inner: Compress,
    /// `server_no_context_takeover` was negotiated.
    reset_each: bool,
}

impl Deflater {
    /// `None` when the client asked for a window zlib cannot compress with
    /// (8 bits: zlib's raw deflate starts at 9). RFC 7692 lets a server
    /// send every message uncompressed, so such a connection still inflates
    /// what the client sends but never compresses.
    pub fn new(params: &DeflateParams) -> Option<Self> {
        let bits = params.server_window_bits();
        if !(9..=15).contains(&bits) {
            return None;
        }
        Some(Deflater {
            inner: Compress::new_with_window_bits(Compression::new(LEVEL), false, bits),
            reset_each: params.server_no_context_takeover,
        })
    }

    /// Appends `input` compressed as one message (without the tail) to
    /// `out`. `Err` is zlib failing, a bug of ours: close with 1011.
    pub fn compress(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        if input.is_empty() {
            // An empty stored block (RFC 7692 §7.2.3.6). Asked to flush no
            // new input, zlib may write nothing, and the window is unchanged.
            out.push(0x00);
            return Ok(());
        }
        let start = out.len();
        loop {
            if out.capacity() - out.len() < 64 {
                // Room as the output grows (doubling), never in proportion
                // to the input: 16 MiB of zeros come out as 16 KB, and a
                // client that does not read keeps whatever was reserved.
                out.reserve(DEFLATE_STEP);
            }
            let (in_before, out_before) = (self.inner.total_in(), out.len());
            self.inner.compress_vec(input, out, FlushCompress::Sync).map_err(|_| "permessage-deflate compression failed")?;
            input = &input[(self.inner.total_in() - in_before) as usize..];
            // The flush is complete when all input went in and zlib stopped
            // short of the room it had.
            if input.is_empty() && (out.len() < out.capacity() || out.len() == out_before) {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.reset_each {
            self.inner.reset();
        }
        Ok(())
    }
}

thread_local! {
    /// Compressors for messages compressed alone, one per window size (9
    /// to 15 bits). Under `server_no_context_takeover` nothing of one
    /// message is kept for the next, so all the connections of an event
    /// loop (one thread) share these instead of holding one (about
    /// 300 KiB with zlib-rs) each.
    static ALONE: RefCell<[Option<Deflater>; 7]> = const { RefCell::new([const { None }; 7]) };
}

/// Runs `f` with the shared compressor for messages compressed alone in
/// the window `params` allows; `None` when zlib cannot compress in that
/// window (see `Deflater::new`). `f` must not call this again.
pub fn with_shared<R>(params: &DeflateParams, f: impl FnOnce(&mut Deflater) -> R) -> Option<R> {
    let bits = params.server_window_bits();
    let alone = DeflateParams { server_no_context_takeover: true, server_max_window_bits: Some(bits), ..*params };
    ALONE.with(|cell| {
        let mut all = cell.borrow_mut();
        let slot = all.get_mut(usize::from(bits).checked_sub(9)?)?;
        if slot.is_none() {
            *slot = Some(Deflater::new(&alone)?);
        }
        slot.as_mut().map(f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DeflateParams {
        DeflateParams::default()
    }

    fn inflate_all(inf: &mut Inflater, pieces: &[&[u8]], max: usize) -> Result<Vec<u8>, WsError> {
        let mut out = Vec::new();
        for p in pieces {
            assert_eq!(inf.inflate(p, &mut out, max, &mut { usize::MAX }, None)?, p.len());
        }
        inf.finish(&mut out, max, None)?;
        Ok(out)
    }

    #[test]
    fn rfc_7692_hello_samples() {
        // §7.2.3.1: "Hello" compressed.
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        // §7.2.3.2: the same bytes split over two frames.
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        // §7.2.3.2 with context takeover: the second "Hello" is a back-reference.
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]], 100).unwrap(), b"Hello");
        // §7.2.3.3: a stored (uncompressed) DEFLATE block.
        let mut inf = Inflater::new(&params());
        let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflate_all(&mut inf, &[&stored], 100).unwrap(), b"Hello");
        // §7.2.3.4: a block with BFINAL set; the next message starts afresh.
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        // §7.2.3.6: an empty message.
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&[0x00]], 100).unwrap(), b"");
    }

    #[test]
    fn compressor_writes_the_rfc_sample_and_takes_over_context() {
        // "Hello" alone is the one literal block of §7.2.3.1.
        let mut d = Deflater::new(&params()).unwrap();
        let mut out = Vec::new();
        d.compress(b"Hello", &mut out).unwrap();
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // The second is a back-reference into the first (§7.2.3.2; zlib
        // codes it as a fixed-Huffman block, the RFC as a dynamic one):
        // shorter, and readable only with the first's context.
        let mut second = Vec::new();
        d.compress(b"Hello", &mut second).unwrap();
        assert!(second.len() < out.len(), "{second:x?}");
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&out], 100).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut inf, &[&second], 100).unwrap(), b"Hello");
        let mut fresh = Inflater::new(&params());
        assert!(inflate_all(&mut fresh, &[&second], 100).is_err());
    }

    #[test]
    fn no_context_takeover_compresses_each_message_alone() {
        let p = DeflateParams { server_no_context_takeover: true, ..params() };
        let mut d = Deflater::new(&p).unwrap();
        for _ in 0..3 {
            let mut out = Vec::new();
            d.compress(b"Hello", &mut out).unwrap();
            assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
        // A fresh inflater (what a client with no context sees) reads each.
        let p = DeflateParams { client_no_context_takeover: true, ..params() };
        let mut inf = Inflater::new(&p);
        for _ in 0..3 {
            assert_eq!(inflate_all(&mut inf, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]], 100).unwrap(), b"Hello");
        }
    }

    #[test]
    fn round_trips_with_every_window_and_size() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{} ", i % 1000).into_bytes()).collect();
        for bits in 9..=15 {
            let p = DeflateParams { server_max_window_bits: Some(bits), ..params() };
            let mut d = Deflater::new(&p).unwrap();
            let mut inf = Inflater::new(&p);
            for msg in [&text[..0], &text[..1], &text[..1000], &text[..], &text[..7]] {
                let mut wire = Vec::new();
                d.compress(msg, &mut wire).unwrap();
                assert!(!wire.ends_with(&TAIL) || msg.is_empty());
                // Fed in 1000-byte pieces, as frames or reads would cut it.
                let pieces: Vec<&[u8]> = wire.chunks(1000).collect();
                assert_eq!(inflate_all(&mut inf, &pieces, 1 << 24).unwrap(), msg, "bits {bits} len {}", msg.len());
            }
        }
    }

    #[test]
    fn a_window_of_8_bits_is_never_used_for_compression() {
        let p = DeflateParams { server_max_window_bits: Some(8), ..params() };
        assert!(Deflater::new(&p).is_none());
        assert!(with_shared(&p, |_| ()).is_none());
    }

    #[test]
    fn the_shared_compressor_writes_messages_that_stand_alone() {
        // Connections with different windows and texts, interleaved: each
        // message reads with a fresh inflater (no context from any other).
        let texts: Vec<Vec<u8>> =
            (0..6).map(|i| format!("connection {i} says the same words again and again, ").repeat(20).into_bytes()).collect();
        for round in 0..3 {
            for (i, text) in texts.iter().enumerate() {
                let p = DeflateParams { server_max_window_bits: Some(9 + (i % 7) as u8), ..params() };
                let mut wire = Vec::new();
                with_shared(&p, |d| d.compress(text, &mut wire)).unwrap().unwrap();
                assert!(wire.len() < text.len() / 4, "compressed: {} of {}", wire.len(), text.len());
                let mut fresh = Inflater::new(&params());
                assert_eq!(&inflate_all(&mut fresh, &[&wire], 1 << 20).unwrap(), text, "round {round} conn {i}");
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to well under 1 MiB.
        let mut d = Deflater::new(&params()).unwrap();
        let zeros = vec![0u8; 64 << 20];
        let mut wire = Vec::new();
        d.compress(&zeros, &mut wire).unwrap();
        assert!(wire.len() * 50 < zeros.len(), "{}", wire.len());
        let max = 1 << 20;
        let mut inf = Inflater::new(&params());
        let mut out = Vec::new();
        let e = inf.inflate(&wire, &mut out, max, &mut { usize::MAX }, None).unwrap_err();
        assert_eq!(e.code(), 1009);
        // Never more room than the limit and the byte that shows it passed.
        assert!(out.capacity() <= max + 1, "{}", out.capacity());
        // Exactly at the limit passes.
        let mut inf = Inflater::new(&params());
        let mut d = Deflater::new(&params()).unwrap();
        let mut wire = Vec::new();
        d.compress(&zeros[..max], &mut wire).unwrap();
        assert_eq!(inflate_all(&mut inf, &[&wire], max).unwrap().len(), max);
        let mut inf = Inflater::new(&params());
        assert_eq!(inflate_all(&mut inf, &[&wire], max - 1).unwrap_err().code(), 1009);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut inf = Inflater::new(&params());
        // BTYPE 11 is reserved.
        assert_eq!(inflate_all(&mut inf, &[&[0xff, 0xff, 0xff]], 100).unwrap_err().code(), 1002);
    }
}
