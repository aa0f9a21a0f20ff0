//! Two-sided tests: drawbridge's server against boringtun clients, virtual time.

// Helpers outside #[test] fns: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod harness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use boringtun::noise::TunnResult;
use drawbridge_tunnel::{
    DEFAULT_IDLE_TIMEOUT, DropReason, PeerChange, PeerSpec, SendError, ServerConfig,
};
use etherparse::{Icmpv4Slice, Icmpv6Slice, Ipv4HeaderSlice, Ipv6HeaderSlice, PacketBuilder};
use harness::*;

fn sbc4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SBC_V4), port)
}

/// Asserts `inner` is exactly the UDP packet etherparse would build for the same fields
/// (an independent check of our headers and checksums).
fn assert_udp_packet(inner: &[u8], src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
    let b = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            PacketBuilder::ipv4(s.octets(), d.octets(), 64).udp(src.port(), dst.port())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            PacketBuilder::ipv6(s.octets(), d.octets(), 64).udp(src.port(), dst.port())
        }
        _ => panic!("mixed families"),
    };
    let mut expected = Vec::new();
    b.write(&mut expected, payload).unwrap();
    let hdr = if src.is_ipv4() { 20 } else { 40 };
    assert_eq!(inner.len(), expected.len());
    assert_eq!(
        &inner[hdr..],
        &expected[hdr..],
        "UDP header+payload incl. checksum"
    );
    if src.is_ipv4() {
        let h = Ipv4HeaderSlice::from_slice(inner).unwrap().to_header();
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "IPv4 header checksum"
        );
        assert_eq!(
            h.source,
            match src.ip() {
                IpAddr::V4(a) => a.octets(),
                _ => unreachable!(),
            }
        );
        assert_eq!(
            h.destination,
            match dst.ip() {
                IpAddr::V4(a) => a.octets(),
                _ => unreachable!(),
            }
        );
        assert_eq!(usize::from(h.total_len), inner.len());
    } else {
        assert_eq!(&inner[..hdr][4..], &expected[..hdr][4..], "IPv6 header");
    }
}

#[test]
fn handshake_then_udp_both_ways_v4_and_v6() {
    let mut p = Pair::new(2);
    assert_eq!(p.server.live_sessions(), 0, "sessions are created lazily");
    assert_eq!(
        p.server.poll_timeout(),
        None,
        "nothing scheduled for idle peers"
    );
    p.handshake(0);
    assert_eq!(p.server.live_sessions(), 1);
    assert_eq!(p.server.counters().handshakes, 1);
    assert!(p.server.poll_timeout().is_some());

    for v6 in [false, true] {
        let got = p.client_udp(0, v6, SIP, b"REGISTER sip:drawbridge SIP/2.0\r\n\r\n");
        let Outcome::Deliver {
            peer,
            name,
            src,
            dst,
            payload,
        } = got
        else {
            panic!("not delivered: {got:?}")
        };
        assert_eq!(peer, p.id(0));
        assert_eq!(name, "worker0");
        let (my_ip, sbc_ip) = if v6 {
            (IpAddr::V6(p.clients[0].v6), IpAddr::V6(SBC_V6))
        } else {
            (IpAddr::V4(p.clients[0].v4), IpAddr::V4(SBC_V4))
        };
        assert_eq!(src, SocketAddr::new(my_ip, 7078));
        assert_eq!(dst, SocketAddr::new(sbc_ip, SIP));
        assert_eq!(payload, b"REGISTER sip:drawbridge SIP/2.0\r\n\r\n");

        // The reply, through send_udp, decrypted by the client.
        let reply = b"SIP/2.0 200 OK\r\n\r\n";
        let t = p
            .server
            .send_udp(p.now, peer, SIP, src, reply, &mut p.sbuf)
            .unwrap()
            .expect("session is up: sent at once");
        assert_eq!(t.dst, p.clients[0].outer);
        let dgram = t.data.to_vec();
        let (net, inner) = p.client_gets(0, &dgram);
        assert!(net.is_empty());
        assert_eq!(inner.len(), 1);
        assert_udp_packet(&inner[0], dst, src, reply);
    }
    assert_eq!(p.server.counters().delivered, 2);
    assert_eq!(p.server.counters().sent, 2);
    assert_eq!(p.server.counters().drops.total(), 0);
}

