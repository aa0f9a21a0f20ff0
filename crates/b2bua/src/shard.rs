//! Running several [`crate::B2bua`]s side by side, one per worker, each owning a share of
//! the calls. A message must reach the worker that owns its call without being parsed
//! first, so every identifier a worker mints for the other side to echo back carries the
//! worker's number: the Call-IDs of the legs it opens (in-dialog requests echo them) and
//! the Via branches of its requests (responses echo them). A call the outside opens is
//! owned by the hash of its Call-ID, which every later request of that call repeats.
//!
//! The number sits in the last two hex digits of a Call-ID or branch; the other digits
//! stay unguessable, so nothing about the deployment is revealed beyond "some number".

use std::hash::{Hash as _, Hasher as _};

use drawbridge_sip::RouteKey;

use crate::MAGIC_COOKIE;

/// Which worker a [`crate::B2bua`] is among how many; the default is the only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u8,
    count: u8,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

/// Hex digits of a Call-ID we mint: 32, the last two naming the worker.
const CALL_ID_LEN: usize = 32;
/// Hex digits after the magic cookie in a branch we mint: 24, the last two naming the worker.
const BRANCH_HEX_LEN: usize = 24;

impl Shard {
    /// Worker `index` of `count` (`count` is clamped to 1..=256, `index` to below it).
    pub fn new(index: usize, count: usize) -> Self {
        let count = count.clamp(1, 256);
        let index = index.min(count - 1);
        // ok: both fit a u8 after the clamps (256 is stored as 0 and read back below).
        Self {
            index: u8::try_from(index).unwrap_or(u8::MAX),
            count: u8::try_from(count % 256).unwrap_or(0),
        }
    }

    /// This worker's number.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }

    /// How many workers there are.
    pub fn count(self) -> usize {
        if self.count == 0 {
            256
        } else {
            usize::from(self.count)
        }
    }

    /// The worker that owns the message with these routing facts (from
    /// [`drawbridge_sip::route_key`]), among `count` workers: a response goes to the
    /// worker whose branch it echoes; a request to the worker named in its Call-ID when we
    /// minted it, else to the hash of its Call-ID. Deterministic, so every message of a
    /// call lands on the same worker and leaves in the order it arrived.
    pub fn owner(key: &RouteKey<'_>, count: usize) -> usize {
        let count = count.clamp(1, 256);
        if count == 1 {
            return 0;
        }
        if key.response {
            return key
                .top_branch
                .and_then(|b| b.strip_prefix(MAGIC_COOKIE.as_bytes()))
                .filter(|hex| hex.len() == BRANCH_HEX_LEN)
                .and_then(trailing_number)
                .map_or(0, |n| n % count);
        }
        match key.call_id {
            Some(id) if id.len() == CALL_ID_LEN => {
                trailing_number(id).map_or_else(|| hashed(id) % count, |n| n % count)
            }
            Some(id) => hashed(id) % count,
            None => 0,
        }
    }

    /// The worker that owns a call, from its handle.
    pub fn of_call(call: crate::CallHandle) -> usize {
        usize::from((call.0 & 0xff) as u8)
    }

    /// A Call-ID for a leg this worker opens: 30 digits of `random`, then the worker.
    pub(crate) fn call_id(self, random: (u64, u64)) -> String {
        let mut id = String::with_capacity(32);
        crate::text::push_hex(&mut id, random.0, 16);
        crate::text::push_hex(&mut id, random.1 >> 8, 14);
        crate::text::push_hex(&mut id, u64::from(self.index), 2);
        id
    }

    /// A Via branch for a request this worker sends: the cookie, 22 digits of
    /// `random`/`counter`, then the worker.
    pub(crate) fn branch(self, random: u64, counter: u64) -> String {
        let mut b = String::with_capacity(MAGIC_COOKIE.len() + 24);
        b.push_str(MAGIC_COOKIE);
        crate::text::push_hex(&mut b, random, 16);
        crate::text::push_hex(&mut b, counter & 0xff_ffff, 6);
        crate::text::push_hex(&mut b, u64::from(self.index), 2);
        b
    }

    /// The handle of this worker's `n`th call.
    pub(crate) fn call_handle(self, n: u64) -> crate::CallHandle {
        crate::CallHandle((n << 8) | u64::from(self.index))
    }
}

/// The number in the last two hex digits of an identifier whose digits are all lowercase
/// hex (ours always are), else `None`.
fn trailing_number(hex: &[u8]) -> Option<usize> {
    if !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let tail = hex.get(hex.len().checked_sub(2)?..)?;
    let s = std::str::from_utf8(tail).ok()?;
    usize::from_str_radix(s, 16).ok()
}

fn hashed(id: &[u8]) -> usize {
    // A fixed-key hash: the owner must not change between messages of one call.
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    // ok: truncating to usize only loses bits that the modulo would discard anyway.
    h.finish() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use drawbridge_sip::route_key;

    #[test]
    fn minted_ids_route_back_to_their_worker() {
        for count in [2usize, 3, 8, 256] {
            for index in [0, 1, count - 1] {
                let s = Shard::new(index, count);
                let cid = s.call_id((0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210));
                assert_eq!(cid.len(), CALL_ID_LEN);
                let req = format!(
                    "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKq\r\nCall-ID: {cid}\r\n\r\n"
                );
                assert_eq!(Shard::owner(&route_key(req.as_bytes()), count), index);
                let br = s.branch(0xdead_beef, 0x1234_5678);
                assert_eq!(br.len(), MAGIC_COOKIE.len() + BRANCH_HEX_LEN);
                let resp = format!(
                    "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP y;branch={br}\r\nCall-ID: other\r\n\r\n"
                );
                assert_eq!(Shard::owner(&route_key(resp.as_bytes()), count), index);
                assert_eq!(Shard::of_call(s.call_handle(77)), index);
            }
        }
    }

    #[test]
    fn foreign_call_ids_hash_consistently_and_spread() {
        let mut seen = [0usize; 4];
        for i in 0..400 {
            let id = format!("{i}@provider.example");
            let invite = format!("INVITE sip:1@x SIP/2.0\r\nCall-ID: {id}\r\n\r\n");
            let bye = format!("BYE sip:1@x SIP/2.0\r\ni:{id}\r\n\r\n");
            let owner = Shard::owner(&route_key(invite.as_bytes()), 4);
            assert_eq!(owner, Shard::owner(&route_key(bye.as_bytes()), 4));
            seen[owner] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "uneven spread {seen:?}");
    }

    #[test]
    fn stray_responses_and_broken_messages_go_to_worker_zero() {
        for m in [
            &b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP y;branch=z9hG4bKforeign\r\n\r\n"[..],
            b"SIP/2.0 200 OK\r\n\r\n",
            b"garbage",
        ] {
            assert_eq!(Shard::owner(&route_key(m), 4), 0);
        }
        assert_eq!(
            Shard::owner(&route_key(b"INVITE x SIP/2.0\r\ni: a\r\n"), 1),
            0
        );
    }

    #[test]
    fn count_and_index_are_clamped() {
        assert_eq!(Shard::new(5, 2).index(), 1);
        assert_eq!(Shard::new(0, 0).count(), 1);
        assert_eq!(Shard::new(255, 1000).count(), 256);
        assert_eq!(Shard::new(255, 1000).index(), 255);
    }
}
