//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the stable corpus replay
//! test (`tests/fuzz_corpus.rs`). Each panics if an invariant breaks; nothing else here
//! is meant for production use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::packet::{RTP_HEADER_LEN, parse_rtcp, parse_rtp};
use crate::{
    Decision, Direction, InterfaceId, LatchMode, Leg, LegSpec, LocalPort, MediaConfig, MediaEvent,
    MediaTable, RateLimit, RemoteSpec, SessionId,
};

/// `rtp_header` target: the validators never panic and what they accept lies inside the
/// datagram.
pub fn rtp_header(data: &[u8]) {
    if let Ok(h) = parse_rtp(data) {
        assert!(h.payload_offset >= RTP_HEADER_LEN);
        assert!(h.payload_offset + h.payload_len <= data.len());
        assert_eq!(u32::from(h.csrc_count), u32::from(data[0] & 0x0f));
    }
    if let Ok(h) = parse_rtcp(data) {
        assert!(h.first_len >= 4 && h.first_len <= data.len());
        assert!((192..=223).contains(&h.packet_type));
    }
}

const PORT_MIN: u16 = 30000;
const PORT_MAX: u16 = 30015; // 8 pairs per interface

fn trunk(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10)), port)
}

fn pbx(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 20)), port)
}

/// Sources a fuzz input can pick from: the signalled addresses, other ports on the same
/// hosts, strangers, and IPv4-mapped IPv6 forms.
fn source(b: u8) -> SocketAddr {
    let port = 40000 + u16::from(b >> 3);
    match b & 7 {
        0 => trunk(40000),
        1 => trunk(40001),
        2 => pbx(50000),
        3 => pbx(port),
        4 => trunk(port),
        5 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)), port),
        6 => SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(198, 18, 0, 10).to_ipv6_mapped()),
            40000,
        ),
        _ => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
    }
}

fn specs() -> (LegSpec, LegSpec) {
    let a = LegSpec {
        interface: InterfaceId(0),
        remote: RemoteSpec::from_sdp(
            trunk(40000).ip(),
            40000,
            None,
            Direction::SendRecv,
            LatchMode::Strict,
        ),
    };
    let b = LegSpec {
        interface: InterfaceId(1),
        remote: RemoteSpec::from_sdp(
            IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)),
            50000,
            None,
            Direction::SendRecv,
            LatchMode::LatchOnce {
                allowed: ipnet::IpNet::from(pbx(0).ip()),
            },
        ),
    };
    (a, b)
}

