//! The chunked transfer coding of request bodies (RFC 7230 §4.1) as a state
//! machine fed any slice of input: a split anywhere resumes where it stopped.
//! Framing is strict (CRLF only, hex sizes that fit u64, bounded extensions
//! and trailers): a lenient chunked decoder is how requests get smuggled.

use std::ops::Range;

/// Longest chunk extension (everything after the size on its line).
pub const MAX_EXTENSION_BYTES: usize = 4096;
/// Hex digits of a chunk size (16 fill a u64).
const MAX_SIZE_DIGITS: u8 = 16;
/// Framing a chunk may carry for free: bytes of its size line (digits,
/// extension, CRLF) up to this plus twice its size. 1-byte chunks
/// (`1\r\nX\r\n`) stay within it; long extensions on small chunks do not.
const FREE_LINE_BYTES: u64 = 16;
/// Framing beyond the free allowance, summed over the body (never below
/// 0), that makes it malformed: the rule of Go's net/http (CVE-2023-39326),
/// so a client cannot make Ferry read far more framing than data.
pub const MAX_FRAMING_EXCESS: u64 = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    /// The coding is broken: 400.
    Malformed(&'static str),
    /// The decoded body passes `max_body`: 413.
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes at this range of the input given to `decode`.
    Data(Range<usize>),
    /// All input used; more is needed.
    NeedMore,
    /// The body and its trailers are complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Extension,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    Trailer,
    TrailerLf,
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    digits: u8,
    extension_bytes: usize,
    /// Bytes of the current chunk-size line so far.
    line_bytes: u64,
    /// Framing beyond the free allowance so far (see `MAX_FRAMING_EXCESS`).
    excess: u64,
    /// Body bytes announced so far, checked against `max_body`.
    total: u64,
    max_body: u64,
    line: Vec<u8>,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
    max_trailers: usize,
    pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ChunkedDecoder {
    pub fn new(max_body: u64, max_trailer_bytes: usize, max_trailers: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            size: 0,
            digits: 0,
            extension_bytes: 0,
            line_bytes: 0,
            excess: 0,
            total: 0,
            max_body,
            line: Vec::new(),
            trailer_bytes: 0,
            max_trailer_bytes,
            max_trailers,
            trailers: Vec::new(),
        }
    }

    /// Decodes from `input`, giving at most `max_data` body bytes. Returns
    /// the bytes of `input` used (the data range included) and what they held.
    pub fn decode(&mut self, input: &[u8], max_data: usize) -> Result<(usize, Decoded), ChunkedError> {
        let mut at = 0;
        while at < input.len() {
            let b = input[at];
            match self.state {
                State::Done => return Ok((at, Decoded::Done)),
                State::Data(left) => {
                    let n = (left.min(max_data as u64) as usize).min(input.len() - at);
                    if n == 0 {
                        return Ok((at, Decoded::Data(at..at)));
                    }
                    self.state = if left == n as u64 { State::DataCr } else { State::Data(left - n as u64) };
                    return Ok((at + n, Decoded::Data(at..at + n)));
                }
                State::Size | State::Extension | State::SizeLf => {
                    self.line_bytes += 1;
                    self.size_line_byte(b)?;
                }
                State::DataCr if b == b'\r' => self.state = State::DataLf,
                State::DataLf if b == b'\n' => self.state = State::Size,
                State::DataCr | State::DataLf => return Err(ChunkedError::Malformed("chunk data not followed by CRLF")),
                State::Trailer => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.max_trailer_bytes {
                        return Err(ChunkedError::Malformed("trailers too large"));
                    }
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\n' => return Err(ChunkedError::Malformed("bare LF in trailers")),
                        _ => self.line.push(b),
                    }
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(ChunkedError::Malformed("CR without LF in trailers"));
                    }
                    self.trailer_bytes += 1;
                    if self.line.is_empty() {
                        self.state = State::Done;
                        self.line = Vec::new();
                        return Ok((at + 1, Decoded::Done));
                    }
                    self.finish_trailer_line()?;
                    self.state = State::Trailer;
                }
            }
            at += 1;
        }
        Ok((at, if self.state == State::Done { Decoded::Done } else { Decoded::NeedMore }))
    }

    /// One byte of a chunk-size line (`size [; extension] CRLF`).
    fn size_line_byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        match self.state {
            State::Size => match hex_value(b) {
                Some(d) => {
                    self.digits += 1;
                    if self.digits > MAX_SIZE_DIGITS {
                        return Err(ChunkedError::Malformed("chunk size too long"));
                    }
                    self.size = (self.size << 4) | d as u64;
                }
                None if self.digits == 0 => return Err(ChunkedError::Malformed("chunk size expected")),
                None if b == b'\r' => self.state = State::SizeLf,
                None if b == b';' || b == b' ' || b == b'\t' => self.state = State::Extension,
                None => return Err(ChunkedError::Malformed("bad character in chunk size")),
            },
            State::Extension => match b {
                b'\r' => self.state = State::SizeLf,
                b'\n' => return Err(ChunkedError::Malformed("bare LF after chunk size")),
                _ => {
                    self.extension_bytes += 1;
                    if self.extension_bytes > MAX_EXTENSION_BYTES {
                        return Err(ChunkedError::Malformed("chunk extension too long"));
                    }
                }
            },
            // State::SizeLf: the line ends.
            _ => {
                if b != b'\n' {
                    return Err(ChunkedError::Malformed("CR without LF after chunk size"));
                }
                let size = self.size;
                self.size = 0;
                self.digits = 0;
                self.extension_bytes = 0;
                let free = FREE_LINE_BYTES.saturating_add(size.saturating_mul(2));
                self.excess = (self.excess + std::mem::take(&mut self.line_bytes)).saturating_sub(free);
                if self.excess > MAX_FRAMING_EXCESS {
                    return Err(ChunkedError::Malformed("chunk framing outweighs its data"));
                }
                if size == 0 {
                    self.state = State::Trailer;
                } else {
                    self.total = self.total.checked_add(size).ok_or(ChunkedError::TooLarge)?;
                    if self.total > self.max_body {
                        return Err(ChunkedError::TooLarge);
                    }
                    self.state = State::Data(size);
                }
            }
        }
        Ok(())
    }

    fn finish_trailer_line(&mut self) -> Result<(), ChunkedError> {
        let line = std::mem::take(&mut self.line);
        let colon = line.iter().position(|&b| b == b':').ok_or(ChunkedError::Malformed("trailer without colon"))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(ChunkedError::Malformed("bad trailer name"));
        }
        let value = &line[colon + 1..];
        if value.iter().any(|&b| b == 0 || (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ChunkedError::Malformed("bad trailer value"));
        }
        if self.trailers.len() >= self.max_trailers {
            return Err(ChunkedError::Malformed("too many trailers"));
        }
        let start = value.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(value.len());
        let end = value.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
        self.trailers.push((name.to_ascii_lowercase(), value[start..end].to_vec()));
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// tchar (RFC 7230 §3.2.6).
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Trailers = Vec<(Vec<u8>, Vec<u8>)>;

    /// Feeds `pieces` one after another; returns body, trailers, bytes left over.
    fn feed(pieces: &[&[u8]], max_data: usize) -> Result<(Vec<u8>, Trailers, usize), ChunkedError> {
        let mut d = ChunkedDecoder::new(1 << 20, 256, 4);
        let mut body = Vec::new();
        let mut left_over = 0;
        for piece in pieces {
            let mut at = 0;
            loop {
                let (used, what) = d.decode(&piece[at..], max_data)?;
                match what {
                    Decoded::Data(r) => body.extend_from_slice(&piece[at..][r]),
                    Decoded::NeedMore => {
                        at += used;
                        break;
                    }
                    Decoded::Done => {
                        at += used;
                        left_over += piece.len() - at;
                        return Ok((body, std::mem::take(&mut d.trailers), left_over));
                    }
                }
                at += used;
            }
            assert_eq!(at, piece.len());
        }
        Err(ChunkedError::Malformed("incomplete"))
    }

    const BODY: &[u8] = b"5;name=val\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 42 \r\nX-B:\r\n\r\nGET";

    #[test]
    fn decodes_extensions_and_trailers() {
        let (body, trailers, rest) = feed(&[BODY], usize::MAX).unwrap();
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert_eq!(trailers, vec![(b"x-sum".to_vec(), b"42".to_vec()), (b"x-b".to_vec(), b"".to_vec())]);
        assert_eq!(rest, 3, "the next request is not consumed");
    }

    #[test]
    fn split_at_every_byte() {
        for split in 0..BODY.len() {
            let (body, trailers, _) = feed(&[&BODY[..split], &BODY[split..]], usize::MAX).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz", "split {split}");
            assert_eq!(trailers.len(), 2);
        }
        let bytes: Vec<&[u8]> = BODY.chunks(1).collect();
        let (body, _, _) = feed(&bytes, usize::MAX).unwrap();
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn max_data_limits_each_piece() {
        let (body, _, _) = feed(&[BODY], 3).unwrap();
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn malformed_and_overflowing_sizes() {
        let bad: &[&[u8]] = &[
            b"x\r\n",
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n",
            b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            b"5\r\nhello\r\n0\r\n: v\r\n\r\n",
            b"10000000000000000\r\n",
            b"-1\r\n",
            b"5 x\nhello",
            b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
        ];
        for input in bad {
            assert!(matches!(feed(&[input], usize::MAX), Err(ChunkedError::Malformed(_))), "{}", String::from_utf8_lossy(input));
        }
        let mut long_ext = b"1;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'e', MAX_EXTENSION_BYTES));
        assert!(feed(&[&long_ext], 10).is_err());
        let long_trailer = [b"0\r\nX: ".as_slice(), &[b'v'; 300], b"\r\n\r\n"].concat();
        assert!(feed(&[&long_trailer], 10).is_err());
    }

    /// `n` chunks of one byte whose size lines carry `ext` extension bytes.
    fn small_chunks(n: usize, ext: usize) -> Vec<u8> {
        let mut body = [b"1;".as_slice(), &vec![b'e'; ext], b"\r\nX\r\n"].concat().repeat(n);
        body.extend_from_slice(b"0\r\n\r\n");
        body
    }

    const TOO_MUCH_FRAMING: ChunkedError = ChunkedError::Malformed("chunk framing outweighs its data");

    #[test]
    fn one_byte_chunks_are_not_excess_framing() {
        let (body, _, _) = feed(&[&small_chunks(100_000, 0)], usize::MAX).unwrap();
        assert_eq!(body.len(), 100_000);
    }

    #[test]
    fn framing_excess_on_both_sides_of_the_limit() {
        // "1;" + 30 bytes + CRLF is a 34-byte line; 16 + 2 are free: 16 over each.
        let at_limit = (MAX_FRAMING_EXCESS / 16) as usize;
        assert_eq!(feed(&[&small_chunks(at_limit, 30)], usize::MAX).map(|r| r.0.len()), Ok(at_limit));
        assert_eq!(feed(&[&small_chunks(at_limit + 1, 30)], usize::MAX), Err(TOO_MUCH_FRAMING));
        // Data pays for framing as it comes, but no credit is saved up.
        let big_first = [format!("1000\r\n{}\r\n", "x".repeat(0x1000)).into_bytes(), small_chunks(at_limit + 1, 30)].concat();
        assert_eq!(feed(&[&big_first], usize::MAX), Err(TOO_MUCH_FRAMING), "a big chunk first buys nothing later");
        let pair = [b"1;".as_slice(), &[b'e'; 30], b"\r\nX\r\n8\r\n12345678\r\n"].concat();
        let mixed = [pair.repeat(at_limit * 2), b"0\r\n\r\n".to_vec()].concat();
        assert!(feed(&[&mixed], usize::MAX).is_ok(), "data in between pays the excess off");
    }

    #[test]
    fn sixteen_hex_digits_fit_but_are_too_large() {
        assert_eq!(feed(&[b"FFFFFFFFFFFFFFFF\r\n"], 10), Err(ChunkedError::TooLarge));
        let mut d = ChunkedDecoder::new(10, 100, 1);
        assert_eq!(d.decode(b"a\r\n", 100).map(|r| r.1), Ok(Decoded::NeedMore));
        let mut d = ChunkedDecoder::new(10, 100, 1);
        assert_eq!(d.decode(b"5\r\nhello\r\n6\r\n", 100).map(|r| r.1), Ok(Decoded::Data(3..8)));
        assert_eq!(d.decode(b"\r\n6\r\n", 100), Err(ChunkedError::TooLarge));
    }
}

#[cfg(test)]
mod garbage_tests {
    use super::*;

    #[test]
    fn random_and_mutated_bodies_never_panic() {
        let valid = b"5;x=y\r\nhello\r\n0\r\nA: b\r\n\r\n";
        let mut seed = 0xdead_beef_cafe_f00du64;
        for _ in 0..20_000 {
            let mut body = valid.to_vec();
            let r = crate::protocol::garbage_tests::noise(&mut seed, 3);
            let at = r[0] as usize % body.len();
            body[at] = r[1];
            let mut d = ChunkedDecoder::new(100, 64, 2);
            let mut pos = 0;
            while let Ok((used, what)) = d.decode(&body[pos..], 1 + r[2] as usize % 4) {
                pos += used;
                assert!(pos <= body.len());
                if what == Decoded::Done || used == 0 {
                    break;
                }
            }
        }
    }
}
