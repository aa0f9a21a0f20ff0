//! Calls-per-second benchmark (issue 5): SIPp uac → drawbridge (B2BUA, topology hiding,
//! media anchored) → SIPp uas, against Kamailio as a stateful proxy between the same SIPp
//! pair, same namespaces and addresses, same run, one after the other per target rate.
//! Prints a table (achieved calls/s, failed %, SIPp retransmissions per call and CPU µs per
//! call of each, their ratio), the highest rate each sustained with < 1 % failed, the
//! highest it sustained without overload (next to no retransmissions), drawbridge's peak
//! RSS, the CPU each process used, and drawbridge's B2BUA gauges after the calls ended
//! (they must return to 0). Needs root (network namespaces), sipp, kamailio and python3;
//! build the binary first:
//!
//!   cargo build --release --bins && cargo bench -p drawbridge-tests --bench sip_cps [-- SECS "RATES"]
//!
//! Environment:
//! - `UACS=n` splits the load over n SIPp uac instances (default 1);
//! - `ONLY=drawbridge|kamailio`;
//! - `HOLD_MS` call hold (default 500, see [`DEFAULT_HOLD_MS`]);
//! - `KAM_CHILDREN` Kamailio's UDP workers per socket (default 4, the lab's; 1 and 2 were
//!   no better on one core);
//! - `UAS_180=1` lets the uas in front of drawbridge send 180 Ringing (Kamailio always gets
//!   the uas without 180: it relays from several processes and reorders 180/200, which the
//!   strict SIPp uac counts as a failure);
//! - `PIN=1` gives the system under test CPU 1 alone and the SIPp processes CPU 0
//!   (taskset), so the load generator never takes CPU from what is measured and both
//!   systems get exactly one core;
//! - `LEAK_WAIT` seconds to wait for drawbridge's gauges to drain (default 90: a call whose
//!   caller vanished ends after 64*T1 of 2xx retransmissions plus a BYE's Timer F).
//!
//! Logs, SIPp CSVs and error files stay in `target/<profile>/sip_cps/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: failing loudly is the point

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use drawbridge_tests::netns::{Lab, require};
use drawbridge_tests::{METRICS_PY, binary, metric, repo_root};

/// drawbridge for the bench: the interop test's trunk/PBX setup with the guard's rate and
/// concurrency limits raised far above the offered load (the bench measures capacity, not
/// the flood defence), a media port range for ~10 000 concurrent calls with a short port
/// quarantine (so the port pool does not bound the call rate), and per-call
/// logging off (`warn`), as Kamailio logs nothing per call either.
const CONFIG: &str = r#"
[sip]
listen_tls = "127.0.0.1:5061"
listen_udp = "198.18.1.2:5060"
advertised_host = "sbc.example.net"
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
options_interval_secs = 0
max_concurrent_calls = 100000

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
listen = "198.18.2.1:5080"

[media]
port_min = 20000
port_max = 59999
public_address = "198.18.1.2"
lan_address = "198.18.2.1"
# 20 000 pairs per side: with the default 10 s quarantine they would bound the bench at
# 2 000 new calls/s (and run out within 8 s above 2 500); 2 s measures signalling.
port_quarantine_secs = 2

[guard]
requests_per_second = 1000000
max_calls_per_second = 1000000
max_concurrent_calls = 100000

[admin]
metrics_listen = "127.0.0.1:9090"
log_level = "warn"
"#;

/// SIPp's socket buffers (its default is 64 KiB): with the default, SIPp's own sockets
/// overflowed in bursts at 3000 calls/s (a few hundred `RcvbufErrors` per run in its
/// namespaces), and each lost message came back as a retransmission half a second later
/// for whichever system was measured. The load generator must not be what drops.
const SIPP_SOCKET_BUFFER: &str = "4194304";

/// Call hold (SIPp `-d`) unless `HOLD_MS` says otherwise. It sets how many calls are open
/// at once, not the signalling work per call. drawbridge anchors media with four sockets
/// per open call, and this VM's open-file hard limit is 20 000 (`prlimit` may not raise
/// it): with 1 s hold, 4 000 calls/s keep 16 000+ sockets open and the bench would measure
/// that limit (488s) instead of the signalling. The lab's 1 s stays available.
const DEFAULT_HOLD_MS: u64 = 500;

