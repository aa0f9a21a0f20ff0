//! The [`Guard`]: every rule of this crate behind the calls the B2BUA makes.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drawbridge_config::Config;

use crate::admission::{Admission, CallScope, CallTicket, Rejection};
use crate::allowlist::SourceAllowlist;
use crate::dial::{DialDenial, DialRules, DialVerdict};
use crate::error::GuardError;
use crate::event::{Counters, EventKind, EventQueue, Reason, SecurityEvent, sanitize};
use crate::rate::Bucket;
use crate::scanner::{MAX_PROBED, Probes, UserAgentMatcher, UserHasher};
use crate::settings::GuardSettings;
use crate::source::{PeerId, Source, SourceKey, TrunkId};
use crate::table::BoundedTable;

/// What the guard knows about one SIP request, borrowed from the parsed message.
///
/// `*_user` are user parts as they appear in the message (`100` of `sip:100@pbx`);
/// `auth_user` is the `username` of an `Authorization`/`Proxy-Authorization` header.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts<'a> {
    /// The method (`REGISTER`, `INVITE`, …), case-sensitive as in RFC 3261.
    pub method: &'a str,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// User part of the `From` URI.
    pub from_user: Option<&'a str>,
    /// User part of the `To` URI.
    pub to_user: Option<&'a str>,
    /// User part of the Request-URI.
    pub ruri_user: Option<&'a str>,
    /// User name of the request's credentials, if it carries any.
    pub auth_user: Option<&'a str>,
}

/// The guard's answer about a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Do nothing: no response, no state. Silence is what an attacker learns least from.
    DropSilently(Reason),
    /// Answer with this final status and stop. Used towards authenticated WireGuard
    /// peers, whose phones behave better with an answer than with silence.
    Reject {
        /// SIP status code (503 for a throttle).
        status: u16,
        /// Why.
        reason: Reason,
    },
}

