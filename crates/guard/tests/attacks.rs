//! The three-stage attack (lab README §3d: svmap, svwar, svcrack, then toll fraud) and
//! the guard's other rules, driven through the public API in virtual time.
// Helpers outside #[test] fns are not covered by allow-unwrap-in-tests; a panic here is a
// failed test all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drawbridge_config::{
    AdminConfig, Config, GuardConfig, MediaConfig, PbxConfig, SipConfig, Transport, TrunkConfig,
    TrunkTlsConfig,
};
use drawbridge_guard::{
    CallScope, DialDenial, DialVerdict, EventKind, Guard, GuardSettings, PeerId, Reason, Rejection,
    RequestFacts, SecurityEvent, Source, SourceAllowlist, TrunkId, Verdict,
};

/// The single real clock reading; every instant in these tests is an offset from it.
#[allow(clippy::disallowed_methods)] // origin of virtual time
fn origin() -> Instant {
    Instant::now()
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn trunk(name: &str, allow: &[&str], max_calls: u32) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        allow: allow.iter().map(|s| s.parse().unwrap()).collect(),
        allow_any: allow.iter().any(|s| s.ends_with("/0")),
        transport: Transport::Tls,
        host: "sip.provider.example".into(),
        port: None,
        tls: TrunkTlsConfig::default(),
        credentials: None,
        register: false,
        register_expires_secs: 3600,
        options_interval_secs: 30,
        max_concurrent_calls: max_calls,
        media_nat: false,
    }
}

fn config(trunks: Vec<TrunkConfig>, guard: GuardConfig) -> Config {
    Config {
        tunnel: None,
        sip: SipConfig::default(),
        trunk: trunks,
        pbx: PbxConfig {
            address: "198.18.2.10:5060".parse().unwrap(),
            transport: Transport::Udp,
            domain: "pbx.lan".into(),
            listen: "198.18.2.1:5080".parse().unwrap(),
            credentials: None,
        },
        media: MediaConfig::default(),
        guard,
        admin: AdminConfig::default(),
    }
}

/// The lab: the "internet" /24 is (worst case) inside the trunk's allowlist, so the
/// attacker at .66 gets past the allowlist and meets the other rules.
fn lab_guard() -> Guard {
    Guard::from_config(&config(
        vec![trunk("lab", &["198.18.1.0/24"], 30)],
        GuardConfig::default(),
    ))
    .unwrap()
}

fn ip(s: &str) -> Source {
    Source::Ip(s.parse().unwrap())
}

fn drain(g: &mut Guard) -> Vec<SecurityEvent> {
    std::iter::from_fn(|| g.poll_event()).collect()
}

fn register<'a>(user: &'a str, auth: Option<&'a str>, ua: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        method: "REGISTER",
        user_agent: Some(ua),
        from_user: Some(user),
        to_user: Some(user),
        ruri_user: None,
        auth_user: auth,
    }
}

#[test]
fn svmap_scanner_user_agent_is_dropped_and_banned() {
    let mut g = lab_guard();
    let t0 = origin();
    let attacker = ip("198.18.1.66");
    let options = RequestFacts {
        method: "OPTIONS",
        user_agent: Some("friendly-scanner"),
        from_user: Some("sipvicious"),
        to_user: Some("sipvicious"),
        ..RequestFacts::default()
    };
    assert_eq!(
        g.check_request(t0, attacker, &options),
        Verdict::DropSilently(Reason::ScannerUserAgent)
    );
    assert!(g.is_banned(t0, attacker));
    // Even a harmless-looking request from it is now dropped.
    let benign = register("100", None, "Linphone/5.2");
    assert_eq!(
        g.check_request(ms(t0, 10), attacker, &benign),
        Verdict::DropSilently(Reason::Banned)
    );
    let events = drain(&mut g);
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.reason)).collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Scanner, Reason::ScannerUserAgent),
            (EventKind::Ban, Reason::ScannerUserAgent),
            (EventKind::Drop, Reason::Banned),
        ]
    );
    assert_eq!(events[0].user_agent.as_deref(), Some("friendly-scanner"));
    assert_eq!(events[0].ip, Some("198.18.1.66".parse().unwrap()));
    assert_eq!(events[1].ban_secs, Some(3600));
    // A normal phone on another address is untouched.
    assert!(g.check_request(t0, ip("198.18.1.20"), &benign).is_allow());
}