/// A run is overloaded when SIPp retransmitted more than this share of its calls' worth
/// of messages: on a lossless veth a retransmission means an answer took longer than
/// T1 (500 ms), i.e. the system under test queued work it could not keep up with. Calls
/// then still complete (and count as "not failed"), later.
const OVERLOAD_RETRANS_PER_CALL: f64 = 0.01;

/// Which system sits between the SIPp pair.
#[derive(Clone, Copy, PartialEq)]
enum System {
    Drawbridge,
    Kamailio,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            Self::Drawbridge => "drawbridge",
            Self::Kamailio => "kamailio",
        }
    }
}

/// What one load run measured.
#[derive(Default)]
struct Outcome {
    offered: u64,
    ok: u64,
    failed: u64,
    retrans: u64,
    /// Successful calls per second while calls were being created.
    cps: f64,
    peak_calls: u64,
    /// CPU (% of one core) while the uac ran, per process group: average, busiest second.
    cpu: Vec<(String, f64, f64)>,
    host_busy: f64,
    rss_peak_kib: u64,
    /// drawbridge's gauges after the calls: (calls_active, dialogs, transactions, secs to drain).
    gauges: Option<(f64, f64, f64, f64)>,
    note: String,
}

impl Outcome {
    fn failed_pct(&self) -> f64 {
        100.0 * self.failed as f64 / self.offered.max(1) as f64
    }

    /// CPU time of the system under test (its first process group) per successful call,
    /// in µs: steadier between runs than the calls/s a system reaches at its limit.
    fn cpu_per_call_us(&self) -> Option<f64> {
        let (_, avg, _) = self.cpu.first()?;
        (self.cps > 0.0).then(|| avg / 100.0 / self.cps * 1e6)
    }

    /// Sustained: < 1 % of the offered calls failed and the rate reached 95 % of the target.
    fn sustained(&self, target: u64) -> bool {
        self.failed_pct() < 1.0 && self.cps >= 0.95 * target as f64
    }

    fn retrans_per_call(&self) -> f64 {
        self.retrans as f64 / self.offered.max(1) as f64
    }

    /// Sustained, and answered in time: SIPp had (next to) nothing to retransmit.
    fn unloaded(&self, target: u64) -> bool {
        self.sustained(target) && self.retrans_per_call() <= OVERLOAD_RETRANS_PER_CALL
    }
}

/// With `PIN=1`: the CPU that the system under test (`sut`) or the SIPp load gets alone.
fn pinned_cpu(sut: bool) -> Option<&'static str> {
    std::env::var("PIN")
        .is_ok_and(|v| v == "1")
        .then_some(if sut { "1" } else { "0" })
}

/// `program args` as run, behind `taskset -c <cpu>` when pinned: taskset execs the program,
/// so the PID `Lab::spawn` returns is still the program's own.
fn argv<'a>(sut: bool, program: &'a str, args: &[&'a str]) -> (&'a str, Vec<&'a str>) {
    match pinned_cpu(sut) {
        Some(cpu) => {
            let mut all = vec!["-c", cpu, program];
            all.extend_from_slice(args);
            ("taskset", all)
        }
        None => (program, args.to_vec()),
    }
}

fn lab() -> Lab {
    let mut lab = Lab::new();
    lab.add_switch("inet");
    lab.link("inet", "dmz", "inet0", "198.18.1.2/24");
    lab.link("inet", "provider", "eth0", "198.18.1.10/24");
    lab.add_switch("lan");
    lab.link("lan", "dmz", "lan0", "198.18.2.1/24");
    lab.link("lan", "pbx", "eth0", "198.18.2.10/24");
    let _ = lab.output("dmz", "sysctl", &["-qw", "net.ipv4.ip_forward=0"]);
    lab
}

// ---- /proc sampling -------------------------------------------------------------------

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// (ppid, utime + stime in ticks) of a live process (not a zombie).
fn stat(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.first() == Some(&"Z") {
        return None;
    }
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((ppid, ticks))
}

