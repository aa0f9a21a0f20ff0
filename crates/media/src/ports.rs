//! RTP/RTCP port-pair allocation with a reuse quarantine.
//!
//! One [`PortPool`] per bind address. A pair is an even RTP port and the odd RTCP port
//! above it (RFC 3550 §11). Released pairs wait in a FIFO queue stamped with the instant
//! they become reusable; because the quarantine is the same for every pair, the queue is
//! ordered by that instant. Allocation takes the oldest released pair whose quarantine is
//! over and only then a pair never used: the set of ports that ever carried media stays as
//! small as the load, so the relay can keep their sockets open between calls instead of
//! binding and closing four sockets per call. Allocation and release are O(1) with no
//! allocation (both lists are sized for every pair up front).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

/// An allocated RTP/RTCP port pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// The even RTP port.
    pub rtp: u16,
}

impl PortPair {
    /// The RTCP port, `rtp + 1`.
    #[must_use]
    pub fn rtcp(self) -> u16 {
        // The pool only hands out pairs whose odd port fits (checked in `PortPool::new`).
        self.rtp.saturating_add(1)
    }
}

/// Why a port pool could not be built or used.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The configured range holds no even/odd pair.
    #[error(
        "the RTP port range {port_min}-{port_max} holds no even/odd port pair; \
         use a range such as 20000-29999"
    )]
    EmptyRange {
        /// Configured first port.
        port_min: u16,
        /// Configured last port.
        port_max: u16,
    },
    /// Every pair is in use or still in quarantine.
    #[error(
        "no free RTP port pair: {in_use} in use, {quarantined} waiting out the reuse \
         quarantine; widen media.port_min/port_max or lower the call limit"
    )]
    Exhausted {
        /// Pairs held by live sessions.
        in_use: usize,
        /// Pairs released but not yet reusable.
        quarantined: usize,
    },
    /// The pair was not allocated from this pool (double free or foreign pair).
    #[error("port pair {rtp}/{} is not allocated from this pool", rtp.saturating_add(1))]
    NotAllocated {
        /// The RTP port of the pair.
        rtp: u16,
    },
}

/// Allocator of port pairs from `[port_min, port_max]` for one bind address.
#[derive(Clone, Debug)]
pub struct PortPool {
    /// Even port of pair 0.
    base: u16,
    /// `in_use[i]`: pair `i` is held by a caller.
    in_use: Vec<bool>,
    in_use_count: usize,
    /// Released pairs, oldest release first, with the instant each becomes reusable.
    released: VecDeque<(u32, Instant)>,
    /// Pairs reusable at once (never used, or handed back unused); taken from the end,
    /// lowest port first at start.
    fresh: Vec<u32>,
    quarantine: Duration,
}

impl PortPool {
    /// A pool of every even/odd pair inside `[port_min, port_max]`; an odd `port_min`
    /// starts at the next even port. Released pairs are reusable after `quarantine`.
    pub fn new(port_min: u16, port_max: u16, quarantine: Duration) -> Result<Self, PoolError> {
        let base = u32::from(port_min) + u32::from(port_min) % 2;
        let top = u32::from(port_max);
        if base + 1 > top {
            return Err(PoolError::EmptyRange { port_min, port_max });
        }
        let pairs = (top - base).div_ceil(2);
        let base = u16::try_from(base).map_err(|_| PoolError::EmptyRange { port_min, port_max })?;
        let pairs_usize = pairs as usize;
        Ok(Self {
            base,
            in_use: vec![false; pairs_usize],
            in_use_count: 0,
            released: VecDeque::with_capacity(pairs_usize),
            fresh: (0..pairs).rev().collect(),
            quarantine,
        })
    }