#[test]
fn svwar_extension_enumeration_is_banned_after_threshold() {
    // svwar -m REGISTER -e 100-299: one REGISTER per extension, as fast as it can.
    let mut g = lab_guard();
    let t0 = origin();
    let attacker = ip("198.18.1.66");
    let threshold = g.settings().enumeration_distinct_users as usize;
    let mut allowed = Vec::new();
    for (i, ext) in (100..300).enumerate() {
        let user = ext.to_string();
        // 50 requests/s, within the default 20/s burst at first, then throttled.
        let now = ms(t0, i as u64 * 20);
        if g.check_request(now, attacker, &register(&user, None, "Zoiper rv2.10"))
            .is_allow()
        {
            allowed.push(user);
        }
    }
    assert_eq!(allowed.len(), threshold, "{allowed:?}");
    assert!(g.is_banned(ms(t0, 4000), attacker));
    let events = drain(&mut g);
    let enumeration = events
        .iter()
        .find(|e| e.kind == EventKind::Enumeration)
        .expect("an enumeration event");
    assert_eq!(enumeration.reason, Reason::UserEnumeration);
    assert_eq!(enumeration.limit, Some(threshold as u32));
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Ban && e.reason == Reason::UserEnumeration)
    );
}

#[test]
fn trunk_delivering_calls_to_many_numbers_is_not_enumeration() {
    let mut g = lab_guard();
    let t0 = origin();
    let provider = ip("198.18.1.10");
    for i in 0..300u64 {
        let to = format!("4930{i:06}");
        let from = format!("+4917{i:07}");
        let invite = RequestFacts {
            method: "INVITE",
            user_agent: Some("Provider SBC"),
            from_user: Some(&from),
            to_user: Some(&to),
            ruri_user: Some(&to),
            auth_user: None,
        };
        assert!(
            g.check_request(ms(t0, i * 200), provider, &invite)
                .is_allow(),
            "{i}"
        );
    }
    assert!(!g.is_banned(ms(t0, 60_000), provider));
}

#[test]
fn peer_reregistering_its_extensions_for_hours_is_fine() {
    let mut g = lab_guard();
    let t0 = origin();
    let alice = Source::Peer(PeerId(1));
    for i in 0..2000u64 {
        let user = if i % 2 == 0 { "201" } else { "202" };
        let now = ms(t0, i * 15_000);
        g.handle_timeout(now);
        let v = g.check_request(now, alice, &register(user, Some(user), "Linphone/5.2"));
        assert!(v.is_allow(), "{i}: {v:?}");
    }
}

#[test]
fn svcrack_with_its_own_user_agent_never_reaches_authentication() {
    // svcrack -u 101 -r 1000-1999 at ~170 guesses/s, sending SIPVicious' User-Agent.
    let mut g = lab_guard();
    let t0 = origin();
    let attacker = ip("198.18.1.66");
    let mut reached_auth = 0;
    for guess in 0..1000u64 {
        let now = t0 + Duration::from_micros(guess * 5_882);
        if g.check_request(
            now,
            attacker,
            &register("101", Some("101"), "friendly-scanner"),
        )
        .is_allow()
        {
            reached_auth += 1;
        }
    }
    assert_eq!(reached_auth, 0);
    assert!(g.is_banned(t0 + Duration::from_secs(6), attacker));
}