#[test]
fn rtp_range_is_open_and_its_edges_are_exact() {
    let mut p = Pair::new(1);
    p.handshake(0);
    for (port, open) in [
        (RTP_LOW, true),
        (RTP_HIGH, true),
        (RTP_LOW - 1, false),
        (RTP_HIGH + 1, false),
        (5061, false),
    ] {
        let got = p.client_udp(0, false, port, &[0x80; 160]);
        if open {
            assert!(matches!(got, Outcome::Deliver { .. }), "{port}: {got:?}");
        } else {
            assert_eq!(
                got,
                Outcome::Dropped(DropReason::ClosedPort, Some(p.id(0))),
                "{port}"
            );
        }
    }
    assert_eq!(p.server.counters().drops.closed_port, 3);
}

#[test]
fn icmp_echo_v4_is_answered() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let c = &p.clients[0];
    let b = PacketBuilder::ipv4(c.v4.octets(), SBC_V4.octets(), 64).icmpv4_echo_request(0x1234, 7);
    let mut ping = Vec::new();
    b.write(&mut ping, b"abcdefgh-ping").unwrap();
    let dgram = p.encrypt(0, &ping);
    let Outcome::Transmit(dst, reply) = p.server_gets(0, &dgram) else {
        panic!("no echo reply")
    };
    assert_eq!(dst, p.clients[0].outer);
    let (_, inner) = p.client_gets(0, &reply);
    let pong = &inner[0];
    let h = Ipv4HeaderSlice::from_slice(pong).unwrap().to_header();
    assert_eq!(h.source, SBC_V4.octets());
    assert_eq!(h.destination, p.clients[0].v4.octets());
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    let mut expected = Vec::new();
    PacketBuilder::ipv4(SBC_V4.octets(), p.clients[0].v4.octets(), 64)
        .icmpv4_echo_reply(0x1234, 7)
        .write(&mut expected, b"abcdefgh-ping")
        .unwrap();
    assert_eq!(
        &pong[20..],
        &expected[20..],
        "ICMP echo reply incl. checksum"
    );
    assert_eq!(Icmpv4Slice::from_slice(&pong[20..]).unwrap().type_u8(), 0);
    assert_eq!(p.server.counters().echo_replies, 1);
}

#[test]
fn icmpv6_echo_is_answered() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let c = &p.clients[0];
    let mut ping = Vec::new();
    PacketBuilder::ipv6(c.v6.octets(), SBC_V6.octets(), 64)
        .icmpv6_echo_request(9, 1)
        .write(&mut ping, b"v6 ping payload")
        .unwrap();
    let dgram = p.encrypt(0, &ping);
    let Outcome::Transmit(_, reply) = p.server_gets(0, &dgram) else {
        panic!("no echo reply")
    };
    let (_, inner) = p.client_gets(0, &reply);
    let pong = &inner[0];
    let h = Ipv6HeaderSlice::from_slice(pong).unwrap();
    assert_eq!(h.source_addr(), SBC_V6);
    assert_eq!(h.destination_addr(), p.clients[0].v6);
    let mut expected = Vec::new();
    PacketBuilder::ipv6(SBC_V6.octets(), p.clients[0].v6.octets(), 64)
        .icmpv6_echo_reply(9, 1)
        .write(&mut expected, b"v6 ping payload")
        .unwrap();
    assert_eq!(pong, &expected, "whole ICMPv6 echo reply incl. checksum");
    assert_eq!(Icmpv6Slice::from_slice(&pong[40..]).unwrap().type_u8(), 129);
}

