//! Entry points shared by the fuzz targets (`fuzz/`) and the stable corpus replay test
//! (`tests/fuzz_corpus.rs`), so CI replays every corpus and crash file without nightly.
//! Each takes arbitrary bytes, must never panic, and asserts the invariants that matter.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};

use crate::host::{Verdict, VirtualHost};
use crate::{Action, BUFFER_LEN, PeerSpec, Server, ServerConfig, UdpPorts};

const SBC_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const SBC_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

fn ports() -> UdpPorts {
    let mut p = UdpPorts::none();
    p.open(5060).open_range(10_000..=10_099);
    p
}

/// Fuzz entry for the inner-packet parser. The first byte holds flags: bit 0 rewrites the
/// addresses to the peer's and drawbridge's and bit 1 repairs the checksums, so the fuzzer
/// gets past those checks; the rest is the packet.
///
/// Checked: `inspect` never panics; a UDP verdict's payload lies inside the packet and its
/// port is open; an echo reply is well formed (a host at the peer's address parses it as a
/// valid ICMP echo reply); `write_udp` round-trips through `inspect`.
pub fn inner_ip(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut packet = rest.to_vec();
    if flags & 1 != 0 {
        set_addresses(&mut packet);
    }
    if flags & 2 != 0 {
        fix_checksums(&mut packet);
    }
    let host = VirtualHost::new(Some(SBC_V4), Some(SBC_V6), ports());
    let peer = [IpAddr::V4(PEER_V4), IpAddr::V6(PEER_V6)];
    // The mirror image: a host at the peer's addresses receiving from drawbridge.
    let mut all = UdpPorts::none();
    all.open_range(0..=u16::MAX);
    let mirror = VirtualHost::new(Some(PEER_V4), Some(PEER_V6), all);
    let sbc = [IpAddr::V4(SBC_V4), IpAddr::V6(SBC_V6)];
    match host.inspect(&packet, &peer) {
        Verdict::Udp { src, dst, payload } => {
            assert!(payload.end <= packet.len() && payload.start <= payload.end);
            assert!(host.ports().is_open(dst.port()) && host.is_own(dst.ip()));
            assert!(peer.contains(&src.ip()));
        }
        Verdict::EchoRequest => {
            let mut out = vec![0; packet.len()];
            let n = host.write_echo_reply(&packet, &mut out);
            let n = n.unwrap_or_else(|| panic!("no reply to an accepted echo request"));
            assert!(n <= packet.len());
            // An echo reply is not something the host accepts, but it must parse cleanly
            // (checksums right) to reach that decision.
            assert_eq!(
                mirror.inspect(&out[..n], &sbc),
                Verdict::Drop(crate::DropReason::UnsupportedProtocol)
            );
        }
        Verdict::Drop(_) => {}
    }
    // Round trip: whatever bytes, sent as a UDP payload, come back out unchanged.
    let payload = rest.get(..rest.len().min(1400)).unwrap_or_default();
    for dst in [IpAddr::V4(PEER_V4), IpAddr::V6(PEER_V6)] {
        let mut out = vec![0; payload.len() + 48];
        let port = u16::from(flags) << 8 | 0x55;
        let Some(n) = host.write_udp(5060, SocketAddr::new(dst, port), payload, &mut out) else {
            panic!("write_udp failed for a small payload")
        };
        match mirror.inspect(&out[..n], &sbc) {
            Verdict::Udp {
                payload: r, src, ..
            } => {
                assert_eq!(&out[r], payload);
                assert_eq!(src.port(), 5060);
            }
            other => panic!("own UDP packet rejected: {other:?}"),
        }
    }
}

fn set_addresses(p: &mut [u8]) {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            p[12..16].copy_from_slice(&PEER_V4.octets());
            p[16..20].copy_from_slice(&SBC_V4.octets());
        }
        Some(6) if p.len() >= 40 => {
            p[8..24].copy_from_slice(&PEER_V6.octets());
            p[24..40].copy_from_slice(&SBC_V6.octets());
        }
        _ => {}
    }
}

