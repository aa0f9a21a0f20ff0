//! Interop: a source outside every trunk's allowlist gets nothing — no TLS handshake, no
//! SIP response — while the allowlisted provider completes TLS. The attacker is the real
//! sipvicious `svmap`. Runs as root in network namespaces this test creates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use drawbridge_tests::assert_metrics;
use drawbridge_tests::netns::{Lab, require};

const TLS_PROBE: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
        with ctx.wrap_socket(s) as t:
            print("HANDSHAKE", t.version())
except Exception as e:
    print("FAILED", type(e).__name__, e)
"#;

const UDP_PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
msg = (b"OPTIONS sip:100@" + sys.argv[1].encode() + b" SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 198.18.1.66:5099;branch=z9hG4bK-probe\r\n"
       b"From: <sip:probe@198.18.1.66>;tag=1\r\nTo: <sip:100@" + sys.argv[1].encode() + b">\r\n"
       b"Call-ID: probe-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.sendto(msg, (sys.argv[1], int(sys.argv[2])))
try:
    data, _ = s.recvfrom(65535)
    print("ANSWER", data[:40])
except socket.timeout:
    print("SILENCE")
"#;

#[test]
fn non_allowlisted_sources_get_silence_and_the_provider_gets_tls() {
    if !require(&["ip", "python3", "svmap"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::internet(&[
        ("provider", "198.18.1.10/24"),
        ("attacker", "198.18.1.66/24"),
    ]);

    lab.drawbridge_with(
        dir.path(),
        r#"
[sip]
listen_tls = "198.18.1.2:5061"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.lab.example"
{SELF_SIGNED_TLS}

{PROVIDER_TRUNK}
allow = ["198.18.1.10"]

{NO_PBX}

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "debug"
"#,
        "metrics served",
        Duration::from_secs(20),
    );

    // The allowlisted provider completes a TLS handshake.
    let text = lab.python_stdout("provider", TLS_PROBE, &["198.18.1.2", "5061"]);
    assert!(text.starts_with("HANDSHAKE TLSv1."), "provider: {text}");

    // The attacker gets no TLS handshake on the same port.
    let text = lab.python_stdout("attacker", TLS_PROBE, &["198.18.1.2", "5061"]);
    // Not even a SYN-ACK or a reset: the attempt times out as if nothing listened there.
    assert!(
        text.starts_with("FAILED") && text.contains("timed out"),
        "attacker must get silence: {text}"
    );

    // Nor any SIP answer over UDP.
    let text = lab.python_stdout("attacker", UDP_PROBE, &["198.18.1.2", "5060"]);
    assert_eq!(text.trim(), "SILENCE");

    // The real scanner finds nothing.
    let out = lab.output(
        "attacker",
        "timeout",
        &["60", "svmap", "-p", "5060-5061", "198.18.1.2"],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("198.18.1.2:5060") && !text.contains("198.18.1.2:5061"),
        "svmap found drawbridge:\n{text}"
    );

    // The cores' metrics are refreshed every second.
    // The kernel dropped the attacker's packets, so userspace never saw them.
    assert_metrics(
        &lab.metrics(Duration::from_millis(1500)),
        &[
            ("drawbridge_sip_tls_handshakes_total", 1.0),
            ("drawbridge_sip_dropped_not_allowlisted_total", 0.0),
        ],
    );
}
