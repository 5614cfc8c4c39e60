//! Small, fast, non-cryptographic hashing for the index's own tables.
//!
//! Paths are chosen by clients, so path hashes start from a per-index random seed: colliding
//! paths cannot be computed in advance for a server they have not seen. Session ids are assigned
//! by the server and hashed unseeded. The finalizer mixes all input bits into the bits used for
//! bucket selection.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

/// Mixes every input bit into every output bit (the 64-bit finalizer of MurmurHash3).
#[inline]
fn finish64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// An FxHash-style word-at-a-time hasher with a strong finalizer, for `HashMap<i64, _>`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    h: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.h = (self.h.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.add(hash_bytes(0, bytes));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        finish64(self.h)
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A random seed from the standard library's per-process random keys.
pub(crate) fn random_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// Hash of a byte string (a path) under `seed`, eight bytes at a time.
#[inline]
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    finish64(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn paths_hash_apart() {
        let a = hash_bytes(1, b"/a/b/c");
        assert_ne!(a, hash_bytes(1, b"/a/b/d"));
        assert_ne!(a, hash_bytes(1, b"/a/b/c\0"));
        assert_ne!(hash_bytes(1, b""), hash_bytes(1, b"\0"));
        assert_eq!(a, hash_bytes(1, b"/a/b/c"));
        assert_ne!(a, hash_bytes(2, b"/a/b/c"), "the seed matters");
        assert_ne!(random_seed(), random_seed());
    }

    #[test]
    fn low_bits_of_sequential_paths_spread() {
        // Bucket selection uses the low bits; sequential names must not pile into few buckets.
        let buckets: HashSet<u64> = (0..4096)
            .map(|i| hash_bytes(7, format!("/app/node-{i:010}").as_bytes()) & 4095)
            .collect();
        assert!(buckets.len() > 2400, "{} buckets used", buckets.len());
    }

    #[test]
    fn session_ids_differing_in_high_bits_spread() {
        let b = FxBuild::default();
        let buckets: HashSet<u64> = (0..4096i64).map(|i| b.hash_one(i << 40) & 4095).collect();
        assert!(buckets.len() > 2400, "{} buckets used", buckets.len());
    }
}