impl Verdict {
    /// Whether the request may proceed.
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            count: 0,
        }
    }

    /// Counts one failure in a fixed window; returns the count.
    fn bump(&mut self, now: Instant, window: Duration) -> u32 {
        if now.saturating_duration_since(self.window_start) >= window {
            *self = Self::new(now);
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

#[derive(Debug, Clone, Copy)]
struct Ban {
    until: Instant,
    reason: Reason,
}

#[derive(Debug, Clone)]
struct Lock {
    until: Instant,
    /// Sanitised, for the expiry event.
    user: String,
}

/// The security policy core: one per signalling task, driven by the B2BUA.
///
/// Call order, like the other drawbridge cores (quinn-proto's four families):
/// - **inputs**: [`check_request`](Self::check_request) for every request from outside,
///   [`auth_failed`](Self::auth_failed) / [`auth_succeeded`](Self::auth_succeeded) after
///   checking credentials, [`check_dial`](Self::check_dial) and
///   [`admit_call`](Self::admit_call) / [`release`](Self::release) for calls;
/// - **timer**: call [`handle_timeout`](Self::handle_timeout) when the instant from
///   [`poll_timeout`](Self::poll_timeout) is reached (early or late calls are harmless);
/// - **outputs**: drain [`poll_event`](Self::poll_event) after each input and log each
///   event; export [`render_prometheus`](Self::render_prometheus).
///
/// The per-packet allowlist check does not go through the guard: share
/// [`allowlist`](Self::allowlist) with the transports.
///
/// The guard never reads the clock, never logs and never blocks; all its state is in
/// tables with hard caps.
pub struct Guard {
    settings: GuardSettings,
    enumeration_threshold: usize,
    allowlist: Arc<SourceAllowlist>,
    agents: UserAgentMatcher,
    dial: DialRules,
    hasher: UserHasher,
    rate: BoundedTable<SourceKey, Bucket>,
    failures: BoundedTable<SourceKey, Failures>,
    user_failures: BoundedTable<u64, Failures>,
    bans: BoundedTable<SourceKey, Ban>,
    user_locks: BoundedTable<u64, Lock>,
    probes: BoundedTable<SourceKey, Probes>,
    admission: Admission,
    events: EventQueue,
}

impl Guard {
    /// A guard for the whole configuration: `[guard]` plus every trunk's allowlist and
    /// concurrent-call limit (trunk `i` is [`TrunkId`]`(i)`).
    pub fn from_config(config: &Config) -> Result<Self, GuardError> {
        let mut settings = GuardSettings::from_config(&config.guard);
        settings.trunk_max_calls = config
            .trunk
            .iter()
            .map(|t| t.max_concurrent_calls)
            .collect();
        let allowlist = SourceAllowlist::from_trunks(&config.trunk)?;
        Self::new(settings, Arc::new(allowlist))
    }

    /// A guard from explicit settings and allowlist.
    pub fn new(
        settings: GuardSettings,
        allowlist: Arc<SourceAllowlist>,
    ) -> Result<Self, GuardError> {
        let agents = UserAgentMatcher::new(&settings.scanner_user_agents)?;
        let dial = DialRules::new(&settings.dial)?
            .with_international_prefixes(settings.international_prefixes.clone());
        let l = settings.limits;
        let admission = Admission::new(
            settings.calls,
            settings.max_concurrent_calls,
            settings.trunk_max_calls.clone(),
            settings.max_dialogs_per_peer,
            settings.max_call_duration,
            settings.ticket_grace,
        );
        let enumeration_threshold =
            (settings.enumeration_distinct_users as usize).clamp(1, MAX_PROBED - 1);
        Ok(Self {
            enumeration_threshold,
            allowlist,
            agents,
            dial,
            hasher: UserHasher::default(),
            rate: BoundedTable::new(l.rate_entries),
            failures: BoundedTable::new(l.failure_entries),
            user_failures: BoundedTable::new(l.user_failure_entries),
            bans: BoundedTable::new(l.ban_entries),
            user_locks: BoundedTable::new(l.user_lock_entries),
            probes: BoundedTable::new(l.probe_entries),
            admission,
            events: EventQueue::new(l.event_queue),
            settings,
        })
    }

    /// The allowlist, to share with the transports for their per-packet check.
    pub fn allowlist(&self) -> &Arc<SourceAllowlist> {
        &self.allowlist
    }

    /// The settings in force.
    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    /// Judges a request before the B2BUA does anything with it.
    ///
    /// In order: an address outside every allowlist is dropped; a banned source or peer is
    /// dropped; the per-source request rate is enforced; a scanner User-Agent bans the
    /// source; credentials for a locked user are dropped; and the user names the request
    /// carries are counted for enumeration (see below), banning a source that probes more
    /// than `enumeration_distinct_users` names in `enumeration_window`.
    ///
    /// Which names count: every name of a `REGISTER` (To, From, Request-URI, credentials:
    /// registering is claiming an identity), the From user and credentials of any request
    /// from a WireGuard peer (a peer has a handful of extensions), and credentials of any
    /// request from a trunk. The To and Request-URI users of a trunk's INVITE are not
    /// counted: a provider delivering calls to many numbers is normal.
    pub fn check_request(
        &mut self,
        now: Instant,
        source: Source,
        facts: &RequestFacts<'_>,
    ) -> Verdict {
        let key = SourceKey::of(source);
        if let Some(ip) = source.ip()
            && self.allowlist.lookup(ip).is_none()
        {
            self.emit_for(key, EventKind::Drop, Reason::NotAllowlisted);
            return Verdict::DropSilently(Reason::NotAllowlisted);
        }
        if self.banned_key(now, key).is_some() {
            self.emit_for(key, EventKind::Drop, Reason::Banned);
            return Verdict::DropSilently(Reason::Banned);
        }
        let rate = self.settings.requests;
        if !self
            .rate
            .touch(key, now, || Bucket::full(now))
            .take(now, rate)
        {
            self.emit_for(key, EventKind::Throttle, Reason::RateLimited);
            return match source {
                Source::Peer(_) => Verdict::Reject {
                    status: 503,
                    reason: Reason::RateLimited,
                },
                Source::Ip(_) => Verdict::DropSilently(Reason::RateLimited),
            };
        }
        if let Some(ua) = facts.user_agent
            && let Some(pattern) = self.agents.find(ua)
        {
            let mut e = event_for(key, EventKind::Scanner, Reason::ScannerUserAgent);
            e.user_agent = Some(sanitize(ua));
            e.matched = Some(pattern.to_owned());
            self.events.emit(e);
            self.ban_key(now, key, Reason::ScannerUserAgent, None);
            return Verdict::DropSilently(Reason::ScannerUserAgent);
        }
        if let Some(user) = facts.auth_user
            && self.is_user_locked(now, user)
        {
            self.events
                .emit(event_for(key, EventKind::Drop, Reason::UserLocked).with_user(Some(user)));
            return Verdict::DropSilently(Reason::UserLocked);
        }
        let register = facts.method == "REGISTER";
        let peer = matches!(source, Source::Peer(_));
        let counted = [
            facts.auth_user,
            facts.from_user.filter(|_| register || peer),
            facts.to_user.filter(|_| register),
            facts.ruri_user.filter(|_| register),
        ];
        if counted.iter().any(Option::is_some) {
            let hashes = counted.map(|u| u.map(|u| self.hasher.hash(u)));
            let window = self.settings.enumeration_window;
            let probes = self.probes.touch(key, now, || Probes::new(now));
            let distinct = hashes
                .iter()
                .flatten()
                .map(|&h| probes.record(now, window, h))
                .max()
                .unwrap_or(0);
            if distinct > self.enumeration_threshold {
                let mut e = event_for(key, EventKind::Enumeration, Reason::UserEnumeration)
                    .with_user(counted.iter().flatten().next().copied());
                e.limit = Some(self.enumeration_threshold as u32); // ok: < MAX_PROBED
                self.events.emit(e);
                self.ban_key(now, key, Reason::UserEnumeration, None);
                return Verdict::DropSilently(Reason::UserEnumeration);
            }
        }
        Verdict::Allow
    }

    /// Reports credentials that did not verify, from `source`, for `user` (the
    /// credentials' user name, when there is one). A challenge to a request *without*
    /// credentials is not a failure.
    ///
    /// The source is banned at `auth_failures_before_ban` failures within
    /// `auth_failure_window`; the user is locked at `user_failures_before_lock` failures
    /// from all sources together. Returns `DropSilently` when this failure banned the
    /// source (do not answer it); otherwise `Allow` (answer as usual, with the same
    /// response whether or not the user exists).
    pub fn auth_failed(&mut self, now: Instant, source: Source, user: Option<&str>) -> Verdict {
        let key = SourceKey::of(source);
        self.events
            .emit(event_for(key, EventKind::AuthFailed, Reason::BadCredentials).with_user(user));
        let window = self.settings.auth_failure_window;
        let mut verdict = Verdict::Allow;
        let n = self
            .failures
            .touch(key, now, || Failures::new(now))
            .bump(now, window);
        if n >= self.settings.auth_failures_before_ban {
            let limit = self.settings.auth_failures_before_ban;
            self.ban_key(now, key, Reason::AuthFailures, Some(limit));
            verdict = Verdict::DropSilently(Reason::AuthFailures);
        }
        if let Some(user) = user {
            let h = self.hasher.hash(user);
            let n = self
                .user_failures
                .touch(h, now, || Failures::new(now))
                .bump(now, window);
            if n >= self.settings.user_failures_before_lock {
                self.user_failures.remove(&h);
                let until = now + self.settings.user_lock_duration;
                let lock = self.user_locks.touch(h, now, || Lock {
                    until,
                    user: String::new(),
                });
                *lock = Lock {
                    until,
                    user: sanitize(user),
                };
                let mut e =
                    event_for(key, EventKind::Ban, Reason::UserAuthFailures).with_user(Some(user));
                e.ban_secs = Some(self.settings.user_lock_duration.as_secs());
                e.limit = Some(self.settings.user_failures_before_lock);
                self.events.emit(e);
            }
        }
        verdict
    }

    /// Reports credentials that verified: the source's failure count starts again. The
    /// user's count does not (a crack spread over many sources must not be reset by the
    /// real user logging in meanwhile).
    pub fn auth_succeeded(&mut self, _now: Instant, source: Source, _user: Option<&str>) {
        self.failures.remove(&SourceKey::of(source));
    }

    /// Judges a number dialled towards a trunk (a Request-URI or its user part); `source`
    /// is who dials, for the event (`None` for the PBX). Refusals are events.
    pub fn check_dial(&mut self, source: Option<Source>, dialled: &str) -> DialVerdict {
        let verdict = self.dial.check(dialled);
        if let DialVerdict::Denied { number, reason } = &verdict {
            let (r, matched) = match reason {
                DialDenial::DenyPrefix { prefix } => (Reason::DenyPrefix, Some(prefix.clone())),
                DialDenial::NotAllowedPrefix => (Reason::NotAllowedPrefix, None),
                DialDenial::Malformed(_) => (Reason::MalformedNumber, None),
            };
            let mut e = SecurityEvent::new(EventKind::DialRejected, r)
                .with_origin(source.and_then(|s| s.ip()), source.and_then(|s| s.peer()));
            e.number = Some(number.clone());
            e.matched = matched;
            self.events.emit(e);
        }
        verdict
    }

    /// Admits a new call or says why not. Keep the ticket for the life of the call, end
    /// the call by [`CallTicket::deadline`], and give the ticket back to
    /// [`release`](Self::release).
    pub fn admit_call(&mut self, now: Instant, scope: CallScope) -> Result<CallTicket, Rejection> {
        let result = self.admission.admit(now, scope);
        if let Err(rejection) = &result {
            let mut e = SecurityEvent::new(EventKind::CallRejected, rejection.reason());
            e.peer = scope.peer;
            e.trunk = scope.trunk;
            e.limit = rejection.limit();
            self.events.emit(e);
        }
        result
    }

    /// Ends the ticket's call for admission purposes. Returns false if the guard had
    /// already reclaimed it after its deadline (then nothing is counted twice).
    pub fn release(&mut self, ticket: CallTicket) -> bool {
        self.admission.release(ticket)
    }

    /// Calls in progress, all together.
    pub fn active_calls(&self) -> u32 {
        self.admission.active()
    }

    /// Calls in progress on a trunk.
    pub fn active_calls_on_trunk(&self, trunk: TrunkId) -> u32 {
        self.admission.active_on_trunk(trunk)
    }

    /// Calls in progress for a peer.
    pub fn active_calls_for_peer(&self, peer: PeerId) -> u32 {
        self.admission.active_for_peer(peer)
    }

    /// Whether the source (address, its IPv6 /64, or peer) is banned at `now`.
    pub fn is_banned(&self, now: Instant, source: Source) -> bool {
        self.banned_key(now, SourceKey::of(source)).is_some()
    }

    /// When the source's ban ends, if it is banned.
    pub fn banned_until(&self, now: Instant, source: Source) -> Option<Instant> {
        self.banned_key(now, SourceKey::of(source))
    }

    /// Whether authentication as `user` is locked at `now`.
    pub fn is_user_locked(&self, now: Instant, user: &str) -> bool {
        self.user_locks
            .get(&self.hasher.hash(user))
            .is_some_and(|(l, _)| l.until > now)
    }

    /// Lifts a ban (an operator's decision). Returns whether there was one.
    pub fn unban(&mut self, source: Source) -> bool {
        let key = SourceKey::of(source);
        let lifted = self.bans.remove(&key).is_some();
        if lifted {
            self.emit_for(key, EventKind::BanExpired, Reason::Unbanned);
        }
        lifted
    }

    /// Lifts a user lock. Returns whether there was one.
    pub fn unlock_user(&mut self, user: &str) -> bool {
        let lifted = self.user_locks.remove(&self.hasher.hash(user)).is_some();
        if lifted {
            self.events.emit(
                SecurityEvent::new(EventKind::BanExpired, Reason::Unbanned).with_user(Some(user)),
            );
        }
        lifted
    }

    /// Forgets everything that has expired at `now`: ended bans and locks (an event
    /// each), full token buckets, closed counting windows, and call tickets past their
    /// deadline plus grace (an event each; the B2BUA should have released them).
    pub fn handle_timeout(&mut self, now: Instant) {
        let s = &self.settings;
        let idle = s.requests.idle_lifetime();
        self.rate.expire(|_, t| t + idle <= now, |_, _| {});
        let w = s.auth_failure_window;
        self.failures
            .expire(|f, _| f.window_start + w <= now, |_, _| {});
        self.user_failures
            .expire(|f, _| f.window_start + w <= now, |_, _| {});
        let w = s.enumeration_window;
        self.probes.expire(|_, t| t + w <= now, |_, _| {});
        let events = &mut self.events;
        self.bans.expire(
            |b, _| b.until <= now,
            |k, b| {
                let mut e = event_for(k, EventKind::BanExpired, Reason::Expired);
                e.matched = Some(b.reason.as_str().to_owned());
                events.emit(e);
            },
        );
        self.user_locks.expire(
            |l, _| l.until <= now,
            |_, l| {
                let mut e = SecurityEvent::new(EventKind::BanExpired, Reason::Expired);
                e.user = Some(l.user);
                e.matched = Some(Reason::UserAuthFailures.as_str().to_owned());
                events.emit(e);
            },
        );
        self.admission.expire(now, |scope| {
            let mut e = SecurityEvent::new(EventKind::CallExpired, Reason::MaxDuration);
            e.peer = scope.peer;
            e.trunk = scope.trunk;
            events.emit(e);
        });
    }

    /// The next instant at which [`handle_timeout`](Self::handle_timeout) has something
    /// to do, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = &self.settings;
        let idle = s.requests.idle_lifetime();
        [
            self.rate.oldest().map(|(_, _, t)| t + idle),
            // Failure windows: touch order is not window order, so the oldest touched
            // entry gives a lower bound that is at most one window late.
            self.failures
                .oldest()
                .map(|(_, f, _)| f.window_start + s.auth_failure_window),
            self.user_failures
                .oldest()
                .map(|(_, f, _)| f.window_start + s.auth_failure_window),
            self.probes
                .oldest()
                .map(|(_, _, t)| t + s.enumeration_window),
            self.bans.oldest().map(|(_, b, _)| b.until),
            self.user_locks.oldest().map(|(_, l, _)| l.until),
            self.admission.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next security event for the caller to log, oldest first.
    pub fn poll_event(&mut self) -> Option<SecurityEvent> {
        self.events.poll()
    }

    /// Event counters, including the transports' allowlist drops.
    pub fn counters(&self) -> Counters {
        let mut c = self.events.counters.clone();
        c.add(
            EventKind::Drop,
            Reason::NotAllowlisted,
            self.allowlist.dropped(),
        );
        c
    }

    /// Appends the guard's metrics in the Prometheus text exposition format: the event
    /// counters (see [`Counters::render_prometheus`]), then table sizes, evictions and
    /// calls in progress.
    pub fn render_prometheus(&self, out: &mut String) {
        self.counters().render_prometheus(out);
        let tables: [(&str, usize, u64); 6] = [
            ("rate", self.rate.len(), self.rate.evictions()),
            (
                "auth_failures",
                self.failures.len(),
                self.failures.evictions(),
            ),
            (
                "user_failures",
                self.user_failures.len(),
                self.user_failures.evictions(),
            ),
            ("bans", self.bans.len(), self.bans.evictions()),
            (
                "user_locks",
                self.user_locks.len(),
                self.user_locks.evictions(),
            ),
            ("probes", self.probes.len(), self.probes.evictions()),
        ];
        out.push_str(
            "# HELP drawbridge_guard_table_entries Entries in each of the guard's bounded tables.\n\
             # TYPE drawbridge_guard_table_entries gauge\n",
        );
        for (name, len, _) in tables {
            let _ = writeln!(
                out,
                "drawbridge_guard_table_entries{{table=\"{name}\"}} {len}"
            );
        }
        out.push_str(
            "# HELP drawbridge_guard_table_evictions_total Entries pushed out of a full table before they expired.\n\
             # TYPE drawbridge_guard_table_evictions_total counter\n",
        );
        for (name, _, ev) in tables {
            let _ = writeln!(
                out,
                "drawbridge_guard_table_evictions_total{{table=\"{name}\"}} {ev}"
            );
        }
        out.push_str(
            "# HELP drawbridge_calls_active Calls admitted and not yet released.\n\
             # TYPE drawbridge_calls_active gauge\n",
        );
        let _ = writeln!(out, "drawbridge_calls_active {}", self.admission.active());
    }

    /// Number of entries in the per-source rate table (for tests and status pages).
    pub fn rate_table_len(&self) -> usize {
        self.rate.len()
    }

    /// Peers with at least one call in progress.
    pub fn peers_with_calls(&self) -> usize {
        self.admission.peers_with_calls()
    }

    fn banned_key(&self, now: Instant, key: SourceKey) -> Option<Instant> {
        self.bans
            .get(&key)
            .map(|(b, _)| b.until)
            .filter(|&until| until > now)
    }

    fn ban_key(&mut self, now: Instant, key: SourceKey, reason: Reason, limit: Option<u32>) {
        let until = now + self.settings.ban_duration;
        *self.bans.touch(key, now, || Ban { until, reason }) = Ban { until, reason };
        // While banned nothing else about the source matters: free its entries.
        self.rate.remove(&key);
        self.failures.remove(&key);
        self.probes.remove(&key);
        let mut e = event_for(key, EventKind::Ban, reason);
        e.ban_secs = Some(self.settings.ban_duration.as_secs());
        e.limit = limit;
        self.events.emit(e);
    }

    fn emit_for(&mut self, key: SourceKey, kind: EventKind, reason: Reason) {
        self.events.emit(event_for(key, kind, reason));
    }
}

fn event_for(key: SourceKey, kind: EventKind, reason: Reason) -> SecurityEvent {
    SecurityEvent::new(kind, reason).with_origin(key.ip(), key.peer())
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("rate_entries", &self.rate.len())
            .field("bans", &self.bans.len())
            .field("user_locks", &self.user_locks.len())
            .field("active_calls", &self.admission.active())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}