/// `relay` target: a table with sessions between a strict trunk leg and a latching PBX
/// leg, fed arbitrary packets from arbitrary sources on arbitrary ports, interleaved with
/// re-INVITEs, timeouts and session churn. Checks that a forward only ever goes from a
/// live session's port to an address that leg's signalling or latch allowed, that
/// timeouts fire at most once, and that every port pair returns to the pool.
pub fn relay(origin: Instant, data: &[u8]) -> RelaySummary {
    let mut summary = RelaySummary::default();
    let config = MediaConfig {
        interfaces: vec![
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
        ],
        port_min: PORT_MIN,
        port_max: PORT_MAX,
        quarantine: Duration::from_secs(5),
        inactivity_timeout: Duration::from_secs(10),
        hold_timeout: Some(Duration::from_secs(100)),
        rate_limit: Some(RateLimit {
            packets_per_second: 50,
            burst: 5,
        }),
    };
    let Ok(mut table) = MediaTable::new(config) else {
        panic!("fuzz config must be valid");
    };
    let mut now = origin;
    let mut sessions: Vec<(SessionId, [LocalPort; 4])> = Vec::new();
    let mut timed_out: Vec<SessionId> = Vec::new();
    let mut tag = 0u64;
    let mut rest = data;
    // Each step consumes at least one byte: bounded by the input length.
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        now += Duration::from_millis(u64::from(op >> 4) * 7);
        match op & 7 {
            0..=3 => {
                let [sel, src, len, ..] = rest else { break };
                let (sel, src, len) = (*sel, *src, usize::from(*len));
                rest = &rest[3..];
                let take = len.min(rest.len());
                let (packet, tail) = rest.split_at(take);
                rest = tail;
                let local = LocalPort {
                    interface: InterfaceId(sel & 1),
                    port: PORT_MIN - 2 + u16::from(sel >> 1) % 24,
                };
                let from = source(src);
                let decision = table.handle_packet(now, local, from, packet);
                match decision {
                    Decision::Forward { .. } => summary.forwarded += 1,
                    Decision::Drop(_) => summary.dropped += 1,
                }
                if let Decision::Forward { via, dst } = decision {
                    let Some((_, ports)) = sessions.iter().find(|(_, p)| p.contains(&local)) else {
                        panic!("forward from a port no live session holds: {local:?}");
                    };
                    assert!(ports.contains(&via), "forward crossed sessions");
                    assert_ne!(via.interface, local.interface, "forward looped back");
                    let ok_dst = if via.interface == InterfaceId(0) {
                        dst.ip() == trunk(0).ip()
                    } else {
                        dst.ip() == pbx(0).ip() || dst.ip() == IpAddr::from([10, 1, 1, 1])
                    };
                    assert!(ok_dst, "forward to an address nobody signalled: {dst}");
                    // No injection: only the leg's own party gets through (A is strict on
                    // the trunk host, B latches within the PBX host).
                    let party = if local.interface == InterfaceId(0) {
                        trunk(0).ip()
                    } else {
                        pbx(0).ip()
                    };
                    assert_eq!(
                        crate::canonical(from).ip(),
                        party,
                        "injected packet forwarded"
                    );
                }
            }
            4 => {
                let [which, how, ..] = rest else { break };
                let (which, how) = (*which, *how);
                rest = &rest[2..];
                if let Some(&(id, _)) = sessions.get(usize::from(which) % sessions.len().max(1)) {
                    let leg = if how & 1 == 0 { Leg::A } else { Leg::B };
                    let direction = match (how >> 1) & 3 {
                        0 => Direction::SendRecv,
                        1 => Direction::SendOnly,
                        2 => Direction::RecvOnly,
                        _ => Direction::Inactive,
                    };
                    let hold = how & 8 != 0;
                    let host = if leg == Leg::A {
                        trunk(0).ip()
                    } else {
                        IpAddr::from([10, 1, 1, 1])
                    };
                    let addr = if hold {
                        IpAddr::from([0, 0, 0, 0])
                    } else {
                        host
                    };
                    let port = 40000 + u16::from(how >> 4) * 2;
                    let latch = if leg == Leg::A {
                        LatchMode::Strict
                    } else {
                        specs().1.remote.latch
                    };
                    let remote = RemoteSpec::from_sdp(addr, port, None, direction, latch);
                    assert!(table.update_remote(now, id, leg, remote).is_ok());
                }
            }
            5 => {
                table.handle_timeout(now);
                while let Some(MediaEvent::TimedOut { id, .. }) = table.poll_event() {
                    assert!(!timed_out.contains(&id), "timeout reported twice");
                    timed_out.push(id);
                    summary.timeouts += 1;
                }
            }
            6 => {
                if let Some((id, _)) = sessions.pop() {
                    assert!(table.remove_session(now, id).is_ok());
                    assert!(table.remove_session(now, id).is_err(), "double remove");
                }
            }
            _ => {
                let (a, b) = specs();
                tag += 1;
                if let Ok(info) = table.create_session(now, tag, a, b) {
                    let ports = [
                        LocalPort {
                            interface: info.local[0].interface,
                            port: info.local[0].rtp_port,
                        },
                        LocalPort {
                            interface: info.local[0].interface,
                            port: info.local[0].rtcp_port,
                        },
                        LocalPort {
                            interface: info.local[1].interface,
                            port: info.local[1].rtp_port,
                        },
                        LocalPort {
                            interface: info.local[1].interface,
                            port: info.local[1].rtcp_port,
                        },
                    ];
                    for (_, other) in &sessions {
                        assert!(
                            !ports.iter().any(|p| other.contains(p)),
                            "port pair handed out twice"
                        );
                    }
                    sessions.push((info.id, ports));
                    summary.created += 1;
                }
            }
        }
    }
    for (id, _) in sessions.drain(..) {
        assert!(table.remove_session(now, id).is_ok());
    }
    for iface in [InterfaceId(0), InterfaceId(1)] {
        let pool = table.port_pool(iface).map(|p| (p.in_use(), p.free_pairs()));
        assert_eq!(pool, Some((0, 8)), "port pairs leaked");
    }
    assert_eq!(table.counters().sessions, 0);
    summary
}

/// What one `relay` run did, so the corpus replay can check the seeds reach every path.
#[derive(Clone, Copy, Debug, Default)]
pub struct RelaySummary {
    /// Packets forwarded.
    pub forwarded: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Timeout events.
    pub timeouts: u64,
    /// Sessions created.
    pub created: u64,
}
