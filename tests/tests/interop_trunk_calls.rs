//! Interop: calls through drawbridge between real SIPp instances — the provider in one
//! namespace, the PBX in another — with RTP both ways, and captures of everything each
//! side received checked for the other side's topology.
//!
//! Topology: provider 198.18.1.10 —(inet)— 198.18.1.2 drawbridge 198.18.2.1 —(lan)—
//! 198.18.2.10 PBX. The dmz namespace does not forward: only the B2BUA connects the two.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::time::Duration;

use drawbridge_tests::lab_config::expand;
use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::sipp::{Sipp, errors_file, scenario};
use drawbridge_tests::{Datagram, assert_metrics, pcap_udp_payloads};

/// The lab's configuration, a template for [`expand`] (see [`config`]).
const CONFIG: &str = r#"
[sip]
listen_tls = "127.0.0.1:5061"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.example.net"
workers = 3
{SELF_SIGNED_TLS}

{PROVIDER_TRUNK}
allow = ["198.18.1.10"]
transport = "udp"
port = 5060

{PBX}

[media]
port_min = 30000
port_max = 30999
{MEDIA_ADDRESSES}

[guard]
requests_per_second = 200
max_calls_per_second = 100

{ADMIN}
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
    /// drawbridge's log.
    log: PathBuf,
    captures: Vec<(u32, PathBuf)>,
}

fn start() -> Run {
    start_with(&config())
}

/// [`CONFIG`], expanded.
fn config() -> String {
    expand(CONFIG)
}

/// [`config`] with `added` on a line after `line`, which must be in it.
fn config_adding(line: &str, added: &str) -> String {
    let config = config();
    assert!(config.contains(line), "{line:?} not in:\n{config}");
    config.replacen(line, &format!("{line}\n{added}"), 1)
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
        captures.push((pid, pcap));
    }
    let log = lab.drawbridge_with(
        dir.path(),
        config_text,
        "LAN leg to the PBX bound",
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_millis(500));
    Run {
        lab,
        dir,
        log,
        captures,
    }
}

impl Run {
    /// Runs `sipp` in namespace `ns` and fails the test if it fails; `name` names its
    /// error file.
    fn sipp(&self, ns: &str, sipp: &Sipp, name: &str) -> std::process::Output {
        sipp.run(
            &self.lab,
            ns,
            &errors_file(self.dir.path(), name),
            &[&self.log],
        )
    }

    /// Starts `sipp` in the background in namespace `ns`, its output in `log` (a file name
    /// in the run's directory); it is listening when this returns.
    fn spawn(&mut self, ns: &str, sipp: &Sipp, log: &str) {
        sipp.spawn(&mut self.lab, ns, &self.dir.path().join(log));
    }

    /// Stops the captures and returns what the provider and the PBX received.
    fn stop_captures(&mut self) -> (Vec<Datagram>, Vec<Datagram>) {
        std::thread::sleep(Duration::from_millis(500));
        for (pid, _) in &self.captures {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(800));
        let mut payloads = self.captures.iter().map(|(_, p)| pcap_udp_payloads(p));
        (
            payloads.next().unwrap_or_default(),
            payloads.next().unwrap_or_default(),
        )
    }

    /// SIPp's built-in callee as the PBX (198.18.2.10:5060) for one call, in the
    /// background; `echo` sends the caller's RTP back. Waits until it listens.
    fn pbx_uas(&mut self, echo: bool, log: &str) {
        let uas = Sipp::uas().as_pbx().timeout(30).calls(1);
        self.spawn("pbx", &if echo { uas.echo() } else { uas }, log);
    }

    /// SIPp running scenario file `file` (of `tests/sipp/`) as the callee in `ns` — the PBX
    /// ([`Sipp::as_pbx`]) or the provider ([`Sipp::as_provider`]) — for one call within
    /// 30 s, in the background, its output in `log`. Waits until it listens.
    fn callee(&mut self, ns: &str, file: &str, log: &str) {
        let sipp = Sipp::file(&scenario(file)).timeout(30).calls(1);
        let sipp = match ns {
            "pbx" => sipp.as_pbx(),
            "provider" => sipp.as_provider(),
            _ => panic!("no callee's place in namespace {ns}"),
        };
        self.spawn(ns, &sipp, log);
    }

    /// Runs SIPp as the provider ([`provider_call`]) and fails the test if it fails.
    fn provider(&self, scenario: &str, calls: u32, name: &str) -> std::process::Output {
        self.sipp("provider", &provider_call(scenario, calls), name)
    }

    fn metrics(&self) -> String {
        self.lab.metrics(Duration::from_millis(1200))
    }

    /// drawbridge's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
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
    let scen = scenario("uac_rtp.xml");

    // Inbound: the provider calls extension 100 at the PBX, three calls.
    let uas = Sipp::uas().as_pbx().echo().timeout(40);
    run.spawn("pbx", &uas.calls(3), "uas-pbx.log");
    let inbound = provider_call(&scen, 3).rate(2).timeout(40);
    run.sipp("provider", &inbound, "inbound");

