//! Replays every fuzz corpus and regression file through the fuzz entry points, on stable.

// Test support: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::Instant;

fn files(target: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut v = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(rd) = fs::read_dir(root.join(dir).join(target)) {
            for e in rd {
                let p = e.unwrap().path();
                if p.is_file() {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn inner_ip_corpus() {
    let f = files("inner_ip");
    assert!(
        f.len() >= 20,
        "inner_ip seed corpus missing ({} files)",
        f.len()
    );
    for p in f {
        drawbridge_tunnel::fuzzing::inner_ip(&fs::read(&p).unwrap());
    }
}

#[test]
fn wg_dispatch_corpus() {
    let f = files("wg_dispatch");
    assert!(
        f.len() >= 10,
        "wg_dispatch seed corpus missing ({} files)",
        f.len()
    );
    #[allow(clippy::disallowed_methods)] // the replay needs one starting instant
    let start = Instant::now();
    for p in f {
        drawbridge_tunnel::fuzzing::wg_dispatch(start, &fs::read(&p).unwrap());
    }
}

/// The seeds were written by an independent generator (Python, own checksum code): the
/// valid ones must get through, so the fuzzer starts from packets that reach deep.
#[test]
fn valid_seeds_are_accepted() {
    use drawbridge_tunnel::{UdpPorts, Verdict, VirtualHost};
    let mut ports = UdpPorts::none();
    ports.open(5060).open_range(10_000..=10_099);
    let host = VirtualHost::new(
        Some("100.64.0.1".parse().unwrap()),
        Some("fd00::1".parse().unwrap()),
        ports,
    );
    let peer = ["100.64.0.2".parse().unwrap(), "fd00::2".parse().unwrap()];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/inner_ip");
    for (name, udp) in [
        ("udp4_sip", true),
        ("udp4_rtp", true),
        ("udp4_nocsum", true),
        ("udp4_options", true),
        ("udp6_sip", true),
        ("udp6_rtp", true),
        ("icmp4_echo", false),
        ("icmp6_echo", false),
    ] {
        let data = fs::read(dir.join(name)).unwrap();
        let v = host.inspect(&data[1..], &peer);
        assert_eq!(matches!(v, Verdict::Udp { .. }), udp, "{name}: {v:?}");
        assert_eq!(matches!(v, Verdict::EchoRequest), !udp, "{name}: {v:?}");
    }
}
