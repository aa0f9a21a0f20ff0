//! Interop: a trunk provider whose host vanishes without closing its connection (its
//! link goes down: no FIN, no reset, nothing) is noticed by drawbridge's TCP keep-alive
//! within the configured time, not at the 300 s idle timeout. Runs as root in network
//! namespaces this test creates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::{Duration, Instant};

use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::{assert_metrics, wait_for_file};

/// The provider: connects over TCP, sends one OPTIONS, says so, then keeps the connection
/// open without a word.
const PROVIDER: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"OPTIONS sip:sbc.lab.example SIP/2.0\r\n"
          b"Via: SIP/2.0/TCP 198.18.1.10:5060;branch=z9hG4bK-ka1\r\n"
          b"From: <sip:provider@198.18.1.10>;tag=1\r\nTo: <sip:sbc.lab.example>\r\n"
          b"Call-ID: dead-peer-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
print("CONNECTED", s.getsockname(), flush=True)
time.sleep(120)
"#;

#[test]
fn a_provider_whose_link_goes_down_is_dropped_by_tcp_keepalive() {
    if !require(&["ip", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::internet(&[("provider", "198.18.1.10/24")]);

    // 1 s idle: probes at 1, 2, 3 s of silence, dead after 4 s.
    let log = lab.drawbridge_with(
        dir.path(),
        r#"
[sip]
listen_tls = "off"
listen_tcp = "198.18.1.2:5060"
advertised_host = "sbc.lab.example"
tcp_keepalive_secs = 1

{PROVIDER_TRUNK}
allow = ["198.18.1.10"]
transport = "tcp"

{NO_PBX}

[admin]
metrics_listen = "127.0.0.1:9090"
"#,
        "metrics served",
        Duration::from_secs(20),
    );

    let provider_log = dir.path().join("provider.log");
    lab.spawn(
        "provider",
        "python3",
        &["-c", PROVIDER, "198.18.1.2", "5060"],
        &provider_log,
    );
    wait_for_file(&provider_log, "CONNECTED", Duration::from_secs(10));
    // Let drawbridge answer the OPTIONS and the provider acknowledge it: the connection
    // is healthy and idle when the provider disappears.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("keepalive timeout"),
        "a healthy connection must not time out"
    );

    let gone = Instant::now();
    lab.run_ok_in("provider", "ip", &["link", "set", "eth0", "down"]);
    let line = wait_for_file(&log, "keepalive timeout", Duration::from_secs(20));
    let took = gone.elapsed();
    eprintln!("noticed after {took:?}: {line}");
    assert!(line.contains("198.18.1.10"), "the peer is named: {line}");
    assert!(
        took >= Duration::from_secs(1) && took <= Duration::from_secs(10),
        "noticed after {took:?}; expected about 4 s (1 s idle + 3 probes 1 s apart)"
    );

    // Counted, once; the idle timeout played no part.
    assert_metrics(
        &lab.metrics(Duration::from_millis(1500)),
        &[
            ("drawbridge_sip_dead_peers_total", 1.0),
            ("drawbridge_sip_idle_timeouts_total", 0.0),
        ],
    );
}
