//! Behaviour of the relay table, driven with virtual time.
// Helpers outside #[test] fns are not covered by allow-unwrap-in-tests; a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use drawbridge_media::{
    Decision, Direction, DropReason, InterfaceId, LatchMode, Leg, LegSpec, LocalPort, MediaConfig,
    MediaError, MediaEvent, MediaTable, PoolError, RateLimit, RemoteSpec, SessionInfo,
};

const PUBLIC: InterfaceId = InterfaceId(0);
const LAN: InterfaceId = InterfaceId(1);

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// The trunk's media address in its SDP.
fn trunk() -> SocketAddr {
    sa(ip(198, 18, 5, 5), 40000)
}

/// The PBX's media address in its SDP.
fn pbx() -> SocketAddr {
    sa(ip(198, 19, 9, 9), 50000)
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]); // 20 ms of G.711 silence
    p
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1, 0, 0, 0, 0];
    p[4..8].copy_from_slice(&ssrc.to_be_bytes());
    p
}

fn strict(addr: SocketAddr) -> RemoteSpec {
    RemoteSpec::from_sdp(
        addr.ip(),
        addr.port(),
        None,
        Direction::SendRecv,
        LatchMode::Strict,
    )
}

struct Harness {
    table: MediaTable,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut MediaConfig)) -> Self {
        let mut config = MediaConfig {
            interfaces: vec![ip(198, 18, 0, 1), ip(198, 19, 0, 1)],
            port_min: 20000,
            port_max: 20039, // 20 pairs per interface
            quarantine: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(60),
            hold_timeout: Some(Duration::from_secs(3600)),
            rate_limit: Some(RateLimit::default()),
        };
        tweak(&mut config);
        #[allow(clippy::disallowed_methods)] // ok: the one real instant, origin of virtual time
        let now = Instant::now();
        Self {
            table: MediaTable::new(config).unwrap(),
            now,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// A trunk ↔ PBX call, both legs strict.
    fn call(&mut self) -> SessionInfo {
        self.call_with(strict(trunk()), strict(pbx()))
    }

    fn call_with(&mut self, a: RemoteSpec, b: RemoteSpec) -> SessionInfo {
        self.table
            .create_session(
                self.now,
                7,
                LegSpec {
                    interface: PUBLIC,
                    remote: a,
                },
                LegSpec {
                    interface: LAN,
                    remote: b,
                },
            )
            .unwrap()
    }

    fn send(&mut self, to: LocalPort, from: SocketAddr, packet: &[u8]) -> Decision {
        self.table.handle_packet(self.now, to, from, packet)
    }

    /// Runs due timers and returns the events.
    fn tick(&mut self) -> Vec<MediaEvent> {
        if self.table.poll_timeout().is_some_and(|t| t <= self.now) {
            self.table.handle_timeout(self.now);
        }
        std::iter::from_fn(|| self.table.poll_event()).collect()
    }
}

fn rtp_port(info: &SessionInfo, leg: Leg) -> LocalPort {
    let l = info.local[leg as usize];
    LocalPort {
        interface: l.interface,
        port: l.rtp_port,
    }
}

fn rtcp_port(info: &SessionInfo, leg: Leg) -> LocalPort {
    let l = info.local[leg as usize];
    LocalPort {
        interface: l.interface,
        port: l.rtcp_port,
    }
}

fn rtcp_of(a: SocketAddr) -> SocketAddr {
    sa(a.ip(), a.port() + 1)
}

#[test]
fn forwards_rtp_and_rtcp_both_ways() {
    let mut h = Harness::new();
    let c = h.call();
    assert_eq!(c.local[0].interface, PUBLIC);
    assert_eq!(c.local[1].interface, LAN);
    assert_eq!(c.local[0].rtp_port % 2, 0);
    assert_eq!(c.local[0].rtcp_port, c.local[0].rtp_port + 1);

    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(1, 11)),
        Decision::Forward {
            via: rtp_port(&c, Leg::B),
            dst: pbx()
        }
    );
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(1, 22)),
        Decision::Forward {
            via: rtp_port(&c, Leg::A),
            dst: trunk()
        }
    );
    assert_eq!(
        h.send(rtcp_port(&c, Leg::A), rtcp_of(trunk()), &rtcp_rr(11)),
        Decision::Forward {
            via: rtcp_port(&c, Leg::B),
            dst: rtcp_of(pbx())
        }
    );
    assert_eq!(
        h.send(rtcp_port(&c, Leg::B), rtcp_of(pbx()), &rtcp_rr(22)),
        Decision::Forward {
            via: rtcp_port(&c, Leg::A),
            dst: rtcp_of(trunk())
        }
    );
    let s = h.table.stats(c.id).unwrap();
    assert_eq!(s.tag, 7);
    for leg in &s.legs {
        assert_eq!(leg.rtp.forwarded_packets, 1);
        assert_eq!(leg.rtp.forwarded_bytes, 172);
        assert_eq!(leg.rtcp.forwarded_packets, 1);
        assert_eq!(leg.rtp.dropped.total() + leg.rtcp.dropped.total(), 0);
    }
}