#[test]
fn unknown_key_garbage_and_unknown_index_get_silence() {
    let mut p = Pair::new(1);
    p.handshake(0);
    // A stranger with a valid-looking WireGuard client but an unconfigured key.
    let mut stranger = new_client(p.server_public, 77);
    let init = match stranger
        .tunn
        .format_handshake_initiation(&mut p.cbuf, false)
    {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    stranger.outer = "198.18.9.9:1234".parse().unwrap();
    assert_eq!(
        p.server_gets_from(stranger.outer, &init),
        Outcome::Dropped(DropReason::UnknownKey, None)
    );
    // Garbage of every size a scanner might send, and a data message with a made-up index.
    for len in [0, 1, 4, 31, 32, 64, 92, 148, 200] {
        let junk = vec![0xA5; len];
        assert!(matches!(
            p.server_gets_from(stranger.outer, &junk),
            Outcome::Dropped(DropReason::InvalidPacket, None)
        ));
    }
    let mut data = vec![0u8; 64];
    data[0] = 4;
    data[4..8].copy_from_slice(&((999u32 << 8) | 1).to_le_bytes());
    assert_eq!(
        p.server_gets_from(stranger.outer, &data),
        Outcome::Dropped(DropReason::UnknownIndex, None)
    );
    // A data message for a live session that is not authentic.
    let mut forged = p.encrypt(0, &p.udp_from(0, false, 1, SIP, b"x"));
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert_eq!(
        p.server_gets(0, &forged),
        Outcome::Dropped(DropReason::DecryptFailed, Some(p.id(0)))
    );
    assert!(p.drain_server().is_empty(), "nothing is ever sent back");
    let d = p.server.counters().drops;
    assert_eq!(
        (
            d.unknown_key,
            d.invalid_packet,
            d.unknown_index,
            d.decrypt_failed
        ),
        (1, 9, 1, 1)
    );
    assert_eq!(p.server.live_sessions(), 1, "a stranger creates no state");
}

#[test]
fn roaming_replies_follow_the_last_authenticated_source() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let new_outer: SocketAddr = "198.18.200.7:61000".parse().unwrap();
    let pkt = p.udp_from(0, false, 7078, SIP, b"after roaming");
    let dgram = p.encrypt(0, &pkt);
    assert!(matches!(
        p.server_gets_from(new_outer, &dgram),
        Outcome::Deliver { .. }
    ));
    let t = p
        .server
        .send_udp(
            p.now,
            p.id(0),
            SIP,
            SocketAddr::new(IpAddr::V4(p.clients[0].v4), 7078),
            b"hi",
            &mut p.sbuf,
        )
        .unwrap()
        .unwrap();
    assert_eq!(t.dst, new_outer);
    assert_eq!(
        p.server.peer_status(p.id(0)).unwrap().endpoint,
        Some(new_outer)
    );
    // An unauthenticated packet from a third address does not move it.
    let mut forged = p.encrypt(0, &pkt);
    forged[20] ^= 0xff;
    let attacker: SocketAddr = "198.18.66.6:1".parse().unwrap();
    assert!(matches!(
        p.server_gets_from(attacker, &forged),
        Outcome::Dropped(DropReason::DecryptFailed, _)
    ));
    assert_eq!(
        p.server.peer_status(p.id(0)).unwrap().endpoint,
        Some(new_outer)
    );
}

