//! Data-path throughput, memory per peer and handshake rate of the tunnel server.
//! `cargo bench -p drawbridge-tunnel` prints a table. Bounded loops, no criterion.

// A benchmark measures wall-clock time, and may unwrap: a panic is a failed run.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use drawbridge_tunnel::{Action, BUFFER_LEN, PeerSpec, Server, ServerConfig, UdpPorts, keys};
use etherparse::PacketBuilder;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Counts heap bytes (stats_alloc: the workspace forbids our own `unsafe`), to measure what
/// the server keeps per peer and that the data path does not allocate.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes now.
fn live() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

const SBC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const PAYLOAD: usize = 160;

struct Client {
    tunn: Tunn,
    outer: SocketAddr,
    inner: Ipv4Addr,
    packet: Vec<u8>,
}

fn inner_addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(100, 65 + (i >> 16) as u8, (i >> 8) as u8, i as u8)
}

fn setup(n: u32, limit: u64) -> (Server, Vec<Client>, [u8; 32]) {
    let sk = keys::generate_private();
    let spk = keys::public_of(&sk);
    let mut clients = Vec::new();
    let mut specs = Vec::new();
    for i in 0..n {
        let k = keys::generate_private();
        let inner = inner_addr(i);
        specs.push(PeerSpec::new(
            format!("w{i}"),
            keys::public_of(&k),
            vec![IpAddr::V4(inner)],
        ));
        let mut packet = Vec::new();
        PacketBuilder::ipv4(inner.octets(), SBC.octets(), 64)
            .udp(4000, 10_000)
            .write(&mut packet, &[0x80; PAYLOAD])
            .unwrap();
        clients.push(Client {
            tunn: Tunn::new(
                StaticSecret::from(k),
                PublicKey::from(spk),
                None,
                None,
                i,
                None,
            ),
            outer: SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8)),
                40_000,
            ),
            inner,
            packet,
        });
    }
    let mut ports = UdpPorts::none();
    ports.open(5060).open_range(10_000..=20_000);
    let mut cfg = ServerConfig::new(sk, Some(SBC), None, ports);
    cfg.handshakes_per_second = limit;
    (Server::new(cfg, specs).unwrap(), clients, spk)
}

fn handshake(server: &mut Server, c: &mut Client, now: Instant, sbuf: &mut [u8], cbuf: &mut [u8]) {
    let init = match c.tunn.format_handshake_initiation(cbuf, true) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("init"),
    };
    let resp = match server.handle_datagram(now, c.outer, &init, sbuf) {
        Action::Transmit(t) => t.data.to_vec(),
        other => panic!("{other:?}"),
    };
    let ka = match c.tunn.decapsulate(None, &resp, cbuf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("resp"),
    };
    assert_eq!(
        server.handle_datagram(now, c.outer, &ka, sbuf),
        Action::Nothing
    );
}

fn throughput(n: u32, rounds: u32) -> (f64, f64, f64) {
    let (mut server, mut clients, _) = setup(n, 1_000_000);
    let now = Instant::now();
    let mut sbuf = vec![0u8; BUFFER_LEN];
    let mut cbuf = vec![0u8; BUFFER_LEN];
    let mut dgram = vec![0u8; BUFFER_LEN];
    for c in &mut clients {
        handshake(&mut server, c, now, &mut sbuf, &mut cbuf);
    }
    let id: Vec<_> = (0..n)
        .map(|i| server.peer_by_name(&format!("w{i}")).unwrap())
        .collect();
    let live_before = live();
    let allocs_before = GLOBAL.stats().allocations;
    let t0 = Instant::now();
    for r in 0..rounds {
        let i = (r % n) as usize;
        let c = &mut clients[i];
        let len = match c.tunn.encapsulate(&c.packet, &mut cbuf) {
            TunnResult::WriteToNetwork(p) => p.len(),
            _ => panic!("client encapsulate"),
        };
        dgram[..len].copy_from_slice(&cbuf[..len]);
        let (src, payload_len) =
            match server.handle_datagram(now, c.outer, &dgram[..len], &mut sbuf) {
                Action::Deliver(d) => (d.src, d.payload.len()),
                other => panic!("{other:?}"),
            };
        // Echo the payload back (a relay would send a different one; same cost).
        let payload = [0x80u8; PAYLOAD];
        let t = server
            .send_udp(now, id[i], 10_000, src, &payload[..payload_len], &mut sbuf)
            .unwrap()
            .unwrap();
        let tlen = t.data.len();
        dgram[..tlen].copy_from_slice(&sbuf[..tlen]);
        match c.tunn.decapsulate(None, &dgram[..tlen], &mut cbuf) {
            TunnResult::WriteToTunnelV4(p, _) => {
                black_box(p);
            }
            other => panic!("client decapsulate {other:?}"),
        }
        debug_assert_eq!(
            c.inner,
            Ipv4Addr::from([100, 65 + (i >> 16) as u8, (i >> 8) as u8, i as u8])
        );
    }
    let dt = t0.elapsed().as_secs_f64();
    // Steady state must not grow the heap (boringtun's per-packet path is allocation-free too).
    let grown = live() - live_before;
    let allocs = GLOBAL.stats().allocations - allocs_before;
    (
        f64::from(rounds) / dt,
        grown as f64,
        allocs as f64 / f64::from(rounds),
    )
}

