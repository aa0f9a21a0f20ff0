//! Every message of the SIP torture corpus (crates/sip/tests/torture), sent by the trunk
//! provider to a running drawbridge: malformed ones from this trusted source get an error
//! response or are dropped, nothing reaches the PBX that should not, and drawbridge keeps
//! serving (it still answers an OPTIONS afterwards).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::repo_root;

const CONFIG: &str = r#"
[sip]
listen_tls = "off"
listen_udp = "198.18.1.2:5060"

{PROVIDER_TRUNK}
allow = ["198.18.1.10"]
transport = "udp"

{PBX}

[media]
{MEDIA_ADDRESSES}

[guard]
requests_per_second = 1000

[admin]
metrics_listen = "off"
"#;

const SEND_ALL_PY: &str = r#"
import glob, os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.10", 5099))
s.settimeout(0.3)
answered = 0
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.sip")))
for f in files:
    s.sendto(open(f, "rb").read(), ("198.18.1.2", 5060))
    try:
        while True:
            s.recvfrom(65535); answered += 1
    except socket.timeout:
        pass
ping = (b"OPTIONS sip:198.18.1.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.1.10:5099;branch=z9hG4bK-alive\r\n"
        b"From: <sip:probe@198.18.1.10>;tag=a\r\nTo: <sip:198.18.1.2>\r\nCall-ID: alive-1\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.settimeout(3)
s.sendto(ping, ("198.18.1.2", 5060))
status = "none"
try:
    while True:
        data, _ = s.recvfrom(65535)
        if b"alive-1" in data:
            status = data.split(b"\r\n")[0].decode(); break
except socket.timeout:
    pass
print("SENT", len(files), "ANSWERED", answered, "ALIVE", status)
"#;

#[test]
fn the_torture_corpus_does_not_break_a_running_drawbridge() {
    if !require(&["ip", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::sbc(&[("provider", "198.18.1.10/24")]);
    let log = lab.drawbridge_with(
        dir.path(),
        CONFIG,
        "LAN leg to the PBX bound",
        Duration::from_secs(20),
    );

    let corpus = repo_root().join("crates/sip/tests/torture");
    let text = lab.python_stdout("provider", SEND_ALL_PY, &[corpus.to_str().unwrap()]);
    let line = text
        .lines()
        .find(|l| l.starts_with("SENT"))
        .unwrap_or_else(|| panic!("{text}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let sent: usize = fields[1].parse().unwrap();
    assert!(sent >= 50, "the whole corpus was sent: {line}");
    let answered: usize = fields[3].parse().unwrap();
    assert!(
        answered >= 10,
        "malformed requests from a trusted source get answers: {line}"
    );
    assert!(
        line.ends_with("ALIVE SIP/2.0 200 OK"),
        "drawbridge still serves after the corpus: {line}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(!log_text.contains("panicked"), "{log_text}");
}
