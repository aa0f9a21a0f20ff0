//! drawbridge's security policy core: who may talk to the SBC, how fast, and what they
//! may dial.
//!
//! It holds the defences against the classic attack on a SIP PBX (scan → enumerate
//! extensions → crack passwords → toll fraud):
//! - [`SourceAllowlist`]: which trunk an address belongs to, for the transports to drop
//!   everyone else before any parsing or crypto;
//! - per-source request rates (token buckets), bans after failed authentications (per
//!   source or peer, and per target user for a crack spread over many sources), scanner
//!   User-Agents and user-name enumeration;
//! - the dial policy ([`DialRules`]) against premium-rate numbers, however written;
//! - call admission (calls per second, concurrent calls globally, per trunk, per peer,
//!   maximum duration) with tickets that make leaked counts impossible;
//! - [`SecurityEvent`]s and Prometheus counters for all of it.
//!
//! [`Guard`] ties these together for the B2BUA.
//!
//! This crate contains no networking code, reads no clock, spawns nothing and does not
//! log: it takes addresses, facts about requests and the current time, and returns
//! verdicts and events. It does not parse SIP (the caller extracts [`RequestFacts`]),
//! does not verify credentials (the caller reports the outcome) and does not enforce
//! message size limits (the SIP layer does). All its state lives in tables with hard
//! caps, so a flood from spoofed sources cannot grow its memory.
#![warn(missing_docs)]

mod admission;
mod allowlist;
pub mod dial;
mod error;
mod event;
mod guard;
mod rate;
mod scanner;
mod settings;
mod source;
mod table;

pub use admission::{CallScope, CallTicket, Rejection};
pub use allowlist::SourceAllowlist;
pub use dial::{DialDenial, DialRules, DialVerdict, Number, NumberError};
pub use error::GuardError;
pub use event::{Counters, EventKind, Reason, SecurityEvent};
pub use guard::{Guard, RequestFacts, Verdict};
pub use rate::Rate;
pub use scanner::UserAgentMatcher;
pub use settings::{GuardSettings, TableLimits};
pub use source::{PeerId, Source, TrunkId, canonical};

/// The origin of virtual time in unit tests: the only real clock reading, taken once;
/// every other instant is this plus a chosen offset.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the single origin of virtual time, see above
pub(crate) fn test_origin() -> std::time::Instant {
    std::time::Instant::now()
}
