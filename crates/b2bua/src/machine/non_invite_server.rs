//! Non-INVITE server transaction: RFC 3261 §17.2.2, Figure 8.

use std::time::Instant;

use super::invite_server::AfterFinal;
use super::{Ctx, Fx, TransactionState, Wire};
use crate::timer::TimerKind;

/// The machine.
#[derive(Debug)]
pub(crate) enum NonInviteServer {
    Trying(Trying),
    Proceeding(Proceeding),
    Completed(Completed),
    Terminated,
}

/// Request handed to the TU, nothing sent: retransmissions are discarded.
#[derive(Debug)]
pub(crate) struct Trying;

/// A provisional was sent: retransmissions get it again.
#[derive(Debug)]
pub(crate) struct Proceeding {
    last_provisional: Wire,
}

/// A final was sent: retransmissions get it again until Timer J.
#[derive(Debug)]
pub(crate) struct Completed {
    response: Wire,
    timer_j: Instant,
}

impl NonInviteServer {
    /// A new request (nothing to send or arm).
    pub(crate) fn start() -> Self {
        Self::Trying(Trying)
    }

    /// Whether the TU may send a response now.
    pub(crate) fn check(&self) -> Result<(), AfterFinal> {
        match self {
            Self::Trying(_) | Self::Proceeding(_) => Ok(()),
            _ => Err(AfterFinal),
        }
    }

    /// The TU sends a response (call [`Self::check`] first).
    pub(crate) fn on_tu_response(self, ctx: Ctx<'_>, status: u16, wire: Wire, fx: &mut Fx) -> Self {
        match self {
            Self::Trying(_) | Self::Proceeding(_) => {
                fx.send(&wire);
                if status < 200 {
                    return Self::Proceeding(Proceeding {
                        last_provisional: wire,
                    });
                }
                let wait = ctx.timers.timer_j(ctx.reliable);
                if wait.is_zero() {
                    return Self::Terminated;
                }
                let timer_j = fx.arm(TimerKind::J, ctx.now, wait);
                Self::Completed(Completed {
                    response: wire,
                    timer_j,
                })
            }
            other => other,
        }
    }

    /// The request came again.
    pub(crate) fn on_retransmission(self, fx: &mut Fx) -> Self {
        match &self {
            Self::Proceeding(p) => fx.send(&p.last_provisional),
            Self::Completed(c) => fx.send(&c.response),
            _ => {}
        }
        self
    }

    /// A timer popped that [`Self::deadline`] confirmed is live.
    pub(crate) fn on_timer(self, kind: TimerKind) -> Self {
        match (self, kind) {
            (Self::Completed(_), TimerKind::J) => Self::Terminated,
            (other, _) => other,
        }
    }

    /// When `kind` fires in the current state, if it is armed.
    pub(crate) fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        match (self, kind) {
            (Self::Completed(c), TimerKind::J) => Some(c.timer_j),
            _ => None,
        }
    }

    /// The RFC state name.
    pub(crate) fn state(&self) -> TransactionState {
        match self {
            Self::Trying(_) => TransactionState::Trying,
            Self::Proceeding(_) => TransactionState::Proceeding,
            Self::Completed(_) => TransactionState::Completed,
            Self::Terminated => TransactionState::Terminated,
        }
    }
}
