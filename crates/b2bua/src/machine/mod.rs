//! The four RFC 3261 §17 state machines, each an enum of per-state structs consumed by
//! value (each variant holds only what is valid in its state).
//!
//! A machine never does I/O: it pushes [`Effect`]s (send these bytes, tell the TU this,
//! arm that timer) into an [`Fx`] buffer the layer drains. A machine reports the deadline
//! of each timer armed in its current state ([`InviteClient::deadline`] …), which is how the
//! layer's timer heap tells live entries from stale ones (lazy deletion).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::{Request, Response};

use crate::timer::{TimerKind, Timers};

pub(crate) mod invite_client;
pub(crate) mod invite_server;
pub(crate) mod non_invite_client;
pub(crate) mod non_invite_server;

pub(crate) use invite_client::InviteClient;
pub(crate) use invite_server::InviteServer;
pub(crate) use non_invite_client::NonInviteClient;
pub(crate) use non_invite_server::NonInviteServer;

/// Serialized bytes, shared between the transaction (for retransmission) and the transmit
/// queue, so a retransmission copies nothing.
pub(crate) type Wire = Arc<[u8]>;

/// What a machine asks the layer to do.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Queue these bytes on the transaction's flow.
    Send(Wire),
    /// Tell the TU.
    Up(Up),
    /// Push a timer-heap entry.
    Arm(TimerKind, Instant),
}

/// What a machine tells the TU.
#[derive(Debug)]
pub(crate) enum Up {
    /// A response for a client transaction.
    Response(Response),
    /// The transaction timed out (Timer B, F or H).
    Timeout(TimerKind),
    /// An ACK that matched an INVITE server transaction in Accepted (it acknowledges a 2xx).
    Ack(Request),
}

/// The effect buffer (reused by the layer; no allocation per message once warm).
#[derive(Debug, Default)]
pub(crate) struct Fx(pub(crate) Vec<Effect>);

impl Fx {
    pub(crate) fn send(&mut self, wire: &Wire) {
        self.0.push(Effect::Send(Arc::clone(wire)));
    }
    pub(crate) fn up(&mut self, up: Up) {
        self.0.push(Effect::Up(up));
    }
    /// Arms `kind` at `now + after` and returns the deadline.
    pub(crate) fn arm(&mut self, kind: TimerKind, now: Instant, after: Duration) -> Instant {
        let at = now + after;
        self.0.push(Effect::Arm(kind, at));
        at
    }
}

/// What every machine call needs to know besides its own state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) timers: &'a Timers,
    /// The transaction's flow is TCP/TLS: no retransmissions, zero wait timers.
    pub(crate) reliable: bool,
}

/// A retransmit timer (A, E, G): when it fires next, and the interval it was armed with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// Arms the first retransmission at T1, unless the transport is reliable.
    pub(crate) fn first(ctx: Ctx<'_>, kind: TimerKind, fx: &mut Fx) -> Option<Self> {
        (!ctx.reliable).then(|| {
            let interval = ctx.timers.t1();
            Self {
                at: fx.arm(kind, ctx.now, interval),
                interval,
            }
        })
    }
    /// Re-arms with `interval`.
    pub(crate) fn rearm(ctx: Ctx<'_>, kind: TimerKind, interval: Duration, fx: &mut Fx) -> Self {
        Self {
            at: fx.arm(kind, ctx.now, interval),
            interval,
        }
    }
}

/// The state of a transaction, by the names of the RFC 3261 §17 figures and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionState {
    /// INVITE client, request sent, nothing heard (Figure 5).
    Calling,
    /// Non-INVITE client or server, before any provisional (Figures 6, 8).
    Trying,
    /// A provisional has been received (client) or sent (server), or the INVITE server
    /// transaction waits for its TU (Figure 7).
    Proceeding,
    /// A final response has been received (client) or sent (server; non-2xx for INVITE).
    Completed,
    /// INVITE server: the ACK for a non-2xx final arrived (Figure 7).
    Confirmed,
    /// RFC 6026: a 2xx to an INVITE was sent (server) or received (client); 2xx
    /// retransmissions pass through until Timer L / M.
    Accepted,
    /// Finished; the layer forgets it.
    Terminated,
}

/// Code of a response's status line.
pub(crate) fn code(response: &Response) -> u16 {
    response.status_code.code()
}
