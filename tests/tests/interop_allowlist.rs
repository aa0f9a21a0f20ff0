//! Interop: a source outside every trunk's allowlist gets nothing — no TLS handshake, no
//! SIP response — while the allowlisted provider completes TLS. The attacker is the real
//! sipvicious `svmap`. Runs as root in network namespaces this test creates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::{binary, metric, wait_for_file};

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

const METRICS: &str = r#"
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9090/metrics", timeout=3).read().decode())
"#;

#[test]
fn non_allowlisted_sources_get_silence_and_the_provider_gets_tls() {
    if !require(&["ip", "python3", "svmap"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::new();
    lab.add_switch("inet");
    lab.link("inet", "dmz", "inet0", "198.18.1.2/24");
    lab.link("inet", "provider", "eth0", "198.18.1.10/24");
    lab.link("inet", "attacker", "eth0", "198.18.1.66/24");

    let config = dir.path().join("drawbridge.toml");
    std::fs::write(
        &config,
        r#"
[sip]
listen_tls = "198.18.1.2:5061"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.lab.example"
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"
generate_self_signed = true

[[trunk]]
name = "provider"
allow = ["198.18.1.10"]
host = "198.18.1.10"

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "127.0.0.1:5080"

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "debug"
"#,
    )
    .unwrap();
    let log = dir.path().join("drawbridge.log");
    let bin = binary();
    let cfg = config.to_string_lossy().into_owned();
    lab.spawn("dmz", &bin, &["run", "--config", &cfg], &log);
    wait_for_file(&log, "metrics served", Duration::from_secs(20));

    // The allowlisted provider completes a TLS handshake.
    let out = lab.output(
        "provider",
        "python3",
        &["-c", TLS_PROBE, "198.18.1.2", "5061"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HANDSHAKE TLSv1."), "provider: {text}");

    // The attacker gets no TLS handshake on the same port.
    let out = lab.output(
        "attacker",
        "python3",
        &["-c", TLS_PROBE, "198.18.1.2", "5061"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Not even a SYN-ACK or a reset: the attempt times out as if nothing listened there.
    assert!(
        text.starts_with("FAILED") && text.contains("timed out"),
        "attacker must get silence: {text}"
    );

    // Nor any SIP answer over UDP.
    let out = lab.output(
        "attacker",
        "python3",
        &["-c", UDP_PROBE, "198.18.1.2", "5060"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SILENCE");

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
    std::thread::sleep(Duration::from_millis(1500));
    let out = lab.output("dmz", "python3", &["-c", METRICS]);
    let m = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        metric(&m, "drawbridge_sip_tls_handshakes_total"),
        Some(1.0),
        "{m}"
    );
    // The kernel dropped the attacker's packets, so userspace never saw them.
    assert_eq!(
        metric(&m, "drawbridge_sip_dropped_not_allowlisted_total"),
        Some(0.0),
        "{m}"
    );
}
