//! Per-call state: two legs, each its own dialog, and what the call is waiting for.

use std::time::{Duration, Instant};

use drawbridge_sip::sdp::LegOrigin;
use rsip::{Request, Response};

use crate::{Flow, Side, TransactionId};

/// Which leg of a call: `A` is the caller's (we are its UAS), `B` the callee's (its UAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The leg the initial INVITE arrived on.
    A,
    /// The leg drawbridge placed towards the callee.
    B,
}

impl Leg {
    pub(crate) fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
    pub(crate) fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// One leg's dialog (RFC 3261 §12): everything needed to send requests on it, all of it
/// belonging to that leg's side only.
#[derive(Debug)]
pub(crate) struct Dialog {
    /// The side of the peer, pinned: in-dialog messages are only accepted from it.
    pub(crate) side: Side,
    /// The transport flow of the peer, pinned likewise (see `same_source`).
    pub(crate) flow: Flow,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: Option<String>,
    /// Our identity on this leg (name-addr, no tag).
    pub(crate) local_uri: String,
    /// The peer's identity on this leg (name-addr, no tag).
    pub(crate) remote_uri: String,
    pub(crate) local_cseq: u32,
    pub(crate) remote_cseq: u32,
    /// Request-URI of requests we send on this leg (the peer's Contact).
    pub(crate) remote_target: String,
    /// Route headers of requests we send on this leg.
    pub(crate) route_set: Vec<String>,
    /// `o=` of the SDP we send on this leg.
    pub(crate) sdp: LegOrigin,
    /// The last ACK for a 2xx we sent on this leg, re-sent when the 2xx is retransmitted.
    pub(crate) last_ack: Option<Request>,
    /// The media this leg's peer last described (its last SDP), as the relay was told:
    /// what a failed re-INVITE of this peer goes back to (RFC 3261 §14.1).
    pub(crate) media: Vec<drawbridge_sip::sdp::MediaInfo>,
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// INVITE sent on B, nothing but 100 yet.
    Calling,
    /// A provisional response was relayed.
    Early,
    /// A 2xx was relayed.
    Confirmed,
    /// The caller cancelled (or the ring timer fired): A has its final response; B's
    /// INVITE is being cancelled. The call goes when B's INVITE ends.
    Cancelling,
}

/// The initial INVITE on leg B.
#[derive(Debug)]
pub(crate) struct OutgoingInvite {
    pub(crate) tx: TransactionId,
    pub(crate) request: Request,
    pub(crate) provisional: bool,
    pub(crate) auth_tried: bool,
    /// A CANCEL is due as soon as a provisional arrives (RFC 3261 §9.1).
    pub(crate) cancel_pending: bool,
    /// The last reliable provisional acknowledged with PRACK: (To tag, RSeq); an equal or
    /// lower RSeq from that fork is a retransmission (RFC 3262 §4).
    pub(crate) last_rseq: Option<(Option<String>, u32)>,
    /// The answer a reliable provisional carried, rewritten for A: the caller only got
    /// it in an unreliable provisional, so the 2xx must repeat it if B's 2xx has none.
    pub(crate) early_answer: Option<(Vec<u8>, String)>,
}

/// A 2xx to an INVITE we sent on `leg`, retransmitted until its ACK (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub(crate) struct AwaitAck {
    pub(crate) leg: Leg,
    pub(crate) server: TransactionId,
    pub(crate) response: Response,
    pub(crate) cseq: u32,
    pub(crate) interval: Duration,
    /// Next retransmission (unreliable flows only).
    pub(crate) next: Option<Instant>,
    pub(crate) give_up: Instant,
    /// Delayed offer: the other leg's 2xx carried the offer, its ACK waits for the answer
    /// in this ACK. (leg, CSeq of the INVITE there.)
    pub(crate) deferred: Option<(Leg, u32)>,
}

/// A relayed re-INVITE without a final response yet (RFC 3261 §16.6 step 11, Timer C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReinviteGuard {
    /// The relayed copy's client transaction (the re-sent one after a digest retry).
    pub(crate) tx: TransactionId,
    /// When it is cancelled if still without a final response.
    pub(crate) deadline: Instant,
}

/// One call: two dialogs and the transactions in flight between them.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) state: CallState,
    pub(crate) legs: [Dialog; 2],
    /// The initial INVITE's server transaction on A and its request, until its final.
    pub(crate) incoming: Option<(TransactionId, Request)>,
    pub(crate) outgoing: Option<OutgoingInvite>,
    pub(crate) ring_deadline: Option<Instant>,
    pub(crate) await_ack: Option<AwaitAck>,
    /// A re-INVITE is being relayed (a second one gets 491).
    pub(crate) reinvite_busy: bool,
    /// The relayed re-INVITE that has had no final response yet, and when the guard gives
    /// up on it (see `core/reinvite_guard.rs`).
    pub(crate) reinvite_guard: Option<ReinviteGuard>,
    /// Relayed re-INVITEs the guard cancelled, still waiting for their final response:
    /// (client transaction, when it is abandoned). Empty on nearly every call.
    pub(crate) cancelled_reinvites: Vec<(TransactionId, Instant)>,
    /// The caller required 100rel: our reliable provisionals to it (RFC 3262). Boxed:
    /// most calls have none, and those that do drop it at the ACK.
    pub(crate) reliable: Option<Box<super::core::reliable::CallerReliability>>,
}

impl Call {
    pub(crate) fn leg(&self, leg: Leg) -> &Dialog {
        &self.legs[leg.index()]
    }
    pub(crate) fn leg_mut(&mut self, leg: Leg) -> &mut Dialog {
        &mut self.legs[leg.index()]
    }
}