    // Outbound: a PBX phone calls a number through the trunk; the provider answers.
    let uas = Sipp::uas().as_provider().echo().timeout(40);
    run.spawn("provider", &uas.calls(2), "uas-provider.log");
    run.sipp("pbx", &pbx_call(&scen, 2).rate(2).timeout(40), "outbound");

    // Toll fraud: a premium-rate number from the PBX is refused before it leaves.
    let answer = run
        .lab
        .python_stdout("pbx", INVITE_PY, &["198.18.2.1", "+19005550100"]);
    assert_eq!(answer.trim(), "SIP/2.0 403 Forbidden");

    // Five answered, and no call or dialog leaks.
    assert_metrics(
        &run.metrics(),
        &[
            ("drawbridge_b2bua_calls_answered_total", 5.0),
            ("drawbridge_b2bua_calls_active", 0.0),
            ("drawbridge_b2bua_dialogs", 0.0),
        ],
    );

    let (provider, pbx) = run.stop_captures();
    let (provider, pbx) = (&provider, &pbx);

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

/// SIPp as the provider (198.18.1.10:5070) calling extension 100 through drawbridge with
/// scenario file `scenario`, `calls` calls, within 30 s.
fn provider_call(scenario: &str, calls: u32) -> Sipp {
    Sipp::file(scenario)
        .as_provider_caller()
        .calls(calls)
        .timeout(30)
}

/// SIPp as a PBX phone (198.18.2.10:5090) calling 004930123456 out through drawbridge with
/// scenario file `scenario`, `calls` calls, within 30 s.
fn pbx_call(scenario: &str, calls: u32) -> Sipp {
    Sipp::file(scenario)
        .as_pbx_phone("004930123456")
        .calls(calls)
        .timeout(30)
}

fn assert_nothing_left(run: &Run) {
    assert_metrics(
        &run.metrics(),
        &[
            ("drawbridge_b2bua_calls_active", 0.0),
            ("drawbridge_b2bua_dialogs", 0.0),
            ("drawbridge_media_sessions", 0.0),
            ("drawbridge_media_open_sockets", 0.0),
        ],
    );
}

#[test]
fn cancel_and_hold_resume_both_ways_leave_nothing_behind() {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start();
    for kind in ["cancel", "hold"] {
        let uas = scenario(&format!("uas_{kind}.xml"));
        let uac = scenario(&format!("uac_{kind}.xml"));
        let callee = Sipp::file(&uas).timeout(40).calls(2);
        // cancel: the provider's caller cancels while the PBX rings (CANCEL relayed, 487
        // back). hold: hold and resume by re-INVITE from the provider's side; the callee
        // asserts that it saw sendonly then sendrecv.
        run.spawn(
            "pbx",
            &callee.clone().as_pbx(),
            &format!("uas-pbx-{kind}.log"),
        );
        let inbound = provider_call(&uac, 2).rate(2);
        run.sipp("provider", &inbound, &format!("{kind}-inbound"));
        // The same from a PBX phone's side, with the provider as the callee.
        let log = format!("uas-provider-{kind}.log");
        run.spawn("provider", &callee.as_provider(), &log);
        run.sipp(
            "pbx",
            &pbx_call(&uac, 2).rate(2),
            &format!("{kind}-outbound"),
        );
    }
    assert_metrics(
        &run.metrics(),
        &[("drawbridge_b2bua_calls_answered_total", 4.0)],
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
    let out = Sipp::uac()
        .at("198.18.1.10", 5070)
        .to("198.18.1.2:5060", "100")
        .calls(1)
        .timeout(45)
        .output(&run.lab, "provider");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the call cannot succeed:\n{text}");
    assert!(
        text.contains("408") || text.contains("Failed call"),
        "{text}"
    );
    assert_nothing_left(&run);
}

/// A silent call that drawbridge must end itself: SIPp's built-in callee as the PBX
/// answers and accepts drawbridge's BYE, the silent caller waits for it. `limit` is the
/// setting under test, as (a line of the lab config, the line to add after it);
/// afterwards the media timeouts counted must be `timeouts`, drawbridge's log must say
/// `logged`, and nothing may be left behind. Skipped where the lab cannot run.
fn silent_call_ended_by_drawbridge(limit: (&str, &str), name: &str, timeouts: f64, logged: &str) {
    if !require(&["ip", "sipp", "tcpdump", "python3"]) {
        return;
    }
    let mut run = start_with(&config_adding(limit.0, limit.1));
    run.pbx_uas(false, &format!("uas-pbx-{name}.log"));
    run.provider(&scenario("uac_silent.xml"), 1, name);
    assert_metrics(
        &run.metrics(),
        &[("drawbridge_media_timeouts_total", timeouts)],
    );
    assert_nothing_left(&run);
    let log = run.log();
    assert!(log.contains(logged), "{log}");
}

#[test]
fn a_call_whose_media_stops_is_ended_on_both_sides() {
    silent_call_ended_by_drawbridge(
        (
            "lan_address = \"198.18.2.1\"",
            "inactivity_timeout_secs = 2",
        ),
        "media-timeout",
        1.0,
        "no RTP in either direction: call ended",
    );
}

#[test]
fn a_call_longer_than_the_maximum_duration_is_ended_on_both_sides() {
    // Toll-fraud ceiling: a 2 s maximum; no media timeout would end the call first.
    silent_call_ended_by_drawbridge(
        ("max_calls_per_second = 100", "max_call_duration_secs = 2"),
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
        // The trunk's port: the only "port = 5060" line.
        let config = config_adding("port = 5060", &format!("media_nat = {nat}"));
        let mut run = start_with(&config);
        run.pbx_uas(true, "uas-pbx-nat.log");
        run.provider(&scenario("uac_nat.xml"), 1, "nat");
        assert_nothing_left(&run);
        let (provider, pbx) = run.stop_captures();
        let (to_pbx, back) = (
            rtp_count(&pbx, "198.18.2.1"),
            rtp_count(&provider, "198.18.1.2"),
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
    let config = config_adding("port = 5060", "max_concurrent_calls = 1");
    let mut run = start_with(&config);
    run.pbx_uas(true, "uas-pbx-limit.log");
    // Two calls 100 ms apart, each up for 2.5 s: the second finds the first up.
    let out = provider_call(&scenario("uac_rtp.xml"), 2)
        .rate(10)
        .output(&run.lab, "provider");
    assert!(
        !out.status.success(),
        "SIPp should count the refused call as failed"
    );
    // One answered, one refused, and the admission ticket released.
    assert_metrics(
        &run.metrics(),
        &[
            ("drawbridge_b2bua_calls_answered_total", 1.0),
            ("drawbridge_b2bua_calls_refused_total", 1.0),
            ("drawbridge_calls_active", 0.0),
        ],
    );
    assert_nothing_left(&run);
    let (provider, pbx) = run.stop_captures();
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
    run.callee("pbx", "uas_100rel.xml", "uas-pbx-100rel.log");
    run.provider(&scenario("uac_100rel.xml"), 1, "provider-100rel");
    let (_, pbx) = run.stop_captures();
    let to_pbx = received(&pbx, "198.18.2.10");
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

/// Every datagram in `packets` that arrived at `me`, as text.
fn received(packets: &[Datagram], me: &str) -> Vec<String> {
    packets
        .iter()
        .filter(|(_, d, _)| d.ip().to_string() == me)
        .map(|(_, _, p)| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// One call was answered, and nothing of it is left.
fn assert_one_answered_and_nothing_left(run: &Run) {
    assert_metrics(
        &run.metrics(),
        &[("drawbridge_b2bua_calls_answered_total", 1.0)],
    );
    assert_nothing_left(run);
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
    let log = "uas-provider-late-offer.log";
    run.callee("provider", "uas_reliable_183_offer.xml", log);
    let late_offer = pbx_call(&scenario("uac_100rel_late_offer.xml"), 1);
    run.sipp("pbx", &late_offer, "pbx-late-offer");
    let (provider, pbx) = run.stop_captures();
    let to_provider = received(&provider, "198.18.1.10");
    assert!(to_provider.iter().any(|m| m.starts_with("PRACK ")));
    for m in &to_provider {
        assert!(
            !m.contains("198.18.2.") && !m.contains("SIPpTag00"),
            "the LAN leaked to the provider:\n{m}"
        );
    }
    for m in &received(&pbx, "198.18.2.10") {
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
    let config = config_adding(
        "listen_udp = \"198.18.1.2:5060\"",
        "listen_tcp = \"198.18.1.2:5060\"",
    );
    assert_eq!(config.matches("transport = \"udp\"").count(), 1);
    let config = config.replace("transport = \"udp\"", "transport = \"tcp\"");
    let mut run = start_with(&config);
    run.pbx_uas(false, "uas-pbx-reconnect.log");
    let out = run.lab.python("provider", RECONNECTING_PROVIDER_PY, &[]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = run.log();
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
    assert_metrics(
        &run.metrics(),
        &[
            ("drawbridge_b2bua_dialogs_repinned_total", 1.0),
            ("drawbridge_b2bua_forged_in_dialog_total", 0.0),
        ],
    );
    assert_nothing_left(&run);
    // The PBX's leg ended too: drawbridge sent it the BYE.
    let (_, pbx) = run.stop_captures();
    assert!(
        pbx.iter()
            .any(|(_, d, p)| d.ip().to_string() == "198.18.2.10" && p.starts_with(b"BYE ")),
        "BYE relayed to the PBX"
    );
}
