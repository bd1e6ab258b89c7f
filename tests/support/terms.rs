//! Building and taking apart ETF terms with as little ceremony as the
//! Erlang shell: `tuple(vec![atom("respond"), int(id), ...])`, `t.el(1).int()`.

use eetf::{Atom, BigInteger, Binary, FixInteger, List, Map, Term, Tuple};
use std::collections::HashMap;

pub fn atom(name: &str) -> Term {
    Term::from(Atom::from(name))
}

pub fn bin(bytes: impl AsRef<[u8]>) -> Term {
    Term::from(Binary::from(bytes.as_ref()))
}

/// A small integer when it fits 32 bits, as `term_to_binary/1` does.
pub fn int(i: i64) -> Term {
    match i32::try_from(i) {
        Ok(small) => Term::from(FixInteger::from(small)),
        Err(_) => Term::from(BigInteger::from(i)),
    }
}

pub fn tuple(elements: Vec<Term>) -> Term {
    Term::from(Tuple::from(elements))
}

pub fn list(elements: Vec<Term>) -> Term {
    Term::from(List::from(elements))
}

/// A map with atom keys, like a config map.
pub fn map(pairs: Vec<(&str, Term)>) -> Term {
    let m: HashMap<Term, Term> = pairs.into_iter().map(|(k, v)| (atom(k), v)).collect();
    Term::from(Map::from(m))
}

/// `[{<<"name">>, <<"value">>}, ...]`.
pub fn header_list(headers: &[(&str, &str)]) -> Term {
    list(headers.iter().map(|(k, v)| tuple(vec![bin(k), bin(v)])).collect())
}

/// `[{Bin, Bin}]` back to byte pairs; panics on anything else.
pub fn pairs(t: &Term) -> Vec<(Vec<u8>, Vec<u8>)> {
    t.items()
        .iter()
        .map(|p| match (p.el(0).bin(), p.el(1).bin()) {
            (Some(k), Some(v)) => (k.to_vec(), v.to_vec()),
            _ => panic!("not a {{Name, Value}} pair of binaries: {p}"),
        })
        .collect()
}

/// Reading terms the way a test wants to: `None` (or a panic for `el`) on
/// the wrong shape, so an assertion says what it expected.
pub trait TermExt {
    /// The atom of a tagged tuple `{tag, ...}`, or of a bare atom.
    fn tag(&self) -> Option<&str>;
    /// Element `i` of a tuple; panics when there is none.
    fn el(&self, i: usize) -> &Term;
    fn arity(&self) -> Option<usize>;
    fn int(&self) -> Option<i64>;
    fn bin(&self) -> Option<&[u8]>;
    fn atom(&self) -> Option<&str>;
    /// The value under atom key `key` of a map.
    fn get(&self, key: &str) -> Option<&Term>;
    /// The elements of a proper list (`[]` included); panics otherwise.
    fn items(&self) -> Vec<Term>;
}

impl TermExt for Term {
    fn tag(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(&a.name),
            Term::Tuple(t) => t.elements.first().and_then(|e| e.atom()),
            _ => None,
        }
    }

    fn el(&self, i: usize) -> &Term {
        match self {
            Term::Tuple(t) if i < t.elements.len() => &t.elements[i],
            _ => panic!("no element {i} in {self}"),
        }
    }

    fn arity(&self) -> Option<usize> {
        match self {
            Term::Tuple(t) => Some(t.elements.len()),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Term::FixInteger(i) => Some(i.value as i64),
            Term::BigInteger(b) => b.value.to_string().parse().ok(),
            _ => None,
        }
    }

    fn bin(&self) -> Option<&[u8]> {
        match self {
            Term::Binary(b) => Some(&b.bytes),
            _ => None,
        }
    }

    fn atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(&a.name),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Term> {
        match self {
            Term::Map(m) => m.map.get(&atom(key)),
            _ => None,
        }
    }

    fn items(&self) -> Vec<Term> {
        match self {
            Term::List(l) => l.elements.clone(),
            // A list of small integers may arrive as STRING_EXT.
            Term::ByteList(b) => b.bytes.iter().map(|&x| int(x as i64)).collect(),
            _ => panic!("not a proper list: {self}"),
        }
    }
}
