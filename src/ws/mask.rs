//! Payload masking (RFC 6455 §5.3): byte i is XORed with key[i % 4]. A
//! frame's payload may arrive in pieces, so each piece says where in the
//! frame it starts (`offset`); the hot loop works 8 bytes at a time.

/// Unmasks (or masks: XOR is its own inverse) `data`, which starts
/// `offset` bytes into its frame's payload.
pub fn apply(key: [u8; 4], offset: u64, data: &mut [u8]) {
    // Rotate the key so that data[0] meets the right key byte.
    let p = (offset % 4) as usize;
    let k = [key[p], key[(p + 1) % 4], key[(p + 2) % 4], key[(p + 3) % 4]];
    // Native order on both sides: the XOR stays byte for byte.
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut words = data.chunks_exact_mut(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        w.copy_from_slice(&(u64::from_ne_bytes(b) ^ wide).to_ne_bytes());
    }
    // Whole words kept the phase: the tail starts at key byte 0 again.
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= k[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(key: [u8; 4], offset: u64, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[((offset + i as u64) % 4) as usize];
        }
    }

    #[test]
    fn rfc_6455_example() {
        // §5.7: a masked "Hello".
        let mut data = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply([0x37, 0xfa, 0x21, 0x3d], 0, &mut data);
        assert_eq!(&data, b"Hello");
    }

    #[test]
    fn matches_bytewise_for_every_offset_length_and_split() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let original: Vec<u8> = (0..67u8).map(|i| i.wrapping_mul(37)).collect();
        let mut expected = original.clone();
        bytewise(key, 0, &mut expected);
        for start in 0..original.len() {
            for end in start..=original.len() {
                let mut piece = original[start..end].to_vec();
                apply(key, start as u64, &mut piece);
                assert_eq!(piece, expected[start..end], "{start}..{end}");
            }
        }
        // Offsets past u32 keep only their phase.
        let mut piece = original.clone();
        apply(key, (1u64 << 40) + 2, &mut piece);
        let mut slow = original.clone();
        bytewise(key, 2, &mut slow);
        assert_eq!(piece, slow);
    }
}
