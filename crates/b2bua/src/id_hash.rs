//! [`IdMap`]: a `HashMap` for the ids this crate hands out itself (transaction ids, call
//! handles), hashed with a multiply-rotate mix instead of SipHash.
//!
//! SipHash's keyed hashing protects maps whose keys come from the network (branches,
//! Call-IDs) against collision floods; those keep `std`'s hasher. These keys are our own
//! counters, which no peer chooses, so the protection buys nothing and SipHash was a
//! measurable share of every message (several lookups each).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by an id this crate allocates (never by peer-chosen values).
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The FxHash mix (rotate, xor, multiply by an odd constant): one multiply per `u64`,
/// high bits well spread for hashbrown's control bytes, a bijection on the low bits so
/// sequential ids do not collide in a bucket.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn mix(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_buckets_and_control_bytes() {
        use std::hash::BuildHasher as _;
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut low = std::collections::HashSet::new();
        let mut top = std::collections::HashSet::new();
        for id in 0u64..1024 {
            let h = build.hash_one(crate::TransactionId(id));
            low.insert(h & 1023);
            top.insert(h >> 57);
        }
        assert_eq!(low.len(), 1024, "distinct buckets in a 1024-bucket table");
        assert!(top.len() > 100, "control bytes vary: {}", top.len());
    }
}
