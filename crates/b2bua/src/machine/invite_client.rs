//! INVITE client transaction: RFC 3261 §17.1.1, Figure 5, with RFC 6026's Accepted state.

use std::time::Instant;

use rsip::{Header, Method, Request, Response};

use super::{Ctx, Fx, Retransmit, TransactionState, Up, Wire, code};
use crate::timer::TimerKind;

/// The machine.
#[derive(Debug)]
pub(crate) enum InviteClient {
    Calling(Calling),
    Proceeding(Proceeding),
    Completed(Completed),
    Accepted(Accepted),
    Terminated,
}

/// INVITE sent, no response yet: Timer A retransmits (unreliable), Timer B gives up.
#[derive(Debug)]
pub(crate) struct Calling {
    /// Boxed: the template is big and only Calling/Proceeding carry it.
    ack: Box<Request>,
    wire: Wire,
    timer_a: Option<Retransmit>,
    timer_b: Instant,
}

/// A provisional arrived: no timers (the TU cancels if it wants to stop waiting).
#[derive(Debug)]
pub(crate) struct Proceeding {
    ack: Box<Request>,
}

/// A 300-699 arrived and was ACKed; retransmissions of it get the same ACK until Timer D.
#[derive(Debug)]
pub(crate) struct Completed {
    ack: Wire,
    timer_d: Instant,
}

/// RFC 6026: a 2xx arrived; further 2xx (retransmissions, or forks) go to the TU until Timer M.
#[derive(Debug)]
pub(crate) struct Accepted {
    timer_m: Instant,
}

impl InviteClient {
    /// Sends the INVITE and arms Timers A and B (§17.1.1.2).
    pub(crate) fn start(ctx: Ctx<'_>, request: &Request, wire: Wire, fx: &mut Fx) -> Self {
        fx.send(&wire);
        let timer_a = Retransmit::first(ctx, TimerKind::A, fx);
        let timer_b = fx.arm(TimerKind::B, ctx.now, ctx.timers.t1x64());
        Self::Calling(Calling {
            ack: Box::new(ack_template(request)),
            wire,
            timer_a,
            timer_b,
        })
    }

    /// A response matched this transaction.
    pub(crate) fn on_response(self, ctx: Ctx<'_>, response: Response, fx: &mut Fx) -> Self {
        let status = code(&response);
        if status < 100 {
            // rsip can hold one; drawbridge_sip's parser rejects it. Nothing changes.
            return self;
        }
        match self {
            Self::Calling(Calling { ack, .. }) | Self::Proceeding(Proceeding { ack }) => {
                match status {
                    100..=199 => {
                        fx.up(Up::Response(response));
                        Self::Proceeding(Proceeding { ack })
                    }
                    200..=299 => {
                        fx.up(Up::Response(response));
                        let timer_m = fx.arm(TimerKind::M, ctx.now, ctx.timers.t1x64());
                        Self::Accepted(Accepted { timer_m })
                    }
                    _ => {
                        // §17.1.1.3: the ACK is built here, with the response's To (tag).
                        let ack: Wire = drawbridge_sip::to_bytes(&ack_for(*ack, &response)).into();
                        fx.send(&ack);
                        fx.up(Up::Response(response));
                        let wait = ctx.timers.timer_d(ctx.reliable);
                        if wait.is_zero() {
                            return Self::Terminated;
                        }
                        let timer_d = fx.arm(TimerKind::D, ctx.now, wait);
                        Self::Completed(Completed { ack, timer_d })
                    }
                }
            }
            Self::Completed(c) => {
                // Retransmitted final: ACK again, the TU already knows.
                if status >= 300 {
                    fx.send(&c.ack);
                }
                Self::Completed(c)
            }
            Self::Accepted(a) => {
                if (200..300).contains(&status) {
                    fx.up(Up::Response(response));
                }
                Self::Accepted(a)
            }
            Self::Terminated => Self::Terminated,
        }
    }

    /// A timer popped that [`Self::deadline`] confirmed is live.
    pub(crate) fn on_timer(self, ctx: Ctx<'_>, kind: TimerKind, fx: &mut Fx) -> Self {
        match (self, kind) {
            (Self::Calling(mut c), TimerKind::A) => {
                if let Some(a) = c.timer_a {
                    // §17.1.1.2: double each time, no cap for INVITE; Timer B ends it.
                    fx.send(&c.wire);
                    c.timer_a = Some(Retransmit::rearm(ctx, TimerKind::A, a.interval * 2, fx));
                }
                Self::Calling(c)
            }
            (Self::Calling(_), TimerKind::B) => {
                fx.up(Up::Timeout(TimerKind::B));
                Self::Terminated
            }
            (Self::Completed(_), TimerKind::D) | (Self::Accepted(_), TimerKind::M) => {
                Self::Terminated
            }
            (other, _) => other,
        }
    }

    /// When `kind` fires in the current state, if it is armed.
    pub(crate) fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        match (self, kind) {
            (Self::Calling(c), TimerKind::A) => c.timer_a.map(|a| a.at),
            (Self::Calling(c), TimerKind::B) => Some(c.timer_b),
            (Self::Completed(c), TimerKind::D) => Some(c.timer_d),
            (Self::Accepted(a), TimerKind::M) => Some(a.timer_m),
            _ => None,
        }
    }

    /// The RFC state name.
    pub(crate) fn state(&self) -> TransactionState {
        match self {
            Self::Calling(_) => TransactionState::Calling,
            Self::Proceeding(_) => TransactionState::Proceeding,
            Self::Completed(_) => TransactionState::Completed,
            Self::Accepted(_) => TransactionState::Accepted,
            Self::Terminated => TransactionState::Terminated,
        }
    }
}

/// The parts of the INVITE the ACK for a non-2xx copies (§17.1.1.3), kept instead of the
/// whole INVITE to hold less per transaction.
fn ack_template(invite: &Request) -> Request {
    crate::build::same_transaction_request(invite, Method::Ack)
}

/// The template with the response's To header (which carries the tag).
fn ack_for(mut ack: Request, response: &Response) -> Request {
    let to = response.headers.iter().find_map(|h| match h {
        Header::To(t) => Some(t.clone()),
        _ => None,
    });
    if let Some(to) = to {
        for h in ack.headers.iter_mut() {
            if let Header::To(t) = h {
                *t = to;
                break;
            }
        }
    }
    ack
}