#[test]
fn ipv4_mapped_source_matches_ipv4_sdp() {
    let mut h = Harness::new();
    let c = h.call();
    let Ok(IpAddr::V4(v4)) = trunk().ip().to_string().parse::<IpAddr>() else {
        unreachable!()
    };
    let mapped = sa(IpAddr::V6(v4.to_ipv6_mapped()), trunk().port());
    assert!(matches!(
        h.send(rtp_port(&c, Leg::A), mapped, &rtp(1, 1)),
        Decision::Forward { .. }
    ));
}

#[test]
fn injection_from_wrong_source_is_dropped_and_counted() {
    let mut h = Harness::new();
    let c = h.call();
    let attackers = [
        sa(trunk().ip(), 40002),       // right host, wrong port
        sa(ip(203, 0, 113, 7), 40000), // right port, wrong host
        pbx(),                         // the other leg's party
    ];
    for a in attackers {
        assert_eq!(
            h.send(rtp_port(&c, Leg::A), a, &rtp(5, 99)),
            Decision::Drop(DropReason::WrongSource)
        );
    }
    // RTCP has its own filter: the RTP address is not accepted on the RTCP port.
    assert_eq!(
        h.send(rtcp_port(&c, Leg::A), trunk(), &rtcp_rr(99)),
        Decision::Drop(DropReason::WrongSource)
    );
    // The genuine stream is unaffected.
    assert!(matches!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(1, 11)),
        Decision::Forward { .. }
    ));
    let s = h.table.stats(c.id).unwrap();
    assert_eq!(s.legs[0].rtp.dropped.get(DropReason::WrongSource), 3);
    assert_eq!(s.legs[0].rtcp.dropped.get(DropReason::WrongSource), 1);
    assert_eq!(s.legs[0].rtp.received_packets, 1);
}