#[test]
fn svcrack_with_disguised_user_agent_gets_exactly_n_guesses() {
    let mut g = lab_guard();
    let t0 = origin();
    let attacker = ip("198.18.1.66");
    let n = g.settings().auth_failures_before_ban;
    let mut reached_auth = 0;
    let mut dropped = 0;
    for guess in 0..1000u64 {
        let now = t0 + Duration::from_micros(guess * 5_882);
        match g.check_request(
            now,
            attacker,
            &register("101", Some("101"), "Zoiper rv2.10"),
        ) {
            Verdict::Allow => {
                reached_auth += 1;
                g.auth_failed(now, attacker, Some("101"));
            }
            Verdict::DropSilently(_) => dropped += 1,
            Verdict::Reject { .. } => panic!("trunk-side sources get silence"),
        }
    }
    assert_eq!(reached_auth, n);
    assert_eq!(dropped, 1000 - n);
    let end = t0 + Duration::from_secs(6);
    assert!(g.is_banned(end, attacker));
    let c = g.counters();
    assert_eq!(
        c.get(EventKind::AuthFailed, Reason::BadCredentials),
        u64::from(n)
    );
    assert_eq!(c.get(EventKind::Ban, Reason::AuthFailures), 1);
    assert_eq!(c.get(EventKind::Drop, Reason::Banned), u64::from(1000 - n));

    // The ban runs out; expiry is announced; the source starts from a clean slate.
    let ban_end = g.banned_until(end, attacker).unwrap();
    let wake = g.poll_timeout().unwrap();
    assert!(wake <= ban_end);
    g.handle_timeout(ban_end);
    assert!(!g.is_banned(ban_end, attacker));
    assert!(
        drain(&mut g)
            .iter()
            .any(|e| e.kind == EventKind::BanExpired && e.reason == Reason::Expired)
    );
    assert!(
        g.check_request(ban_end, attacker, &register("101", Some("101"), "Z"))
            .is_allow()
    );
}

#[test]
fn success_resets_the_source_count() {
    let mut g = lab_guard();
    let t0 = origin();
    let phone = ip("198.18.1.20");
    // A phone with a stale password fails 4 times, then the user fixes it: no ban, and
    // later typos start from zero.
    for round in 0..3u64 {
        for i in 0..4u64 {
            let now = ms(t0, round * 10_000 + i * 1000);
            assert_eq!(g.auth_failed(now, phone, Some("201")), Verdict::Allow);
        }
        g.auth_succeeded(ms(t0, round * 10_000 + 5000), phone, Some("201"));
    }
    assert!(!g.is_banned(ms(t0, 40_000), phone));
}

#[test]
fn distributed_crack_of_one_extension_locks_it() {
    // 200 addresses, 3 guesses each, all against extension 101: no source reaches the
    // per-source threshold, but the extension does.
    let mut g = lab_guard();
    let t0 = origin();
    let lock_at = g.settings().user_failures_before_lock;
    let mut failures = 0;
    let mut locked_at = None;
    'outer: for host in 1..=200u32 {
        let src = ip(&format!("198.18.1.{}", host.min(254)));
        for guess in 0..3u64 {
            let now = ms(t0, u64::from(host) * 100 + guess * 10);
            match g.check_request(now, src, &register("101", Some("101"), "Z")) {
                Verdict::Allow => {
                    failures += 1;
                    g.auth_failed(now, src, Some("101"));
                }
                Verdict::DropSilently(Reason::UserLocked) => {
                    locked_at = Some(now);
                    break 'outer;
                }
                other => panic!("{host}/{guess}: {other:?}"),
            }
        }
    }
    assert_eq!(failures, lock_at);
    let locked_at = locked_at.expect("the extension got locked");
    assert!(g.is_user_locked(locked_at, "101"));
    assert!(
        !g.is_banned(locked_at, ip("198.18.1.1")),
        "no single source crossed its threshold"
    );
    // Other extensions still authenticate; the lock runs out.
    assert!(
        g.check_request(
            locked_at,
            ip("198.18.1.250"),
            &register("102", Some("102"), "Z")
        )
        .is_allow()
    );
    let unlock = locked_at + g.settings().user_lock_duration;
    g.handle_timeout(unlock);
    assert!(!g.is_user_locked(unlock, "101"));
    let events = drain(&mut g);
    let lock = events
        .iter()
        .find(|e| e.reason == Reason::UserAuthFailures && e.kind == EventKind::Ban)
        .unwrap();
    assert_eq!(lock.user.as_deref(), Some("101"));
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::BanExpired && e.user.as_deref() == Some("101"))
    );
}