    /// Total number of pairs.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs currently held by callers.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.in_use_count
    }

    /// Pairs that are free, whether or not their quarantine has ended.
    #[must_use]
    pub fn free_pairs(&self) -> usize {
        self.released.len() + self.fresh.len()
    }

    /// First port of pair 0 (the configured `port_min`, rounded up to even).
    #[must_use]
    pub fn base(&self) -> u16 {
        self.base
    }

    /// Index of the pair holding `port` (RTP or RTCP), if `port` is inside the pool.
    #[must_use]
    pub fn pair_index(&self, port: u16) -> Option<usize> {
        let off = usize::from(port.checked_sub(self.base)?) / 2;
        (off < self.in_use.len()).then_some(off)
    }

    /// Takes the pair released longest ago if its quarantine has ended, else a pair that
    /// never carried media.
    pub fn allocate(&mut self, now: Instant) -> Result<PortPair, PoolError> {
        let idx = match self.released.front() {
            Some(&(idx, ready)) if ready <= now => {
                self.released.pop_front();
                Some(idx)
            }
            _ => self.fresh.pop(),
        };
        let Some(idx) = idx else {
            return Err(PoolError::Exhausted {
                in_use: self.in_use_count,
                quarantined: self.released.len(),
            });
        };
        let i = idx as usize;
        // The lists only hold indices below `capacity`; a pair in them is never in use.
        debug_assert!(!self.in_use[i]);
        self.in_use[i] = true;
        self.in_use_count += 1;
        Ok(self.pair(idx))
    }

    /// Releases a pair that carried media: reusable at `now + quarantine`, so late packets
    /// of the old call are dropped as strays instead of reaching a new call.
    pub fn release(&mut self, now: Instant, pair: PortPair) -> Result<(), PoolError> {
        let idx = self.take(pair)?;
        self.released.push_back((idx, now + self.quarantine));
        Ok(())
    }

    /// Hands back a pair that never carried media (the second leg's allocation failed, or
    /// its call ended before any packet arrived): reusable at once, and taken first.
    pub fn release_unused(&mut self, pair: PortPair) -> Result<(), PoolError> {
        let idx = self.take(pair)?;
        self.fresh.push(idx);
        Ok(())
    }

    fn take(&mut self, pair: PortPair) -> Result<u32, PoolError> {
        let err = PoolError::NotAllocated { rtp: pair.rtp };
        if !pair.rtp.is_multiple_of(2) {
            return Err(err);
        }
        let i = self.pair_index(pair.rtp).ok_or(err)?;
        if !self.in_use[i] {
            return Err(err);
        }
        self.in_use[i] = false;
        self.in_use_count -= 1;
        u32::try_from(i).map_err(|_| err)
    }

    fn pair(&self, idx: u32) -> PortPair {
        // `new` checked that the whole range fits in u16.
        PortPair {
            rtp: self.base + (idx as u16) * 2,
        }
    }

    /// Bytes of heap this pool holds (for capacity planning and the bench).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.in_use.capacity()
            + self.released.capacity() * size_of::<(u32, Instant)>()
            + self.fresh.capacity() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[allow(clippy::disallowed_methods)] // ok: origin of virtual time in a test
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn odd_bounds_and_empty_range() {
        let p = PortPool::new(20001, 20007, Duration::ZERO).unwrap();
        assert_eq!(p.base(), 20002);
        assert_eq!(p.capacity(), 3); // 20002/3, 20004/5, 20006/7
        assert!(matches!(
            PortPool::new(20001, 20002, Duration::ZERO),
            Err(PoolError::EmptyRange { .. })
        ));
        let top = PortPool::new(65534, 65535, Duration::ZERO).unwrap();
        assert_eq!(top.capacity(), 1);
    }

    #[test]
    fn never_twice_exhaustion_and_quarantine() {
        let t0 = t0();
        let q = Duration::from_secs(30);
        let mut p = PortPool::new(30000, 30009, q).unwrap();
        let mut seen = HashSet::new();
        for _ in 0..5 {
            let pair = p.allocate(t0).unwrap();
            assert_eq!(pair.rtp % 2, 0);
            assert!(seen.insert(pair.rtp), "pair handed out twice");
        }
        assert_eq!(
            p.allocate(t0),
            Err(PoolError::Exhausted {
                in_use: 5,
                quarantined: 0
            })
        );
        let first = PortPair { rtp: 30000 };
        p.release(t0, first).unwrap();
        assert_eq!(
            p.release(t0, first),
            Err(PoolError::NotAllocated { rtp: 30000 })
        );
        assert_eq!(
            p.allocate(t0 + q - Duration::from_millis(1)),
            Err(PoolError::Exhausted {
                in_use: 4,
                quarantined: 1
            })
        );
        assert_eq!(p.allocate(t0 + q), Ok(first));
    }

    #[test]
    fn unused_release_is_immediate_and_foreign_pairs_rejected() {
        let t0 = t0();
        let mut p = PortPool::new(30000, 30003, Duration::from_secs(60)).unwrap();
        let a = p.allocate(t0).unwrap();
        p.release_unused(a).unwrap();
        assert_eq!(p.allocate(t0), Ok(a));
        assert!(p.release(t0, PortPair { rtp: 30001 }).is_err());
        assert!(p.release(t0, PortPair { rtp: 40000 }).is_err());
        assert!(p.release(t0, PortPair { rtp: 29998 }).is_err());
    }

    #[test]
    fn released_pairs_are_reused_before_fresh_ones() {
        let t0 = t0();
        let q = Duration::from_secs(10);
        let mut p = PortPool::new(30000, 30099, q).unwrap();
        let a = p.allocate(t0).unwrap();
        let b = p.allocate(t0).unwrap();
        assert_eq!((a.rtp, b.rtp), (30000, 30002), "lowest ports first");
        p.release(t0, a).unwrap();
        p.release(t0 + Duration::from_secs(1), b).unwrap();
        // Still in quarantine: a fresh pair.
        assert_eq!(p.allocate(t0 + q / 2).unwrap().rtp, 30004);
        // Quarantine over: the oldest release, then the next one, then fresh again.
        let later = t0 + q + Duration::from_secs(1);
        assert_eq!(p.allocate(later), Ok(a));
        assert_eq!(p.allocate(later), Ok(b));
        assert_eq!(p.allocate(later).unwrap().rtp, 30006);
        // A steady load of one call at a time cycles through the few pairs it needs
        // instead of walking the whole range.
        let mut used = HashSet::new();
        let mut now = later;
        for _ in 0..200 {
            let x = p.allocate(now).unwrap();
            used.insert(x.rtp);
            p.release(now, x).unwrap();
            now += Duration::from_secs(1);
        }
        assert!(
            used.len() <= 12,
            "{} distinct pairs for one call at a time",
            used.len()
        );
    }
}
