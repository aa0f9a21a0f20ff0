//! Unguessable identifiers (tags, Call-IDs, SDP session ids, cnonces) from a secret and a
//! counter: the core reads no randomness, and nothing reveals a host or the other leg.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};

/// Generates identifiers: SipHash(secret, counter, purpose).
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    secret: u64,
    counter: u64,
    shard: crate::Shard,
}

impl Ids {
    pub(crate) fn new(secret: u64, shard: crate::Shard) -> Self {
        Self {
            secret,
            counter: 0,
            shard,
        }
    }

    pub(crate) fn next_u64(&mut self, purpose: u8) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        let mut h = DefaultHasher::new();
        self.secret.hash(&mut h);
        purpose.hash(&mut h);
        self.counter.hash(&mut h);
        h.finish()
    }

    /// A From/To tag.
    pub(crate) fn tag(&mut self) -> String {
        let mut tag = String::with_capacity(16);
        crate::text::push_hex(&mut tag, self.next_u64(1), 16);
        tag
    }

    /// A Call-ID with no host part, naming this worker (see [`crate::Shard`]).
    pub(crate) fn call_id(&mut self) -> String {
        let random = (self.next_u64(2), self.next_u64(3));
        self.shard.call_id(random)
    }

    /// An SDP session id (decimal, below 2^62 so it fits any implementation's integer).
    pub(crate) fn sess_id(&mut self) -> u64 {
        self.next_u64(4) >> 2
    }

    /// The first RSeq of a leg's reliable provisionals: in 1..=2^30, so that
    /// incrementing it per provisional never reaches RFC 3262 §7.1's limit of 2^31 - 1.
    pub(crate) fn rseq(&mut self) -> u32 {
        // Below 2^30 after the modulo, so the conversion never fails.
        u32::try_from(self.next_u64(6) % (1 << 30)).unwrap_or(0) + 1
    }

    /// A digest cnonce.
    pub(crate) fn cnonce(&mut self) -> String {
        format!("{:016x}", self.next_u64(5))
    }
}