#[test]
fn latch_once_locks_to_first_packet_from_allowed_ip() {
    let mut h = Harness::new();
    // The PBX-side peer is behind NAT: its SDP names a private address; signalling came
    // from 198.19.9.9.
    let latch = LatchMode::LatchOnce {
        allowed: "198.19.9.9/32".parse().unwrap(),
    };
    let b = RemoteSpec::from_sdp(ip(10, 0, 0, 5), 50000, None, Direction::SendRecv, latch);
    let c = h.call_with(strict(trunk()), b);
    // Before the latch, media towards B goes to the signalled address.
    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(1, 1)),
        Decision::Forward {
            via: rtp_port(&c, Leg::B),
            dst: sa(ip(10, 0, 0, 5), 50000)
        }
    );
    // A stranger cannot take the latch; nor can garbage from the allowed host.
    assert_eq!(
        h.send(
            rtp_port(&c, Leg::B),
            sa(ip(198, 19, 9, 10), 61000),
            &rtp(1, 2)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
    let nat = sa(ip(198, 19, 9, 9), 61000);
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), nat, &[0u8; 20]),
        Decision::Drop(DropReason::Malformed)
    );
    // First valid packet from the allowed IP (any port) locks the stream.
    assert!(matches!(
        h.send(rtp_port(&c, Leg::B), nat, &rtp(1, 2)),
        Decision::Forward { .. }
    ));
    assert_eq!(
        h.send(
            rtp_port(&c, Leg::B),
            sa(ip(198, 19, 9, 9), 61002),
            &rtp(2, 2)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), sa(ip(10, 0, 0, 5), 50000), &rtp(2, 2)),
        Decision::Drop(DropReason::WrongSource)
    );
    // Media towards B now follows the latched (NAT) address.
    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(2, 1)),
        Decision::Forward {
            via: rtp_port(&c, Leg::B),
            dst: nat
        }
    );
    // RTCP latches on its own.
    let nat_rtcp = sa(ip(198, 19, 9, 9), 61001);
    assert!(matches!(
        h.send(rtcp_port(&c, Leg::B), nat_rtcp, &rtcp_rr(2)),
        Decision::Forward { .. }
    ));
    assert_eq!(
        h.send(rtcp_port(&c, Leg::B), nat, &rtcp_rr(2)),
        Decision::Drop(DropReason::WrongSource)
    );
    assert_eq!(
        h.table.stats(c.id).unwrap().legs[1].rtp.source,
        Some(nat),
        "stats report the latched source"
    );

    // A re-INVITE with the same SDP keeps the latch; a changed SDP re-latches.
    h.table.update_remote(h.now, c.id, Leg::B, b).unwrap();
    assert_eq!(
        h.send(
            rtp_port(&c, Leg::B),
            sa(ip(198, 19, 9, 9), 61002),
            &rtp(3, 2)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
    let moved = RemoteSpec::from_sdp(ip(10, 0, 0, 6), 52000, None, Direction::SendRecv, latch);
    h.table.update_remote(h.now, c.id, Leg::B, moved).unwrap();
    assert!(matches!(
        h.send(
            rtp_port(&c, Leg::B),
            sa(ip(198, 19, 9, 9), 61002),
            &rtp(3, 2)
        ),
        Decision::Forward { .. }
    ));
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), nat, &rtp(4, 2)),
        Decision::Drop(DropReason::WrongSource)
    );
}

#[test]
fn reinvite_moves_the_remote() {
    let mut h = Harness::new();
    let c = h.call();
    let new_trunk = sa(ip(198, 18, 6, 6), 41000);
    h.table
        .update_remote(h.now, c.id, Leg::A, strict(new_trunk))
        .unwrap();
    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(1, 1)),
        Decision::Drop(DropReason::WrongSource)
    );
    assert!(matches!(
        h.send(rtp_port(&c, Leg::A), new_trunk, &rtp(1, 1)),
        Decision::Forward { .. }
    ));
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(1, 2)),
        Decision::Forward {
            via: rtp_port(&c, Leg::A),
            dst: new_trunk
        }
    );
    assert_eq!(
        h.send(rtcp_port(&c, Leg::B), rtcp_of(pbx()), &rtcp_rr(2)),
        Decision::Forward {
            via: rtcp_port(&c, Leg::A),
            dst: rtcp_of(new_trunk)
        }
    );
}