fn csum(data: &[u8], mut acc: u64) -> u16 {
    for c in data.chunks(2) {
        acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Recomputes IPv4 header, UDP, ICMP and ICMPv6 checksums where the lengths allow.
fn fix_checksums(p: &mut [u8]) {
    let (hdr, proto, pseudo) = match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = usize::from(p[0] & 0xf) * 4;
            if ihl < 20 || ihl > p.len() {
                return;
            }
            p[10..12].fill(0);
            let c = csum(&p[..ihl], 0);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            let s: u64 = p[12..20]
                .chunks(2)
                .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            (ihl, p[9], s)
        }
        Some(6) if p.len() >= 40 => {
            let s: u64 = p[8..40]
                .chunks(2)
                .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            (40, p[6], s)
        }
        _ => return,
    };
    let v4 = hdr != 40 || p[0] >> 4 == 4;
    let total = if v4 {
        usize::from(u16::from_be_bytes([p[2], p[3]]))
    } else {
        40 + usize::from(u16::from_be_bytes([p[4], p[5]]))
    };
    let end = total.min(p.len()).max(hdr);
    let body = &mut p[hdr..end];
    match proto {
        17 if body.len() >= 8 => {
            let len = usize::from(u16::from_be_bytes([body[4], body[5]])).min(body.len());
            body[6..8].fill(0);
            let c = csum(&body[..len], pseudo + 17 + len as u64);
            body[6..8].copy_from_slice(&c.to_be_bytes());
        }
        1 if v4 && body.len() >= 4 => {
            body[2..4].fill(0);
            let c = csum(body, 0);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
        58 if !v4 && body.len() >= 4 => {
            body[2..4].fill(0);
            let c = csum(body, pseudo + 58 + body.len() as u64);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// Fuzz entry for the datagram dispatcher, from virtual time `start`: a server with two peers, one of which (driven by
/// a boringtun client) has completed a handshake. The input is a list of operations
/// `[op, len, bytes...]`:
/// 0: a raw datagram from an outer address; 1: the bytes as an inner packet, encrypted by the
/// client (flag bits as in [`inner_ip`]); 2: advance time and run the timers; 3: `send_udp`
/// the bytes to the client, which must decrypt them; 4: change the peer list.
///
/// Checked: no panic; nothing is ever transmitted to an address that did not send an
/// authenticated packet, except cookie replies; `poll_transmit` terminates.
pub fn wg_dispatch(start: Instant, data: &[u8]) {
    let server_key = [0x11u8; 32];
    let client_key = [0x22u8; 32];
    let other_key = [0x33u8; 32];
    let server_pub = crate::keys::public_of(&server_key);
    let client_pub = crate::keys::public_of(&client_key);
    let other_pub = crate::keys::public_of(&other_key);
    let peers = || {
        vec![
            PeerSpec::new(
                "client",
                client_pub,
                vec![IpAddr::V4(PEER_V4), IpAddr::V6(PEER_V6)],
            ),
            PeerSpec::new(
                "other",
                other_pub,
                vec![IpAddr::V4(Ipv4Addr::new(100, 64, 0, 3))],
            ),
        ]
    };
    let mut config = ServerConfig::new(server_key, Some(SBC_V4), Some(SBC_V6), ports());
    config.handshakes_per_second = 4;
    let Ok(mut server) = Server::new(config, peers()) else {
        panic!("fixed configuration rejected")
    };
    let mut client = Tunn::new(
        StaticSecret::from(client_key),
        PublicKey::from(server_pub),
        None,
        None,
        1,
        None,
    );
    let client_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 40_000);
    // `now` only moves forward from `start`; no clock is read.
    let mut now = start;
    let mut sbuf = vec![0u8; BUFFER_LEN];
    let mut cbuf = vec![0u8; BUFFER_LEN];

    // Handshake.
    let init = match client.format_handshake_initiation(&mut cbuf, false) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => return,
    };
    let resp = match server.handle_datagram(now, client_addr, &init, &mut sbuf) {
        Action::Transmit(t) => t.data.to_vec(),
        other => panic!("handshake failed: {other:?}"),
    };
    if let TunnResult::WriteToNetwork(k) = client.decapsulate(None, &resp, &mut cbuf) {
        let k = k.to_vec();
        let _ = server.handle_datagram(now, client_addr, &k, &mut sbuf);
    }

    let mut rest = data;
    let mut step = 0;
    while let [op, len, tail @ ..] = rest {
        step += 1;
        if step > 64 {
            break;
        }
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match op % 5 {
            0 => {
                let src = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(198, 18, 7, *len)),
                    u16::from(*op) << 8,
                );
                match server.handle_datagram(now, src, chunk, &mut sbuf) {
                    Action::Transmit(t) => {
                        // Only a cookie reply may go to an unauthenticated source.
                        assert!(t.data.len() == 64 && t.data[0] == 3, "answered garbage");
                        assert_eq!(t.dst, src);
                    }
                    Action::Deliver(_) => panic!("garbage delivered"),
                    _ => {}
                }
            }
            1 => {
                let mut pkt = chunk.to_vec();
                if op & 0x20 != 0 {
                    set_addresses(&mut pkt);
                }
                if op & 0x40 != 0 {
                    fix_checksums(&mut pkt);
                }
                if let TunnResult::WriteToNetwork(d) = client.encapsulate(&pkt, &mut cbuf) {
                    let d = d.to_vec();
                    match server.handle_datagram(now, client_addr, &d, &mut sbuf) {
                        Action::Deliver(dl) => {
                            assert!(dl.payload.len() <= pkt.len());
                            assert_eq!(dl.src.ip(), inner_src(&pkt));
                        }
                        Action::Transmit(t) => {
                            let t = t.data.to_vec();
                            let _ = client.decapsulate(None, &t, &mut cbuf);
                        }
                        _ => {}
                    }
                }
            }
            2 => {
                now += Duration::from_millis(u64::from(*len) * 1000);
                server.handle_timeout(now);
            }
            3 => {
                let dst = SocketAddr::new(IpAddr::V4(PEER_V4), 7078);
                if let Some(id) = server.peer_by_key(&client_pub)
                    && let Ok(Some(t)) = server.send_udp(now, id, 5060, dst, chunk, &mut sbuf)
                {
                    let t = t.data.to_vec();
                    let _ = client.decapsulate(None, &t, &mut cbuf);
                }
            }
            _ => {
                let mut p = peers();
                match len % 3 {
                    0 => p[1].enabled = false,
                    1 => {
                        p.remove(0);
                    }
                    _ => {}
                }
                if server.set_peers(p).is_err() {
                    panic!("valid peer list rejected");
                }
            }
        }
        let mut polled = 0;
        while let Some(t) = server.poll_transmit(&mut sbuf) {
            polled += 1;
            assert!(polled < 1000, "poll_transmit does not terminate");
            assert_eq!(t.dst, client_addr, "timer output to an unknown endpoint");
        }
    }
    assert!(now >= start);
}

fn inner_src(p: &[u8]) -> IpAddr {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
        Some(6) if p.len() >= 40 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&p[8..24]);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}
