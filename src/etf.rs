//! A small, bounded decoder and a direct encoder for the External Term
//! Format subset the port protocol uses.
//!
//! Why not eetf on the hot path: eetf allocates from lengths found in the
//! input and builds a tree per term. Here decoding borrows from the frame
//! buffer, never allocates, checks every length against the bytes that are
//! really left, and caps nesting depth, so a hostile frame costs at most one
//! linear pass. Containers stay lazy (`Term::List { body, .. }`): their
//! elements are decoded when iterated. Iodata bodies are copied out by one
//! linear walk over the raw bytes (`iodata_len`, `write_iodata`).

use std::fmt;

pub const VERSION: u8 = 131;

const NEW_FLOAT_EXT: u8 = 70;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const ATOM_EXT: u8 = 100;
const SMALL_TUPLE_EXT: u8 = 104;
const LARGE_TUPLE_EXT: u8 = 105;
const NIL_EXT: u8 = 106;
const STRING_EXT: u8 = 107;
const LIST_EXT: u8 = 108;
const BINARY_EXT: u8 = 109;
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;
const SMALL_ATOM_EXT: u8 = 115;
const MAP_EXT: u8 = 116;
const ATOM_UTF8_EXT: u8 = 118;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// Deepest nesting a command may have. Left-nested iolists (`[[[A], B], C]`)
/// are common, so this is generous; the decoder recurses once per level.
pub const MAX_DEPTH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    BadVersion,
    UnsupportedTag(u8),
    TooDeep,
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "term truncated: a length runs past the frame"),
            DecodeError::BadVersion => write!(f, "frame does not start with version byte 131"),
            DecodeError::UnsupportedTag(t) => write!(f, "unsupported term tag {t}"),
            DecodeError::TooDeep => write!(f, "term nested deeper than {MAX_DEPTH}"),
            DecodeError::TrailingBytes => write!(f, "bytes left after the term"),
        }
    }
}

