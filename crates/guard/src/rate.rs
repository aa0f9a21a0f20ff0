//! Token buckets, as the generic cell rate algorithm (GCRA).
//!
//! A GCRA bucket is a token bucket stored as one `Instant` (the "theoretical arrival time"
//! of the next conforming request) instead of a token count plus a timestamp: exact in
//! integer nanoseconds, no floating point, and one word per source in the rate table.

use std::time::{Duration, Instant};

/// A rate with a burst: `per_second` sustained, up to `burst` at once from a full bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sustained events per second; 0 admits nothing.
    pub per_second: u32,
    /// Events admitted back to back from a full bucket (at least 1 is used).
    pub burst: u32,
}

impl Rate {
    /// `per_second` sustained with a burst of one second's worth.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second,
            burst: per_second.max(1),
        }
    }

    /// Time between two events at the sustained rate; `None` for a zero rate.
    pub(crate) fn interval(self) -> Option<Duration> {
        (self.per_second > 0)
            .then(|| Duration::from_nanos(1_000_000_000 / u64::from(self.per_second)))
    }

    /// How far ahead of `now` the bucket's clock may run: (burst − 1) intervals.
    pub(crate) fn tolerance(self) -> Duration {
        self.interval()
            .unwrap_or_default()
            .saturating_mul(self.burst.max(1) - 1)
    }

    /// After this long untouched, a bucket is full again and indistinguishable from a new
    /// one, so it can be forgotten without changing any verdict.
    pub(crate) fn idle_lifetime(self) -> Duration {
        self.tolerance() + self.interval().unwrap_or_default()
    }
}

/// One bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    /// Theoretical arrival time: the bucket is full when `tat <= now`.
    tat: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(now: Instant) -> Self {
        Self { tat: now }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant, rate: Rate) -> bool {
        let Some(interval) = rate.interval() else {
            return false;
        };
        let tat = self.tat.max(now);
        if tat.duration_since(now) > rate.tolerance() {
            return false;
        }
        self.tat = tat + interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_origin;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = test_origin();
        let rate = Rate {
            per_second: 10,
            burst: 5,
        };
        let mut b = Bucket::full(t0);
        let first: usize = (0..100).filter(|_| b.take(t0, rate)).count();
        assert_eq!(first, 5, "a full bucket admits exactly the burst");
        // Over the next 10 s at 1000 attempts/s, about 10/s more get through.
        let mut admitted = 0;
        for ms in 1..=10_000u64 {
            if b.take(t0 + Duration::from_millis(ms), rate) {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 100);
    }

    #[test]
    fn refills_after_idle_lifetime() {
        let t0 = test_origin();
        let rate = Rate {
            per_second: 4,
            burst: 3,
        };
        let mut b = Bucket::full(t0);
        while b.take(t0, rate) {}
        let later = t0 + rate.idle_lifetime();
        let n = (0..10).filter(|_| b.take(later, rate)).count();
        assert_eq!(n, 3);
    }

    #[test]
    fn zero_rate_admits_nothing() {
        let t0 = test_origin();
        let mut b = Bucket::full(t0);
        assert!(!b.take(
            t0,
            Rate {
                per_second: 0,
                burst: 10
            }
        ));
    }
}