#[test]
fn toll_fraud_dial_tricks_are_denied_with_events() {
    let mut g = lab_guard();
    let cracked = Some(ip("198.18.1.66"));
    for trick in [
        "sip:+19005550100@trunk",
        "sip:%2B19005550100@trunk",
        "tel:+1-900-555-0100",
        "sip:9005550100;phone-context=+1@trunk",
        "00881612345678",
        "1 (900) 555 0100",
    ] {
        match g.check_dial(cracked, trick) {
            DialVerdict::Denied {
                reason: DialDenial::DenyPrefix { .. },
                ..
            } => {}
            other => panic!("{trick}: {other:?}"),
        }
    }
    for malformed in ["*67+19005550100", "#31#19005550100", "sip:trunk.example"] {
        assert!(
            !g.check_dial(cracked, malformed).is_allowed(),
            "{malformed}"
        );
    }
    assert!(g.check_dial(cracked, "sip:+4930123456@trunk").is_allowed());
    let events = drain(&mut g);
    assert_eq!(events.len(), 9);
    let first = &events[0];
    assert_eq!(
        (first.kind, first.reason),
        (EventKind::DialRejected, Reason::DenyPrefix)
    );
    assert_eq!(first.number.as_deref(), Some("+19005550100"));
    assert_eq!(first.matched.as_deref(), Some("+1900"));
    assert_eq!(events[6].reason, Reason::MalformedNumber);
}

#[test]
fn unlisted_sources_are_dropped_and_mapped_v6_matches_v4() {
    let mut g = Guard::from_config(&config(
        vec![
            trunk("carrier", &["77.240.48.0/24"], 30),
            trunk("v6", &["2001:db8:5::/48"], 30),
        ],
        GuardConfig::default(),
    ))
    .unwrap();
    let t0 = origin();
    let facts = RequestFacts {
        method: "OPTIONS",
        ..RequestFacts::default()
    };
    assert_eq!(
        g.check_request(t0, ip("198.18.1.66"), &facts),
        Verdict::DropSilently(Reason::NotAllowlisted)
    );
    assert!(
        g.check_request(t0, ip("::ffff:77.240.48.9"), &facts)
            .is_allow()
    );
    assert!(g.check_request(t0, ip("2001:db8:5::9"), &facts).is_allow());
    let list = Arc::clone(g.allowlist());
    let mapped: IpAddr = "::ffff:77.240.48.200".parse().unwrap();
    assert_eq!(list.admit(mapped), Some(TrunkId(0)));
    assert_eq!(list.admit("77.240.49.1".parse().unwrap()), None);
    assert_eq!(list.admit("2001:db8:6::1".parse().unwrap()), None);
    assert_eq!(list.trunk_name(TrunkId(1)), Some("v6"));
    // Transport-side drops are counted without events; the guard's own drop has one.
    assert_eq!(g.counters().get(EventKind::Drop, Reason::NotAllowlisted), 3);
    assert_eq!(drain(&mut g).len(), 1);
}

#[test]
fn ipv6_sources_are_banned_per_64() {
    let mut g = Guard::from_config(&config(
        vec![trunk("v6", &["2001:db8::/32"], 30)],
        GuardConfig::default(),
    ))
    .unwrap();
    let t0 = origin();
    for i in 0..5u64 {
        // A different address of the same /64 for every guess.
        let src = ip(&format!("2001:db8:1:2::{:x}", i + 1));
        assert!(
            g.check_request(ms(t0, i), src, &register("101", Some("101"), "Z"))
                .is_allow()
        );
        g.auth_failed(ms(t0, i), src, Some("101"));
    }
    assert!(g.is_banned(ms(t0, 10), ip("2001:db8:1:2:dead:beef::1")));
    assert!(!g.is_banned(ms(t0, 10), ip("2001:db8:1:3::1")));
}

#[test]
fn peers_are_throttled_with_503_and_banned_by_key() {
    let mut g = lab_guard();
    let t0 = origin();
    let mallory = Source::Peer(PeerId(7));
    let alice = Source::Peer(PeerId(1));
    let burst = g.settings().requests.burst;
    let facts = register("207", Some("207"), "Z");
    let mut verdicts = Vec::new();
    for _ in 0..burst + 1 {
        verdicts.push(g.check_request(t0, mallory, &facts));
    }
    assert!(verdicts[..burst as usize].iter().all(Verdict::is_allow));
    assert_eq!(
        verdicts[burst as usize],
        Verdict::Reject {
            status: 503,
            reason: Reason::RateLimited
        }
    );
    // Cracking from inside the tunnel bans the peer, not everyone.
    for i in 0..5u64 {
        g.auth_failed(ms(t0, 2000 + i), mallory, Some("201"));
    }
    assert!(g.is_banned(ms(t0, 3000), mallory));
    assert!(!g.is_banned(ms(t0, 3000), alice));
    assert!(
        g.check_request(ms(t0, 3000), alice, &register("201", Some("201"), "Z"))
            .is_allow()
    );
    let ban = drain(&mut g)
        .into_iter()
        .find(|e| e.kind == EventKind::Ban)
        .unwrap();
    assert_eq!(ban.peer, Some(PeerId(7)));
    assert_eq!(ban.ip, None);
    assert!(g.unban(mallory));
    assert!(!g.is_banned(ms(t0, 3000), mallory));
}