/// One decoded term, borrowing from the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Term<'a> {
    Int(i64),
    /// An integer outside i64; no command has a use for one.
    BigInt,
    Float(f64),
    Atom(&'a [u8]),
    Binary(&'a [u8]),
    /// STRING_EXT: a proper list of bytes.
    Bytes(&'a [u8]),
    Nil,
    /// `body` holds `len` element encodings followed by the tail encoding.
    List { len: u32, body: &'a [u8] },
    Tuple { arity: u32, body: &'a [u8] },
    /// `body` holds `arity` key/value encodings, alternating.
    Map { arity: u32, body: &'a [u8] },
}

/// Decodes a whole frame payload (version byte, one term, nothing after).
pub fn decode(frame: &[u8]) -> Result<Term<'_>, DecodeError> {
    match frame.first() {
        Some(&VERSION) => {}
        Some(_) => return Err(DecodeError::BadVersion),
        None => return Err(DecodeError::Truncated),
    }
    let (term, used) = decode_one(&frame[1..], 0)?;
    if used + 1 != frame.len() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(term)
}

fn take(buf: &[u8], at: usize, n: usize) -> Result<&[u8], DecodeError> {
    let end = at.checked_add(n).ok_or(DecodeError::Truncated)?;
    buf.get(at..end).ok_or(DecodeError::Truncated)
}

fn u8_at(buf: &[u8], at: usize) -> Result<u8, DecodeError> {
    buf.get(at).copied().ok_or(DecodeError::Truncated)
}

fn u16_at(buf: &[u8], at: usize) -> Result<usize, DecodeError> {
    let b = take(buf, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
}

fn u32_at(buf: &[u8], at: usize) -> Result<usize, DecodeError> {
    let b = take(buf, at, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Decodes the term at the start of `buf`; returns it and the bytes it used.
/// Containers are validated completely (so later iteration cannot fail on
/// structure) but not materialised.
pub fn decode_one(buf: &[u8], depth: usize) -> Result<(Term<'_>, usize), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let tag = u8_at(buf, 0)?;
    Ok(match tag {
        SMALL_INTEGER_EXT => (Term::Int(u8_at(buf, 1)? as i64), 2),
        INTEGER_EXT => {
            let b = take(buf, 1, 4)?;
            (Term::Int(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64), 5)
        }
        SMALL_BIG_EXT | LARGE_BIG_EXT => {
            let (n, head) = if tag == SMALL_BIG_EXT {
                (u8_at(buf, 1)? as usize, 2)
            } else {
                (u32_at(buf, 1)?, 5)
            };
            let sign = u8_at(buf, head)?;
            let digits = take(buf, head + 1, n)?;
            (big_to_term(sign, digits), head + 1 + n)
        }
        NEW_FLOAT_EXT => {
            let b = take(buf, 1, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (Term::Float(f64::from_be_bytes(a)), 9)
        }
        ATOM_EXT | ATOM_UTF8_EXT => {
            let n = u16_at(buf, 1)?;
            (Term::Atom(take(buf, 3, n)?), 3 + n)
        }
        SMALL_ATOM_EXT | SMALL_ATOM_UTF8_EXT => {
            let n = u8_at(buf, 1)? as usize;
            (Term::Atom(take(buf, 2, n)?), 2 + n)
        }
        BINARY_EXT => {
            let n = u32_at(buf, 1)?;
            (Term::Binary(take(buf, 5, n)?), 5 + n)
        }
        STRING_EXT => {
            let n = u16_at(buf, 1)?;
            (Term::Bytes(take(buf, 3, n)?), 3 + n)
        }
        NIL_EXT => (Term::Nil, 1),
        SMALL_TUPLE_EXT | LARGE_TUPLE_EXT => {
            let (arity, head) = if tag == SMALL_TUPLE_EXT {
                (u8_at(buf, 1)? as usize, 2)
            } else {
                (u32_at(buf, 1)?, 5)
            };
            let used = skip_n(&buf[head..], arity, depth + 1)?;
            let body = &buf[head..head + used];
            (Term::Tuple { arity: arity as u32, body }, head + used)
        }
        LIST_EXT => {
            let len = u32_at(buf, 1)?;
            // The elements, then the tail.
            let used = skip_n(&buf[5..], len.saturating_add(1), depth + 1)?;
            (Term::List { len: len as u32, body: &buf[5..5 + used] }, 5 + used)
        }
        MAP_EXT => {
            let arity = u32_at(buf, 1)?;
            let used = skip_n(&buf[5..], arity.saturating_mul(2), depth + 1)?;
            (Term::Map { arity: arity as u32, body: &buf[5..5 + used] }, 5 + used)
        }
        other => return Err(DecodeError::UnsupportedTag(other)),
    })
}

/// Validates `n` consecutive terms at the start of `buf`; returns their size.
/// Each term needs at least one byte, so a huge `n` fails on the first
/// missing byte instead of looping (or allocating) for it.
fn skip_n(buf: &[u8], n: usize, depth: usize) -> Result<usize, DecodeError> {
    let mut at = 0;
    for _ in 0..n {
        if at >= buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (_, used) = decode_one(&buf[at..], depth)?;
        at += used;
    }
    Ok(at)
}

fn big_to_term(sign: u8, digits_le: &[u8]) -> Term<'static> {
    let significant = digits_le.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
    if significant > 8 {
        return Term::BigInt;
    }
    let mut magnitude: u64 = 0;
    for &d in digits_le[..significant].iter().rev() {
        magnitude = (magnitude << 8) | d as u64;
    }
    match (sign, i64::try_from(magnitude)) {
        (0, Ok(v)) => Term::Int(v),
        (_, Ok(v)) => Term::Int(-v),
        (0, Err(_)) => Term::BigInt,
        (_, Err(_)) if magnitude == 1u64 << 63 => Term::Int(i64::MIN),
        _ => Term::BigInt,
    }
}

/// Iterates the elements of a (validated) container body.
#[derive(Clone)]
pub struct Elements<'a> {
    body: &'a [u8],
    left: u32,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Term<'a>;
    fn next(&mut self) -> Option<Term<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The body was validated when its container was decoded.
        let (term, used) = decode_one(self.body, 0).ok()?;
        self.body = &self.body[used..];
        Some(term)
    }
}

impl<'a> Term<'a> {
    /// Elements of a tuple, or of a proper list (STRING_EXT gives ints).
    pub fn tuple(&self) -> Option<Elements<'a>> {
        match *self {
            Term::Tuple { arity, body } => Some(Elements { body, left: arity }),
            _ => None,
        }
    }

    /// Elements of a proper list; `None` for anything else (improper lists too).
    pub fn list(&self) -> Option<Elements<'a>> {
        match *self {
            Term::Nil => Some(Elements { body: &[], left: 0 }),
            Term::List { len, body } => {
                let mut it = Elements { body, left: len + 1 };
                // The tail is the last element; it must be [].
                let tail = it.by_ref().nth(len as usize);
                (tail == Some(Term::Nil)).then_some(Elements { body, left: len })
            }
            _ => None,
        }
    }

    /// Key/value pairs of a map, in encoding order.
    pub fn map(&self) -> Option<Pairs<'a>> {
        match *self {
            Term::Map { arity, body } => Some(Pairs(Elements { body, left: arity.saturating_mul(2) })),
            _ => None,
        }
    }

    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Term::Atom(a) if *a == name.as_bytes())
    }

    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Term::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_int().and_then(|i| u64::try_from(i).ok())
    }

    pub fn as_binary(&self) -> Option<&'a [u8]> {
        match *self {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }
}

