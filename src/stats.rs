//! Counters reported by `stats`, and the map from request ids to
//! connection slots.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Connections open now.
    pub connections: u64,
    pub accepted: u64,
    /// Requests sent to the BEAM.
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Commands naming an unknown or finished id.
    pub ignored_commands: u64,
    /// Malformed or invalid commands.
    pub protocol_errors: u64,
}

/// Request ids are sequential integers: one multiplication spreads them over
/// the table (SipHash would cost more than the lookup).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Request id → connection slot, for the requests the BEAM may still answer.
pub type IdMap = HashMap<u64, usize, BuildHasherDefault<IdHasher>>;