#[test]
fn rekey_keeps_traffic_flowing() {
    let mut p = Pair::new(1);
    p.handshake(0);
    assert!(matches!(
        p.client_udp(0, false, SIP, b"before"),
        Outcome::Deliver { .. }
    ));
    // Two minutes later the client rekeys (REKEY_AFTER_TIME = 120 s); boringtun's own clock
    // cannot be driven, so the client is made to initiate, as it would at that point.
    for round in 1..=3 {
        p.advance(Duration::from_secs(121));
        p.server.handle_timeout(p.now - Duration::from_secs(1));
        p.drain_server();
        p.handshake(0);
        assert_eq!(p.server.counters().handshakes, 1 + round);
        assert!(
            matches!(
                p.client_udp(0, false, SIP, b"after"),
                Outcome::Deliver { .. }
            ),
            "round {round}"
        );
        let dst = SocketAddr::new(IpAddr::V4(p.clients[0].v4), 7078);
        let t = p
            .server
            .send_udp(p.now, p.id(0), SIP, dst, b"ok", &mut p.sbuf)
            .unwrap()
            .unwrap();
        let d = t.data.to_vec();
        let (_, inner) = p.client_gets(0, &d);
        assert_eq!(inner.len(), 1, "client decrypts with the new key");
    }
    assert_eq!(p.server.live_sessions(), 1);
    assert_eq!(p.server.counters().drops.total(), 0);
}

#[test]
fn removed_and_disabled_peers_are_cut_off_at_once_others_continue() {
    let mut p = Pair::new(3);
    for c in 0..3 {
        p.handshake(c);
    }
    let (a, b, c) = (p.id(0), p.id(1), p.id(2));
    // Keep B unchanged, remove A, disable C.
    let mut spec_c = p.clients[2].spec();
    spec_c.enabled = false;
    let changes = p
        .server
        .set_peers(vec![p.clients[1].spec(), spec_c])
        .unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.contains(&PeerChange::Removed {
        id: a,
        name: "worker0".into()
    }));
    assert!(changes.contains(&PeerChange::Disabled {
        id: c,
        name: "worker2".into()
    }));
    assert_eq!(p.server.live_sessions(), 1);

    // A's session data, A's new handshake: ignored.
    let got = p.client_udp(0, false, SIP, b"still there?");
    assert_eq!(got, Outcome::Dropped(DropReason::UnknownIndex, None));
    let init = match p.clients[0]
        .tunn
        .format_handshake_initiation(&mut p.cbuf, true)
    {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p.server_gets(0, &init),
        Outcome::Dropped(DropReason::UnknownKey, None)
    );
    assert_eq!(
        p.server.send_udp(
            p.now,
            a,
            SIP,
            SocketAddr::new(IpAddr::V4(p.clients[0].v4), 1),
            b"x",
            &mut p.sbuf
        ),
        Err(SendError::UnknownPeer(a))
    );
    // C: data ignored, handshakes refused and counted as disabled.
    assert_eq!(
        p.client_udp(2, false, SIP, b"x"),
        Outcome::Dropped(DropReason::UnknownIndex, Some(c))
    );
    let init = match p.clients[2]
        .tunn
        .format_handshake_initiation(&mut p.cbuf, true)
    {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        p.server_gets(2, &init),
        Outcome::Dropped(DropReason::DisabledPeer, Some(c))
    );

    // B continues on its existing session, no new handshake.
    let before = p.server.counters().handshakes;
    assert!(
        matches!(p.client_udp(1, false, SIP, b"B"), Outcome::Deliver { peer, .. } if peer == b)
    );
    assert_eq!(p.server.counters().handshakes, before);

    // Re-adding A makes a new id; the old one stays dead.
    let changes = p
        .server
        .set_peers(vec![
            p.clients[0].spec(),
            p.clients[1].spec(),
            p.clients[2].spec(),
        ])
        .unwrap();
    let new_a = p.id(0);
    assert_ne!(new_a, a);
    assert!(changes.contains(&PeerChange::Added {
        id: new_a,
        name: "worker0".into()
    }));
    assert!(changes.contains(&PeerChange::Enabled {
        id: c,
        name: "worker2".into()
    }));
    p.handshake(0);
    p.handshake(2);
    assert!(
        matches!(p.client_udp(0, false, SIP, b"back"), Outcome::Deliver { peer, .. } if peer == new_a)
    );
}

