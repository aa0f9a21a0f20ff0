//! Per-stream packet-rate guard: a token bucket in nanoseconds of credit.
//!
//! A voice stream sends 50 packets per second (100 at 10 ms ptime); a stream sending ten
//! times that is broken or hostile. Its excess is dropped and counted, but the stream is
//! never disabled: as soon as it calms down the bucket refills and packets flow again
//! (rtpengine instead abandons such a stream for the rest of the call).

use std::time::{Duration, Instant};

/// Limits for the rate guard, the same for every stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained packets per second a single stream may send.
    pub packets_per_second: u32,
    /// Packets a stream may send back to back above the sustained rate (covers the
    /// catch-up burst after a network stall).
    pub burst: u32,
}

impl Default for RateLimit {
    /// 500 packets/s sustained with a burst of 250: five times a 10 ms-ptime voice stream,
    /// and a 5 s stall of 50 pps audio drains without loss.
    fn default() -> Self {
        Self {
            packets_per_second: 500,
            burst: 250,
        }
    }
}

impl RateLimit {
    /// The limit in the bucket's units, computed once per table rather than per packet.
    pub(crate) fn costs(&self) -> RateCosts {
        let cost_ns = 1_000_000_000 / u64::from(self.packets_per_second.max(1));
        RateCosts {
            cost_ns,
            capacity_ns: cost_ns.saturating_mul(u64::from(self.burst.max(1))),
        }
    }
}

/// A [`RateLimit`] in nanoseconds of credit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateCosts {
    /// Credit one packet costs.
    cost_ns: u64,
    /// Most credit a bucket may hold.
    capacity_ns: u64,
}

/// One stream's bucket; 24 bytes, no allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    credit_ns: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(now: Instant, limit: &RateCosts) -> Self {
        Self {
            credit_ns: limit.capacity_ns,
            last: now,
        }
    }

    /// Takes one packet's credit if there is enough; refills by the time elapsed since the
    /// last call. A `now` earlier than the last one adds nothing (no panic, no refund).
    pub(crate) fn allow(&mut self, now: Instant, limit: &RateCosts) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        if elapsed > Duration::ZERO {
            let add = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            self.credit_ns = self.credit_ns.saturating_add(add).min(limit.capacity_ns);
            self.last = now;
        }
        let cost = limit.cost_ns;
        if self.credit_ns >= cost {
            self.credit_ns -= cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let limit = RateLimit {
            packets_per_second: 100,
            burst: 10,
        }
        .costs();
        #[allow(clippy::disallowed_methods)] // ok: origin of virtual time in a test
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, &limit);
        let passed = (0..50).filter(|_| b.allow(t0, &limit)).count();
        assert_eq!(passed, 10);
        // 100 ms later: 10 more packets' worth of credit.
        let t1 = t0 + Duration::from_millis(100);
        let passed = (0..50).filter(|_| b.allow(t1, &limit)).count();
        assert_eq!(passed, 10);
        // A well-behaved stream at exactly the rate is never dropped.
        let mut ok = 0;
        for i in 1..=1000u64 {
            if b.allow(t1 + Duration::from_millis(10 * i), &limit) {
                ok += 1;
            }
        }
        assert_eq!(ok, 1000);
    }
}