fn memory(n: u32) -> (f64, f64) {
    // The specs' own memory is built before the first reading and freed inside `new`.
    let sk = keys::generate_private();
    let specs: Vec<PeerSpec> = (0..n)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k[31] = 1;
            PeerSpec::new(format!("worker-{i:05}"), k, vec![IpAddr::V4(inner_addr(i))])
        })
        .collect();
    let spec_bytes: isize = specs
        .iter()
        .map(|s| (s.name.capacity() + s.addresses.capacity() * size_of::<IpAddr>()) as isize)
        .sum::<isize>()
        + (specs.capacity() * size_of::<PeerSpec>()) as isize;
    let empty = {
        let before = live();
        let s = Server::new(
            ServerConfig::new(sk, Some(SBC), None, UdpPorts::none()),
            vec![],
        )
        .unwrap();
        let b = live() - before;
        drop(s);
        b
    };
    let before = live() - spec_bytes;
    let server = Server::new(
        ServerConfig::new(sk, Some(SBC), None, UdpPorts::none()),
        specs,
    )
    .unwrap();
    let after = live();
    let per_peer = (after - before - empty) as f64 / f64::from(n);
    black_box(&server);
    (per_peer, empty as f64)
}

fn session_memory(n: u32) -> f64 {
    let (mut server, mut clients, _) = setup(n, 1_000_000);
    let now = Instant::now();
    let mut sbuf = vec![0u8; BUFFER_LEN];
    let mut cbuf = vec![0u8; BUFFER_LEN];
    let before = live();
    for c in &mut clients {
        handshake(&mut server, c, now, &mut sbuf, &mut cbuf);
    }
    let after = live();
    // Clients were created before the first reading; their handshake state is fixed-size, so
    // the growth is the server's sessions (plus the heap's own rounding).
    (after - before) as f64 / f64::from(n)
}

fn handshakes_per_second(n: u32, rounds: u32) -> f64 {
    let (mut server, mut clients, _) = setup(n, 1_000_000_000);
    let now = Instant::now();
    let mut sbuf = vec![0u8; BUFFER_LEN];
    let mut cbuf = vec![0u8; BUFFER_LEN];
    let mut total = Duration::ZERO;
    let mut count = 0u32;
    for _ in 0..rounds {
        let inits: Vec<(SocketAddr, Vec<u8>)> = clients
            .iter_mut()
            .map(
                |c| match c.tunn.format_handshake_initiation(&mut cbuf, true) {
                    TunnResult::WriteToNetwork(p) => (c.outer, p.to_vec()),
                    _ => panic!("init"),
                },
            )
            .collect();
        let t0 = Instant::now();
        for (src, init) in &inits {
            match server.handle_datagram(now, *src, init, &mut sbuf) {
                Action::Transmit(t) => {
                    black_box(t);
                    count += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        total += t0.elapsed();
        // boringtun's timestamps must increase between a peer's initiations.
        std::thread::sleep(Duration::from_millis(20));
    }
    f64::from(count) / total.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 2_000 } else { 300_000 };
    println!(
        "drawbridge-tunnel benchmark ({}; 1 thread)",
        if quick { "quick" } else { "full" }
    );
    println!();
    println!(
        "| data path: 160 B UDP payload, client encap -> server handle_datagram -> send_udp echo -> client decap |"
    );
    println!(
        "| peers | round trips/s | packets/s (both ways) | ns/round trip | allocations/round trip | heap growth |"
    );
    println!(
        "|------:|--------------:|----------------------:|--------------:|-----------------------:|------------:|"
    );
    for n in [1u32, 100, 1000] {
        let (rtps, grown, allocs) = throughput(n, rounds);
        println!(
            "| {n:>5} | {rtps:>13.0} | {:>21.0} | {:>13.0} | {allocs:>22.2} | {grown:>9.0} B |",
            rtps * 2.0,
            1e9 / rtps
        );
    }
    println!();
    let n = if quick { 1000 } else { 10_000 };
    let (per_peer, fixed) = memory(n);
    let per_session = session_memory(if quick { 50 } else { 1000 });
    let hs = handshakes_per_second(if quick { 50 } else { 1000 }, if quick { 1 } else { 3 });
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| heap per idle configured peer ({n} peers) | {per_peer:.0} B |");
    println!("| fixed heap of an empty server | {fixed:.0} B |");
    println!("| extra heap per live session (boringtun Tunn) | {per_session:.0} B |");
    println!("| handshakes/s (server side only, responses produced) | {hs:.0} |");
}
