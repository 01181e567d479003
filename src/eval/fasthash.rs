//! A fast hasher for the evaluator's hash tables (group keys, `distinct` sets, membership
//! lists), in place of SipHash, which cost ~3% of a full-path run (issue 15, point 1).
//!
//! Each 8 bytes are folded in with a 64x64->128-bit multiply whose halves are XORed (the
//! "folded multiply" of foldhash and aHash's fallback), by a multiplier drawn at random once per
//! process. Why that is safe enough although keys come from logs an attacker can write into:
//! - the multiplier is secret and changes every run, so a set of colliding keys computed
//!   offline does not collide in a run (it is no cryptographic PRF: a flood needs the attacker
//!   to learn the multiplier from timing, within one run);
//! - aggregation groups are capped (`--max-groups`, E0806), so even colliding group keys cost
//!   a bounded table;
//! - membership lists are the rule's own values: a lookup of an attacker's value probes a
//!   table the attacker did not fill.
//!
//! Output never depends on hash order: alerts are sorted (`eval::alert_order`).

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// The per-process secret: two odd 64-bit multipliers from the OS's randomness (through
/// `RandomState`, which std seeds from it).
fn secret() -> (u64, u64) {
    static S: OnceLock<(u64, u64)> = OnceLock::new();
    *S.get_or_init(|| {
        let r = RandomState::new();
        let a = r.hash_one(0x5eed_u64);
        let b = r.hash_one(0xfeed_u64);
        (a | 1, b | 1)
    })
}

fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

/// The last (fewer than 8) bytes of a key as one little-endian word, zero-padded: what copying
/// them into a zeroed `[u8; 8]` gives, read in 4-, 2- and 1-byte pieces instead (the copy of a
/// variable length was a `memcpy` call per hash: ~15% of the hash of a host name's group key).
fn tail(rest: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut at = 0;
    if let Some(c) = rest.first_chunk::<4>() {
        w = u64::from(u32::from_le_bytes(*c));
        at = 4;
    }
    if let Some(c) = rest.get(at..).and_then(|r| r.first_chunk::<2>()) {
        w |= u64::from(u16::from_le_bytes(*c)) << (8 * at);
        at += 2;
    }
    if let Some(&b) = rest.get(at) {
        w |= u64::from(b) << (8 * at);
    }
    w
}

/// The [`BuildHasher`] of the evaluator's tables (see the module comment).
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    k: u64,
    fin: u64,
}

impl Default for Seeded {
    fn default() -> Seeded {
        let (k, fin) = secret();
        Seeded { k, fin }
    }
}

impl BuildHasher for Seeded {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher {
            h: 0,
            k: self.k,
            fin: self.fin,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FoldHasher {
    h: u64,
    k: u64,
    fin: u64,
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The length tells "ab" from "ab\0".
            self.write_u64(tail(rest) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.h = fold(self.h ^ i, self.k).rotate_left(23);
    }

    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }

    fn finish(&self) -> u64 {
        fold(self.h, self.fin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Distinct keys of the shapes the evaluator hashes (short and long strings, a string and
    /// its NUL-padded twin, integers, tuples) get distinct hashes, and equal keys equal ones.
    /// [`tail`] is the zero-padded little-endian word of every short tail, each length 0 to 7
    /// (bytes with the high bit set included).
    #[test]
    fn tail_is_the_zero_padded_word() {
        let bytes = [0x01u8, 0xff, 0x80, 0x7f, 0x00, 0xfe, 0x10];
        for n in 0..=7 {
            let rest = bytes.get(..n).unwrap_or(&[]);
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(rest) {
                *d = *s;
            }
            assert_eq!(tail(rest), u64::from_le_bytes(w), "{n}");
        }
    }

    #[test]
    fn hashes_tell_keys_apart() {
        let s = Seeded::default();
        let mut keys: Vec<String> = (0..20_000).map(|i| format!("WS{i:05}.corp")).collect();
        keys.extend(["", "a", "a\0", "ab", "ab\0\0\0\0\0\0", "ab\0\0\0\0\0\0\0"].map(String::from));
        let hashes: HashSet<u64> = keys.iter().map(|k| s.hash_one(k)).collect();
        assert_eq!(hashes.len(), keys.len());
        let ints: HashSet<u64> = (0..20_000i64).map(|i| s.hash_one(i)).collect();
        assert_eq!(ints.len(), 20_000);
        assert_eq!(s.hash_one(("x", 1)), s.hash_one(("x", 1)));
        assert_ne!(s.hash_one(("x", 1)), s.hash_one(("x", 2)));
        // Low bits (the bucket of a small table) are spread too.
        let low: HashSet<u64> = (0..4096i64).map(|i| s.hash_one(i) & 0xfff).collect();
        assert!(low.len() > 2000, "{}", low.len());
    }
}
