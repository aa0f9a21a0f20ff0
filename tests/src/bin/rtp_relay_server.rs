//! drawbridge's RTP relay on its own, for the RTP relay benchmark: creates N calls with
//! [`RtpRelay`] through its Rust API (the counterpart of rtpengine set up through ng), writes
//! the allocated ports, then relays until SIGTERM or a time limit.
//!
//! Usage:
//!   rtp-relay-server IFACE_A[,IFACE_B] CALLS A_REMOTE B_REMOTE OUT_DIR MAX_SECS [THREADS]
//!
//! Leg A is the caller (`A_REMOTE`, e.g. 198.18.1.10:40000), leg B the callee; both use strict
//! latching, so every packet must come from exactly that address. With one interface both
//! legs share it, as rtpengine's single `--interface` does. `OUT_DIR/ports-a.txt` holds leg
//! A's relay RTP port per call (where the caller sends), `ports-b.txt` leg B's.
//! Prints `READY calls=N rss_before_kb=.. rss_after_kb=.. sockets=..` once set up, and
//! `STATS forwarded=.. dropped_<reason>=.. dropped_send_failed=..` (summed over all calls) on
//! SIGTERM.
//! `THREADS` = tokio worker threads (default: as many as CPUs, like `drawbridge run`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench tool: failing loudly is the point

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use drawbridge_media::{
    Direction, DropReason, InterfaceId, LatchMode, LegSpec, MediaConfig, RemoteSpec,
};
use drawbridge_transport::rtp::RtpRelay;
use tokio::signal::unix::{SignalKind, signal};

/// Resident set size of this process in KiB (`VmRSS` in /proc/self/status).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!(
            "usage: rtp-relay-server IFACE_A[,IFACE_B] CALLS A_REMOTE B_REMOTE OUT_DIR MAX_SECS [THREADS]"
        );
        std::process::exit(2);
    }
    let interfaces: Vec<IpAddr> = args[1].split(',').map(|s| s.parse().unwrap()).collect();
    let calls: usize = args[2].parse().unwrap();
    assert!(calls <= 9000, "at most 9000 calls (4 ports each)");
    let a_remote: SocketAddr = args[3].parse().unwrap();
    let b_remote: SocketAddr = args[4].parse().unwrap();
    let out_dir = Path::new(&args[5]).to_path_buf();
    let max_secs: u64 = args[6].parse::<u64>().unwrap().min(600);
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.get(7) {
        rt.worker_threads(t.parse().unwrap());
    }
    let rt = rt.enable_all().build().unwrap();
    rt.block_on(serve(
        interfaces, calls, a_remote, b_remote, &out_dir, max_secs,
    ));
    rt.shutdown_timeout(Duration::from_millis(200));
}

async fn serve(
    interfaces: Vec<IpAddr>,
    calls: usize,
    a_remote: SocketAddr,
    b_remote: SocketAddr,
    out_dir: &Path,
    max_secs: u64,
) {
    let two = interfaces.len() > 1;
    let config = MediaConfig {
        interfaces,
        port_min: 20000,
        port_max: 59999,
        ..MediaConfig::default()
    };
    let (events_tx, mut events) = tokio::sync::mpsc::channel(1024);
    // Media timeouts would end calls in drawbridge; here nobody ends them, just drain.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let relay = RtpRelay::new(config, events_tx).unwrap();
    let spec = |iface: u8, r: SocketAddr| LegSpec {
        interface: InterfaceId(iface),
        remote: RemoteSpec::from_sdp(
            r.ip(),
            r.port(),
            None,
            Direction::SendRecv,
            LatchMode::Strict,
        ),
    };
    let rss_before = rss_kb();
    let (mut ports_a, mut ports_b) = (String::new(), String::new());
    let mut sessions = Vec::with_capacity(calls);
    for i in 0..calls {
        let (session, info) = relay
            .create_session(i as u64, spec(0, a_remote), spec(u8::from(two), b_remote))
            .unwrap();
        let _ = writeln!(ports_a, "{}", info.local[0].rtp_port);
        let _ = writeln!(ports_b, "{}", info.local[1].rtp_port);
        sessions.push(session);
    }
    // Let the packet tasks start (each allocates its buffer on first poll).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = rss_kb();
    std::fs::write(out_dir.join("ports-a.txt"), ports_a).unwrap();
    std::fs::write(out_dir.join("ports-b.txt"), ports_b).unwrap();
    println!(
        "READY calls={calls} rss_before_kb={rss_before} rss_after_kb={rss_after} sockets={}",
        relay.open_sockets()
    );
    let _ = std::io::stdout().flush();

    let mut term = signal(SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = term.recv() => {}
        () = tokio::time::sleep(Duration::from_secs(max_secs)) => {}
    }
    let mut forwarded = 0u64;
    let mut dropped = [0u64; DropReason::COUNT];
    for s in sessions {
        let Ok(stats) = relay.remove_session(s) else {
            continue;
        };
        for leg in stats.legs {
            for st in [leg.rtp, leg.rtcp] {
                forwarded += st.forwarded_packets;
                for (i, r) in DropReason::ALL.iter().enumerate() {
                    dropped[i] += st.dropped.get(*r);
                }
            }
        }
    }
    let mut line = format!("STATS forwarded={forwarded}");
    for (i, r) in DropReason::ALL.iter().enumerate() {
        let _ = write!(line, " dropped_{}={}", r.as_str(), dropped[i]);
    }
    // Forwarded by the table but refused by a full send buffer.
    let _ = write!(line, " dropped_send_failed={}", relay.send_failures());
    println!("{line}");
    let _ = std::io::stdout().flush();
}
