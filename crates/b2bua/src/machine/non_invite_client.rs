//! Non-INVITE client transaction: RFC 3261 §17.1.2, Figure 6.

use std::time::Instant;

use rsip::Response;

use super::{Ctx, Fx, Retransmit, TransactionState, Up, Wire, code};
use crate::timer::TimerKind;

/// The machine.
#[derive(Debug)]
pub(crate) enum NonInviteClient {
    Trying(Trying),
    Proceeding(Proceeding),
    Completed(Completed),
    Terminated,
}

/// Request sent: Timer E retransmits (doubling, capped at T2; unreliable only), F gives up.
#[derive(Debug)]
pub(crate) struct Trying {
    wire: Wire,
    timer_e: Option<Retransmit>,
    timer_f: Instant,
}

/// A provisional arrived: Timer E keeps retransmitting, every T2 from now on.
#[derive(Debug)]
pub(crate) struct Proceeding {
    wire: Wire,
    timer_e: Option<Retransmit>,
    timer_f: Instant,
}

/// A final arrived: absorb its retransmissions until Timer K.
#[derive(Debug)]
pub(crate) struct Completed {
    timer_k: Instant,
}

impl NonInviteClient {
    /// Sends the request and arms Timers E and F (§17.1.2.2).
    pub(crate) fn start(ctx: Ctx<'_>, wire: Wire, fx: &mut Fx) -> Self {
        fx.send(&wire);
        let timer_e = Retransmit::first(ctx, TimerKind::E, fx);
        let timer_f = fx.arm(TimerKind::F, ctx.now, ctx.timers.t1x64());
        Self::Trying(Trying {
            wire,
            timer_e,
            timer_f,
        })
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(self, ctx: Ctx<'_>, response: Response, fx: &mut Fx) -> Self {
        let status = code(&response);
        if status < 100 {
            return self;
        }
        let (wire, timer_e, timer_f) = match self {
            Self::Trying(t) => (t.wire, t.timer_e, t.timer_f),
            Self::Proceeding(p) => (p.wire, p.timer_e, p.timer_f),
            // Completed absorbs retransmitted finals; Terminated is gone.
            other => return other,
        };
        fx.up(Up::Response(response));
        if status < 200 {
            return Self::Proceeding(Proceeding {
                wire,
                timer_e,
                timer_f,
            });
        }
        let wait = ctx.timers.t4_unless_reliable(ctx.reliable);
        if wait.is_zero() {
            return Self::Terminated;
        }
        let timer_k = fx.arm(TimerKind::K, ctx.now, wait);
        Self::Completed(Completed { timer_k })
    }

    /// A timer popped that [`Self::deadline`] confirmed is live.
    pub(crate) fn on_timer(self, ctx: Ctx<'_>, kind: TimerKind, fx: &mut Fx) -> Self {
        match (self, kind) {
            (Self::Trying(mut t), TimerKind::E) => {
                if let Some(e) = t.timer_e {
                    fx.send(&t.wire);
                    let next = (e.interval * 2).min(ctx.timers.t2());
                    t.timer_e = Some(Retransmit::rearm(ctx, TimerKind::E, next, fx));
                }
                Self::Trying(t)
            }
            (Self::Proceeding(mut p), TimerKind::E) => {
                if p.timer_e.is_some() {
                    fx.send(&p.wire);
                    let t2 = ctx.timers.t2();
                    p.timer_e = Some(Retransmit::rearm(ctx, TimerKind::E, t2, fx));
                }
                Self::Proceeding(p)
            }
            (Self::Trying(_) | Self::Proceeding(_), TimerKind::F) => {
                fx.up(Up::Timeout(TimerKind::F));
                Self::Terminated
            }
            (Self::Completed(_), TimerKind::K) => Self::Terminated,
            (other, _) => other,
        }
    }

    /// When `kind` fires in the current state, if it is armed.
    pub(crate) fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        match (self, kind) {
            (Self::Trying(t), TimerKind::E) => t.timer_e.map(|e| e.at),
            (Self::Proceeding(p), TimerKind::E) => p.timer_e.map(|e| e.at),
            (Self::Trying(t), TimerKind::F) => Some(t.timer_f),
            (Self::Proceeding(p), TimerKind::F) => Some(p.timer_f),
            (Self::Completed(c), TimerKind::K) => Some(c.timer_k),
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
