//! Timer values (RFC 3261 §17.1.1.1, Table 4) and the timer names of §17.

use std::time::Duration;

/// The base timer values every §17 timer is derived from. Defaults are the RFC's:
/// T1 = 500 ms (RTT estimate), T2 = 4 s (cap on non-INVITE and response retransmit
/// intervals), T4 = 5 s (how long a message may live in the network), and 200 ms before
/// an INVITE server transaction sends 100 Trying on its own (§17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    t1: Duration,
    t2: Duration,
    t4: Duration,
    trying: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying: Duration::from_millis(200),
        }
    }
}

impl Timers {
    /// T1, the round-trip estimate; at least 1 ms (a zero T1 would retransmit in a loop).
    pub fn set_t1(&mut self, t1: Duration) -> &mut Self {
        self.t1 = t1.max(Duration::from_millis(1));
        self
    }
    /// T2, the cap on retransmit intervals; never below T1.
    pub fn set_t2(&mut self, t2: Duration) -> &mut Self {
        self.t2 = t2;
        self
    }
    /// T4, the maximum lifetime of a message in the network.
    pub fn set_t4(&mut self, t4: Duration) -> &mut Self {
        self.t4 = t4;
        self
    }
    /// How long an INVITE server transaction waits for the TU before sending 100 Trying.
    pub fn set_trying_delay(&mut self, d: Duration) -> &mut Self {
        self.trying = d;
        self
    }
    /// T1.
    pub fn t1(&self) -> Duration {
        self.t1
    }
    /// T2 (never below T1).
    pub fn t2(&self) -> Duration {
        self.t2.max(self.t1)
    }
    /// T4.
    pub fn t4(&self) -> Duration {
        self.t4
    }
    /// Delay before an automatic 100 Trying.
    pub fn trying_delay(&self) -> Duration {
        self.trying
    }
    /// 64*T1: Timers B, F, H, J (unreliable), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones (§17.1.1.2).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }
    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn t4_unless_reliable(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }
    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones (§17.2.2).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }
}

/// The timers of RFC 3261 §17 (Table 4) and RFC 6026, plus the 100 Trying delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TimerKind {
    /// INVITE client: request retransmit (unreliable only), doubling from T1.
    A,
    /// INVITE client: transaction timeout in Calling, 64*T1.
    B,
    /// INVITE client: wait for response retransmits in Completed.
    D,
    /// Non-INVITE client: request retransmit (unreliable only), doubling, capped at T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// Non-INVITE client: wait for response retransmits in Completed.
    K,
    /// INVITE server: final response retransmit (unreliable only).
    G,
    /// INVITE server: wait for ACK, 64*T1.
    H,
    /// INVITE server: wait for ACK retransmits in Confirmed.
    I,
    /// Non-INVITE server: wait for request retransmits in Completed.
    J,
    /// INVITE server (RFC 6026): wait in Accepted for 2xx retransmits from the TU.
    L,
    /// INVITE client (RFC 6026): wait in Accepted for 2xx retransmits.
    M,
    /// INVITE server: send 100 Trying if the TU has not answered (§17.2.1).
    Trying,
}