#[test]
fn rate_table_stays_bounded_under_a_million_spoofed_sources() {
    let mut g = Guard::from_config(&config(
        vec![trunk("open", &["0.0.0.0/0"], 30)],
        GuardConfig::default(),
    ))
    .unwrap();
    let cap = g.settings().limits.rate_entries;
    let queue_cap = g.settings().limits.event_queue;
    let t0 = origin();
    let real = ip("203.0.113.66");
    let facts = RequestFacts {
        method: "OPTIONS",
        ..RequestFacts::default()
    };
    let mut real_allowed = 0u32;
    for i in 0..1_000_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i)); // 1 M packets/s
        let spoofed = Source::Ip(IpAddr::V4((0x0a00_0000 + i).into()));
        assert!(g.check_request(now, spoofed, &facts).is_allow());
        // The real attacker, interleaved at 10 000/s, stays throttled to its rate: its
        // entry stays fresh and is never the one evicted.
        if i % 100 == 0 && g.check_request(now, real, &facts).is_allow() {
            real_allowed += 1;
        }
        if i % 100_000 == 0 {
            assert!(g.rate_table_len() <= cap);
        }
    }
    assert_eq!(g.rate_table_len(), cap);
    // One second at 20/s with a burst of 20: at most 20 + 20 (+1 for edge rounding).
    assert!(real_allowed <= 41, "{real_allowed}");
    let mut out = String::new();
    g.render_prometheus(&mut out);
    let evictions = format!(
        "drawbridge_guard_table_evictions_total{{table=\"rate\"}} {}",
        1_000_000 + 1 - cap
    );
    assert!(out.contains(&evictions), "{out}");
    // Throttle events were queued up to the cap, the rest only counted.
    assert!(drain(&mut g).len() <= queue_cap);
}

#[test]
fn admission_counts_return_to_zero() {
    let guard_cfg = GuardConfig {
        max_concurrent_calls: 10,
        max_dialogs_per_peer: 2,
        max_calls_per_second: 1000,
        ..GuardConfig::default()
    };
    let mut g = Guard::from_config(&config(
        vec![
            trunk("a", &["198.18.1.10/32"], 4),
            trunk("b", &["198.18.1.11/32"], 6),
        ],
        guard_cfg,
    ))
    .unwrap();
    let t0 = origin();
    let mut tickets = Vec::new();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rejections = 0;
    for step in 0..10_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let now = ms(t0, step * 10);
        if !x.is_multiple_of(3) || tickets.is_empty() {
            let scope = CallScope {
                trunk: [None, Some(TrunkId(0)), Some(TrunkId(1))][(x >> 8) as usize % 3],
                peer: [None, Some(PeerId(1)), Some(PeerId(2)), Some(PeerId(3))]
                    [(x >> 16) as usize % 4],
            };
            match g.admit_call(now, scope) {
                Ok(t) => tickets.push(t),
                Err(_) => rejections += 1,
            }
        } else {
            let t = tickets.swap_remove((x >> 24) as usize % tickets.len());
            assert!(g.release(t));
        }
        // Limits hold at every step.
        assert!(g.active_calls() <= 10);
        assert!(g.active_calls_on_trunk(TrunkId(0)) <= 4);
        assert!(g.active_calls_on_trunk(TrunkId(1)) <= 6);
        for p in 1..=3 {
            assert!(g.active_calls_for_peer(PeerId(p)) <= 2);
        }
        assert_eq!(g.active_calls() as usize, tickets.len());
    }
    assert!(rejections > 0, "the limits were exercised");
    for t in tickets.drain(..) {
        assert!(g.release(t));
    }
    assert_eq!(g.active_calls(), 0);
    assert_eq!(g.active_calls_on_trunk(TrunkId(0)), 0);
    assert_eq!(g.active_calls_on_trunk(TrunkId(1)), 0);
    assert_eq!(g.peers_with_calls(), 0);
}