pub struct Pairs<'a>(Elements<'a>);

impl<'a> Iterator for Pairs<'a> {
    type Item = (Term<'a>, Term<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let k = self.0.next()?;
        let v = self.0.next()?;
        Some((k, v))
    }
}

/// Why a term is not iodata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotIodata;

/// Size in bytes of an iodata term (binary, or possibly improper nested
/// list of bytes and binaries with a binary tail).
pub fn iodata_len(term: &Term<'_>) -> Result<usize, NotIodata> {
    let mut n = 0usize;
    walk_iodata(term, &mut |chunk| n += chunk.len())?;
    Ok(n)
}

/// Appends the bytes of an iodata term to `out`.
pub fn write_iodata(term: &Term<'_>, out: &mut Vec<u8>) -> Result<(), NotIodata> {
    walk_iodata(term, &mut |chunk| out.extend_from_slice(chunk))
}

fn walk_iodata(term: &Term<'_>, sink: &mut dyn FnMut(&[u8])) -> Result<(), NotIodata> {
    match *term {
        Term::Binary(b) | Term::Bytes(b) => {
            sink(b);
            Ok(())
        }
        Term::Nil => Ok(()),
        Term::List { len, body } => {
            let end = walk_list_body(body, len, sink, 0)?;
            if end == body.len() {
                Ok(())
            } else {
                Err(NotIodata)
            }
        }
        _ => Err(NotIodata),
    }
}

/// Walks `len` iodata elements and the tail at the start of `buf` in one
/// linear pass (no re-validation of nested lists); returns the bytes used.
fn walk_list_body(buf: &[u8], len: u32, sink: &mut dyn FnMut(&[u8]), depth: usize) -> Result<usize, NotIodata> {
    if depth > MAX_DEPTH {
        return Err(NotIodata);
    }
    let mut at = 0;
    for _ in 0..len {
        at += walk_element(&buf[at.min(buf.len())..], sink, depth, false)?;
    }
    at += walk_element(&buf[at.min(buf.len())..], sink, depth, true)?;
    Ok(at)
}

fn walk_element(buf: &[u8], sink: &mut dyn FnMut(&[u8]), depth: usize, is_tail: bool) -> Result<usize, NotIodata> {
    let tag = *buf.first().ok_or(NotIodata)?;
    match tag {
        SMALL_INTEGER_EXT | INTEGER_EXT if !is_tail => match decode_one(buf, 0) {
            Ok((Term::Int(b @ 0..=255), used)) => {
                sink(&[b as u8]);
                Ok(used)
            }
            _ => Err(NotIodata),
        },
        BINARY_EXT | STRING_EXT | NIL_EXT => match decode_one(buf, 0) {
            Ok((Term::Binary(b) | Term::Bytes(b), used)) => {
                sink(b);
                Ok(used)
            }
            Ok((Term::Nil, used)) => Ok(used),
            _ => Err(NotIodata),
        },
        LIST_EXT if !is_tail => {
            let len = u32_at(buf, 1).map_err(|_| NotIodata)?;
            let used = walk_list_body(&buf[5.min(buf.len())..], len as u32, sink, depth + 1)?;
            Ok(5 + used)
        }
        _ => Err(NotIodata),
    }
}

// ---------------------------------------------------------------------------
// Encoding: terms are written straight into an output buffer.

