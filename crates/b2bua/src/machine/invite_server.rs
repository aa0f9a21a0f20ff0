//! INVITE server transaction: RFC 3261 §17.2.1, Figure 7, as amended by RFC 6026
//! (a 2xx moves to Accepted instead of Terminated).

use std::time::Instant;

use rsip::Request;

use super::{Ctx, Fx, Retransmit, TransactionState, Up, Wire};
use crate::timer::TimerKind;

/// The machine.
#[derive(Debug)]
pub(crate) enum InviteServer {
    Proceeding(Proceeding),
    Completed(Completed),
    Confirmed(Confirmed),
    Accepted(Accepted),
    Terminated,
}

/// Waiting for the TU: a 100 Trying goes out on its own after 200 ms; INVITE
/// retransmissions get the latest provisional again.
#[derive(Debug)]
pub(crate) struct Proceeding {
    trying: Option<PendingTrying>,
    last_provisional: Option<Wire>,
}

/// The 100 Trying to send if the TU stays silent, and when.
#[derive(Debug)]
pub(crate) struct PendingTrying {
    at: Instant,
    wire: Wire,
}

/// A 300-699 was sent: Timer G retransmits it (unreliable), H waits for the ACK.
#[derive(Debug)]
pub(crate) struct Completed {
    response: Wire,
    timer_g: Option<Retransmit>,
    timer_h: Instant,
}

/// The ACK arrived: absorb ACK retransmissions until Timer I.
#[derive(Debug)]
pub(crate) struct Confirmed {
    timer_i: Instant,
}

/// RFC 6026: a 2xx was sent; the TU retransmits it (the transaction does not), INVITE
/// retransmissions are absorbed, a matching ACK goes to the TU, until Timer L.
#[derive(Debug)]
pub(crate) struct Accepted {
    timer_l: Instant,
}

/// Why the TU's response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AfterFinal;

impl InviteServer {
    /// A new INVITE: arm the 100 Trying timer with the 100 prepared by the layer.
    pub(crate) fn start(ctx: Ctx<'_>, trying: Wire, fx: &mut Fx) -> Self {
        let at = fx.arm(TimerKind::Trying, ctx.now, ctx.timers.trying_delay());
        Self::Proceeding(Proceeding {
            trying: Some(PendingTrying { at, wire: trying }),
            last_provisional: None,
        })
    }

    /// Whether the TU may send a response with this status now.
    pub(crate) fn check(&self, status: u16) -> Result<(), AfterFinal> {
        match self {
            Self::Proceeding(_) => Ok(()),
            // RFC 6026 §8.5: 2xx retransmissions from the TU pass through in Accepted.
            Self::Accepted(_) if (200..300).contains(&status) => Ok(()),
            _ => Err(AfterFinal),
        }
    }

    /// The TU sends a response (call [`Self::check`] first; a refused one is dropped here).
    pub(crate) fn on_tu_response(self, ctx: Ctx<'_>, status: u16, wire: Wire, fx: &mut Fx) -> Self {
        match self {
            Self::Proceeding(_) => {
                fx.send(&wire);
                match status {
                    ..=199 => Self::Proceeding(Proceeding {
                        trying: None,
                        last_provisional: Some(wire),
                    }),
                    200..=299 => {
                        let timer_l = fx.arm(TimerKind::L, ctx.now, ctx.timers.t1x64());
                        Self::Accepted(Accepted { timer_l })
                    }
                    _ => {
                        let timer_g = Retransmit::first(ctx, TimerKind::G, fx);
                        let timer_h = fx.arm(TimerKind::H, ctx.now, ctx.timers.t1x64());
                        Self::Completed(Completed {
                            response: wire,
                            timer_g,
                            timer_h,
                        })
                    }
                }
            }
            Self::Accepted(a) => {
                if (200..300).contains(&status) {
                    fx.send(&wire);
                }
                Self::Accepted(a)
            }
            other => other,
        }
    }

