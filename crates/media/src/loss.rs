//! Packet-loss estimation from RTP sequence numbers (RFC 3550 Appendix A.1).
//!
//! One [`LossTracker`] per RTP ingress stream. It follows A.1's `update_seq` (probation
//! of `MIN_SEQUENTIAL` packets for a new source, `MAX_DROPOUT`/`MAX_MISORDER` windows,
//! 16-bit wraparound counted in `cycles`) and adds what a relay needs on top: when the
//! SSRC changes, or A.1 decides the sender restarted, the finished source's expected and
//! received counts are folded into running totals instead of being thrown away.

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u32 = 3000;
const MAX_MISORDER: u32 = 100;
const MIN_SEQUENTIAL: u32 = 2;

/// Cumulative loss figures for one direction of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossStats {
    /// Packets the sequence numbers say were sent (extended highest − base + 1, summed
    /// over all sources seen).
    pub expected: u64,
    /// Packets received and counted (duplicates included, as in RFC 3550).
    pub received: u64,
    /// Number of SSRC changes and sender restarts seen.
    pub source_changes: u32,
}

impl LossStats {
    /// `expected − received`; negative when duplicates outnumber losses (RFC 3550 §6.4.1).
    #[must_use]
    pub fn lost(&self) -> i64 {
        // Both fit in i64 for any realistic run (2^63 packets).
        i64::try_from(self.expected).unwrap_or(i64::MAX)
            - i64::try_from(self.received).unwrap_or(i64::MAX)
    }
}

/// A.1's per-source state.
#[derive(Clone, Copy, Debug)]
struct Source {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u64,
}

impl Source {
    fn new(ssrc: u32, seq: u16) -> Self {
        let mut s = Self {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: 0,
            probation: MIN_SEQUENTIAL,
            received: 0,
        };
        s.init_seq(seq);
        // A.1: a new source starts on probation, as if the previous packet was seq - 1.
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1; // so seq == bad_seq is false
        self.cycles = 0;
        self.received = 0;
    }

    fn expected(&self) -> u64 {
        if self.probation > 0 {
            return 0;
        }
        let extended = u64::from(self.cycles) + u64::from(self.max_seq);
        (extended + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// A.1 `update_seq`. Returns `Restarted` when the sender jumped and confirmed the jump
    /// with a second sequential packet: the caller folds the old counts before the reset.
    fn update(&mut self, seq: u16) -> Update {
        let udelta = u32::from(seq.wrapping_sub(self.max_seq));
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return Update::Counted;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return Update::NotCounted;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta <= RTP_SEQ_MOD - MAX_MISORDER {
            // A very large jump.
            if u32::from(seq) == self.bad_seq {
                return Update::Restarted;
            }
            self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
            return Update::NotCounted;
        }
        // else: duplicate or reordered packet, counted as received.
        self.received += 1;
        Update::Counted
    }
}

enum Update {
    Counted,
    NotCounted,
    Restarted,
}

/// Sequence-number bookkeeping for one RTP ingress stream; fixed size, no allocation.
#[derive(Clone, Debug, Default)]
pub struct LossTracker {
    current: Option<Source>,
    /// Totals of finished sources.
    done: LossStats,
}

impl LossTracker {
    /// Records one valid RTP packet.
    pub fn record(&mut self, ssrc: u32, seq: u16) {
        match &mut self.current {
            Some(src) if src.ssrc == ssrc => {
                if let Update::Restarted = src.update(seq) {
                    let (expected, received) = (src.expected(), src.received);
                    self.done.expected += expected;
                    self.done.received += received;
                    self.done.source_changes += 1;
                    // A.1: re-sync as if this were the first packet after a restart.
                    src.init_seq(seq);
                    src.received += 1;
                }
            }
            Some(src) => {
                self.done.expected += src.expected();
                self.done.received += src.received;
                self.done.source_changes += 1;
                let mut fresh = Source::new(ssrc, seq);
                fresh.update(seq);
                self.current = Some(fresh);
            }
            None => {
                let mut fresh = Source::new(ssrc, seq);
                fresh.update(seq);
                self.current = Some(fresh);
            }
        }
    }

    /// Cumulative figures, the current source included.
    #[must_use]
    pub fn stats(&self) -> LossStats {
        let mut s = self.done;
        if let Some(src) = &self.current {
            s.expected += src.expected();
            s.received += src.received;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut LossTracker, ssrc: u32, seqs: impl IntoIterator<Item = u16>) {
        for s in seqs {
            t.record(ssrc, s);
        }
    }

    #[test]
    fn no_loss_in_order() {
        let mut t = LossTracker::default();
        feed(&mut t, 7, 100..200);
        let s = t.stats();
        // The first packet is the probation packet (A.1), so 99 are counted.
        assert_eq!((s.expected, s.received, s.lost()), (99, 99, 0));
    }

    #[test]
    fn gaps_are_losses() {
        let mut t = LossTracker::default();
        feed(&mut t, 7, (0..100).filter(|s| s % 10 != 5));
        let s = t.stats();
        assert_eq!(s.expected, 99);
        assert_eq!(s.lost(), 10);
    }

    #[test]
    fn wraparound_counts_cycles() {
        let mut t = LossTracker::default();
        // 65500 .. 65535, 0 .. 99, with 3 lost around the wrap.
        let seqs = (65500u32..65636)
            .map(|s| (s % 65536) as u16)
            .filter(|s| ![65535, 0, 1].contains(s));
        feed(&mut t, 1, seqs);
        let s = t.stats();
        assert_eq!(s.expected, 135);
        assert_eq!(s.lost(), 3);
    }

    #[test]
    fn reorder_and_duplicates() {
        let mut t = LossTracker::default();
        feed(&mut t, 1, [10, 11, 13, 12, 14, 14]);
        let s = t.stats();
        assert_eq!(s.expected, 4); // 11..=14
        assert_eq!(s.received, 5); // incl. the duplicate
        assert_eq!(s.lost(), -1);
    }

    #[test]
    fn ssrc_change_keeps_totals() {
        let mut t = LossTracker::default();
        feed(&mut t, 1, (0..50).filter(|s| *s != 20));
        feed(&mut t, 2, 30_000..30_050);
        let s = t.stats();
        assert_eq!(s.source_changes, 1);
        assert_eq!(s.expected, 49 + 49);
        assert_eq!(s.lost(), 1);
    }

    #[test]
    fn restart_after_big_jump() {
        let mut t = LossTracker::default();
        feed(&mut t, 1, 0..50);
        // Jump by 20000 and keep going: the second sequential packet confirms a restart.
        feed(&mut t, 1, 20_000..20_050);
        let s = t.stats();
        assert_eq!(s.source_changes, 1);
        // 49 before; after the restart 20001..20049 are counted from base 20001.
        assert_eq!(s.lost(), 0);
        assert_eq!(s.expected, 49 + 49);
    }
}
