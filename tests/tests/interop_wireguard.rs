//! Interop with the real WireGuard client: wireguard-go + `wg` in a "worker" namespace,
//! configured from what `drawbridge peer add` prints, against drawbridge in a "dmz"
//! namespace. Proves ping (v4 and v6) and UDP to the SBC's inner address work, that a
//! peer can reach nothing else through the tunnel, and that peer changes apply to a
//! running drawbridge without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::time::{Duration, Instant};

use drawbridge_tests::lab_config::expand;
use drawbridge_tests::netns::{Lab, require, run_ok};
use drawbridge_tests::{
    UDP_PROBE_PY, UDP_SINK_PY, drawbridge, metric, output_with_stdin, wg_quick_field,
};

const CONFIG: &str = r#"
[tunnel]
listen = ["198.18.1.2:51820"]
private_key_file = "secrets/wireguard.key"
generate_key = true
address = ["100.64.0.1/24", "fd64::1/64"]
peers_file = "peers.toml"
endpoint = "198.18.1.2:51820"
echo_port = 7

[sip]
listen_tls = "127.0.0.1:5061"
[sip.tls]
cert_file = "secrets/tls.crt"
key_file = "secrets/tls.key"
generate_self_signed = true

{PBX}

{ADMIN}
"#;

/// The fields of the wg-quick config `peer add` printed.
struct PhoneConfig {
    private_key: String,
    addresses: Vec<String>,
    server_key: String,
    endpoint: String,
    allowed_ips: String,
    keepalive: String,
}

fn field(conf: &str, key: &str) -> String {
    wg_quick_field(conf, key)
        .unwrap_or_else(|| panic!("no {key} in:\n{conf}"))
        .to_owned()
}

