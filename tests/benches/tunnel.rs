//! Tunnel benchmark (issue 4): 160-byte UDP payloads through WireGuard to an echo inside
//! the tunnel and back, with N client peers, against drawbridge and against wireguard-go
//! as the server (echo behind its TUN address), same machine, same run; prints a table and
//! the ratio. Needs root (network namespaces), wireguard-go and wg.
//!
//!   cargo bench -p drawbridge-tests --bench tunnel [-- SECS "PEER COUNTS"]

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: failing loudly is the point

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use drawbridge_tests::netns::{Lab, require, run_ok};
use drawbridge_tests::{binary, wait_for_file};
use drawbridge_tunnel::keys;

struct Result {
    pps: f64,
    loss: f64,
    handshake_secs: f64,
    up: usize,
}

fn parse(out: &str) -> Result {
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| panic!("no result: {out}"));
    let get = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Result {
        pps: get("pps"),
        loss: get("loss_pct"),
        handshake_secs: get("handshake_secs"),
        up: get("up") as usize,
    }
}

fn lab() -> Lab {
    let mut lab = Lab::new();
    lab.add_switch("sw");
    lab.link("sw", "srv", "eth0", "198.18.1.2/24");
    lab.link("sw", "cli", "eth0", "198.18.1.20/24");
    // Both servers ask for multi-megabyte socket buffers; let the namespaces grant them.
    for ns in ["srv", "cli"] {
        for key in ["net.core.rmem_max=16777216", "net.core.wmem_max=16777216"] {
            let _ = lab.output(ns, "sysctl", &["-qw", key]);
        }
    }
    lab
}

fn load_tool() -> std::path::PathBuf {
    binary().with_file_name("wg-load")
}

/// Writes N client keys; returns (keys file path, public keys, inner addresses).
fn clients(dir: &Path, n: usize) -> (std::path::PathBuf, Vec<String>, Vec<String>) {
    let mut file = String::new();
    let (mut pubs, mut addrs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let sk = keys::generate_private();
        let addr = format!("100.64.{}.{}", 1 + i / 250, 2 + i % 250);
        let _ = writeln!(file, "{} {addr}", keys::encode(&sk));
        pubs.push(keys::encode(&keys::public_of(&sk)));
        addrs.push(addr);
    }
    let path = dir.join(format!("clients-{n}.txt"));
    std::fs::write(&path, file).unwrap();
    (path, pubs, addrs)
}

