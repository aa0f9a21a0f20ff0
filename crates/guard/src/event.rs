//! Security events (structured, for the caller to log) and their Prometheus counters.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use crate::source::{PeerId, TrunkId};

macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$v,)*];

            /// The snake_case name used in logs and as a Prometheus label value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s,)* }
            }

            fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

label_enum! {
    /// What the guard did.
    EventKind {
        /// A request or packet was dropped without an answer.
        Drop => "drop",
        /// A request was refused because its source exceeded its request rate.
        Throttle => "throttle",
        /// A source, peer or user was banned.
        Ban => "ban",
        /// A ban ran out.
        BanExpired => "ban_expired",
        /// A dialled number was refused by the dial policy.
        DialRejected => "dial_rejected",
        /// An authentication attempt failed (reported by the B2BUA).
        AuthFailed => "auth_failed",
        /// A request carried a known scanner's User-Agent.
        Scanner => "scanner",
        /// A source probed too many distinct user names.
        Enumeration => "enumeration",
        /// A new call was refused by admission control.
        CallRejected => "call_rejected",
        /// A call ticket reached its maximum duration (plus grace) unreleased and was reclaimed.
        CallExpired => "call_expired",
    }
}

label_enum! {
    /// Why the guard did it.
    Reason {
        /// The source address is not in any trunk's allowlist.
        NotAllowlisted => "not_allowlisted",
        /// The source (or peer) is banned.
        Banned => "banned",
        /// The request authenticates as a user locked after too many failures.
        UserLocked => "user_locked",
        /// Per-source request rate exceeded.
        RateLimited => "rate_limited",
        /// User-Agent matched a scanner pattern.
        ScannerUserAgent => "scanner_user_agent",
        /// Too many distinct user names from one source in the window.
        UserEnumeration => "user_enumeration",
        /// Too many failed authentications from one source or peer.
        AuthFailures => "auth_failures",
        /// Too many failed authentications for one user, from anywhere.
        UserAuthFailures => "user_auth_failures",
        /// Wrong credentials (a single failure).
        BadCredentials => "bad_credentials",
        /// The number starts with a denied (premium, satellite…) prefix.
        DenyPrefix => "deny_prefix",
        /// An allow list is configured and the number matches none of it.
        NotAllowedPrefix => "not_allowed_prefix",
        /// The dialled string is not a phone number the policy can judge.
        MalformedNumber => "malformed_number",
        /// Global new-calls-per-second limit.
        CallRate => "call_rate",
        /// Global concurrent-call limit.
        GlobalConcurrency => "global_concurrency",
        /// Concurrent-call limit of the trunk.
        TrunkConcurrency => "trunk_concurrency",
        /// Concurrent-dialog limit of the peer.
        PeerConcurrency => "peer_concurrency",
        /// The trunk index is not configured.
        UnknownTrunk => "unknown_trunk",
        /// The call outlived the maximum call duration.
        MaxDuration => "max_duration",
        /// An operator lifted the ban.
        Unbanned => "unbanned",
        /// The ban's time ran out.
        Expired => "expired",
    }
}

/// One security event: what happened, why, and to whom. Serialises to a flat JSON object
/// (`{"kind":"ban","reason":"auth_failures","ip":"198.18.1.66","ban_secs":3600}`) with
/// absent fields left out.
///
/// Strings that came from the network (`user`, `user_agent`, `number`) are cut to 64
/// characters and have control characters replaced, so they are safe to put in a log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecurityEvent {
    /// What the guard did.
    pub kind: EventKind,
    /// Why.
    pub reason: Reason,
    /// Source address (for an IPv6 source state is per /64: this is then the /64 network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// WireGuard peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerId>,
    /// Trunk concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<TrunkId>,
    /// User name concerned (target extension, authentication user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The User-Agent that matched a scanner pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The dialled number (normalised when it could be).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The policy prefix or scanner pattern that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// Length of a ban, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_secs: Option<u64>,
    /// The limit that was hit (concurrency, threshold…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl SecurityEvent {
    /// An event with only kind and reason set; fill the rest with the `with_*` methods.
    pub fn new(kind: EventKind, reason: Reason) -> Self {
        Self {
            kind,
            reason,
            ip: None,
            peer: None,
            trunk: None,
            user: None,
            user_agent: None,
            number: None,
            matched: None,
            ban_secs: None,
            limit: None,
        }
    }

    pub(crate) fn with_origin(mut self, ip: Option<IpAddr>, peer: Option<PeerId>) -> Self {
        self.ip = ip;
        self.peer = peer;
        self
    }

    pub(crate) fn with_user(mut self, user: Option<&str>) -> Self {
        self.user = user.map(sanitize);
        self
    }
}

/// At most this many characters of a network-supplied string go into an event.
const MAX_FIELD_CHARS: usize = 64;

