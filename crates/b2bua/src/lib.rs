//! The B2BUA core of drawbridge, sans-IO: the RFC 3261 §17 transaction layer
//! ([`TransactionLayer`]) and, on top of it, the call layer ([`B2bua`]): dialogs,
//! call logic and topology hiding between the outside (trunks, tunnel peers) and the PBX.
//!
//! **Call layer** ([`B2bua`]): bytes + [`Flow`] + the [`Side`] the transport vouches for
//! in, [`Transmit`]s (one FIFO, so a call's messages leave in causal order),
//! [`B2buaEvent`]s and one deadline out. Each call has two legs with their own Call-ID,
//! tags, CSeq space, Via, Contact and route set; only allow-listed headers cross
//! ([`B2buaConfig::allowed_headers`], filtered), reason phrases are canonical, and SDP is
//! rewritten to the addresses a [`MediaAllocator`] returns. In-dialog messages are matched
//! on (Call-ID, our tag), then checked against the dialog's pinned peer and remote tag;
//! responses against the flow their transaction was sent on. A peer's TCP/TLS connection
//! that closed ([`B2bua::flow_closed`]) hands its dialogs to the same peer's next
//! connection (same side, same source IP, same transport; [`B2bua::flow_opened`]). Handles: INVITE with 100,
//! 18x (early media), 2xx with per-leg ACK (and delayed offer), non-2xx (mapped), CANCEL
//! (deferred until a provisional, a 100 included; the INVITE given up 64*T1 after it,
//! RFC 3261 §9.1), BYE (a relayed re-INVITE still pending gets 487), re-INVITE/UPDATE/INFO relay with
//! SDP re-rewrite, 491 on glare, CANCEL of a relayed re-INVITE (relayed; the far end's
//! answer goes back), a re-INVITE with no final answer in 180 s cancelled (487; the call
//! stays), forked provisionals, a second fork's 2xx (ACK + BYE),
//! 2xx retransmission until ACK (BYE both legs after 64*T1), ring timeout, Timer B (408),
//! digest answers to a trunk's 401/407 (MD5, `qop=auth`, once). Reliable provisionals
//! (RFC 3262) are terminated per leg: towards the callee 100rel is offered with an offer
//! of ours and its reliable 18x are PRACKed; towards a caller whose INVITE has
//! `Require: 100rel`, every relayed 18x goes reliably with our own RSeq (retransmitted at
//! T1 doubling on UDP, one unacknowledged at a time, the rest queued), its PRACK is
//! answered here, a 2xx waits for the PRACK of a provisional with SDP, and 64*T1 without
//! PRACK fails the call with 500; a caller with only `Supported: 100rel` gets unreliable
//! 18x. A caller requiring 100rel without an offer (late offer) gets early media: the
//! callee is offered 100rel, its reliable 18x's SDP (the offer) goes to the caller
//! reliably and our PRACK to the callee waits for the answer in the caller's PRACK
//! (RFC 3262 §5; the 2xx then carries no SDP). An UPDATE with an offer is relayed with
//! its SDP rewritten in the early and confirmed dialog, refused (491/500, RFC 3311 §5.2)
//! while such a late offer awaits its answer. Per trunk, after
//! [`B2bua::start`]: OPTIONS keep-alives ([`B2bua::trunk_up`], `TrunkUp`/`TrunkDown`
//! events) and the optional REGISTER of the trunk account, refreshed at half the
//! granted expiry ([`B2bua::trunk_registered`]).
//!
//! **Transaction layer**: takes parsed messages (from `drawbridge_sip::parse_message`),
//! the TU's requests and responses, and `now`; it returns what to send ([`Transmit`]),
//! what the TU must act on ([`TuEvent`]) and when to wake it up. It implements the four
//! machines of RFC 3261 §17 with RFC 6026's Accepted state, Timers A–M with RFC values
//! ([`Timers`]), retransmission on unreliable transports only, the ACK for non-2xx
//! finals, the automatic 100 Trying, CANCEL matching (§9.2), and RFC 2543 matching for
//! requests without the `z9hG4bK` cookie.
//!
//! What it does **not** do: no sockets, no clock (time is the `now` argument), no
//! threads, no randomness (a secret in the config seeds every identifier); no DNS or
//! RFC 3263 failover; no 100rel towards a callee when the caller sent no offer and does
//! not require 100rel itself (nobody could answer an offer in the callee's reliable
//! 18x); no early media for a late offer in an *unreliable* 18x (only a preview: the
//! offer comes in the 2xx); no new offer in a PRACK (one gets 488: the PRACK carries
//! only the answer to a late offer); while the caller's answer to one fork's late
//! offer is awaited, provisionals of other forks are dropped (the first fork's exchange
//! is the call's);
//! no REFER/transfer, no registration relay for tunnel peers,
//! no session-timer refreshes of its own, no dial policy (the `guard` crate decides
//! before a message gets here). Responses go back on the flow the request came in on;
//! the transport decides what that means (§18.2.2 `received`/`rport`).
#![warn(missing_docs)]

mod build;
mod call;
mod error;
mod event;
mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod id_hash;
mod key;
mod layer;
mod machine;
mod shard;
mod text;
mod timer;

pub use build::cancel_for;
pub use call::{
    Advertised, B2bua, B2buaConfig, B2buaEvent, CallAdmission, CallHandle, Counters, Credentials,
    DEFAULT_ALLOWED, HandleError, Leg, MediaAllocator, MediaAnchor, MediaRefused, NEVER_CROSS,
    Outside, Pbx, PeerId, Side, Trunk, TrunkDownReason,
};
pub use error::{MessageError, SendError};
pub use event::{Incoming, Transmit, TuEvent};
pub use flow::{Flow, FlowId, TransportKind};
pub use key::MAGIC_COOKIE;
pub use layer::{Config, TransactionId, TransactionKind, TransactionLayer};
pub use machine::TransactionState;
pub use shard::Shard;
pub use timer::{TimerKind, Timers};