/// The command name of a process.
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
            && stat(p).is_some_and(|(ppid, _)| ppid == pid)
        {
            out.push(p);
        }
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// (busy, total) jiffies of the whole machine.
fn host_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU ticks of named process groups, remembering the last value seen per PID (a process
/// that exits keeps what it used until then), and each group's busiest one-second window.
#[derive(Default)]
struct CpuWatch {
    groups: Vec<(String, Vec<u32>)>,
    first: HashMap<u32, u64>,
    last: HashMap<u32, u64>,
    /// Start of the current window and each group's ticks then.
    window: Option<(Instant, Vec<u64>)>,
    peak: Vec<f64>,
}

impl CpuWatch {
    fn new(groups: Vec<(String, Vec<u32>)>) -> Self {
        Self {
            groups,
            ..Self::default()
        }
    }

    fn group_ticks(&self) -> Vec<u64> {
        self.groups
            .iter()
            .map(|(_, pids)| {
                pids.iter()
                    .map(|p| {
                        self.last.get(p).copied().unwrap_or(0)
                            - self.first.get(p).copied().unwrap_or(0)
                    })
                    .sum()
            })
            .collect()
    }

    fn sample(&mut self) {
        for (_, pids) in &self.groups {
            for &p in pids {
                if let Some((_, t)) = stat(p) {
                    self.first.entry(p).or_insert(t);
                    self.last.insert(p, t);
                }
            }
        }
        let now = Instant::now();
        let ticks = self.group_ticks();
        match &self.window {
            Some((at, before)) if now.duration_since(*at) >= Duration::from_secs(1) => {
                let secs = now.duration_since(*at).as_secs_f64();
                let hz = clk_tck();
                self.peak.resize(ticks.len(), 0.0);
                for (i, (t, b)) in ticks.iter().zip(before).enumerate() {
                    let pct = 100.0 * t.saturating_sub(*b) as f64 / hz / secs;
                    self.peak[i] = self.peak[i].max(pct);
                }
                self.window = Some((now, ticks));
            }
            Some(_) => {}
            None => self.window = Some((now, ticks)),
        }
    }

    /// (group, average % of one core over `secs`, busiest second's %).
    fn percent(&self, secs: f64) -> Vec<(String, f64, f64)> {
        let hz = clk_tck();
        self.groups
            .iter()
            .zip(self.group_ticks())
            .enumerate()
            .map(|(i, ((name, _), ticks))| {
                (
                    name.clone(),
                    100.0 * ticks as f64 / hz / secs.max(0.001),
                    self.peak.get(i).copied().unwrap_or(0.0),
                )
            })
            .collect()
    }
}

// ---- SIPp -----------------------------------------------------------------------------

/// What a SIPp uac's `-trace_stat` CSV says at the end of a run.
struct UacStats {
    ok: u64,
    failed: u64,
    retrans: u64,
    created: u64,
    peak_calls: u64,
    /// Seconds from SIPp's start until it had created `target` calls (interpolated between
    /// its one-second rows; the whole run if it never got there).
    creating: f64,
}

/// Seconds since the epoch in a SIPp time cell ("date<TAB>time<TAB>epoch.micros").
fn epoch(cell: &str) -> Option<f64> {
    cell.rsplit('\t').next()?.trim().parse().ok()
}

/// Parses a SIPp `-trace_stat` CSV (one row per second, counters cumulative).
fn parse_stat(path: &Path, target: u64) -> Option<UacStats> {
    let text = std::fs::read_to_string(path).ok()?;
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(';').collect())
        .collect();
    let (head, body) = rows.split_first()?;
    let col = |k: &str| head.iter().position(|h| *h == k);
    let last = body.last()?;
    let num = |r: &Vec<&str>, k: &str| -> u64 {
        col(k)
            .and_then(|i| r.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    // The ElapsedTime columns have whole seconds only; the time cells have microseconds.
    let (start, now) = (col("StartTime")?, col("CurrentTime")?);
    let t = |r: &Vec<&str>| -> f64 {
        r.get(now).and_then(|c| epoch(c)).unwrap_or(0.0)
            - r.get(start).and_then(|c| epoch(c)).unwrap_or(0.0)
    };
    let mut creating = t(last);
    let mut before = (0.0, 0u64);
    for r in body {
        let (at, made) = (t(r), num(r, "TotalCallCreated"));
        if made >= target {
            let share = (target - before.1) as f64 / (made - before.1).max(1) as f64;
            creating = before.0 + share * (at - before.0);
            break;
        }
        before = (at, made);
    }
    Some(UacStats {
        ok: num(last, "SuccessfulCall(C)"),
        failed: num(last, "FailedCall(C)"),
        retrans: num(last, "Retransmissions(C)"),
        created: num(last, "TotalCallCreated"),
        peak_calls: body
            .iter()
            .map(|r| num(r, "CurrentCall"))
            .max()
            .unwrap_or(0),
        creating,
    })
}

fn spawn_uas(lab: &mut Lab, dir: &Path, system: System, secs: u64) -> u32 {
    let no180 = repo_root().join("tests/sipp/uas_no180.xml");
    let no180 = no180.to_str().unwrap();
    let with_180 = system == System::Drawbridge && std::env::var("UAS_180").is_ok_and(|v| v == "1");
    let scen: [&str; 2] = if with_180 {
        ["-sn", "uas"]
    } else {
        ["-sf", no180]
    };
    let errors = dir.join("uas-errors.log");
    let limit = (secs * 4 + 60).to_string();
    let mut args = vec![scen[0], scen[1]];
    args.extend_from_slice(&[
        "-i",
        "198.18.2.10",
        "-p",
        "5060",
        "-mp",
        "16000",
        "-nostdin",
        "-timeout",
        &limit,
        "-trace_err",
        "-error_file",
        errors.to_str().unwrap(),
        "-max_log_size",
        "20000000",
        "-buff_size",
        SIPP_SOCKET_BUFFER,
    ]);
    let (program, args) = argv(false, "sipp", &args);
    lab.spawn("pbx", program, &args, &dir.join("uas.log"))
}

/// Runs the uac(s) at `rate` for `secs`, bounded by `timeout -k 5`, watching CPU and RSS.
fn run_uacs(
    lab: &Lab,
    dir: &Path,
    rate: u64,
    secs: u64,
    watch: &mut CpuWatch,
    rss_of: Option<u32>,
) -> Outcome {
    let uacs: u64 = std::env::var("UACS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .clamp(1, 8);
    let hold_ms: u64 = std::env::var("HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_HOLD_MS)
        .min(10_000);
    let per_rate = rate.div_ceil(uacs);
    let per_calls = per_rate * secs;
    let hard = (secs * 3 + 30).to_string();
    let soft = (secs * 3 + 20).to_string();
    let mut children: Vec<(Child, PathBuf)> = Vec::new();
    for i in 0..uacs {
        let stf = dir.join(format!("uac{i}.csv"));
        let _ = std::fs::remove_file(&stf);
        let errors = dir.join(format!("uac{i}-errors.log"));
        let log = std::fs::File::create(dir.join(format!("uac{i}.log"))).unwrap();
        let (program, timeout) = argv(false, "timeout", &["-k", "5", &hard]);
        let child = lab
            .cmd("provider", program)
            .args(timeout)
            .args(["sipp", "198.18.1.2:5060", "-sn", "uac"])
            .args(["-s", "100", "-i", "198.18.1.10"])
            .args(["-p", &(5070 + i).to_string()])
            .args(["-mp", &(17000 + 10 * i).to_string()])
            .args(["-r", &per_rate.to_string(), "-m", &per_calls.to_string()])
            .args(["-d", &hold_ms.to_string()])
            .args(["-l", &(per_rate * 4 + 100).to_string()])
            .args(["-timeout", &soft, "-nostdin"])
            .args(["-trace_stat", "-stf", stf.to_str().unwrap(), "-fd", "1"])
            .args(["-trace_err", "-error_file", errors.to_str().unwrap()])
            .args(["-max_log_size", "20000000"])
            .args(["-buff_size", SIPP_SOCKET_BUFFER])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        children.push((child, stf));
    }
    // Who runs the load: `timeout` forks sipp.
    std::thread::sleep(Duration::from_millis(100));
    let uac_pids: Vec<u32> = children
        .iter()
        .flat_map(|(c, _)| children_of(c.id()))
        .collect();
    watch.groups.push(("sipp uac".into(), uac_pids));
    let started = Instant::now();
    let (busy0, total0) = host_jiffies();
    watch.sample();
    let mut rss_peak = 0;
    let deadline = started + Duration::from_secs(secs * 3 + 40);
    let mut statuses = Vec::new();
    for (child, _) in &mut children {
        loop {
            watch.sample();
            if let Some(pid) = rss_of {
                rss_peak = rss_peak.max(rss_kib(pid));
            }
            match child.try_wait() {
                Ok(Some(s)) => {
                    statuses.push(s);
                    break;
                }
                _ if Instant::now() > deadline => {
                    let _ = child.kill();
                    statuses.push(child.wait().unwrap());
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let (busy1, total1) = host_jiffies();
    let mut out = Outcome {
        offered: per_calls * uacs,
        cpu: watch.percent(wall),
        host_busy: 100.0 * (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64,
        rss_peak_kib: rss_peak,
        ..Outcome::default()
    };
    for ((_, stf), status) in children.iter().zip(&statuses) {
        let Some(st) = parse_stat(stf, per_calls) else {
            out.note = format!("no SIPp stats ({status})");
            continue;
        };
        out.ok += st.ok;
        out.retrans += st.retrans;
        out.peak_calls += st.peak_calls;
        // Calls SIPp gave up on or never made count as failed too.
        out.failed += per_calls.saturating_sub(st.ok).max(st.failed);
        // Successful calls per second of the time SIPp needed to start them all: SIPp
        // slows its pace when the system under test holds calls up (-l caps open calls).
        out.cps += st.ok as f64 / st.creating.max(0.001);
        if st.created < per_calls {
            out.note = format!("sipp created {}/{per_calls}", st.created);
        }
        if !status.success() && out.note.is_empty() {
            out.note = format!("sipp {status}");
        }
    }
    out
}

// ---- the systems under test -----------------------------------------------------------

fn metrics(lab: &Lab) -> String {
    String::from_utf8_lossy(
        &lab.output("dmz", "python3", &["-c", METRICS_PY, "9090"])
            .stdout,
    )
    .into_owned()
}

fn drawbridge(dir: &Path, rate: u64, secs: u64) -> Outcome {
    let mut lab = lab();
    let config = dir.join("drawbridge.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let log = dir.join("drawbridge.log");
    // Four media sockets per call: the open-file limit bounds the concurrent calls and the
    // parked sockets (deploy/drawbridge.service sets 65536; here it is ours).
    let bin = binary();
    let (program, args) = argv(
        true,
        bin.to_str().unwrap(),
        &["run", "--config", config.to_str().unwrap()],
    );
    let pid = lab.spawn("dmz", program, &args, &log);
    // The log level is warn: wait for the metrics endpoint instead of the info line.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !metrics(&lab).contains("drawbridge_b2bua_calls_active") {
        assert!(
            Instant::now() < deadline,
            "drawbridge did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let uas = spawn_uas(&mut lab, dir, System::Drawbridge, secs);
    std::thread::sleep(Duration::from_millis(500));
    let mut watch = CpuWatch::new(vec![
        ("drawbridge".into(), vec![pid]),
        ("sipp uas".into(), vec![uas]),
    ]);
    let mut out = run_uacs(&lab, dir, rate, secs, &mut watch, Some(pid));
    // The B2BUA's gauges must return to 0 once every call has ended.
    let wait: u64 = std::env::var("LEAK_WAIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90)
        .min(300);
    let t0 = Instant::now();
    loop {
        let m = metrics(&lab);
        let g = |k: &str| metric(&m, k).unwrap_or(f64::NAN);
        let gauges = (
            g("drawbridge_b2bua_calls_active"),
            g("drawbridge_b2bua_dialogs"),
            g("drawbridge_b2bua_transactions"),
            t0.elapsed().as_secs_f64(),
        );
        out.gauges = Some(gauges);
        if (gauges.0 == 0.0 && gauges.1 == 0.0) || t0.elapsed() > Duration::from_secs(wait) {
            std::fs::write(dir.join("metrics-after.txt"), &m).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    out
}

fn kamailio(dir: &Path, rate: u64, secs: u64) -> Outcome {
    let mut lab = lab();
    let cfg = repo_root().join("tests/kamailio/proxy.cfg");
    let pidfile = dir.join("kamailio.pid");
    let log = dir.join("kamailio.log");
    let children = std::env::var("KAM_CHILDREN").unwrap_or_else(|_| "4".into());
    let (program, args) = argv(
        true,
        "kamailio",
        &[
            // UDP worker processes per listening socket (the lab's config has 4).
            "-n",
            &children,
            "-f",
            cfg.to_str().unwrap(),
            "-DD",
            "-E",
            "-m",
            "1024",
            "-M",
            "16",
            // Receive buffer: Kamailio's own probing stops at 256 KiB, which overflowed
            // (75 000 RcvbufErrors in 10 s at 2500 calls/s); 4 MiB, as drawbridge asks for.
            "-b",
            "4194304",
            "-P",
            pidfile.to_str().unwrap(),
            "-Y",
            dir.to_str().unwrap(),
        ],
    );
    let pid = lab.spawn("dmz", program, &args, &log);
    let uas = spawn_uas(&mut lab, dir, System::Kamailio, secs);
    std::thread::sleep(Duration::from_millis(1500));
    let workers = children_of(pid);
    assert!(
        !workers.is_empty(),
        "kamailio did not start:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut all = vec![pid];
    all.extend(&workers);
    let mut watch = CpuWatch::new(vec![
        (format!("kamailio ({} procs)", all.len()), all.clone()),
        ("sipp uas".into(), vec![uas]),
    ]);
    let out = run_uacs(&lab, dir, rate, secs, &mut watch, None);
    // Stop Kamailio ourselves and wait for its workers, so that none outlives the lab.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    for _ in 0..100 {
        if all.iter().all(|p| stat(*p).is_none()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for w in &workers {
        if stat(*w).is_some() && comm(*w) == "kamailio" {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &w.to_string()])
                .status();
        }
    }
    drop(lab);
    out
}

// ---- report ---------------------------------------------------------------------------

fn cell(o: &Option<Outcome>) -> String {
    o.as_ref().map_or_else(
        || format!("{:>9} {:>7} {:>6} {:>8}", "-", "-", "-", "-"),
        |o| {
            let per_call = o
                .cpu_per_call_us()
                .map_or_else(|| "-".into(), |us| format!("{us:.0}"));
            format!(
                "{:>9.0} {:>7.2} {:>6.2} {per_call:>8}",
                o.cps,
                o.failed_pct(),
                o.retrans_per_call()
            )
        },
    )
}

fn detail(system: &str, rate: u64, o: &Outcome) {
    let cpu: Vec<String> = o
        .cpu
        .iter()
        .map(|(n, avg, peak)| format!("{n} {avg:.0}% (peak {peak:.0}%)"))
        .collect();
    let mut line = format!(
        "  {system:<10} @{rate:>5}: ok {}/{} retrans {} peak calls {} | CPU {} | host busy {:.0}%",
        o.ok,
        o.offered,
        o.retrans,
        o.peak_calls,
        cpu.join(", "),
        o.host_busy
    );
    if o.rss_peak_kib > 0 {
        line += &format!(" | peak RSS {:.1} MiB", o.rss_peak_kib as f64 / 1024.0);
    }
    if let Some((calls, dialogs, tx, t)) = o.gauges {
        let leak = if calls == 0.0 && dialogs == 0.0 {
            "drained"
        } else {
            "LEAK?"
        };
        line += &format!(
            " | after: calls_active {calls} dialogs {dialogs} transactions {tx} ({leak} after {t:.0} s)"
        );
    }
    if !o.note.is_empty() {
        line += &format!(" | {}", o.note);
    }
    println!("{line}");
}

/// The highest achieved rate among the sustained runs of one system.
fn max_sustained<'a>(
    runs: impl Iterator<Item = (u64, Option<&'a Outcome>)>,
    ok: fn(&Outcome, u64) -> bool,
) -> Option<f64> {
    runs.filter_map(|(rate, o)| o.filter(|o| ok(o, rate)).map(|o| o.cps))
        .fold(None, |m, c| Some(m.map_or(c, |m: f64| m.max(c))))
}

/// The highest achieved rate with < 1 % failed at any target: a system whose late answers
/// slow SIPp below 95 % of the target still carries this much (Kamailio near its limit).
fn best_throughput<'a>(runs: impl Iterator<Item = Option<&'a Outcome>>) -> Option<f64> {
    runs.flatten()
        .filter(|o| o.failed_pct() < 1.0)
        .map(|o| o.cps)
        .fold(None, |m, c| Some(m.map_or(c, |m: f64| m.max(c))))
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
        .unwrap_or(8)
        .clamp(1, 60);
    let rates: Vec<u64> = args
        .get(1)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .filter(|&n| n > 0 && n <= 20_000)
                .collect()
        })
        .unwrap_or_else(|| vec![1000, 2000, 3000, 4000, 5000]);
    if !require(&["ip", "sipp", "kamailio", "python3", "timeout"]) {
        return;
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    let logs = binary().with_file_name("sip_cps");
    let _ = std::fs::remove_dir_all(&logs);
    let uptime = |when: &str| {
        let u = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("load average {when}: {}", u.trim());
    };
    uptime("before");
    let nofile = std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .unwrap_or_default();
    if pinned_cpu(true).is_some() {
        println!("PIN=1: system under test alone on CPU 1, every SIPp process on CPU 0");
    }
    println!(
        "open-file hard limit {nofile} (drawbridge raises its soft limit to it): drawbridge holds 4 media sockets per concurrent call, and parks up to half of the limit between calls"
    );
    println!(
        "SIPp uac (x{}) -> system -> SIPp uas, built-in uac (INVITE/200/ACK, hold, BYE/200), {secs} s per rate; logs in {}",
        std::env::var("UACS").unwrap_or_else(|_| "1".into()),
        logs.display()
    );
    let mut results = Vec::new();
    for &rate in &rates {
        let run = |s: System| {
            let dir = logs.join(format!("{rate}-{}", s.name()));
            std::fs::create_dir_all(&dir).unwrap();
            match s {
                System::Drawbridge => drawbridge(&dir, rate, secs),
                System::Kamailio => kamailio(&dir, rate, secs),
            }
        };
        let db = (only != "kamailio").then(|| run(System::Drawbridge));
        let ka = (only != "drawbridge").then(|| run(System::Kamailio));
        if let Some(o) = &db {
            detail("drawbridge", rate, o);
        }
        if let Some(o) = &ka {
            detail("kamailio", rate, o);
        }
        results.push((rate, db, ka));
    }
    println!();
    println!(
        "{:>6} | {:>9} {:>7} {:>6} {:>8} | {:>9} {:>7} {:>6} {:>8} | {:>6}",
        "target",
        "db cps",
        "fail%",
        "rtx/c",
        "µs/call",
        "kam cps",
        "fail%",
        "rtx/c",
        "µs/call",
        "ratio"
    );
    for (rate, db, ka) in &results {
        let ratio = match (db, ka) {
            (Some(a), Some(b)) if b.cps > 0.0 => format!("{:.2}x", a.cps / b.cps),
            _ => "-".into(),
        };
        println!("{rate:>6} | {} | {} | {ratio:>6}", cell(db), cell(ka));
    }
    let show = |v: Option<f64>| v.map_or_else(|| "none".into(), |v| format!("{v:.0} cps"));
    let ratio_of = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "-".into(),
    };
    for (label, ok) in [
        (
            "max sustained (< 1 % failed, >= 95 % of target)",
            Outcome::sustained as fn(&Outcome, u64) -> bool,
        ),
        (
            "max without overload (sustained, and retransmissions <= 0.01 per call)",
            Outcome::unloaded,
        ),
    ] {
        let db_best = max_sustained(results.iter().map(|r| (r.0, r.1.as_ref())), ok);
        let ka_best = max_sustained(results.iter().map(|r| (r.0, r.2.as_ref())), ok);
        println!(
            "{label}: drawbridge {}, kamailio {}, ratio {}",
            show(db_best),
            show(ka_best),
            ratio_of(db_best, ka_best)
        );
    }
    let db_top = best_throughput(results.iter().map(|r| r.1.as_ref()));
    let ka_top = best_throughput(results.iter().map(|r| r.2.as_ref()));
    println!(
        "best throughput (< 1 % failed, any target): drawbridge {}, kamailio {}, ratio {}",
        show(db_top),
        show(ka_top),
        ratio_of(db_top, ka_top)
    );
    uptime("after");
}
