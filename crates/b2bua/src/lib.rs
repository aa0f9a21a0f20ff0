//! The B2BUA core of drawbridge, sans-IO. Today: the RFC 3261 §17 transaction layer
//! ([`TransactionLayer`]), on which the dialog layer, registration relay and topology
//! hiding are built.
//!
//! The transaction layer takes parsed messages (from `drawbridge_sip::parse_message`),
//! the TU's requests and responses, and `now`; it returns what to send ([`Transmit`]),
//! what the TU must act on ([`TuEvent`]) and when to wake it up. It implements the four
//! machines of RFC 3261 §17 with RFC 6026's Accepted state, Timers A–M with RFC values
//! ([`Timers`]), retransmission on unreliable transports only, the ACK for non-2xx
//! finals, the automatic 100 Trying, CANCEL matching (§9.2), and RFC 2543 matching for
//! requests without the `z9hG4bK` cookie.
//!
//! What it does **not** do: no sockets, no clock (time is the `now` argument), no
//! threads; no DNS or RFC 3263 failover (a transport error terminates the transaction
//! and tells the TU); no dialogs, no ACK for 2xx (end-to-end, the TU's job), no proxy
//! Timer C, no authentication, no message rewriting; responses go back on the flow the
//! request came in on, the transport decides what that means (§18.2.2 `received`/`rport`).
#![warn(missing_docs)]

mod build;
mod call;
mod error;
mod event;
mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod layer;
mod machine;
mod timer;

pub use build::cancel_for;
pub use call::{
    Advertised, B2bua, B2buaConfig, B2buaEvent, CallHandle, Counters, Credentials, DEFAULT_ALLOWED,
    HandleError, Leg, MediaAllocator, MediaAnchor, MediaRefused, NEVER_CROSS, Outside, Pbx, PeerId,
    Side, Trunk,
};
pub use error::{MessageError, SendError};
pub use event::{Incoming, Transmit, TuEvent};
pub use flow::{Flow, FlowId, TransportKind};
pub use key::MAGIC_COOKIE;
pub use layer::{Config, TransactionId, TransactionKind, TransactionLayer};
pub use machine::TransactionState;
pub use timer::{TimerKind, Timers};