#[test]
fn address_change_keeps_session_and_applies_at_once() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let mut spec = p.clients[0].spec();
    spec.addresses = vec![IpAddr::V4(Ipv4Addr::new(100, 64, 99, 99))];
    let changes = p.server.set_peers(vec![spec]).unwrap();
    assert!(matches!(
        changes[..],
        [PeerChange::Updated {
            session_reset: false,
            ..
        }]
    ));
    assert_eq!(p.server.live_sessions(), 1);
    // The old address is now a spoofed source.
    assert_eq!(
        p.client_udp(0, false, SIP, b"x"),
        Outcome::Dropped(DropReason::SpoofedSource, Some(p.id(0)))
    );
}

#[test]
fn spoofed_source_and_foreign_destination_are_dropped() {
    let mut p = Pair::new(2);
    p.handshake(0);
    p.handshake(1);
    let id0 = p.id(0);
    // Client 0 uses client 1's inner address as source.
    let other = p.clients[1].v4;
    let mut pkt = Vec::new();
    PacketBuilder::ipv4(other.octets(), SBC_V4.octets(), 64)
        .udp(1, SIP)
        .write(&mut pkt, b"spoof")
        .unwrap();
    let d = p.encrypt(0, &pkt);
    assert_eq!(
        p.server_gets(0, &d),
        Outcome::Dropped(DropReason::SpoofedSource, Some(id0))
    );
    // A random source.
    let mut pkt = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], SBC_V4.octets(), 64)
        .udp(1, SIP)
        .write(&mut pkt, b"spoof")
        .unwrap();
    let d = p.encrypt(0, &pkt);
    assert_eq!(
        p.server_gets(0, &d),
        Outcome::Dropped(DropReason::SpoofedSource, Some(id0))
    );
    // Another peer, the LAN, the internet, broadcast: not for us.
    let me = p.clients[0].v4.octets();
    for dst in [
        other.octets(),
        [192, 168, 1, 10],
        [8, 8, 8, 8],
        [255, 255, 255, 255],
        [100, 64, 0, 2],
    ] {
        let mut pkt = Vec::new();
        PacketBuilder::ipv4(me, dst, 64)
            .udp(1, SIP)
            .write(&mut pkt, b"out")
            .unwrap();
        let d = p.encrypt(0, &pkt);
        assert_eq!(
            p.server_gets(0, &d),
            Outcome::Dropped(DropReason::NotForUs, Some(id0)),
            "{dst:?}"
        );
    }
    let c = p.server.counters();
    assert_eq!(
        (c.drops.spoofed_source, c.drops.not_for_us, c.delivered),
        (2, 5, 0)
    );
}

#[test]
fn tcp_and_other_protocols_are_dropped() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let me = p.clients[0].v4.octets();
    let mut syn = Vec::new();
    PacketBuilder::ipv4(me, SBC_V4.octets(), 64)
        .tcp(5555, SIP, 1, 1000)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    let d = p.encrypt(0, &syn);
    assert_eq!(
        p.server_gets(0, &d),
        Outcome::Dropped(DropReason::UnsupportedProtocol, Some(p.id(0)))
    );
    // ICMP that is not an echo request (a timestamp request).
    let mut ts = Vec::new();
    PacketBuilder::ipv4(me, SBC_V4.octets(), 64)
        .icmpv4_raw(13, 0, [0; 4])
        .write(&mut ts, &[0; 12])
        .unwrap();
    let d = p.encrypt(0, &ts);
    assert_eq!(
        p.server_gets(0, &d),
        Outcome::Dropped(DropReason::UnsupportedProtocol, Some(p.id(0)))
    );
}

/// Takes a valid IPv4/UDP packet and breaks it in one way.
fn mangle_v4(p: &Pair, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut pkt = p.udp_from(0, false, 1, SIP, b"payload!");
    f(&mut pkt);
    pkt
}