#[test]
fn admission_limits_and_reasons() {
    let guard_cfg = GuardConfig {
        max_concurrent_calls: 3,
        max_dialogs_per_peer: 1,
        max_calls_per_second: 2,
        max_call_duration_secs: 60,
        ..GuardConfig::default()
    };
    let mut g =
        Guard::from_config(&config(vec![trunk("a", &["198.18.1.10/32"], 2)], guard_cfg)).unwrap();
    let t0 = origin();
    let on_trunk = CallScope {
        trunk: Some(TrunkId(0)),
        peer: None,
    };
    let a = g.admit_call(t0, on_trunk).unwrap();
    assert_eq!(a.deadline(), t0 + Duration::from_secs(60));
    let b = g.admit_call(ms(t0, 1), CallScope::default()).unwrap();
    // Third call within the same second: over 2 calls/s.
    assert_eq!(
        g.admit_call(ms(t0, 2), CallScope::default()),
        Err(Rejection::CallRate)
    );
    let c = g.admit_call(ms(t0, 1000), on_trunk).unwrap();
    assert_eq!(
        g.admit_call(ms(t0, 2000), on_trunk),
        Err(Rejection::GlobalConcurrency { limit: 3 })
    );
    assert!(g.release(b));
    assert_eq!(
        g.admit_call(ms(t0, 3000), on_trunk),
        Err(Rejection::TrunkConcurrency {
            trunk: TrunkId(0),
            limit: 2
        })
    );
    let peer = CallScope {
        trunk: None,
        peer: Some(PeerId(4)),
    };
    let d = g.admit_call(ms(t0, 4000), peer).unwrap();
    assert!(g.release(c));
    assert_eq!(
        g.admit_call(ms(t0, 5000), peer),
        Err(Rejection::PeerConcurrency {
            peer: PeerId(4),
            limit: 1
        })
    );
    assert_eq!(
        g.admit_call(
            ms(t0, 6000),
            CallScope {
                trunk: Some(TrunkId(9)),
                peer: None
            }
        ),
        Err(Rejection::UnknownTrunk { trunk: TrunkId(9) })
    );
    let rejected: Vec<_> = drain(&mut g)
        .into_iter()
        .filter(|e| e.kind == EventKind::CallRejected)
        .map(|e| e.reason)
        .collect();
    assert_eq!(
        rejected,
        [
            Reason::CallRate,
            Reason::GlobalConcurrency,
            Reason::TrunkConcurrency,
            Reason::PeerConcurrency,
            Reason::UnknownTrunk
        ]
    );

    // A ticket the B2BUA loses is reclaimed after deadline + grace; releasing it late
    // does nothing.
    let grace = g.settings().ticket_grace;
    let reclaim = d.deadline() + grace;
    assert_eq!(g.poll_timeout().map(|t| t <= reclaim), Some(true));
    g.handle_timeout(reclaim);
    assert_eq!(g.active_calls_for_peer(PeerId(4)), 0);
    assert!(!g.release(d));
    g.handle_timeout(a.deadline() + grace);
    assert!(!g.release(a));
    assert_eq!(g.active_calls(), 0);
    assert_eq!(
        g.counters()
            .get(EventKind::CallExpired, Reason::MaxDuration),
        2
    );
}

#[test]
fn timers_drain_every_table() {
    let mut g = lab_guard();
    let t0 = origin();
    for i in 0..300u32 {
        let src = ip(&format!("198.18.1.{}", i % 250 + 1));
        let now = ms(t0, u64::from(i));
        let user = (100 + i).to_string();
        let _ = g.check_request(now, src, &register(&user, Some(&user), "Z"));
        g.auth_failed(now, src, Some(&user));
    }
    let _ = g.admit_call(t0, CallScope::default()).map(std::mem::forget);
    // Follow poll_timeout until there is nothing left to wait for; it must make progress.
    let mut wakeups = 0;
    let mut last = t0;
    while let Some(at) = g.poll_timeout() {
        assert!(at >= last || wakeups == 0, "time went backwards");
        last = at.max(last);
        g.handle_timeout(last);
        wakeups += 1;
        assert!(wakeups < 10_000, "poll_timeout does not converge");
    }
    assert_eq!(g.rate_table_len(), 0);
    assert_eq!(g.active_calls(), 0);
    let mut out = String::new();
    g.render_prometheus(&mut out);
    for table in ["rate", "auth_failures", "user_failures", "bans", "probes"] {
        assert!(
            out.contains(&format!(
                "drawbridge_guard_table_entries{{table=\"{table}\"}} 0"
            )),
            "{table}: {out}"
        );
    }
}

