//! Interop with the real attack tools (SIPVicious): the three-stage attack against
//! drawbridge from a source inside a trunk's allowlist (the worst case: an attacker in
//! the provider's range), with a real PBX behind drawbridge that has extensions and a
//! weak password. drawbridge must not be identified, enumerated or cracked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use drawbridge_tests::assert_metrics;
use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::sipp::Sipp;

const CONFIG: &str = r#"
[sip]
listen_tls = "off"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.example.net"

{PROVIDER_TRUNK}
allow = ["198.18.1.0/26"]
transport = "udp"
port = 5060

{PBX}

[media]
{MEDIA_ADDRESSES}

{ADMIN}
"#;

#[test]
fn sipvicious_finds_nothing_to_enumerate_or_crack() {
    if !require(&["ip", "svmap", "svwar", "svcrack", "sipp", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut lab = Lab::sbc(&[("attacker", "198.18.1.20/24")]);
    // The PBX answers everything (so anything that reached it would be visible).
    let uas = Sipp::uas().at("198.18.2.10", 5060).timeout(120);
    uas.spawn(&mut lab, "pbx", &d.join("uas.log"));
    lab.drawbridge_with(
        d,
        CONFIG,
        "LAN leg to the PBX bound",
        Duration::from_secs(20),
    );

    let run = |args: &[&str]| -> String {
        let mut all = vec!["120"];
        all.extend_from_slice(args);
        let out = lab.output("attacker", "timeout", &all);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // A tool that crashed would "find nothing" too: make sure it really ran.
        assert!(
            !text.contains("Traceback") && !text.contains("command not found"),
            "{args:?} did not run:\n{text}"
        );
        eprintln!("{args:?}:\n{text}");
        text
    };
    // Stage 1: the scanner does not find a SIP device (its User-Agent is banned on sight).
    let scan = run(&["svmap", "-p", "5060", "198.18.1.2"]);
    assert!(
        !scan.contains("198.18.1.2:5060"),
        "svmap identified drawbridge:\n{scan}"
    );
    // Stage 2: no extension is found.
    let war = run(&["svwar", "-m", "REGISTER", "-e", "100-120", "198.18.1.2"]);
    for ext in ["| 100 ", "| 101 ", "| 110 "] {
        assert!(!war.contains(ext), "svwar enumerated an extension:\n{war}");
    }
    // Stage 3: no password is cracked.
    let crack = run(&["svcrack", "-u", "101", "-r", "1000-1100", "198.18.1.2"]);
    assert!(
        !crack.to_lowercase().contains("| 101"),
        "svcrack found a password:\n{crack}"
    );

    let m = lab.metrics(Duration::from_millis(1500));
    let events: f64 = m
        .lines()
        .filter(|l| l.starts_with("drawbridge_security_events_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(
        events >= 1.0,
        "the attack is recorded as security events:\n{m}"
    );
    assert_metrics(&m, &[("drawbridge_b2bua_calls_started_total", 0.0)]);
}