fn add_peer(config: &Path, name: &str, ext: &str) -> PhoneConfig {
    let out = drawbridge()
        .args(["peer", "add", name, "--extension", ext, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = String::from_utf8_lossy(&out.stdout).into_owned();
    PhoneConfig {
        private_key: field(&conf, "PrivateKey"),
        addresses: field(&conf, "Address")
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
        server_key: field(&conf, "PublicKey"),
        endpoint: field(&conf, "Endpoint"),
        allowed_ips: field(&conf, "AllowedIPs").replace(' ', ""),
        keepalive: field(&conf, "PersistentKeepalive"),
    }
}

/// Brings up wireguard-go in namespace `ns` exactly as the phone config says.
fn phone_up(lab: &mut Lab, dir: &Path, ns: &str, c: &PhoneConfig) -> String {
    let ifname = lab.ifname("wg");
    let key = dir.join(format!("{ns}.key"));
    std::fs::write(&key, &c.private_key).unwrap();
    let wg_log = dir.join(format!("wireguard-go-{ns}.log"));
    lab.spawn(ns, "wireguard-go", &["-f", &ifname], &wg_log);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab
        .output(ns, "ip", &["link", "show", &ifname])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "wireguard-go did not create {ifname}: {}",
            std::fs::read_to_string(&wg_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    lab.run_ok_in(
        ns,
        "wg",
        &[
            "set",
            &ifname,
            "private-key",
            key.to_str().unwrap(),
            "peer",
            &c.server_key,
            "endpoint",
            &c.endpoint,
            "allowed-ips",
            &c.allowed_ips,
            "persistent-keepalive",
            &c.keepalive,
        ],
    );
    for a in &c.addresses {
        let mut args = vec!["addr", "add", a.as_str(), "dev", &ifname];
        if a.contains(':') {
            args.push("nodad");
        }
        lab.run_ok_in(ns, "ip", &args);
    }
    lab.run_ok_in(ns, "ip", &["link", "set", &ifname, "up", "mtu", "1420"]);
    for net in c.allowed_ips.split(',') {
        lab.run_ok_in(ns, "ip", &["route", "replace", net, "dev", &ifname]);
    }
    ifname
}

fn ping(lab: &Lab, ns: &str, addr: &str, count: &str) -> bool {
    lab.output(ns, "ping", &["-c", count, "-i", "0.2", "-W", "2", addr])
        .status
        .success()
}

/// Retries `f` until it holds or `timeout` passes (handshakes and file reloads take a moment).
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the phone in `ns` gets a ping answered by drawbridge's inner address within 10 s
/// (its first handshake takes a moment).
fn connects(lab: &Lab, ns: &str) -> bool {
    eventually(Duration::from_secs(10), || ping(lab, ns, "100.64.0.1", "1"))
}

fn probe(lab: &Lab, ns: &str, host: &str, port: &str, payload: &str) -> String {
    lab.python_stdout(ns, UDP_PROBE_PY, &[host, port, payload, "1.5"])
        .trim()
        .to_owned()
}

#[test]
fn real_wireguard_client_reaches_only_drawbridge() {
    if !require(&["ip", "wireguard-go", "wg", "ping", "python3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("drawbridge.toml");
    std::fs::write(&config, expand(CONFIG)).unwrap();

    let mut lab = Lab::sbc(&[("worker", "198.18.1.20/24"), ("worker2", "198.18.1.21/24")]);

    // The phone config comes from the CLI, before drawbridge starts.
    let alice = add_peer(&config, "alice", "101");
    // The server key in it is what the real `wg pubkey` derives from the server's key file.
    let server_private = std::fs::read_to_string(dir.path().join("secrets/wireguard.key")).unwrap();
    let wg = output_with_stdin(
        std::process::Command::new("wg").arg("pubkey"),
        server_private.as_bytes(),
    );
    assert_eq!(String::from_utf8_lossy(&wg.stdout).trim(), alice.server_key);

    let log = lab.start_drawbridge(&config, "WireGuard listening", Duration::from_secs(20));
    let alice_if = phone_up(&mut lab, dir.path(), "worker", &alice);

    // ping over IPv4 and IPv6 to the SBC's inner addresses.
    assert!(connects(&lab, "worker"), "first ping");
    assert!(ping(&lab, "worker", "100.64.0.1", "3"), "ping 100.64.0.1");
    assert!(ping(&lab, "worker", "fd64::1", "3"), "ping fd64::1");

    // UDP both ways with the inner echo service, v4 and v6.
    assert_eq!(
        probe(&lab, "worker", "100.64.0.1", "7", "hello-v4"),
        "REPLY hello-v4"
    );
    assert_eq!(
        probe(&lab, "worker", "fd64::1", "7", "hello-v6"),
        "REPLY hello-v6"
    );
    // A closed port on the SBC answers nothing.
    assert!(probe(&lab, "worker", "100.64.0.1", "9", "x").starts_with("SILENCE"));

    // The phone tries to use the tunnel as a route: everything, including the LAN.
    lab.run_ok_in(
        "worker",
        "wg",
        &[
            "set",
            &alice_if,
            "peer",
            &alice.server_key,
            "allowed-ips",
            "0.0.0.0/0,::/0",
        ],
    );
    for net in ["198.18.2.0/24", "100.64.0.0/24"] {
        lab.run_ok_in("worker", "ip", &["route", "replace", net, "dev", &alice_if]);
    }
    let sink = lab
        .cmd("pbx", "python3")
        .args(["-c", UDP_SINK_PY, "198.18.2.10", "5060", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !ping(&lab, "worker", "198.18.2.10", "2"),
        "the PBX must not be reachable through the tunnel"
    );
    assert!(
        !ping(&lab, "worker", "100.64.0.7", "2"),
        "no other inner address answers"
    );
    for _ in 0..5 {
        assert!(probe(&lab, "worker", "198.18.2.10", "5060", "OPTIONS").starts_with("SILENCE"));
    }
    let sink = sink.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sink.stdout).trim(),
        "RECEIVED 0",
        "nothing reached the LAN"
    );
    // drawbridge itself still answers.
    assert!(ping(&lab, "worker", "100.64.0.1", "1"));

    let metrics = lab.metrics(Duration::ZERO);
    let not_for_us = metrics
        .lines()
        .filter(|l| {
            l.starts_with("drawbridge_wireguard_drops_total")
                && !l.contains("reason=\"closed_port\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>();
    assert!(
        not_for_us >= 9.0,
        "the escape attempts are dropped and counted:\n{metrics}"
    );
    assert!(
        metric(&metrics, "drawbridge_wireguard_echo_replies_total").unwrap_or(0.0) >= 7.0,
        "{metrics}"
    );

    // A second phone is added while drawbridge runs: no restart needed.
    let bob = add_peer(&config, "bob", "102");
    assert_eq!(bob.addresses[0], "100.64.0.3/32");
    phone_up(&mut lab, dir.path(), "worker2", &bob);
    assert!(connects(&lab, "worker2"), "bob connects after a live add");

    // Removing alice cuts her off at once, and bob keeps going.
    run_ok(
        drawbridge()
            .args(["peer", "remove", "alice", "--config"])
            .arg(&config),
    );
    assert!(
        eventually(Duration::from_secs(5), || !ping(
            &lab,
            "worker",
            "100.64.0.1",
            "1"
        )),
        "alice is cut off after removal"
    );
    assert!(
        ping(&lab, "worker2", "100.64.0.1", "3"),
        "bob is not disturbed"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("peer removed"), "{text}");
}
