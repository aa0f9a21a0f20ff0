//! The guard's own settings: `[guard]` of the configuration plus the knobs the file does
//! not (yet) expose, each with a safe default.

use std::time::Duration;

use drawbridge_config::{DialPolicy, GuardConfig};

use crate::rate::Rate;

/// Everything the guard needs to know. Build it with [`GuardSettings::from_config`] and
/// adjust fields as needed; every field has a safe default.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GuardSettings {
    /// SIP requests per source (address, IPv6 /64 or peer).
    pub requests: Rate,
    /// Failed authentications from one source within `auth_failure_window` before a ban.
    pub auth_failures_before_ban: u32,
    /// Window in which a source's authentication failures are counted.
    pub auth_failure_window: Duration,
    /// Length of a source or peer ban.
    pub ban_duration: Duration,
    /// Failed authentications for one user name, from all sources together, within
    /// `auth_failure_window` before that user is locked. Catches a crack spread over many
    /// sources. Higher than the per-source threshold because a lock also shuts out the
    /// real user for `user_lock_duration`.
    pub user_failures_before_lock: u32,
    /// Length of a user lock.
    pub user_lock_duration: Duration,
    /// Distinct user names one source may probe within `enumeration_window` before it is
    /// banned (at most 64).
    pub enumeration_distinct_users: u32,
    /// Window for counting distinct user names.
    pub enumeration_window: Duration,
    /// User-Agent substrings of scanners, compared ASCII-case-insensitively.
    pub scanner_user_agents: Vec<String>,
    /// Dial policy.
    pub dial: DialPolicy,
    /// Prefixes that mean "international" besides `00` (`011` in North America).
    pub international_prefixes: Vec<String>,
    /// New calls per second, all sources together.
    pub calls: Rate,
    /// Concurrent calls, all sources together.
    pub max_concurrent_calls: u32,
    /// Concurrent calls per trunk, by trunk index; a trunk beyond the list gets none.
    pub trunk_max_calls: Vec<u32>,
    /// Concurrent dialogs per WireGuard peer.
    pub max_dialogs_per_peer: u32,
    /// Longest call; the B2BUA ends calls at their ticket's deadline.
    pub max_call_duration: Duration,
    /// Time after a ticket's deadline at which the guard reclaims it if the B2BUA never
    /// released it (so a lost ticket cannot hold a call slot forever).
    pub ticket_grace: Duration,
    /// Table caps: entries, not bytes. Each entry is under 100 bytes.
    pub limits: TableLimits,
}

/// Hard caps on the guard's tables. When a table is full the least recently touched
/// entry is evicted (and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    /// Per-source token buckets.
    pub rate_entries: usize,
    /// Per-source failure counters.
    pub failure_entries: usize,
    /// Per-user failure counters.
    pub user_failure_entries: usize,
    /// Bans (sources and peers).
    pub ban_entries: usize,
    /// User locks.
    pub user_lock_entries: usize,
    /// Per-source enumeration trackers.
    pub probe_entries: usize,
    /// Security events waiting for `poll_event`.
    pub event_queue: usize,
}

impl Default for TableLimits {
    fn default() -> Self {
        Self {
            rate_entries: 65_536,
            failure_entries: 16_384,
            user_failure_entries: 16_384,
            ban_entries: 16_384,
            user_lock_entries: 4_096,
            probe_entries: 16_384,
            event_queue: 4_096,
        }
    }
}

impl GuardSettings {
    /// Settings from `[guard]`, with no trunk limits (see [`Guard::from_config`] for the
    /// whole configuration).
    ///
    /// [`Guard::from_config`]: crate::Guard::from_config
    pub fn from_config(g: &GuardConfig) -> Self {
        Self {
            requests: Rate::per_second(g.requests_per_second),
            auth_failures_before_ban: g.auth_failures_before_ban,
            auth_failure_window: Duration::from_secs(600),
            ban_duration: Duration::from_secs(u64::from(g.ban_secs)),
            user_failures_before_lock: g.auth_failures_before_ban.saturating_mul(4),
            user_lock_duration: Duration::from_secs(u64::from(g.ban_secs).min(900)),
            enumeration_distinct_users: 10,
            enumeration_window: Duration::from_secs(60),
            scanner_user_agents: g.scanner_user_agents.clone(),
            dial: g.dial.clone(),
            international_prefixes: Vec::new(),
            calls: Rate::per_second(g.max_calls_per_second),
            max_concurrent_calls: g.max_concurrent_calls,
            trunk_max_calls: Vec::new(),
            max_dialogs_per_peer: g.max_dialogs_per_peer,
            max_call_duration: Duration::from_secs(u64::from(g.max_call_duration_secs)),
            ticket_grace: Duration::from_secs(60),
            limits: TableLimits::default(),
        }
    }
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self::from_config(&GuardConfig::default())
    }
}
