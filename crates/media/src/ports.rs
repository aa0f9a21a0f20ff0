//! RTP/RTCP port-pair allocation with a reuse quarantine.
//!
//! One [`PortPool`] per bind address. A pair is an even RTP port and the odd RTCP port
//! above it (RFC 3550 §11). Free pairs wait in a FIFO queue stamped with the instant they
//! become reusable; because the quarantine is the same for every pair, the queue is
//! ordered by that instant and both allocation and release are O(1) with no allocation
//! (the queue is sized for every pair up front).

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
    /// Free pairs, oldest release first, with the instant each becomes reusable
    /// (`None`: reusable now — never used, or handed back unused).
    free: VecDeque<(u32, Option<Instant>)>,
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
            free: (0..pairs).map(|i| (i, None)).collect(),
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
        self.free.len()
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

    /// Takes the pair released longest ago, if its quarantine has ended.
    pub fn allocate(&mut self, now: Instant) -> Result<PortPair, PoolError> {
        match self.free.front() {
            Some(&(idx, ready)) if ready.is_none_or(|at| at <= now) => {
                self.free.pop_front();
                let i = idx as usize;
                // ok: the queue only holds indices below `capacity`; a pair in the queue
                // is never in use (asserted in debug, checked here anyway).
                debug_assert!(!self.in_use[i]);
                self.in_use[i] = true;
                self.in_use_count += 1;
                Ok(self.pair(idx))
            }
            _ => Err(PoolError::Exhausted {
                in_use: self.in_use_count,
                quarantined: self.free.len(),
            }),
        }
    }

    /// Releases a pair that carried media: reusable at `now + quarantine`, so late packets
    /// of the old call hit a closed port instead of a new call.
    pub fn release(&mut self, now: Instant, pair: PortPair) -> Result<(), PoolError> {
        let idx = self.take(pair)?;
        self.free.push_back((idx, Some(now + self.quarantine)));
        Ok(())
    }

    /// Hands back a pair that never carried media (e.g. the second leg's allocation
    /// failed): reusable at once.
    pub fn release_unused(&mut self, pair: PortPair) -> Result<(), PoolError> {
        let idx = self.take(pair)?;
        self.free.push_front((idx, None));
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
        self.in_use.capacity() + self.free.capacity() * size_of::<(u32, Option<Instant>)>()
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
}