#[test]
fn hold_and_resume() {
    let mut h = Harness::new();
    let c = h.call();
    // Old-style hold from the trunk: c=0.0.0.0.
    let hold = RemoteSpec::from_sdp(
        ip(0, 0, 0, 0),
        40000,
        None,
        Direction::SendRecv,
        LatchMode::Strict,
    );
    h.table.update_remote(h.now, c.id, Leg::A, hold).unwrap();
    assert_eq!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(1, 2)),
        Decision::Drop(DropReason::NoDestination)
    );
    // The filter stays closed on the previous address: a stranger still gets nothing.
    assert_eq!(
        h.send(
            rtp_port(&c, Leg::A),
            sa(ip(203, 0, 113, 1), 40000),
            &rtp(1, 1)
        ),
        Decision::Drop(DropReason::WrongSource)
    );
    h.table
        .update_remote(h.now, c.id, Leg::A, strict(trunk()))
        .unwrap();
    assert!(matches!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(2, 2)),
        Decision::Forward { .. }
    ));

    // RFC 3264 hold: the PBX plays music on hold (sendonly), the trunk answers recvonly.
    let moh = RemoteSpec::from_sdp(
        pbx().ip(),
        pbx().port(),
        None,
        Direction::SendOnly,
        LatchMode::Strict,
    );
    h.table.update_remote(h.now, c.id, Leg::B, moh).unwrap();
    assert!(matches!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(3, 2)),
        Decision::Forward { .. }
    ));
    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(1, 1)),
        Decision::Drop(DropReason::NotReceiving)
    );
    // RTCP keeps flowing on hold (RFC 3264 §5.1).
    assert!(matches!(
        h.send(rtcp_port(&c, Leg::A), rtcp_of(trunk()), &rtcp_rr(1)),
        Decision::Forward { .. }
    ));
    h.table
        .update_remote(h.now, c.id, Leg::B, strict(pbx()))
        .unwrap();
    assert!(matches!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtp(2, 1)),
        Decision::Forward { .. }
    ));
    let s = h.table.stats(c.id).unwrap();
    assert_eq!(s.legs[1].rtp.dropped.get(DropReason::NoDestination), 1);
    assert_eq!(s.legs[0].rtp.dropped.get(DropReason::NotReceiving), 1);
}