fn fix_ipv4_checksum(pkt: &mut [u8]) {
    pkt[10] = 0;
    pkt[11] = 0;
    let mut s: u32 = 0;
    for c in pkt[..20].chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    pkt[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

#[test]
fn malformed_inner_packets_are_dropped_and_counted() {
    let mut p = Pair::new(1);
    p.handshake(0);
    let id = Some(p.id(0));
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "not IP at all",
            b"hello, not an IP packet".to_vec(),
            DropReason::MalformedInner,
        ),
        (
            "bad IPv4 header checksum",
            mangle_v4(&p, |v| v[10] ^= 0xff),
            DropReason::MalformedInner,
        ),
        (
            "bad UDP checksum",
            mangle_v4(&p, |v| {
                let n = v.len();
                v[n - 1] ^= 1
            }),
            DropReason::MalformedInner,
        ),
        (
            "UDP length beyond packet",
            mangle_v4(&p, |v| v[24..26].copy_from_slice(&200u16.to_be_bytes())),
            DropReason::MalformedInner,
        ),
        (
            "UDP length below header",
            mangle_v4(&p, |v| v[24..26].copy_from_slice(&3u16.to_be_bytes())),
            DropReason::MalformedInner,
        ),
        (
            "IHL below 5",
            mangle_v4(&p, |v| {
                v[0] = 0x44;
                fix_ipv4_checksum(v)
            }),
            DropReason::MalformedInner,
        ),
        (
            "IHL beyond packet",
            mangle_v4(&p, |v| {
                v[0] = 0x4f;
                v.truncate(40);
                v[2..4].copy_from_slice(&40u16.to_be_bytes());
                fix_ipv4_checksum(v)
            }),
            DropReason::MalformedInner,
        ),
        (
            "truncated UDP header",
            mangle_v4(&p, |v| {
                v.truncate(24);
                v[2..4].copy_from_slice(&24u16.to_be_bytes());
                fix_ipv4_checksum(v)
            }),
            DropReason::MalformedInner,
        ),
        (
            "first fragment (MF)",
            mangle_v4(&p, |v| {
                v[6] = 0x20;
                fix_ipv4_checksum(v)
            }),
            DropReason::Fragment,
        ),
        (
            "later fragment (offset)",
            mangle_v4(&p, |v| {
                v[6] = 0;
                v[7] = 8;
                fix_ipv4_checksum(v)
            }),
            DropReason::Fragment,
        ),
        (
            "IPv6 hop-by-hop header",
            {
                let mut v = p.udp_from(0, true, 1, SIP, b"x");
                v[6] = 0;
                v
            },
            DropReason::Ipv6ExtensionHeader,
        ),
        (
            "IPv6 fragment header",
            {
                let mut v = p.udp_from(0, true, 1, SIP, b"x");
                v[6] = 44;
                v
            },
            DropReason::Ipv6ExtensionHeader,
        ),
        (
            "IPv6 UDP without checksum",
            {
                let mut v = p.udp_from(0, true, 1, SIP, b"x");
                v[46] = 0;
                v[47] = 0;
                v
            },
            DropReason::MalformedInner,
        ),
    ];
    let n = cases.len() as u64;
    for (what, pkt, reason) in cases {
        let d = p.encrypt(0, &pkt);
        assert_eq!(p.server_gets(0, &d), Outcome::Dropped(reason, id), "{what}");
    }
    assert_eq!(p.server.counters().drops.total(), n);
    // IPv4 UDP with checksum 0 ("none", RFC 768) is accepted; the session still works.
    let pkt = mangle_v4(&p, |v| {
        v[26] = 0;
        v[27] = 0
    });
    let d = p.encrypt(0, &pkt);
    assert!(matches!(p.server_gets(0, &d), Outcome::Deliver { .. }));
}