/// Cuts `s` to [`MAX_FIELD_CHARS`] and replaces control characters, so that an attacker's
/// string cannot forge log lines or bloat them.
pub(crate) fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_FIELD_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_FIELD_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Event counts per kind and reason, plus what the guard had to give up.
///
/// Every event is counted when it happens, whether or not the bounded queue had room for
/// it, so the counters are exact even under a flood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    by_kind_reason: [[u64; Reason::ALL.len()]; EventKind::ALL.len()],
    events_discarded: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            by_kind_reason: [[0; Reason::ALL.len()]; EventKind::ALL.len()],
            events_discarded: 0,
        }
    }
}

impl Counters {
    /// Counts one event.
    pub fn record(&mut self, kind: EventKind, reason: Reason) {
        self.add(kind, reason, 1);
    }

    /// Counts `n` events.
    pub fn add(&mut self, kind: EventKind, reason: Reason, n: u64) {
        let c = &mut self.by_kind_reason[kind.index()][reason.index()];
        *c = c.saturating_add(n);
    }

    /// How many events of this kind and reason happened.
    pub fn get(&self, kind: EventKind, reason: Reason) -> u64 {
        self.by_kind_reason[kind.index()][reason.index()]
    }

    /// Events counted but not queued because the queue was full.
    pub fn events_discarded(&self) -> u64 {
        self.events_discarded
    }

    /// Appends the counters in the Prometheus text exposition format (version 0.0.4):
    /// `drawbridge_security_events_total{kind,reason}` for every pair seen at least once,
    /// and `drawbridge_security_events_discarded_total`.
    pub fn render_prometheus(&self, out: &mut String) {
        out.push_str(
            "# HELP drawbridge_security_events_total Security events (drops, throttles, bans, rejected dials and calls, failed authentications, scanner hits) by kind and reason.\n\
             # TYPE drawbridge_security_events_total counter\n",
        );
        for &kind in EventKind::ALL {
            for &reason in Reason::ALL {
                let n = self.get(kind, reason);
                if n > 0 {
                    // Label values are fixed snake_case names: nothing to escape.
                    let _ = writeln!(
                        out,
                        "drawbridge_security_events_total{{kind=\"{kind}\",reason=\"{reason}\"}} {n}"
                    );
                }
            }
        }
        out.push_str(
            "# HELP drawbridge_security_events_discarded_total Security events counted but not queued for logging because the event queue was full.\n\
             # TYPE drawbridge_security_events_discarded_total counter\n",
        );
        let _ = writeln!(
            out,
            "drawbridge_security_events_discarded_total {}",
            self.events_discarded
        );
    }
}

/// The bounded queue of events waiting for the caller, with their counters.
#[derive(Debug)]
pub(crate) struct EventQueue {
    queue: VecDeque<SecurityEvent>,
    capacity: usize,
    pub(crate) counters: Counters,
}

impl EventQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity,
            counters: Counters::default(),
        }
    }

    /// Counts the event and queues it if there is room. When full the new event is the
    /// one discarded: the oldest events of an attack are the ones that explain it.
    pub(crate) fn emit(&mut self, event: SecurityEvent) {
        self.counters.record(event.kind, event.reason);
        if self.queue.len() < self.capacity {
            self.queue.push_back(event);
        } else {
            self.counters.events_discarded += 1;
        }
    }

    pub(crate) fn poll(&mut self) -> Option<SecurityEvent> {
        self.queue.pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serialises_flat_without_absent_fields() {
        let mut e = SecurityEvent::new(EventKind::Ban, Reason::AuthFailures)
            .with_origin(Some("198.18.1.66".parse().unwrap()), None)
            .with_user(Some("101"));
        e.ban_secs = Some(3600);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"ban","reason":"auth_failures","ip":"198.18.1.66","user":"101","ban_secs":3600}"#
        );
        let p = SecurityEvent::new(EventKind::Throttle, Reason::RateLimited)
            .with_origin(None, Some(PeerId(7)));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"kind":"throttle","reason":"rate_limited","peer":7}"#
        );
    }

    #[test]
    fn network_strings_are_cut_and_defanged() {
        let s = sanitize("evil\r\nkind=ban");
        assert_eq!(s, "evil??kind=ban");
        let long = "9".repeat(500);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), MAX_FIELD_CHARS + 1);
    }

    #[test]
    fn queue_is_bounded_but_counts_everything() {
        let mut q = EventQueue::new(3);
        for _ in 0..10 {
            q.emit(SecurityEvent::new(EventKind::Drop, Reason::Banned));
        }
        assert_eq!(q.len(), 3);
        assert_eq!(q.counters.get(EventKind::Drop, Reason::Banned), 10);
        assert_eq!(q.counters.events_discarded(), 7);
        assert!(q.poll().is_some());
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn names_are_unique() {
        let mut k: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        let mut r: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let (kn, rn) = (k.len(), r.len());
        k.dedup();
        r.sort_unstable();
        r.dedup();
        k.sort_unstable();
        k.dedup();
        assert_eq!((k.len(), r.len()), (kn, rn));
        // serde's name is the same as as_str.
        for &x in Reason::ALL {
            assert_eq!(serde_json::to_string(&x).unwrap(), format!("\"{x}\""));
        }
        for &x in EventKind::ALL {
            assert_eq!(serde_json::to_string(&x).unwrap(), format!("\"{x}\""));
        }
    }
}