#[test]
fn timeout_fires_once_and_only_for_the_idle_session() {
    let mut h = Harness::new();
    let busy = h.call();
    let idle = h.call();
    let start = h.now;
    let mut events = Vec::new();
    let mut wakeups = 0;
    // 3 minutes of 20 ms packets on `busy` only.
    for i in 0..9000u16 {
        h.advance(Duration::from_millis(20));
        let _ = h.send(rtp_port(&busy, Leg::A), trunk(), &rtp(i, 1));
        if h.table.poll_timeout().is_some_and(|t| t <= h.now) {
            wakeups += 1;
        }
        for e in h.tick() {
            let at = h.now - start;
            assert!(
                at >= Duration::from_secs(60) && at < Duration::from_secs(61),
                "{at:?}"
            );
            events.push(e);
        }
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let MediaEvent::TimedOut {
        id,
        tag,
        idle: for_,
    } = events[0]
    else {
        unreachable!()
    };
    assert_eq!((id, tag), (idle.id, 7));
    assert!(for_ >= Duration::from_secs(60) && for_ < Duration::from_secs(61));
    // Lazy re-arm: the busy session wakes the timer about once per timeout, not per tick.
    assert!(wakeups <= 8, "{wakeups} timer wakeups");
    assert_eq!(h.table.counters().timeouts, 1);
    // The timed-out session still exists until the B2BUA removes it.
    assert!(h.table.stats(idle.id).is_some());
    h.table.remove_session(h.now, idle.id).unwrap();
    h.advance(Duration::from_secs(600));
    assert_eq!(h.tick().len(), 1, "busy times out once it goes silent");
    assert!(h.tick().is_empty());
}

#[test]
fn no_timeout_while_no_media_is_expected() {
    let mut h = Harness::new();
    // Offer sent, no answer yet: leg B pending.
    let c = h.call_with(strict(trunk()), RemoteSpec::pending(LatchMode::Strict));
    h.advance(Duration::from_secs(120));
    assert!(
        h.tick().is_empty(),
        "ringing without early media is not idle"
    );
    // Answer arrives: the inactivity clock starts now.
    h.table
        .update_remote(h.now, c.id, Leg::B, strict(pbx()))
        .unwrap();
    h.advance(Duration::from_secs(59));
    assert!(h.tick().is_empty());
    // Both sides go inactive (hold): the hold timeout applies.
    let inactive = |a: SocketAddr| {
        RemoteSpec::from_sdp(
            a.ip(),
            a.port(),
            None,
            Direction::Inactive,
            LatchMode::Strict,
        )
    };
    h.table
        .update_remote(h.now, c.id, Leg::A, inactive(trunk()))
        .unwrap();
    h.table
        .update_remote(h.now, c.id, Leg::B, inactive(pbx()))
        .unwrap();
    h.advance(Duration::from_secs(1800));
    assert!(h.tick().is_empty());
    h.advance(Duration::from_secs(1900));
    assert!(matches!(
        h.tick().as_slice(),
        [MediaEvent::TimedOut { id, .. }] if *id == c.id
    ));
}

#[test]
fn port_pool_never_double_allocates_exhausts_and_quarantines() {
    let mut h = Harness::new();
    let mut seen = HashSet::new();
    let mut calls = Vec::new();
    loop {
        match h.table.create_session(
            h.now,
            1,
            LegSpec {
                interface: PUBLIC,
                remote: strict(trunk()),
            },
            LegSpec {
                interface: PUBLIC, // both legs on one interface: two pairs per call
                remote: strict(sa(ip(198, 18, 7, 7), 40000)),
            },
        ) {
            Ok(info) => {
                for l in info.local {
                    assert!(seen.insert(l.rtp_port), "pair {} twice", l.rtp_port);
                }
                calls.push(info);
            }
            Err(MediaError::Ports {
                source: PoolError::Exhausted { in_use, .. },
                ..
            }) => {
                assert_eq!(in_use, 20);
                break;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(calls.len() <= 10);
    }
    assert_eq!(calls.len(), 10);
    let pool = h.table.port_pool(PUBLIC).unwrap();
    assert_eq!(pool.in_use(), 20);
    let last = calls.pop().unwrap();
    // The call carried media (one packet per leg is enough): its pairs wait out the
    // quarantine.
    for (leg, from) in [(Leg::A, trunk()), (Leg::B, sa(ip(198, 18, 7, 7), 40000))] {
        assert!(matches!(
            h.send(rtp_port(&last, leg), from, &rtp(1, 1)),
            Decision::Forward { .. }
        ));
    }
    h.table.remove_session(h.now, last.id).unwrap();
    // Late packets of the ended call are dropped as strays (unknown port).
    assert_eq!(
        h.send(rtp_port(&last, Leg::A), trunk(), &rtp(1, 1)),
        Decision::Drop(DropReason::UnknownPort)
    );
    assert_eq!(h.table.counters().unknown_port, 1);
    // Quarantine: the freed pairs are not handed out yet.
    h.advance(Duration::from_secs(29));
    assert!(matches!(
        h.table.create_session(
            h.now,
            1,
            LegSpec {
                interface: LAN,
                remote: strict(pbx())
            },
            LegSpec {
                interface: PUBLIC,
                remote: strict(trunk())
            }
        ),
        Err(MediaError::Ports {
            source: PoolError::Exhausted {
                in_use: 18,
                quarantined: 2
            },
            ..
        })
    ));
    // Leg A's LAN pair was handed back when leg B's allocation failed.
    assert_eq!(h.table.port_pool(LAN).unwrap().in_use(), 0);
    h.advance(Duration::from_secs(1));
    let reused = h.call();
    assert!([last.local[0].rtp_port, last.local[1].rtp_port].contains(&reused.local[0].rtp_port));
    // Leak check: after removing everything, every pair is free.
    h.table.remove_session(h.now, reused.id).unwrap();
    for c in calls {
        h.table.remove_session(h.now, c.id).unwrap();
    }
    for iface in [PUBLIC, LAN] {
        let p = h.table.port_pool(iface).unwrap();
        assert_eq!((p.in_use(), p.free_pairs()), (0, p.capacity()));
    }
    assert_eq!(h.table.counters().sessions, 0);
}

/// The quarantine is for late packets of a stream: a call that ended before any packet
/// arrived (or a leg that never got one) gives its pair back at once, and the next call
/// gets that pair first; a leg that saw a packet, even a dropped one, waits it out.
#[test]
fn a_leg_that_saw_no_packet_skips_the_quarantine() {
    let mut h = Harness::new();
    let quiet = h.call();
    h.table.remove_session(h.now, quiet.id).unwrap();
    let next = h.call();
    assert_eq!(
        (next.local[0].rtp_port, next.local[1].rtp_port),
        (quiet.local[0].rtp_port, quiet.local[1].rtp_port),
        "no packet: both pairs are reused at once"
    );
    // A stranger's packet on leg A's RTCP port is dropped, but it is traffic on the port.
    let stranger = sa(ip(203, 0, 113, 9), 5000);
    assert!(matches!(
        h.send(rtcp_port(&next, Leg::A), stranger, &rtcp_rr(1)),
        Decision::Drop(DropReason::WrongSource)
    ));
    h.table.remove_session(h.now, next.id).unwrap();
    let third = h.call();
    assert_ne!(
        third.local[0].rtp_port, next.local[0].rtp_port,
        "leg A saw a packet: its pair is in quarantine"
    );
    assert_eq!(
        third.local[1].rtp_port, next.local[1].rtp_port,
        "leg B saw none: its pair comes back at once"
    );
    h.advance(Duration::from_secs(30));
    h.table.remove_session(h.now, third.id).unwrap();
    for iface in [PUBLIC, LAN] {
        let p = h.table.port_pool(iface).unwrap();
        assert_eq!((p.in_use(), p.free_pairs()), (0, p.capacity()));
    }
}

#[test]
fn stale_handles_and_bad_specs_are_errors() {
    let mut h = Harness::new();
    let c = h.call();
    h.table.remove_session(h.now, c.id).unwrap();
    assert_eq!(
        h.table.remove_session(h.now, c.id),
        Err(MediaError::UnknownSession)
    );
    assert_eq!(
        h.table.update_remote(h.now, c.id, Leg::A, strict(trunk())),
        Err(MediaError::UnknownSession)
    );
    assert!(h.table.stats(c.id).is_none());
    // A new session reusing the slot gets a new generation: the old handle stays dead.
    let d = h.call();
    assert_ne!(d.id, c.id);
    assert!(h.table.stats(c.id).is_none());
    let v6 = strict("[2001:db8::1]:40000".parse().unwrap());
    let err = h.table.create_session(
        h.now,
        1,
        LegSpec {
            interface: PUBLIC,
            remote: v6,
        },
        LegSpec {
            interface: LAN,
            remote: strict(pbx()),
        },
    );
    assert!(matches!(err, Err(MediaError::AddressFamily { .. })));
    let err = h.table.create_session(
        h.now,
        1,
        LegSpec {
            interface: InterfaceId(9),
            remote: strict(trunk()),
        },
        LegSpec {
            interface: LAN,
            remote: strict(pbx()),
        },
    );
    assert!(matches!(err, Err(MediaError::UnknownInterface { .. })));
    // Failed creations allocated nothing.
    assert_eq!(h.table.port_pool(PUBLIC).unwrap().in_use(), 1);
}

#[test]
fn loss_is_estimated_from_sequence_numbers_across_wraparound() {
    let mut h = Harness::new();
    let c = h.call();
    let lost: HashSet<u16> = [65530, 65535, 0, 3, 4].into_iter().collect();
    let mut i = 0u32;
    for seq in (65500u32..65700).map(|s| (s % 65536) as u16) {
        i += 1;
        h.now += Duration::from_millis(20);
        if !lost.contains(&seq) {
            let _ = h.send(rtp_port(&c, Leg::A), trunk(), &rtp(seq, 0xabc));
        }
    }
    assert_eq!(i, 200);
    let loss = h.table.stats(c.id).unwrap().legs[0].rtp.loss;
    assert_eq!(loss.expected, 199, "first packet is A.1's probation packet");
    assert_eq!(loss.lost(), 5);
    // The other direction saw nothing.
    assert_eq!(h.table.stats(c.id).unwrap().legs[1].rtp.loss.expected, 0);
}

#[test]
fn malformed_packets_are_dropped() {
    let mut h = Harness::new();
    let c = h.call();
    let mut bad_csrc = rtp(1, 1);
    bad_csrc[0] = 0x8f; // 15 CSRCs = 60 bytes; 172 fit, so truncate
    bad_csrc.truncate(40);
    let stun = [
        0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    for p in [&[][..], &[0x80; 11][..], &stun[..], &bad_csrc[..]] {
        assert_eq!(
            h.send(rtp_port(&c, Leg::A), trunk(), p),
            Decision::Drop(DropReason::Malformed)
        );
    }
    // RTP on the RTCP port is not RTCP.
    assert_eq!(
        h.send(rtcp_port(&c, Leg::A), rtcp_of(trunk()), &rtp(1, 1)),
        Decision::Drop(DropReason::Malformed)
    );
    let s = h.table.stats(c.id).unwrap().legs[0];
    assert_eq!(s.rtp.dropped.get(DropReason::Malformed), 4);
    assert_eq!(s.rtcp.dropped.get(DropReason::Malformed), 1);
    assert_eq!(s.rtp.received_packets, 0);
    // rtcp-mux: RTCP on the RTP port is forwarded on the RTP path, not counted as RTP.
    assert_eq!(
        h.send(rtp_port(&c, Leg::A), trunk(), &rtcp_rr(1)),
        Decision::Forward {
            via: rtp_port(&c, Leg::B),
            dst: pbx()
        }
    );
    assert_eq!(h.table.stats(c.id).unwrap().legs[0].rtp.loss.expected, 0);
}

#[test]
fn rate_guard_drops_excess_and_recovers() {
    let mut h = Harness::with(|c| {
        c.rate_limit = Some(RateLimit {
            packets_per_second: 100,
            burst: 20,
        });
    });
    let c = h.call();
    // A flood from a stranger does not touch the genuine stream's budget.
    for i in 0..1000 {
        let _ = h.send(rtp_port(&c, Leg::A), sa(ip(203, 0, 113, 5), 9), &rtp(i, 9));
    }
    // A burst of 200 packets at one instant from the genuine source.
    let mut fwd = 0;
    let mut limited = 0;
    for i in 0..200u16 {
        match h.send(rtp_port(&c, Leg::A), trunk(), &rtp(i, 1)) {
            Decision::Forward { .. } => fwd += 1,
            Decision::Drop(DropReason::RateLimited) => limited += 1,
            d => panic!("{d:?}"),
        }
    }
    assert_eq!((fwd, limited), (20, 180));
    // It calms down to 50 pps: after a short while every packet passes again.
    let mut tail = Vec::new();
    for i in 200..700u16 {
        h.advance(Duration::from_millis(20));
        tail.push(h.send(rtp_port(&c, Leg::A), trunk(), &rtp(i, 1)));
    }
    assert!(
        tail.iter().all(|d| matches!(d, Decision::Forward { .. })),
        "stream was not restored"
    );
    let s = h.table.stats(c.id).unwrap().legs[0].rtp;
    assert_eq!(s.dropped.get(DropReason::RateLimited), 180);
    assert_eq!(s.dropped.get(DropReason::WrongSource), 1000);
    // Only forwarded-or-not is rate limited; the other direction is independent.
    assert!(matches!(
        h.send(rtp_port(&c, Leg::B), pbx(), &rtp(1, 2)),
        Decision::Forward { .. }
    ));
}

#[test]
fn shards_own_disjoint_port_ranges() {
    let config = MediaConfig {
        interfaces: vec![ip(198, 18, 0, 1), ip(198, 19, 0, 1)],
        port_min: 20000,
        port_max: 20399,
        ..MediaConfig::default()
    };
    let (configs, map) = config.split(4).unwrap();
    let mut tables: Vec<MediaTable> = configs
        .into_iter()
        .map(|c| MediaTable::new(c).unwrap())
        .collect();
    #[allow(clippy::disallowed_methods)] // ok: origin of virtual time
    let now = Instant::now();
    for (k, t) in tables.iter_mut().enumerate() {
        for _ in 0..5 {
            let info = t
                .create_session(
                    now,
                    k as u64,
                    LegSpec {
                        interface: PUBLIC,
                        remote: strict(trunk()),
                    },
                    LegSpec {
                        interface: LAN,
                        remote: strict(pbx()),
                    },
                )
                .unwrap();
            for l in info.local {
                assert_eq!(map.shard(l.rtp_port), Some(k));
                assert_eq!(map.shard(l.rtcp_port), Some(k));
            }
            // A packet routed by the map reaches the table that holds the session.
            let port = rtp_port(&info, Leg::A);
            assert_eq!(map.shard(port.port), Some(k));
            assert!(matches!(
                t.handle_packet(now, port, trunk(), &rtp(1, 1)),
                Decision::Forward { .. }
            ));
        }
    }
}
