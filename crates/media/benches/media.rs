//! Hot-path throughput of `MediaTable::handle_packet` and memory per session.
//!
//! `cargo bench -p drawbridge-media` prints a table. Packets go round-robin over every
//! RTP stream (both directions of every session), with virtual time advancing 20 ms per
//! full round, as real 50 pps G.711 traffic would. A counting global allocator measures
//! the table's heap and proves the per-packet path allocates nothing.
// The bench reads the real clock to time itself; the core never does.
#![allow(clippy::disallowed_methods)]
// A bench is a test harness: a failed setup should panic loudly.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use drawbridge_media::{
    Decision, Direction, InterfaceId, LatchMode, LegSpec, LocalPort, MediaConfig, MediaTable,
    RemoteSpec,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Packets timed per configuration (bounded run time: a few seconds in total).
const PACKETS: u64 = 4_000_000;

struct Stream {
    port: LocalPort,
    src: SocketAddr,
}

struct Row {
    sessions: usize,
    decisions_per_s: f64,
    ns_per_decision: f64,
    forwarded: u64,
    done: u64,
    hot_allocs: usize,
    table_new_bytes: usize,
    bytes_per_session: f64,
}

fn remote(ip: Ipv4Addr, port: u16, latch: LatchMode) -> RemoteSpec {
    RemoteSpec::from_sdp(IpAddr::V4(ip), port, None, Direction::SendRecv, latch)
}

fn run(sessions: usize) -> Row {
    let base = Instant::now();
    let config = MediaConfig {
        interfaces: vec![
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1)),
        ],
        port_min: 20000,
        port_max: 20000 + u16::try_from(sessions * 2).unwrap() - 1,
        ..MediaConfig::default()
    };
    let region = Region::new(GLOBAL);
    let mut table = MediaTable::new(config).unwrap();
    let table_new_bytes = region.change().bytes_allocated;

    let region = Region::new(GLOBAL);
    let mut streams = Vec::with_capacity(sessions * 2);
    let nat = LatchMode::LatchOnce {
        allowed: "198.19.0.0/16".parse().unwrap(),
    };
    for i in 0..sessions {
        let n = u16::try_from(i).unwrap();
        let trunk = Ipv4Addr::new(198, 18, 1 + (i / 250) as u8, (i % 250) as u8 + 1);
        let phone = Ipv4Addr::new(198, 19, 1 + (i / 250) as u8, (i % 250) as u8 + 1);
        let info = table
            .create_session(
                base,
                i as u64,
                LegSpec {
                    interface: InterfaceId(0),
                    remote: remote(trunk, 40000 + 2 * (n % 1000), LatchMode::Strict),
                },
                LegSpec {
                    interface: InterfaceId(1),
                    remote: remote(Ipv4Addr::new(10, 0, 0, 1), 50000, nat),
                },
            )
            .unwrap();
        streams.push(Stream {
            port: LocalPort {
                interface: info.local[0].interface,
                port: info.local[0].rtp_port,
            },
            src: SocketAddr::new(IpAddr::V4(trunk), 40000 + 2 * (n % 1000)),
        });
        streams.push(Stream {
            port: LocalPort {
                interface: info.local[1].interface,
                port: info.local[1].rtp_port,
            },
            src: SocketAddr::new(IpAddr::V4(phone), 61000),
        });
    }
    let setup = region.change();
    // Heap the sessions added to the table (minus the bench's own `streams` vector).
    let streams_bytes = streams.capacity() * size_of::<Stream>();
    let bytes_per_session =
        (setup.bytes_allocated - setup.bytes_deallocated - streams_bytes) as f64 / sessions as f64;

    let mut packet = [0u8; 172];
    packet[0] = 0x80;
    packet[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    let tick = Duration::from_millis(20);
    let mut now = base;
    let mut forwarded = 0u64;
    let region = Region::new(GLOBAL);
    let start = Instant::now();
    let mut seq = 0u16;
    let mut done = 0u64;
    while done < PACKETS {
        now += tick;
        seq = seq.wrapping_add(1);
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        for s in &streams {
            let d = table.handle_packet(now, s.port, s.src, black_box(&packet));
            if let Decision::Forward { .. } = black_box(d) {
                forwarded += 1;
            }
        }
        done += streams.len() as u64;
    }
    let elapsed = start.elapsed();
    let hot_allocs = region.change().allocations;
    Row {
        sessions,
        decisions_per_s: done as f64 / elapsed.as_secs_f64(),
        ns_per_decision: elapsed.as_nanos() as f64 / done as f64,
        forwarded,
        done,
        hot_allocs,
        table_new_bytes,
        bytes_per_session,
    }
}

fn main() {
    println!(
        "{:>8} {:>8} {:>14} {:>8} {:>10} {:>11} {:>13} {:>13}",
        "sessions",
        "streams",
        "decisions/s",
        "ns/dec",
        "forwarded",
        "hot allocs",
        "table::new B",
        "B/session"
    );
    for sessions in [1_000, 4_000] {
        let r = run(sessions);
        println!(
            "{:>8} {:>8} {:>14.0} {:>8.1} {:>9.1}% {:>11} {:>13} {:>13.0}",
            r.sessions,
            r.sessions * 2,
            r.decisions_per_s,
            r.ns_per_decision,
            100.0 * r.forwarded as f64 / r.done.max(1) as f64,
            r.hot_allocs,
            r.table_new_bytes,
            r.bytes_per_session
        );
        assert_eq!(r.hot_allocs, 0, "the packet path allocated");
    }
}