    /// The TU wants the prepared 100 Trying sent now rather than after the delay; a no-op
    /// once anything was sent.
    pub(crate) fn send_trying_now(self, fx: &mut Fx) -> Self {
        match self {
            Self::Proceeding(mut p) => {
                if let Some(t) = p.trying.take() {
                    fx.send(&t.wire);
                    p.last_provisional = Some(t.wire);
                }
                Self::Proceeding(p)
            }
            other => other,
        }
    }

    /// The INVITE came again (§17.2.1): resend the latest provisional in Proceeding, the
    /// final in Completed; absorb otherwise.
    pub(crate) fn on_retransmission(self, fx: &mut Fx) -> Self {
        match &self {
            Self::Proceeding(Proceeding {
                last_provisional: Some(w),
                ..
            }) => fx.send(w),
            Self::Completed(c) => fx.send(&c.response),
            _ => {}
        }
        self
    }

    /// An ACK matched (same branch): it ends Completed; in Accepted it acknowledges the
    /// 2xx and belongs to the TU (RFC 6026 §8.7); elsewhere it is absorbed.
    pub(crate) fn on_ack(self, ctx: Ctx<'_>, ack: Request, fx: &mut Fx) -> Self {
        match self {
            Self::Completed(_) => {
                let wait = ctx.timers.t4_unless_reliable(ctx.reliable);
                if wait.is_zero() {
                    return Self::Terminated;
                }
                let timer_i = fx.arm(TimerKind::I, ctx.now, wait);
                Self::Confirmed(Confirmed { timer_i })
            }
            Self::Accepted(a) => {
                fx.up(Up::Ack(ack));
                Self::Accepted(a)
            }
            other => other,
        }
    }

    /// A timer popped that [`Self::deadline`] confirmed is live.
    pub(crate) fn on_timer(self, ctx: Ctx<'_>, kind: TimerKind, fx: &mut Fx) -> Self {
        match (self, kind) {
            (Self::Proceeding(mut p), TimerKind::Trying) => {
                if let Some(t) = p.trying.take() {
                    fx.send(&t.wire);
                    p.last_provisional = Some(t.wire);
                }
                Self::Proceeding(p)
            }
            (Self::Completed(mut c), TimerKind::G) => {
                if let Some(g) = c.timer_g {
                    fx.send(&c.response);
                    let next = (g.interval * 2).min(ctx.timers.t2());
                    c.timer_g = Some(Retransmit::rearm(ctx, TimerKind::G, next, fx));
                }
                Self::Completed(c)
            }
            (Self::Completed(_), TimerKind::H) => {
                fx.up(Up::Timeout(TimerKind::H));
                Self::Terminated
            }
            (Self::Confirmed(_), TimerKind::I) | (Self::Accepted(_), TimerKind::L) => {
                Self::Terminated
            }
            (other, _) => other,
        }
    }

    /// When `kind` fires in the current state, if it is armed.
    pub(crate) fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        match (self, kind) {
            (Self::Proceeding(p), TimerKind::Trying) => p.trying.as_ref().map(|t| t.at),
            (Self::Completed(c), TimerKind::G) => c.timer_g.map(|g| g.at),
            (Self::Completed(c), TimerKind::H) => Some(c.timer_h),
            (Self::Confirmed(c), TimerKind::I) => Some(c.timer_i),
            (Self::Accepted(a), TimerKind::L) => Some(a.timer_l),
            _ => None,
        }
    }

    /// The RFC state name.
    pub(crate) fn state(&self) -> TransactionState {
        match self {
            Self::Proceeding(_) => TransactionState::Proceeding,
            Self::Completed(_) => TransactionState::Completed,
            Self::Confirmed(_) => TransactionState::Confirmed,
            Self::Accepted(_) => TransactionState::Accepted,
            Self::Terminated => TransactionState::Terminated,
        }
    }
}