#[test]
fn handshake_flood_gets_cookies_while_an_established_peer_gets_through() {
    const LIMIT: u64 = 5;
    let mut p = Pair::with_config(2, |c: &mut ServerConfig| c.handshakes_per_second = LIMIT);
    p.handshake(0);
    // A flood of initiations from strangers (MAC1 is valid: anyone knowing the server's
    // public key can compute it).
    let mut cookies = 0;
    let mut silent = 0;
    for i in 0..50u32 {
        let mut s = new_client(p.server_public, 1000 + i);
        let init = match s.tunn.format_handshake_initiation(&mut p.cbuf, false) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            other => panic!("{other:?}"),
        };
        s.outer = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 19, (i / 200) as u8, (i % 200) as u8)),
            9999,
        );
        match p.server_gets_from(s.outer, &init) {
            Outcome::Transmit(dst, data) => {
                assert_eq!(
                    (dst, data.len(), data[0]),
                    (s.outer, 64, 3),
                    "a cookie reply"
                );
                cookies += 1;
            }
            Outcome::Dropped(DropReason::UnknownKey, None) => silent += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        cookies >= 40,
        "under load the server answers with cookies: {cookies}"
    );
    assert!(
        silent as u64 <= LIMIT,
        "no more than the budget gets Diffie-Hellman: {silent}"
    );
    assert_eq!(p.server.counters().cookie_replies, cookies);
    // The established peer's data is not rate limited.
    for _ in 0..10 {
        assert!(matches!(
            p.client_udp(0, false, SIP, b"still here"),
            Outcome::Deliver { .. }
        ));
    }
    // A legitimate new peer under load: cookie first, then its retry carries MAC2 and passes.
    let init = match p.clients[1]
        .tunn
        .format_handshake_initiation(&mut p.cbuf, false)
    {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("{other:?}"),
    };
    let Outcome::Transmit(_, cookie) = p.server_gets(1, &init) else {
        panic!("expected cookie")
    };
    assert_eq!(cookie[0], 3);
    let (net, _) = p.client_gets(1, &cookie);
    assert!(net.is_empty());
    p.handshake(1);
    assert!(matches!(
        p.client_udp(1, false, SIP, b"made it"),
        Outcome::Deliver { .. }
    ));
    assert!(
        p.server.poll_timeout().is_some(),
        "a limiter reset is scheduled"
    );
}

#[test]
fn idle_sessions_expire_and_peers_come_back() {
    let mut p = Pair::new(1);
    p.handshake(0);
    assert!(matches!(
        p.client_udp(0, false, SIP, b"x"),
        Outcome::Deliver { .. }
    ));
    // Drive the timers every second for just under the idle timeout: still alive.
    let start = p.now;
    while p.now + Duration::from_secs(1) < start + DEFAULT_IDLE_TIMEOUT {
        p.advance(Duration::from_secs(1));
        p.server.handle_timeout(p.now);
        p.drain_server();
    }
    assert_eq!(p.server.live_sessions(), 1);
    p.advance(Duration::from_secs(2));
    p.server.handle_timeout(p.now);
    assert_eq!(p.server.live_sessions(), 0, "expired");
    assert_eq!(p.server.counters().sessions_expired, 1);
    assert_eq!(p.server.poll_timeout(), None, "nothing left to schedule");
    assert_eq!(
        p.client_udp(0, false, SIP, b"x"),
        Outcome::Dropped(DropReason::UnknownIndex, Some(p.id(0)))
    );
    p.handshake(0);
    assert!(matches!(
        p.client_udp(0, false, SIP, b"back"),
        Outcome::Deliver { .. }
    ));
}

