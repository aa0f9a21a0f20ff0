//! Interop: calls through drawbridge between real SIPp instances — the provider in one
//! namespace, the PBX in another — with RTP both ways, and captures of everything each
//! side received checked for the other side's topology.
//!
//! Topology: provider 198.18.1.10 —(inet)— 198.18.1.2 drawbridge 198.18.2.1 —(lan)—
//! 198.18.2.10 PBX. The dmz namespace does not forward: only the B2BUA connects the two.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Duration;

use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::{
    Datagram, METRICS_PY, binary, metric, pcap_udp_payloads, repo_root, wait_for_file,
};

const CONFIG: &str = r#"
[sip]
listen_tls = "127.0.0.1:5061"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.example.net"
workers = 3
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"
generate_self_signed = true

[[trunk]]
name = "provider"
allow = ["198.18.1.10"]
transport = "udp"
host = "198.18.1.10"
port = 5060

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "198.18.2.1:5080"

[media]
port_min = 30000
port_max = 30999
public_address = "198.18.1.2"
lan_address = "198.18.2.1"

[guard]
requests_per_second = 200
max_calls_per_second = 100

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "info"
"#;

const INVITE_PY: &str = r#"
import socket, sys
dst, number = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.2.10", 5077))
s.settimeout(3)
msg = ("INVITE sip:%s@198.18.2.1:5080 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 198.18.2.10:5077;branch=z9hG4bK-dial-%s\r\n"
       "From: <sip:200@pbx.lan>;tag=d1\r\nTo: <sip:%s@pbx.lan>\r\n"
       "Call-ID: dial-%s@pbx.lan\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
       "Contact: <sip:200@198.18.2.10:5077>\r\nContent-Length: 0\r\n\r\n") % (number, number, number, number)
s.sendto(msg.encode(), (dst, 5080))
try:
    while True:
        data, _ = s.recvfrom(65535)
        line = data.split(b"\r\n")[0].decode()
        if not line.startswith("SIP/2.0 1"):
            print(line); break
except socket.timeout:
    print("TIMEOUT")
"#;

struct Run {
    lab: Lab,
    dir: tempfile::TempDir,
    captures: Vec<(u32, String, std::path::PathBuf)>,
}

fn start() -> Run {
    start_with(CONFIG)
}