#[test]
fn prometheus_exposition_is_well_formed() {
    let mut g = lab_guard();
    let t0 = origin();
    let _ = g.check_request(
        t0,
        ip("198.18.1.66"),
        &RequestFacts {
            method: "OPTIONS",
            user_agent: Some("sipvicious"),
            ..RequestFacts::default()
        },
    );
    let _ = g.check_dial(None, "+19005550100");
    let _ = g.check_request(t0, ip("10.0.0.1"), &RequestFacts::default());
    let mut out = String::new();
    g.render_prometheus(&mut out);
    assert!(out.contains(
        "drawbridge_security_events_total{kind=\"scanner\",reason=\"scanner_user_agent\"} 1\n"
    ));
    assert!(out.contains(
        "drawbridge_security_events_total{kind=\"ban\",reason=\"scanner_user_agent\"} 1\n"
    ));
    assert!(out.contains(
        "drawbridge_security_events_total{kind=\"dial_rejected\",reason=\"deny_prefix\"} 1\n"
    ));
    assert!(out.contains(
        "drawbridge_security_events_total{kind=\"drop\",reason=\"not_allowlisted\"} 1\n"
    ));
    check_exposition(&out);
}

/// A strict reading of the text format: every sample's metric has HELP and TYPE before
/// it, names and labels are well formed, values parse, no family is declared twice.
fn check_exposition(text: &str) {
    use std::collections::HashSet;
    let mut typed: HashSet<&str> = HashSet::new();
    let mut helped: HashSet<&str> = HashSet::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name_ok(name) && helped.insert(name), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap();
            assert!(matches!(it.next(), Some("counter" | "gauge")), "{line}");
            assert!(name_ok(name) && typed.insert(name), "{line}");
        } else {
            let (series, value) = line.rsplit_once(' ').expect(line);
            value.parse::<f64>().expect(line);
            let name = series.split('{').next().unwrap();
            assert!(
                typed.contains(name) && helped.contains(name),
                "undeclared: {line}"
            );
            if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .expect(line);
                for pair in inner.split(',') {
                    let (k, v) = pair.split_once('=').expect(line);
                    assert!(name_ok(k), "{line}");
                    assert!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                    assert!(!v[1..v.len() - 1].contains(['"', '\\', '\n']), "{line}");
                }
            }
        }
    }
}

#[test]
fn events_are_json_objects_for_log_shippers() {
    let mut g = lab_guard();
    let t0 = origin();
    for i in 0..5u64 {
        g.auth_failed(ms(t0, i), ip("198.18.1.66"), Some("10\r\n1"));
    }
    for e in drain(&mut g) {
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        let o = v.as_object().unwrap();
        assert!(o["kind"].is_string() && o["reason"].is_string());
        assert_eq!(o["ip"], "198.18.1.66");
        if let Some(u) = o.get("user") {
            assert_eq!(u, "10??1", "control characters never reach a log line");
        }
    }
}

#[test]
fn settings_can_be_tuned_beyond_the_file() {
    let mut s = GuardSettings::default();
    s.enumeration_distinct_users = 3;
    s.trunk_max_calls = vec![1];
    let list =
        SourceAllowlist::new(vec![("t".into(), vec!["198.18.1.0/24".parse().unwrap()])]).unwrap();
    let mut g = Guard::new(s, Arc::new(list)).unwrap();
    let t0 = origin();
    let src = ip("198.18.1.9");
    let verdicts: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|u| g.check_request(t0, src, &register(u, None, "Z")))
        .collect();
    assert!(verdicts[..3].iter().all(Verdict::is_allow));
    assert_eq!(verdicts[3], Verdict::DropSilently(Reason::UserEnumeration));
}