#[test]
fn sending_to_an_idle_peer_handshakes_then_flushes_the_queued_packet() {
    let mut p = Pair::new(2);
    let id1 = p.id(1);
    let dst1 = SocketAddr::new(IpAddr::V4(p.clients[1].v4), 7078);
    assert_eq!(
        p.server.send_udp(p.now, id1, SIP, dst1, b"x", &mut p.sbuf),
        Err(SendError::NoEndpoint("worker1".into()))
    );
    p.handshake(0);
    assert!(matches!(
        p.client_udp(0, false, SIP, b"x"),
        Outcome::Deliver { .. }
    ));
    // Let the session expire, then the server has something to say (an incoming call).
    p.advance(DEFAULT_IDLE_TIMEOUT + Duration::from_secs(1));
    p.server.handle_timeout(p.now);
    assert_eq!(p.server.live_sessions(), 0);
    let dst = SocketAddr::new(IpAddr::V4(p.clients[0].v4), 7078);
    let t = p
        .server
        .send_udp(p.now, p.id(0), SIP, dst, b"INVITE", &mut p.sbuf)
        .unwrap()
        .unwrap();
    assert_eq!(t.dst, p.clients[0].outer, "to the last confirmed endpoint");
    assert_eq!(t.data[0], 1, "a handshake initiation; the packet is queued");
    let init = t.data.to_vec();
    assert_eq!(p.server.counters().handshakes_initiated, 1);
    // The client answers (it is the responder now) ...
    let (net, _) = p.client_gets(0, &init);
    assert_eq!(net.len(), 1);
    // ... the server's answer to the response is a keepalive, then the queued INVITE.
    let Outcome::Transmit(_, keepalive) = p.server_gets(0, &net[0]) else {
        panic!()
    };
    let mut queued = p.drain_server();
    assert_eq!(queued.len(), 1, "the queued packet is flushed");
    let (_, inner) = p.client_gets(0, &keepalive);
    assert!(inner.is_empty());
    let (dst_out, data) = queued.remove(0);
    assert_eq!(dst_out, p.clients[0].outer);
    let (_, inner) = p.client_gets(0, &data);
    assert_udp_packet(&inner[0], sbc4(SIP), dst, b"INVITE");
}

#[test]
fn send_udp_checks_its_arguments() {
    let mut p = Pair::new(2);
    p.handshake(0);
    let id = p.id(0);
    let other = SocketAddr::new(IpAddr::V4(p.clients[1].v4), 1);
    assert!(matches!(
        p.server.send_udp(p.now, id, SIP, other, b"x", &mut p.sbuf),
        Err(SendError::NotPeerAddress { .. })
    ));
    let mine = SocketAddr::new(IpAddr::V4(p.clients[0].v4), 1);
    let mut small = [0u8; 100];
    assert!(matches!(
        p.server
            .send_udp(p.now, id, SIP, mine, &[0; 200], &mut small),
        Err(SendError::BufferTooSmall { .. })
    ));
    assert!(matches!(
        p.server
            .send_udp(p.now, id, SIP, mine, &[0; 70_000], &mut p.sbuf),
        Err(SendError::TooLarge { .. })
    ));
}

#[test]
fn peer_list_errors_name_the_problem_and_change_nothing() {
    let mut p = Pair::new(2);
    p.handshake(0);
    let a = p.clients[0].spec();
    let mut dup_key = p.clients[1].spec();
    dup_key.public_key = a.public_key;
    let err = p.server.set_peers(vec![a.clone(), dup_key]).unwrap_err();
    assert!(
        err.to_string().contains("worker0") && err.to_string().contains("same public key"),
        "{err}"
    );
    let mut dup_addr = p.clients[1].spec();
    dup_addr.addresses = a.addresses.clone();
    assert!(matches!(
        p.server.set_peers(vec![a, dup_addr]),
        Err(drawbridge_tunnel::ConfigError::DuplicateAddress { .. })
    ));
    let mut sbc = p.clients[1].spec();
    sbc.addresses = vec![IpAddr::V4(SBC_V4)];
    assert!(matches!(
        p.server.set_peers(vec![sbc]),
        Err(drawbridge_tunnel::ConfigError::AddressIsServer { .. })
    ));
    let me = PeerSpec::new("me", p.server_public, vec![]);
    assert!(matches!(
        p.server.set_peers(vec![me]),
        Err(drawbridge_tunnel::ConfigError::ServerKey { .. })
    ));
    assert_eq!(p.server.peer_count(), 2);
    assert_eq!(
        p.server.live_sessions(),
        1,
        "a rejected list changes nothing"
    );
    assert!(matches!(
        p.client_udp(0, false, SIP, b"x"),
        Outcome::Deliver { .. }
    ));
}