pub fn put_tuple(out: &mut Vec<u8>, arity: u8) {
    out.extend_from_slice(&[SMALL_TUPLE_EXT, arity]);
}

pub fn put_atom(out: &mut Vec<u8>, name: &str) {
    debug_assert!(name.len() < 256);
    out.extend_from_slice(&[SMALL_ATOM_UTF8_EXT, name.len() as u8]);
    out.extend_from_slice(name.as_bytes());
}

pub fn put_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    put_binary_head(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// The tag and length of a binary of `len` bytes whose bytes follow by
/// other means (spliced into the pipe after the frame's head).
pub fn put_binary_head(out: &mut Vec<u8>, len: usize) {
    out.push(BINARY_EXT);
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

pub fn put_int(out: &mut Vec<u8>, v: i64) {
    if (0..=255).contains(&v) {
        out.extend_from_slice(&[SMALL_INTEGER_EXT, v as u8]);
    } else if let Ok(small) = i32::try_from(v) {
        out.push(INTEGER_EXT);
        out.extend_from_slice(&small.to_be_bytes());
    } else {
        let magnitude = v.unsigned_abs();
        let digits = magnitude.to_le_bytes();
        let n = 8 - (magnitude.leading_zeros() / 8) as usize;
        out.extend_from_slice(&[SMALL_BIG_EXT, n as u8, (v < 0) as u8]);
        out.extend_from_slice(&digits[..n]);
    }
}

pub fn put_uint(out: &mut Vec<u8>, v: u64) {
    match i64::try_from(v) {
        Ok(i) => put_int(out, i),
        Err(_) => {
            out.extend_from_slice(&[SMALL_BIG_EXT, 8, 0]);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// A list header; the caller writes `len` elements then `put_nil`.
pub fn put_list(out: &mut Vec<u8>, len: usize) {
    out.push(LIST_EXT);
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

pub fn put_nil(out: &mut Vec<u8>) {
    out.push(NIL_EXT);
}

/// A map header; the caller writes `arity` key/value pairs.
pub fn put_map(out: &mut Vec<u8>, arity: u32) {
    out.push(MAP_EXT);
    out.extend_from_slice(&arity.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use eetf::{Atom, Binary, FixInteger, List, Map, Term as E, Tuple};

    fn enc(t: E) -> Vec<u8> {
        let mut v = Vec::new();
        t.encode(&mut v).unwrap();
        v
    }

    fn bin(b: &[u8]) -> E {
        E::from(Binary::from(b))
    }

    #[test]
    fn decodes_scalars() {
        assert_eq!(decode(&enc(E::from(FixInteger::from(7)))).unwrap(), Term::Int(7));
        assert_eq!(decode(&enc(E::from(FixInteger::from(-70000)))).unwrap(), Term::Int(-70000));
        assert_eq!(decode(&enc(E::from(Atom::from("stats")))).unwrap(), Term::Atom(b"stats"));
        assert_eq!(decode(&enc(bin(b"hi"))).unwrap(), Term::Binary(b"hi"));
        assert_eq!(decode(&[131, 106]).unwrap(), Term::Nil);
        assert_eq!(decode(&[131, 107, 0, 2, b'h', b'i']).unwrap(), Term::Bytes(b"hi"));
    }

    #[test]
    fn decodes_big_integers() {
        let big = enc(E::from(eetf::BigInteger::from(1u64 << 40)));
        assert_eq!(decode(&big).unwrap(), Term::Int(1 << 40));
        let huge = enc(E::from(eetf::BigInteger::from(u64::MAX)));
        assert_eq!(decode(&huge).unwrap(), Term::BigInt);
        let neg = enc(E::from(eetf::BigInteger::from(-(1i64 << 40))));
        assert_eq!(decode(&neg).unwrap(), Term::Int(-(1 << 40)));
    }

    #[test]
    fn decodes_containers_lazily() {
        let t = E::from(Tuple::from(vec![
            E::from(Atom::from("a")),
            E::from(List::from(vec![bin(b"x"), bin(b"y")])),
        ]));
        let raw = enc(t);
        let term = decode(&raw).unwrap();
        let mut it = term.tuple().unwrap();
        assert!(it.next().unwrap().is_atom("a"));
        let list: Vec<_> = it.next().unwrap().list().unwrap().collect();
        assert_eq!(list, vec![Term::Binary(b"x"), Term::Binary(b"y")]);
        assert!(it.next().is_none());
        let mut m: std::collections::HashMap<E, E> = std::collections::HashMap::new();
        m.insert(E::from(Atom::from("k")), bin(b"v"));
        let raw = enc(E::from(Map::from(m)));
        let map = decode(&raw).unwrap();
        let pairs: Vec<_> = map.map().unwrap().collect();
        assert_eq!(pairs, vec![(Term::Atom(b"k"), Term::Binary(b"v"))]);
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let t = E::from(Tuple::from(vec![
            E::from(Atom::from("respond")),
            E::from(FixInteger::from(1)),
            E::from(List::from(vec![bin(b"abc")])),
        ]));
        let full = enc(t);
        for cut in 0..full.len() {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&full).is_ok());
        let mut extra = full.clone();
        extra.push(0);
        assert_eq!(decode(&extra), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // A list claiming 4 billion elements, a binary claiming 4 GB, a tuple
        // claiming 4 billion elements, a map the same.
        for frame in [
            vec![131, LIST_EXT, 0xff, 0xff, 0xff, 0xff, NIL_EXT],
            vec![131, BINARY_EXT, 0xff, 0xff, 0xff, 0xff, 1, 2],
            vec![131, LARGE_TUPLE_EXT, 0xff, 0xff, 0xff, 0xff],
            vec![131, MAP_EXT, 0xff, 0xff, 0xff, 0xff, NIL_EXT],
            vec![131, LARGE_BIG_EXT, 0xff, 0xff, 0xff, 0xff, 0],
            vec![131, 80, 0, 0, 0, 1, 0], // compressed: unsupported
            vec![131, 77, 0, 0, 0, 1, 3, 0], // bit binary
            vec![130, NIL_EXT],
        ] {
            assert!(decode(&frame).is_err(), "{frame:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let depth = 100_000;
        let mut frame = vec![131];
        for _ in 0..depth {
            frame.extend_from_slice(&[LIST_EXT, 0, 0, 0, 1]);
        }
        frame.resize(frame.len() + depth + 1, NIL_EXT);
        assert_eq!(decode(&frame), Err(DecodeError::TooDeep));
    }

    #[test]
    fn iodata_walks_nested_improper_lists() {
        // [<<"ab">>, [$c, "de"] | <<"f">>]
        let mut raw = vec![131, LIST_EXT, 0, 0, 0, 2];
        put_binary(&mut raw, b"ab");
        raw.extend_from_slice(&[LIST_EXT, 0, 0, 0, 2, SMALL_INTEGER_EXT, b'c', STRING_EXT, 0, 2, b'd', b'e', NIL_EXT]);
        put_binary(&mut raw, b"f");
        let term = decode(&raw).unwrap();
        assert_eq!(iodata_len(&term), Ok(6));
        let mut out = Vec::new();
        write_iodata(&term, &mut out).unwrap();
        assert_eq!(out, b"abcdef");
        assert!(term.list().is_none(), "improper list is not a proper list");
    }

    #[test]
    fn iodata_rejects_non_bytes() {
        for t in [
            E::from(List::from(vec![E::from(FixInteger::from(256))])),
            E::from(List::from(vec![E::from(Atom::from("x"))])),
            E::from(Atom::from("x")),
        ] {
            let raw = enc(t);
            assert_eq!(iodata_len(&decode(&raw).unwrap()), Err(NotIodata));
        }
    }

    #[test]
    fn encoded_terms_round_trip_through_eetf() {
        let mut out = vec![VERSION];
        put_tuple(&mut out, 6);
        put_atom(&mut out, "sent");
        put_int(&mut out, 300);
        put_int(&mut out, -5);
        put_uint(&mut out, u64::MAX);
        put_int(&mut out, i64::MIN + 1);
        put_list(&mut out, 1);
        put_map(&mut out, 1);
        put_atom(&mut out, "k");
        put_binary(&mut out, b"v");
        put_nil(&mut out);
        let t = E::decode(&out[..]).unwrap();
        let s = format!("{t}");
        assert_eq!(s, "{'sent',300,-5,18446744073709551615,-9223372036854775807,[#{'k'=><<118>>}]}");
    }
}