fn run_client(lab: &Lab, server_pub: &str, keys: &Path, secs: u64) -> Result {
    let out = lab.output(
        "cli",
        load_tool().to_str().unwrap(),
        &[
            "run",
            server_pub,
            "198.18.1.2:51820",
            keys.to_str().unwrap(),
            "100.64.0.1:7",
            &secs.to_string(),
        ],
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn wireguard_go(dir: &Path, n: usize, secs: u64) -> Result {
    let mut lab = lab();
    let ifname = lab.ifname("wgs");
    let (keys_file, pubs, addrs) = clients(dir, n);
    let sk = keys::generate_private();
    let sk_path = dir.join("wg-go-server.key");
    std::fs::write(&sk_path, keys::encode(&sk)).unwrap();
    lab.spawn(
        "srv",
        "wireguard-go",
        &["-f", &ifname],
        &dir.join("wireguard-go.log"),
    );
    for _ in 0..100 {
        if lab
            .output("srv", "ip", &["link", "show", &ifname])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut conf = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = 51820\n",
        keys::encode(&sk)
    );
    for (p, a) in pubs.iter().zip(&addrs) {
        let _ = write!(conf, "\n[Peer]\nPublicKey = {p}\nAllowedIPs = {a}/32\n");
    }
    let conf_path = dir.join("wg-go.conf");
    std::fs::write(&conf_path, conf).unwrap();
    run_ok(
        lab.cmd("srv", "wg")
            .args(["setconf", &ifname, conf_path.to_str().unwrap()]),
    );
    run_ok(
        lab.cmd("srv", "ip")
            .args(["addr", "add", "100.64.0.1/10", "dev", &ifname]),
    );
    run_ok(
        lab.cmd("srv", "ip")
            .args(["link", "set", &ifname, "up", "mtu", "1420"]),
    );
    let tool = load_tool();
    lab.spawn(
        "srv",
        &tool,
        &["echo", "100.64.0.1:7", &(secs + 40).to_string()],
        &dir.join("echo.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    run_client(&lab, &keys::encode(&keys::public_of(&sk)), &keys_file, secs)
}

fn drawbridge(dir: &Path, n: usize, secs: u64) -> Result {
    let mut lab = lab();
    let (keys_file, pubs, addrs) = clients(dir, n);
    let sk = keys::generate_private();
    std::fs::write(dir.join("db-server.key"), keys::encode(&sk)).unwrap();
    let mut peers = String::new();
    for (i, (p, a)) in pubs.iter().zip(&addrs).enumerate() {
        let _ = write!(
            peers,
            "[[peer]]\nname = \"c{i}\"\npublic_key = \"{p}\"\naddresses = [\"{a}\"]\n\n"
        );
    }
    std::fs::write(dir.join("peers.toml"), peers).unwrap();
    let config = dir.join("drawbridge.toml");
    std::fs::write(
        &config,
        r#"
[tunnel]
listen = ["198.18.1.2:51820"]
private_key_file = "db-server.key"
address = ["100.64.0.1/10"]
peers_file = "peers.toml"
handshakes_per_second = 100000
echo_port = 7

[sip]
listen_tls = "198.18.1.2:5061"
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"
generate_self_signed = true

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "127.0.0.1:5080"

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "warn,drawbridge=info"
"#,
    )
    .unwrap();
    let log = dir.join("drawbridge.log");
    let bin = binary();
    lab.spawn(
        "srv",
        &bin,
        &["run", "--config", config.to_str().unwrap()],
        &log,
    );
    wait_for_file(&log, "WireGuard listening", Duration::from_secs(20));
    run_client(&lab, &keys::encode(&keys::public_of(&sk)), &keys_file, secs)
}

fn main() {
    // `cargo bench` passes --bench; our own arguments follow.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: u64 = args
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .min(30);
    let counts: Vec<usize> = args
        .get(1)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 10, 100]);
    if !require(&["ip", "wireguard-go", "wg"]) {
        return;
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    println!(
        "tunnel echo, 160-byte UDP payload, {secs} s per run, same load generator (boringtun clients, GSO batches)"
    );
    println!(
        "{:>6} | {:>14} {:>7} | {:>14} {:>7} | {:>6} | {:>10}",
        "peers", "drawbridge pps", "loss%", "wg-go pps", "loss%", "ratio", "hs secs db"
    );
    for &n in &counts {
        let d1 = tempfile::tempdir().unwrap();
        let db = if only == "wg-go" {
            None
        } else {
            Some(drawbridge(d1.path(), n, secs))
        };
        let d2 = tempfile::tempdir().unwrap();
        let wg = if only == "drawbridge" {
            None
        } else {
            Some(wireguard_go(d2.path(), n, secs))
        };
        let f = |r: &Option<Result>| {
            r.as_ref().map_or_else(
                || ("-".to_owned(), "-".to_owned()),
                |r| {
                    (
                        format!("{:.0} ({}/{n} up)", r.pps, r.up),
                        format!("{:.2}", r.loss),
                    )
                },
            )
        };
        let ratio = match (&db, &wg) {
            (Some(a), Some(b)) if b.pps > 0.0 => format!("{:.2}x", a.pps / b.pps),
            _ => "-".into(),
        };
        let (dp, dl) = f(&db);
        let (wp, wl) = f(&wg);
        let hs = db
            .as_ref()
            .map_or_else(|| "-".into(), |r| format!("{:.3}", r.handshake_secs));
        println!("{n:>6} | {dp:>14} {dl:>7} | {wp:>14} {wl:>7} | {ratio:>6} | {hs:>10}");
    }
}