fn start_with(config_text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::sbc(&[("provider", "198.18.1.10/24")]);

    let mut captures = Vec::new();
    for ns in ["provider", "pbx"] {
        let pcap = dir.path().join(format!("{ns}.pcap"));
        let pid = lab.spawn(
            ns,
            "tcpdump",
            &[
                "-i",
                "eth0",
                "-U",
                "-n",
                "-s",
                "0",
                "-w",
                pcap.to_str().unwrap(),
                "udp",
            ],
            &dir.path().join(format!("tcpdump-{ns}.log")),
        );
        captures.push((pid, ns.to_owned(), pcap));
    }
    let config = dir.path().join("drawbridge.toml");
    std::fs::write(&config, config_text).unwrap();
    let log = dir.path().join("drawbridge.log");
    lab.spawn(
        "dmz",
        binary(),
        &["run", "--config", config.to_str().unwrap()],
        &log,
    );
    wait_for_file(&log, "LAN leg to the PBX bound", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    Run { lab, dir, captures }
}

impl Run {
    fn sipp(&mut self, ns: &str, args: &[&str], name: &str) -> std::process::Output {
        let log = self.dir.path().join(format!("{name}-errors.log"));
        let mut all = vec!["60", "sipp"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "-nostdin",
            "-trace_err",
            "-error_file",
            log.to_str().unwrap(),
        ]);
        let out = self.lab.output(ns, "timeout", &all);
        if !out.status.success() {
            let errors = std::fs::read_to_string(&log).unwrap_or_default();
            let dblog =
                std::fs::read_to_string(self.dir.path().join("drawbridge.log")).unwrap_or_default();
            panic!(
                "sipp {name} failed ({:?}):\n{}\nerrors:\n{errors}\ndrawbridge log:\n{dblog}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            );
        }
        out
    }

    /// Stops the captures and returns (namespace, payloads).
    fn stop_captures(&mut self) -> Vec<(String, Vec<Datagram>)> {
        std::thread::sleep(Duration::from_millis(500));
        for (pid, _, _) in &self.captures {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(800));
        self.captures
            .iter()
            .map(|(_, ns, p)| (ns.clone(), pcap_udp_payloads(p)))
            .collect()
    }

    /// SIPp's built-in callee as the PBX (198.18.2.10:5060) for one call, in the
    /// background; `echo` sends the caller's RTP back. Waits until it listens.
    fn pbx_uas(&mut self, echo: bool, log: &str) {
        let mut args = vec![
            "-sn",
            "uas",
            "-i",
            "198.18.2.10",
            "-p",
            "5060",
            "-mp",
            "16000",
        ];
        if echo {
            args.push("-rtp_echo");
        }
        args.extend_from_slice(&["-nostdin", "-timeout", "30", "-m", "1"]);
        let log = self.dir.path().join(log);
        self.lab.spawn("pbx", "sipp", &args, &log);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// SIPp as the PBX (198.18.2.10:5060) running scenario file `scenario` for one call,
    /// in the background. Waits until it listens.
    fn pbx_scenario(&mut self, scenario: &str, log: &str) {
        self.uas_scenario("pbx", "198.18.2.10", "16000", scenario, log);
    }

    /// SIPp in namespace `ns` at `ip`:5060 (media from port `media_port`) running
    /// scenario file `scenario` for one call, in the background. Waits until it listens.
    fn uas_scenario(&mut self, ns: &str, ip: &str, media_port: &str, scenario: &str, log: &str) {
        let args = [
            "-sf", scenario, "-i", ip, "-p", "5060", "-mp", media_port, "-nostdin", "-timeout",
            "30", "-m", "1",
        ];
        let log = self.dir.path().join(log);
        self.lab.spawn(ns, "sipp", &args, &log);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Runs SIPp as the provider ([`provider_call`]) and fails the test if it fails.
    fn provider(&mut self, scenario: &str, calls: &str, name: &str) -> std::process::Output {
        self.call(&PROVIDER, scenario, calls, name)
    }

    /// Runs SIPp as `caller` ([`caller_args`]) and fails the test if it fails.
    fn call(
        &mut self,
        caller: &Caller,
        scenario: &str,
        calls: &str,
        name: &str,
    ) -> std::process::Output {
        let args = caller_args(caller, scenario, calls);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.sipp(caller.ns, &args, name)
    }

    fn metrics(&self) -> String {
        std::thread::sleep(Duration::from_millis(1200));
        String::from_utf8_lossy(
            &self
                .lab
                .output("dmz", "python3", &["-c", METRICS_PY, "9090"])
                .stdout,
        )
        .into_owned()
    }
}

fn scenario() -> String {
    repo_root()
        .join("tests/sipp/uac_rtp.xml")
        .to_string_lossy()
        .into_owned()
}

/// No byte of any SIP message or RTP packet that `ns` (at `me`) received may contain these.
fn assert_no_leak(ns: &str, me: &str, packets: &[Datagram], forbidden: &[&str]) {
    let received: Vec<_> = packets
        .iter()
        .filter(|(_, d, _)| d.ip().to_string() == me)
        .collect();
    assert!(received.len() > 100, "{ns} received SIP and RTP");
    for (src, dst, payload) in received {
        let text = String::from_utf8_lossy(payload);
        for f in forbidden {
            assert!(
                !text.contains(f),
                "{ns} received {f:?} in a packet {src} -> {dst}:\n{text}"
            );
        }
    }
}

fn rtp_count(packets: &[Datagram], from: &str) -> usize {
    packets
        .iter()
        .filter(|(s, _, p)| {
            s.ip().to_string() == from
                && s.port() >= 30000
                && s.port() <= 30999
                && p.len() >= 12
                && p[0] >> 6 == 2
        })
        .count()
}

#[test]
fn inbound_and_outbound_calls_with_rtp_and_topology_hiding() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start();
    let scen = scenario();

    // Inbound: the provider calls extension 100 at the PBX, three calls.
    let uas = run.lab.spawn(
        "pbx",
        "sipp",
        &[
            "-sn",
            "uas",
            "-i",
            "198.18.2.10",
            "-p",
            "5060",
            "-mp",
            "16000",
            "-rtp_echo",
            "-nostdin",
            "-timeout",
            "40",
            "-m",
            "3",
        ],
        &run.dir.path().join("uas-pbx.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    run.sipp(
        "provider",
        &[
            "198.18.1.2:5060",
            "-sf",
            &scen,
            "-s",
            "100",
            "-i",
            "198.18.1.10",
            "-p",
            "5070",
            "-mp",
            "17000",
            "-m",
            "3",
            "-r",
            "2",
            "-timeout",
            "40",
        ],
        "inbound",
    );
    let _ = uas;

    // Outbound: a PBX phone calls a number through the trunk; the provider answers.
    run.lab.spawn(
        "provider",
        "sipp",
        &[
            "-sn",
            "uas",
            "-i",
            "198.18.1.10",
            "-p",
            "5060",
            "-mp",
            "18000",
            "-rtp_echo",
            "-nostdin",
            "-timeout",
            "40",
            "-m",
            "2",
        ],
        &run.dir.path().join("uas-provider.log"),
    );
    std::thread::sleep(Duration::from_millis(300));
    run.sipp(
        "pbx",
        &[
            "198.18.2.1:5080",
            "-sf",
            &scen,
            "-s",
            "004930123456",
            "-i",
            "198.18.2.10",
            "-p",
            "5090",
            "-mp",
            "19000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "40",
        ],
        "outbound",
    );

    // Toll fraud: a premium-rate number from the PBX is refused before it leaves.
    let out = run.lab.output(
        "pbx",
        "python3",
        &["-c", INVITE_PY, "198.18.2.1", "+19005550100"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "SIP/2.0 403 Forbidden"
    );

    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_answered_total"),
        Some(5.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_active"),
        Some(0.0),
        "no call leaks:\n{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_b2bua_dialogs"),
        Some(0.0),
        "no dialog leaks:\n{m}"
    );

    let captures = run.stop_captures();
    let provider = &captures.iter().find(|(n, _)| n == "provider").unwrap().1;
    let pbx = &captures.iter().find(|(n, _)| n == "pbx").unwrap().1;

    // RTP flowed both ways: the PBX got the caller's audio from drawbridge's LAN ports, and
    // the caller got the echo back from drawbridge's public ports (and vice versa).
    assert!(
        rtp_count(pbx, "198.18.2.1") > 50,
        "RTP reached the PBX side"
    );
    assert!(
        rtp_count(provider, "198.18.1.2") > 50,
        "RTP reached the provider side"
    );

    // Topology hiding: nothing of the LAN reaches the provider, nothing of the provider
    // reaches the PBX (SIPp puts its own address in Call-ID, Via, Contact, o= and c=).
    assert_no_leak(
        "provider",
        "198.18.1.10",
        provider,
        &[
            "198.18.2.",
            "pbx.lan",
            "SIPp-caller-lab",
            ":5080",
            "audio 16000",
            "audio 19000",
        ],
    );
    assert_no_leak(
        "pbx",
        "198.18.2.10",
        pbx,
        &[
            "198.18.1.10",
            "sbc.example.net",
            "SIPp-caller-lab",
            "audio 17000",
            "audio 18000",
            ":5070",
        ],
    );
    assert!(Path::new(&scen).exists());
}

/// Where a SIPp caller runs and whom it calls through drawbridge.
struct Caller {
    ns: &'static str,
    /// drawbridge's address on the caller's side.
    dst: &'static str,
    /// The number called.
    service: &'static str,
    ip: &'static str,
    port: &'static str,
    media_port: &'static str,
}

/// The provider (198.18.1.10:5070) calling extension 100.
const PROVIDER: Caller = Caller {
    ns: "provider",
    dst: "198.18.1.2:5060",
    service: "100",
    ip: "198.18.1.10",
    port: "5070",
    media_port: "17000",
};

/// A phone behind the PBX (198.18.2.10:5090) calling a number out through the trunk.
const PBX_PHONE: Caller = Caller {
    ns: "pbx",
    dst: "198.18.2.1:5080",
    service: "004930123456",
    ip: "198.18.2.10",
    port: "5090",
    media_port: "19000",
};

/// SIPp arguments for the provider calling extension 100 through drawbridge with
/// scenario file `scenario`, `calls` calls.
fn provider_call(scenario: &str, calls: &str) -> Vec<String> {
    caller_args(&PROVIDER, scenario, calls)
}

/// SIPp arguments for `caller` running scenario file `scenario` for `calls` calls.
fn caller_args(caller: &Caller, scenario: &str, calls: &str) -> Vec<String> {
    [
        caller.dst,
        "-sf",
        scenario,
        "-s",
        caller.service,
        "-i",
        caller.ip,
        "-p",
        caller.port,
        "-mp",
        caller.media_port,
        "-m",
        calls,
        "-timeout",
        "30",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn sipp_dir(name: &str) -> String {
    repo_root()
        .join("tests/sipp")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// One call was answered, and nothing of it is left.
fn assert_one_answered_and_nothing_left(run: &Run) {
    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_answered_total"),
        Some(1.0),
        "{m}"
    );
    assert_nothing_left(run);
}

fn assert_nothing_left(run: &Run) {
    let m = run.metrics();
    for (name, want) in [
        ("drawbridge_b2bua_calls_active", 0.0),
        ("drawbridge_b2bua_dialogs", 0.0),
        ("drawbridge_media_sessions", 0.0),
        ("drawbridge_media_open_sockets", 0.0),
    ] {
        assert_eq!(metric(&m, name), Some(want), "{name} after the run:\n{m}");
    }
}

#[test]
fn cancel_and_hold_resume_both_ways_leave_nothing_behind() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start();
    let pbx_uas = |run: &mut Run, scenario: &str, calls: &str| {
        let log = run
            .dir
            .path()
            .join(format!("uas-pbx-{calls}-{}.log", scenario.len()));
        run.lab.spawn(
            "pbx",
            "sipp",
            &[
                "-sf",
                scenario,
                "-i",
                "198.18.2.10",
                "-p",
                "5060",
                "-mp",
                "16000",
                "-nostdin",
                "-timeout",
                "40",
                "-m",
                calls,
            ],
            &log,
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let provider_uas = |run: &mut Run, scenario: &str, calls: &str| {
        let log = run
            .dir
            .path()
            .join(format!("uas-provider-{calls}-{}.log", scenario.len()));
        run.lab.spawn(
            "provider",
            "sipp",
            &[
                "-sf",
                scenario,
                "-i",
                "198.18.1.10",
                "-p",
                "5060",
                "-mp",
                "18000",
                "-nostdin",
                "-timeout",
                "40",
                "-m",
                calls,
            ],
            &log,
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    // The provider's caller cancels while the PBX rings (CANCEL relayed, 487 back).
    pbx_uas(&mut run, &sipp_dir("uas_cancel.xml"), "2");
    run.sipp(
        "provider",
        &[
            "198.18.1.2:5060",
            "-sf",
            &sipp_dir("uac_cancel.xml"),
            "-s",
            "100",
            "-i",
            "198.18.1.10",
            "-p",
            "5070",
            "-mp",
            "17000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "30",
        ],
        "cancel-inbound",
    );
    // A PBX phone cancels an outbound call while the provider rings.
    provider_uas(&mut run, &sipp_dir("uas_cancel.xml"), "2");
    run.sipp(
        "pbx",
        &[
            "198.18.2.1:5080",
            "-sf",
            &sipp_dir("uac_cancel.xml"),
            "-s",
            "004930123456",
            "-i",
            "198.18.2.10",
            "-p",
            "5090",
            "-mp",
            "19000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "30",
        ],
        "cancel-outbound",
    );
    // Hold and resume by re-INVITE, from the provider's side and from the PBX's side; the
    // callee asserts that it saw sendonly then sendrecv.
    pbx_uas(&mut run, &sipp_dir("uas_hold.xml"), "2");
    run.sipp(
        "provider",
        &[
            "198.18.1.2:5060",
            "-sf",
            &sipp_dir("uac_hold.xml"),
            "-s",
            "100",
            "-i",
            "198.18.1.10",
            "-p",
            "5070",
            "-mp",
            "17000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "30",
        ],
        "hold-inbound",
    );
    provider_uas(&mut run, &sipp_dir("uas_hold.xml"), "2");
    run.sipp(
        "pbx",
        &[
            "198.18.2.1:5080",
            "-sf",
            &sipp_dir("uac_hold.xml"),
            "-s",
            "004930123456",
            "-i",
            "198.18.2.10",
            "-p",
            "5090",
            "-mp",
            "19000",
            "-m",
            "2",
            "-r",
            "2",
            "-timeout",
            "30",
        ],
        "hold-outbound",
    );
    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_answered_total"),
        Some(4.0),
        "{m}"
    );
    assert_nothing_left(&run);
}

#[test]
fn a_silent_pbx_times_out_and_leaves_nothing_behind() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let run = start();
    // Nobody answers at 198.18.2.10: drawbridge retransmits, gives up (Timer B, 32 s) and
    // tells the caller; the caller's scenario expects a final failure response.
    let out = run.lab.output(
        "provider",
        "timeout",
        &[
            "60",
            "sipp",
            "198.18.1.2:5060",
            "-sn",
            "uac",
            "-s",
            "100",
            "-i",
            "198.18.1.10",
            "-p",
            "5070",
            "-m",
            "1",
            "-timeout",
            "45",
            "-nostdin",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the call cannot succeed:\n{text}");
    assert!(
        text.contains("408") || text.contains("Failed call"),
        "{text}"
    );
    assert_nothing_left(&run);
}

/// A silent call that drawbridge must end itself: SIPp's built-in callee as the PBX
/// answers and accepts drawbridge's BYE, the silent caller waits for it. `config` is the
/// lab config with the limit under test; afterwards the media timeouts counted must be
/// `timeouts`, drawbridge's log must say `logged`, and nothing may be left behind.
fn silent_call_ended_by_drawbridge(config: &str, name: &str, timeouts: f64, logged: &str) {
    let mut run = start_with(config);
    run.pbx_uas(false, &format!("uas-pbx-{name}.log"));
    run.provider(&sipp_dir("uac_silent.xml"), "1", name);
    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_media_timeouts_total"),
        Some(timeouts),
        "{m}"
    );
    assert_nothing_left(&run);
    let log = std::fs::read_to_string(run.dir.path().join("drawbridge.log")).unwrap();
    assert!(log.contains(logged), "{log}");
}

#[test]
fn a_call_whose_media_stops_is_ended_on_both_sides() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let config = CONFIG.replace(
        "lan_address = \"198.18.2.1\"",
        "lan_address = \"198.18.2.1\"\ninactivity_timeout_secs = 2",
    );
    silent_call_ended_by_drawbridge(
        &config,
        "media-timeout",
        1.0,
        "no RTP in either direction: call ended",
    );
}

#[test]
fn a_call_longer_than_the_maximum_duration_is_ended_on_both_sides() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    // Toll-fraud ceiling: a 2 s maximum; no media timeout would end the call first.
    let config = CONFIG.replace(
        "max_calls_per_second = 100",
        "max_calls_per_second = 100\nmax_call_duration_secs = 2",
    );
    silent_call_ended_by_drawbridge(
        &config,
        "max-duration",
        0.0,
        "maximum call duration reached: call ended",
    );
}

/// A provider behind NAT: its SDP names 10.20.30.40 but its RTP comes from 198.18.1.10.
/// Strict latching (the default) relays none of it — nobody but the SDP address may send
/// media — while `media_nat = true` locks each stream to the first packet from the
/// provider's signalling address and relays both ways (symmetric RTP back to it).
#[test]
fn a_natted_provider_gets_media_only_with_media_nat() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    for nat in [false, true] {
        let config = CONFIG.replace(
            "port = 5060\n\n[pbx]",
            &format!("port = 5060\nmedia_nat = {nat}\n\n[pbx]"),
        );
        let mut run = start_with(&config);
        run.pbx_uas(true, "uas-pbx-nat.log");
        run.provider(&sipp_dir("uac_nat.xml"), "1", "nat");
        assert_nothing_left(&run);
        let captures = run.stop_captures();
        let provider = &captures.iter().find(|(n, _)| n == "provider").unwrap().1;
        let pbx = &captures.iter().find(|(n, _)| n == "pbx").unwrap().1;
        let (to_pbx, back) = (
            rtp_count(pbx, "198.18.2.1"),
            rtp_count(provider, "198.18.1.2"),
        );
        if nat {
            assert!(
                to_pbx > 50,
                "media_nat: the provider's RTP reached the PBX ({to_pbx})"
            );
            assert!(
                back > 50,
                "media_nat: the echo went back to the latched address ({back})"
            );
        } else {
            assert_eq!(
                to_pbx, 0,
                "strict: RTP from outside the SDP address was relayed"
            );
        }
    }
}

/// Admission: with `max_concurrent_calls = 1` on the trunk, a second call while the first
/// is up is refused with 503 before any leg to the PBX opens; the first completes.
#[test]
fn a_trunks_concurrent_call_limit_refuses_the_call_over_it() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let config = CONFIG.replace(
        "port = 5060\n\n[pbx]",
        "port = 5060\nmax_concurrent_calls = 1\n\n[pbx]",
    );
    let mut run = start_with(&config);
    run.pbx_uas(true, "uas-pbx-limit.log");
    // Two calls 100 ms apart, each up for 2.5 s: the second finds the first up.
    let mut args = vec!["60".to_owned(), "sipp".to_owned()];
    args.extend(provider_call(&scenario(), "2"));
    args.extend(["-r", "10", "-nostdin"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run.lab.output("provider", "timeout", &args);
    assert!(
        !out.status.success(),
        "SIPp should count the refused call as failed"
    );
    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_answered_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_b2bua_calls_refused_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_calls_active"),
        Some(0.0),
        "ticket released:\n{m}"
    );
    assert_nothing_left(&run);
    let captures = run.stop_captures();
    let provider = &captures.iter().find(|(n, _)| n == "provider").unwrap().1;
    let pbx = &captures.iter().find(|(n, _)| n == "pbx").unwrap().1;
    assert!(
        provider
            .iter()
            .any(|(_, _, p)| p.starts_with(b"SIP/2.0 503")),
        "the caller got a 503"
    );
    // Distinct calls, not datagrams: a retransmitted INVITE is the same call.
    let calls: std::collections::HashSet<String> = pbx
        .iter()
        .filter(|(_, _, p)| p.starts_with(b"INVITE "))
        .filter_map(|(_, _, p)| {
            String::from_utf8_lossy(p)
                .lines()
                .find(|l| l.starts_with("Call-ID:"))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(calls.len(), 1, "only the admitted call reached the PBX");
}

#[test]
fn a_provider_requiring_100rel_gets_reliable_provisionals() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start();
    // The PBX rings (180), then sends early media (183 + SDP) and answers right after it;
    // the provider requires 100rel: its scenario checks Require/RSeq on both provisionals,
    // PRACKs each, and wants the 200 of its second PRACK before the 200 of its INVITE.
    run.pbx_scenario(&sipp_dir("uas_100rel.xml"), "uas-pbx-100rel.log");
    run.provider(&sipp_dir("uac_100rel.xml"), "1", "provider-100rel");
    let captures = run.stop_captures();
    let to_pbx = received(&captures, "pbx", "198.18.2.10");
    assert!(
        to_pbx.iter().any(|m| m.starts_with("INVITE ")),
        "the PBX got the call"
    );
    for m in &to_pbx {
        assert!(
            !m.starts_with("PRACK ") && !m.contains("RAck") && !m.contains("Require: 100rel"),
            "the provider's 100rel stays on its leg:\n{m}"
        );
    }
    assert_one_answered_and_nothing_left(&run);
}

/// Every datagram `ns`'s capture saw arriving at `me`, as text.
fn received(captures: &[(String, Vec<Datagram>)], ns: &str, me: &str) -> Vec<String> {
    let packets = &captures.iter().find(|(n, _)| n == ns).unwrap().1;
    packets
        .iter()
        .filter(|(_, d, _)| d.ip().to_string() == me)
        .map(|(_, _, p)| String::from_utf8_lossy(p).into_owned())
        .collect()
}

#[test]
fn a_pbx_requiring_100rel_gets_the_providers_early_offer_and_answers_it_in_its_prack() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start();
    // Outbound late offer: the PBX's INVITE requires 100rel and has no SDP; the provider
    // sends its offer in a reliable 183. The PBX's scenario checks that the 183 comes
    // reliably with drawbridge's LAN address and answers in its PRACK; the provider's
    // checks that drawbridge's PRACK carries that answer with drawbridge's public
    // address, and that the INVITE offered 100rel; no SDP in either 200 to the INVITE.
    run.uas_scenario(
        "provider",
        "198.18.1.10",
        "18000",
        &sipp_dir("uas_reliable_183_offer.xml"),
        "uas-provider-late-offer.log",
    );
    run.call(
        &PBX_PHONE,
        &sipp_dir("uac_100rel_late_offer.xml"),
        "1",
        "pbx-late-offer",
    );
    let captures = run.stop_captures();
    let to_provider = received(&captures, "provider", "198.18.1.10");
    assert!(to_provider.iter().any(|m| m.starts_with("PRACK ")));
    for m in &to_provider {
        assert!(
            !m.contains("198.18.2.") && !m.contains("SIPpTag00"),
            "the LAN leaked to the provider:\n{m}"
        );
    }
    for m in &received(&captures, "pbx", "198.18.2.10") {
        assert!(
            !m.contains("198.18.1.10") && !m.contains("SIPpTag01"),
            "the provider leaked to the PBX:\n{m}"
        );
    }
    assert_one_answered_and_nothing_left(&run);
}

/// A provider over TCP (198.18.1.10) whose connection drops mid-call: INVITE and ACK on
/// one connection, which it then closes; the BYE on a new connection from another port.
/// Prints the final status line of the INVITE and of the BYE.
const RECONNECTING_PROVIDER_PY: &str = r#"
import re, socket, sys, time
DST = ("198.18.1.2", 5060)
SDP = ("v=0\r\no=prov 1 1 IN IP4 198.18.1.10\r\ns=-\r\nc=IN IP4 198.18.1.10\r\nt=0 0\r\n"
       "m=audio 17000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

class Conn:
    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("198.18.1.10", 0))
        self.s.settimeout(10)
        self.s.connect(DST)
        self.port = self.s.getsockname()[1]
        self.buf = b""
    def send(self, method, cseq, to_tag="", body=""):
        to = "<sip:100@sbc.example.net>" + (";tag=" + to_tag if to_tag else "")
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        msg = ("%s sip:100@198.18.1.2:5060;transport=tcp SIP/2.0\r\n"
               "Via: SIP/2.0/TCP 198.18.1.10:%d;branch=z9hG4bK-reconn-%s\r\n"
               "From: <sip:4930555@provider.example>;tag=prov-reconn\r\nTo: %s\r\n"
               "Call-ID: reconnect-1@provider.example\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n"
               "Contact: <sip:4930555@198.18.1.10:5070;transport=tcp>\r\n%s"
               "Content-Length: %d\r\n\r\n%s") % (
            method, self.port, method.lower() + str(cseq), to, cseq, method, ctype, len(body), body)
        self.s.sendall(msg.encode())
    def read(self):
        while True:
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?im)^content-length\s*:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return head.decode()
            data = self.s.recv(65535)
            if not data:
                sys.exit("connection closed by drawbridge")
            self.buf += data
    def final(self):
        while True:
            head = self.read()
            if not head.startswith("SIP/2.0 1"):
                return head

f1 = Conn()
f1.send("INVITE", 1, body=SDP)
ok = f1.final()
print(ok.split("\r\n")[0])
tag = re.search(r"(?im)^to:.*;tag=([^;\s]+)", ok).group(1)
f1.send("ACK", 1, to_tag=tag)
time.sleep(1)
f1.s.close()
time.sleep(1)
f2 = Conn()
assert f2.port != f1.port
f2.send("BYE", 2, to_tag=tag)
print(f2.final().split("\r\n")[0])
"#;

#[test]
fn a_provider_that_reconnects_over_tcp_can_hang_up_its_call() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let config = CONFIG
        .replace(
            "listen_udp = \"198.18.1.2:5060\"",
            "listen_udp = \"198.18.1.2:5060\"\nlisten_tcp = \"198.18.1.2:5060\"",
        )
        .replace("transport = \"udp\"", "transport = \"tcp\"");
    let mut run = start_with(&config);
    run.pbx_uas(false, "uas-pbx-reconnect.log");
    let out = run
        .lab
        .output("provider", "python3", &["-c", RECONNECTING_PROVIDER_PY]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(run.dir.path().join("drawbridge.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "provider failed: {printed}\n{}\ndrawbridge log:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        ["SIP/2.0 200 OK", "SIP/2.0 200 OK"],
        "the call answered, then its BYE on the new connection accepted\n{log}"
    );
    assert!(
        log.contains("dialog re-pinned to the provider's new connection"),
        "{log}"
    );
    let m = run.metrics();
    assert_eq!(
        metric(&m, "drawbridge_b2bua_dialogs_repinned_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "drawbridge_b2bua_forged_in_dialog_total"),
        Some(0.0),
        "{m}"
    );
    assert_nothing_left(&run);
    // The PBX's leg ended too: drawbridge sent it the BYE.
    let captures = run.stop_captures();
    let pbx = &captures.iter().find(|(n, _)| n == "pbx").unwrap().1;
    assert!(
        pbx.iter()
            .any(|(_, d, p)| d.ip().to_string() == "198.18.2.10" && p.starts_with(b"BYE ")),
        "BYE relayed to the PBX"
    );
}
