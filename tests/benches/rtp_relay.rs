//! RTP relay benchmark (issue 5): N calls × 50 packets/s of 12-byte RTP header + 160-byte
//! payload, one way and both ways, through drawbridge's relay (`RtpRelay`, set up through
//! its Rust API by `rtp-relay-server`) and through rtpengine in userspace mode (set up
//! through ng by `rtp-ng`), same machine, same run, same batched C load generator
//! (`tests/rtpblast/rtpblast.c`, sendmmsg/recvmmsg, two sender threads unless pinned,
//! compiled with gcc here). Then a push past the limit: a few seconds of far more than
//! either relay can carry, then normal load again, counting the streams that still get
//! through. Needs root (network namespaces),
//! rtpengine (`rtpengine-daemon`, scripts/install-peers) and gcc.
//!
//!   cargo bench -p drawbridge-tests --bench rtp_relay [-- SECS "CALL COUNTS" BURST_PPS REPS]
//!
//! Defaults: 5 s per run, 1000 2000 4000 calls, median of 1 run, then a 3 s burst of
//! 150,000 packets/s per direction over `BURST_CALLS` (500) calls (300 pps per stream,
//! under drawbridge's per-stream rate guard, so the guard is not what is measured).
//! `ONLY=drawbridge` or `ONLY=rtpengine` runs one side; `PIN=split` pins the relay to
//! CPU 1 and generator + sink to CPU 0 for the steady runs too (the burst always is).
//! `RTP_BENCH_LOGS=DIR` keeps each relay's log there (rtpengine's, drawbridge's counters).
//! Equal CPU budget: with the cgroup v1 `cpu` controller (`/sys/fs/cgroup/cpu`), each relay
//! runs in a cgroup capped at `RTP_BENCH_RELAY_CPUS` CPUs (default 0.5; 0 = no cap, the old
//! shared-box runs), and the bench with its generator and sink in another; both weigh 8x
//! a normal job. The generator then has more CPU than the relay and can push either relay
//! past its limit, so `relayed pps` is each relay's capacity per half CPU, not the
//! generator's rate, and other jobs on the box barely move it.
//! Relay, generator and sink run at `nice -n -10` (`RTP_BENCH_NICE=N` to change, 0 for none)
//! so that other jobs of the same cgroup take what the bench leaves; jobs in other cgroups
//! still get their fair share of each CPU (seen: a relay pinned to a CPU held to ~35 % of
//! it by builds elsewhere), so read `relay_cpu%` and `box_busy%` before the pps.
//! Topology: caller 198.18.1.10:40000 and callee 198.18.1.20:40000 (one socket each, a
//! stream per call told apart by SSRC) and the relay on 198.18.1.2, on one bridge; both
//! relays get one interface and the whole box (2 CPUs here) is shared by generator, relay
//! and sink, as in the lab's rtpengine baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: failing loudly is the point

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use drawbridge_tests::netns::{Lab, require, run_ok};
use drawbridge_tests::{repo_root, wait_for_file};

const CALLER: &str = "198.18.1.10:40000";
const CALLEE: &str = "198.18.1.20:40000";
const RELAY_IP: &str = "198.18.1.2";
/// Packets per second of one G.711 stream at 20 ms ptime.
const STREAM_PPS: u64 = 50;
/// Seconds the generator keeps receiving after it stops sending.
const TAIL: u64 = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Relay {
    Drawbridge,
    Rtpengine,
    /// No relay: caller → callee straight, the latency baseline.
    Direct,
}

impl Relay {
    fn name(self) -> &'static str {
        match self {
            Self::Drawbridge => "drawbridge",
            Self::Rtpengine => "rtpengine",
            Self::Direct => "direct",
        }
    }
}

/// One rtpblast's `key=value` result line.
struct Blast(HashMap<String, f64>);

impl Blast {
    fn parse(out: &str) -> Self {
        let line = out
            .lines()
            .find(|l| l.starts_with("sent="))
            .unwrap_or_else(|| panic!("no rtpblast result in {out:?}"));
        Self(
            line.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
        )
    }

    fn get(&self, k: &str) -> f64 {
        self.0.get(k).copied().unwrap_or(0.0)
    }
}

/// What one load phase measured (both directions summed where it makes sense).
#[derive(Default, Clone)]
struct Phase {
    sent: f64,
    offered_pps: f64,
    rx: f64,
    relayed_pps: f64,
    loss_pct: f64,
    /// Streams that delivered at least one packet, out of `streams`.
    streams_seen: u64,
    streams: u64,
    /// Fewest packets any stream delivered.
    min_stream_rx: f64,
    /// Streams that delivered less than half of the best one (unfairness).
    streams_under_half: u64,
    /// Datagrams the kernel dropped for full socket buffers: at the relay, at the ends.
    rcvbuf_err_relay: f64,
    rcvbuf_err_ends: f64,
    /// Mid-run socket receive queues (KiB, `ss` Recv-Q): all relay sockets summed, and the
    /// generator/sink sockets summed: shows who falls behind.
    queued_relay_kib: f64,
    queued_ends_kib: f64,
    p50_us: f64,
    p99_us: f64,
    relay_cpu_pct: f64,
    /// CPU of the two rtpblast processes (caller, callee) over their send time, percent of
    /// one CPU: shows whether the generator or the relay is the limit.
    caller_cpu_pct: f64,
    callee_cpu_pct: f64,
    box_busy_pct: f64,
}

impl Phase {
    /// Relay CPU time per relayed packet, in microseconds.
    fn cpu_us_per_packet(&self) -> f64 {
        if self.relayed_pps > 0.0 {
            self.relay_cpu_pct * 1e4 / self.relayed_pps
        } else {
            0.0
        }
    }
}

/// A relay set up in its own lab, ready for traffic.
struct Setup {
    lab: Lab,
    pid: Option<u32>,
    log: PathBuf,
    ports_a: String,
    ports_b: String,
    rss_per_call_kb: f64,
    /// Relay pinned to CPU 1, generator and sink to CPU 0.
    pinned: bool,
}

fn lab() -> Lab {
    let mut lab = Lab::new();
    lab.add_switch("sw");
    lab.link("sw", "dmz", "eth0", "198.18.1.2/24");
    lab.link("sw", "caller", "eth0", "198.18.1.10/24");
    lab.link("sw", "callee", "eth0", "198.18.1.20/24");
    lab
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// utime + stime of a process (all threads), in clock ticks (100 per second here).
fn cpu_ticks(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let f = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    f(11) + f(12)
}

/// (busy, total) jiffies of the whole box.
fn box_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compiles the load generator into `dir`.
fn build_rtpblast(dir: &Path) -> PathBuf {
    let out = dir.join("rtpblast");
    run_ok(
        Command::new("gcc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&out)
            .arg(repo_root().join("tests/rtpblast/rtpblast.c"))
            .arg("-lpthread"),
    );
    out
}

/// `RcvbufErrors` of the UDP MIB inside a namespace.
fn rcvbuf_errors(lab: &Lab, ns: &str) -> f64 {
    let out = lab.output(ns, "cat", &["/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("Udp:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (Some(names), Some(values)) = (rows.first(), rows.get(1)) else {
        return 0.0;
    };
    names
        .iter()
        .position(|n| *n == "RcvbufErrors")
        .and_then(|i| values.get(i)?.parse().ok())
        .unwrap_or(0.0)
}

/// Sum of the Recv-Q of all UDP sockets in a namespace, in KiB.
fn queued_kib(lab: &Lab, ns: &str) -> f64 {
    let out = lab.output(ns, "ss", &["-Hnua"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum::<f64>()
        / 1024.0
}

/// The cgroups of the equal-CPU-budget runs (cgroup v1 `cpu` controller).
struct Cgroups {
    root: PathBuf,
    relay: PathBuf,
}

impl Cgroups {
    /// Creates the relay and load groups and moves this process (and so the generators
    /// and sinks it starts) into the load group; `None` without the controller, or when
    /// `RTP_BENCH_RELAY_CPUS=0`.
    fn new() -> Option<Self> {
        let cpus: f64 = std::env::var("RTP_BENCH_RELAY_CPUS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.5);
        let base = Path::new("/sys/fs/cgroup/cpu");
        if cpus <= 0.0 || !base.join("cpu.cfs_quota_us").exists() {
            return None;
        }
        let root = base.join("drawbridge-rtp-bench");
        let (relay, load) = (root.join("relay"), root.join("load"));
        let write = |dir: &Path, file: &str, v: String| std::fs::write(dir.join(file), v).ok();
        std::fs::create_dir_all(&relay).ok()?;
        std::fs::create_dir_all(&load).ok()?;
        write(&root, "cpu.shares", "8192".into())?;
        // A short period: a throttled relay stalls for at most a few ms, not 50.
        write(&relay, "cpu.cfs_period_us", "10000".into())?;
        write(
            &relay,
            "cpu.cfs_quota_us",
            ((cpus.min(2.0) * 10_000.0) as u64).to_string(),
        )?;
        write(&load, "cgroup.procs", std::process::id().to_string())?;
        Some(Self { root, relay })
    }

    /// Puts a relay (all its threads) under the cap.
    fn cap(&self, pid: u32) {
        let _ = std::fs::write(self.relay.join("cgroup.procs"), pid.to_string());
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        let _ = std::fs::write(
            "/sys/fs/cgroup/cpu/cgroup.procs",
            std::process::id().to_string(),
        );
        for d in ["relay", "load", ""] {
            let _ = std::fs::remove_dir(self.root.join(d));
        }
    }
}

/// Where a relay runs: pinned to CPU 1 (generator and sink to CPU 0), and under the cap.
#[derive(Clone, Copy)]
struct Place<'a> {
    pinned: bool,
    cg: Option<&'a Cgroups>,
}

/// The `nice` prefix every bench process runs under.
fn nice() -> String {
    std::env::var("RTP_BENCH_NICE")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(-10)
        .clamp(-20, 19)
        .to_string()
}

fn setup(kind: Relay, dir: &Path, n: usize, place: Place<'_>) -> Setup {
    let Place { pinned, cg } = place;
    let mut lab = lab();
    let pin = format!(
        "nice -n {} {}",
        nice(),
        if pinned { "taskset -c 1 " } else { "" }
    );
    let log = dir.join(format!("{}-{n}.log", kind.name()));
    let dir_s = dir.to_str().unwrap();
    let (pid, rss_per_call_kb) = match kind {
        Relay::Direct => (None, 0.0),
        Relay::Drawbridge => {
            let cmd = format!(
                "ulimit -n $(ulimit -Hn) && exec {pin}{} {RELAY_IP} {n} {CALLER} {CALLEE} {dir_s} 300",
                env!("CARGO_BIN_EXE_rtp-relay-server")
            );
            let pid = lab.spawn("dmz", "sh", &["-c", &cmd], &log);
            if let Some(cg) = cg {
                cg.cap(pid);
            }
            let ready = wait_for_file(&log, "READY", Duration::from_secs(60));
            let kv = Blast(
                ready
                    .split_whitespace()
                    .filter_map(|f| f.split_once('='))
                    .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                    .collect(),
            );
            let per_call = (kv.get("rss_after_kb") - kv.get("rss_before_kb")) / n as f64;
            (Some(pid), per_call)
        }
        Relay::Rtpengine => {
            let cmd = format!(
                "ulimit -n $(ulimit -Hn) && exec {pin}rtpengine --config-file=none --table=-1 \
                 --interface=198.18.1.2 --listen-ng=127.0.0.1:2223 --foreground --log-stderr -L 4 \
                 --port-min=20000 --port-max=59999 --delete-delay=0 --timeout=600 --num-threads=2"
            );
            let pid = lab.spawn("dmz", "sh", &["-c", &cmd], &log);
            if let Some(cg) = cg {
                cg.cap(pid);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let ss = lab.output("dmz", "ss", &["-Hnul", "sport = :2223"]);
                if !ss.stdout.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "rtpengine did not open its ng port; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(300));
            let before = rss_kb(pid);
            let out = lab.output(
                "dmz",
                env!("CARGO_BIN_EXE_rtp-ng"),
                &[
                    "127.0.0.1:2223",
                    &n.to_string(),
                    CALLER,
                    CALLEE,
                    dir_s,
                    "bench",
                ],
            );
            assert!(
                out.status.success(),
                "rtp-ng failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300));
            (Some(pid), (rss_kb(pid) - before) / n as f64)
        }
    };
    let (ports_a, ports_b) = if kind == Relay::Direct {
        (":40000".to_owned(), ":40000".to_owned())
    } else {
        (
            dir.join("ports-a.txt").to_str().unwrap().to_owned(),
            dir.join("ports-b.txt").to_str().unwrap().to_owned(),
        )
    };
    Setup {
        lab,
        pid,
        log,
        ports_a,
        ports_b,
        rss_per_call_kb,
        pinned,
    }
}

/// Runs caller and callee generators for `secs`: `pps_ab` from caller to callee,
/// `pps_ba` back (0 = that side only receives). `ssrc` offsets the SSRCs so a later phase
/// never counts an earlier phase's packets.
fn traffic(
    s: &Setup,
    blast: &Path,
    n: usize,
    pps_ab: u64,
    pps_ba: u64,
    secs: u64,
    ssrc: u32,
) -> Phase {
    let start = epoch_ms() + 1500;
    let (a_tx, b_tx) = (0x1000_0000 + ssrc, 0x2000_0000 + ssrc);
    let (dst_a, dst_b) = if s.pid.is_some() {
        (RELAY_IP, RELAY_IP)
    } else {
        ("198.18.1.20", "198.18.1.10")
    };
    let run = |ns: &str, local: &str, dst: &str, ports: &str, rate: u64, tx: u32, rx: u32| {
        let (ip, port) = local.split_once(':').unwrap();
        s.lab
            .cmd(ns, "nice")
            .args(["-n", &nice(), "timeout"])
            .arg((secs + TAIL + 15).to_string())
            .arg(blast)
            .args([ip, port, dst, ports])
            .args([
                n.to_string(),
                rate.to_string(),
                secs.to_string(),
                start.to_string(),
                format!("{tx:#x}"),
                format!("{rx:#x}"),
                TAIL.to_string(),
                if s.pinned { "0" } else { "-1" }.to_owned(),
                // Two sender threads unless pinned to one CPU: one thread tops out near
                // 100k pps here, less than drawbridge carries on half a CPU.
                if s.pinned { "1" } else { "2" }.to_owned(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let err0 = (
        rcvbuf_errors(&s.lab, "dmz"),
        rcvbuf_errors(&s.lab, "caller") + rcvbuf_errors(&s.lab, "callee"),
    );
    let callee = run("callee", CALLEE, dst_b, &s.ports_b, pps_ba, b_tx, a_tx);
    let caller = run("caller", CALLER, dst_a, &s.ports_a, pps_ab, a_tx, b_tx);
    // Relay CPU over the steady middle of the run (skip the first 0.5 s).
    let wait_until = |ms: u64| {
        let now = epoch_ms();
        if ms > now {
            std::thread::sleep(Duration::from_millis(ms - now));
        }
    };
    wait_until(start + 500);
    let (c0, b0, t0) = (s.pid.map(cpu_ticks), box_ticks(), Instant::now());
    wait_until(start + secs * 500);
    let queued = (
        queued_kib(&s.lab, "dmz"),
        queued_kib(&s.lab, "caller") + queued_kib(&s.lab, "callee"),
    );
    wait_until(start + secs * 1000 - 200);
    let (c1, b1, dt) = (
        s.pid.map(cpu_ticks),
        box_ticks(),
        t0.elapsed().as_secs_f64(),
    );
    let out_a = caller.wait_with_output().unwrap();
    let out_b = callee.wait_with_output().unwrap();
    let a = Blast::parse(&String::from_utf8_lossy(&out_a.stdout));
    let b = Blast::parse(&String::from_utf8_lossy(&out_b.stdout));
    let err1 = (
        rcvbuf_errors(&s.lab, "dmz"),
        rcvbuf_errors(&s.lab, "caller") + rcvbuf_errors(&s.lab, "callee"),
    );
    // a→b arrives at the callee (b's rx), b→a at the caller.
    let sent = a.get("sent") + b.get("sent");
    let rx = b.get("rx") + if pps_ba > 0 { a.get("rx") } else { 0.0 };
    let send_secs = a.get("send_secs").max(b.get("send_secs")).max(1e-9);
    let dirs: Vec<&Blast> = if pps_ba > 0 { vec![&b, &a] } else { vec![&b] };
    let weighted = |k: &str| {
        // Latency percentiles: the worse direction (percentiles do not add).
        dirs.iter().map(|d| d.get(k)).fold(0.0, f64::max)
    };
    Phase {
        sent,
        offered_pps: a.get("send_pps") + b.get("send_pps"),
        rx,
        relayed_pps: rx / send_secs,
        loss_pct: if sent > 0.0 {
            100.0 * (1.0 - rx / sent)
        } else {
            0.0
        },
        streams_seen: dirs.iter().map(|d| d.get("streams_seen") as u64).sum(),
        streams: (n * dirs.len()) as u64,
        min_stream_rx: dirs
            .iter()
            .map(|d| d.get("min_stream_rx"))
            .fold(f64::INFINITY, f64::min),
        streams_under_half: dirs
            .iter()
            .map(|d| d.get("streams_under_half") as u64)
            .sum(),
        rcvbuf_err_relay: err1.0 - err0.0,
        rcvbuf_err_ends: err1.1 - err0.1,
        queued_relay_kib: queued.0,
        queued_ends_kib: queued.1,
        p50_us: weighted("lat_p50_us"),
        p99_us: weighted("lat_p99_us"),
        relay_cpu_pct: match (c0, c1) {
            (Some(c0), Some(c1)) => (c1 - c0) / dt, // 100 ticks/s → percent of one CPU
            _ => 0.0,
        },
        caller_cpu_pct: 100.0 * (a.get("cpu_user") + a.get("cpu_sys")) / secs as f64,
        callee_cpu_pct: 100.0 * (b.get("cpu_user") + b.get("cpu_sys")) / secs as f64,
        box_busy_pct: 100.0 * (b1.0 - b0.0) / (b1.1 - b0.1).max(1.0) * 2.0,
    }
}

/// Stops the relay and returns its log (drawbridge's ends with its drop counters).
fn finish(s: Setup) -> String {
    let log = s.log.clone();
    drop(s.lab);
    if let Some(keep) = std::env::var_os("RTP_BENCH_LOGS") {
        let name = log.file_name().unwrap_or_default();
        let _ = std::fs::copy(&log, Path::new(&keep).join(name));
    }
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Calls whose media rtpengine gave up on ("receive queue exceeded … discarding").
fn rtpengine_dead_calls(log: &str) -> usize {
    let mut calls: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("receive queue exceeded"))
        .filter_map(|l| l.split("[bench-").nth(1)?.split(' ').next())
        .collect();
    calls.sort_unstable();
    calls.dedup();
    calls.len()
}

fn drawbridge_drops(log: &str) -> String {
    log.lines()
        .find(|l| l.starts_with("STATS"))
        .map(|l| {
            l.split_whitespace()
                .filter(|f| f.starts_with("dropped_") && !f.ends_with("=0"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The raw numbers of one run, on stderr (the table on stdout stays short).
fn detail(kind: Relay, n: usize, what: &str, p: &Phase) {
    eprintln!(
        "  {} {n} {what}: sent={:.0} rx={:.0} offered_pps={:.0} relayed_pps={:.0} loss%={:.3} \
         streams_seen={}/{} min_stream_rx={:.0} streams_under_half={} p50_us={:.0} p99_us={:.0} \
         relay_cpu%={:.0} cpu_us/pkt={:.2} caller/callee_cpu%={:.0}/{:.0} box_busy%={:.0}/200 rcvbuf_err(relay,ends)={:.0},{:.0} queued_kib(relay,ends)={:.0},{:.0}",
        kind.name(),
        p.sent,
        p.rx,
        p.offered_pps,
        p.relayed_pps,
        p.loss_pct,
        p.streams_seen,
        p.streams,
        p.min_stream_rx,
        p.streams_under_half,
        p.p50_us,
        p.p99_us,
        p.relay_cpu_pct,
        p.cpu_us_per_packet(),
        p.caller_cpu_pct,
        p.callee_cpu_pct,
        p.box_busy_pct,
        p.rcvbuf_err_relay,
        p.rcvbuf_err_ends,
        p.queued_relay_kib,
        p.queued_ends_kib
    );
}

/// One steady run: a fresh relay with `n` calls, 50 pps per stream one or both ways.
fn steady(
    kind: Relay,
    work: &Path,
    blast: &Path,
    n: usize,
    bi: bool,
    secs: u64,
    place: Place<'_>,
) -> (Phase, f64) {
    let dir = tempfile::tempdir_in(work).unwrap();
    let s = setup(kind, dir.path(), n, place);
    let rate = n as u64 * STREAM_PPS;
    let p = traffic(&s, blast, n, rate, if bi { rate } else { 0 }, secs, 0);
    let kb = s.rss_per_call_kb;
    let log = finish(s);
    detail(kind, n, if bi { "both" } else { "one" }, &p);
    match kind {
        Relay::Drawbridge => {
            let d = drawbridge_drops(&log);
            if !d.is_empty() {
                eprintln!("  drawbridge {n} drops: {d}");
            }
        }
        Relay::Rtpengine => {
            let dead = rtpengine_dead_calls(&log);
            if dead > 0 {
                eprintln!("  rtpengine {n}: {dead} calls with media discarded");
            }
        }
        Relay::Direct => {}
    }
    (p, kb)
}

/// The run with the median relayed rate.
fn median(mut runs: Vec<(Phase, f64)>) -> Option<(Phase, f64)> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.0.relayed_pps.total_cmp(&b.0.relayed_pps));
    let mid = runs.len() / 2;
    Some(runs.swap_remove(mid))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: u64 = args
        .first()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .clamp(2, 30);
    let counts: Vec<usize> = args
        .get(1)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .map(|n: usize| n.min(4500))
                .collect()
        })
        .unwrap_or_else(|| vec![1000, 2000, 4000]);
    let burst_pps: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(150_000)
        .min(1_000_000);
    let reps: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .clamp(1, 5);
    if !require(&["ip", "ss", "rtpengine", "gcc", "taskset"]) {
        return;
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    let pinned = std::env::var("PIN").is_ok_and(|v| v == "split");
    let cg = Cgroups::new();
    let place = Place {
        pinned,
        cg: cg.as_ref(),
    };
    let kinds: Vec<Relay> = [Relay::Drawbridge, Relay::Rtpengine]
        .into_iter()
        .filter(|k| only.is_empty() || only == k.name())
        .collect();
    let work = tempfile::tempdir().unwrap();
    let blast = build_rtpblast(work.path());
    println!("load average at start: {}", loadavg());
    println!(
        "RTP relay, 12 B header + 160 B payload, {STREAM_PPS} pps per stream, {secs} s per run, median of {reps}; \
         rtpblast (sendmmsg/recvmmsg) as caller and callee; {}; {}",
        if pinned {
            "relay pinned to CPU 1, generator and sink to CPU 0"
        } else {
            "relay, generator and sink share both CPUs"
        },
        match &cg {
            Some(_) => format!(
                "each relay capped at {} CPU (cgroup), generator and sink uncapped",
                std::env::var("RTP_BENCH_RELAY_CPUS").unwrap_or_else(|_| "0.5".into())
            ),
            None => "no CPU cap".to_owned(),
        }
    );
    println!(
        "{:>5} {:>4} | {:>10} | {:>22} {:>5} {:>6} {:>11} {:>5} | {:>22} {:>5} {:>6} {:>11} {:>5} | {:>5}",
        "calls",
        "dir",
        "offered",
        "drawbridge pps (loss%)",
        "cpu%",
        "us/pkt",
        "p50/p99 us",
        "KiB/c",
        "rtpengine pps (loss%)",
        "cpu%",
        "us/pkt",
        "p50/p99 us",
        "KiB/c",
        "ratio"
    );
    let cell = |p: &Option<(Phase, f64)>| match p {
        Some((p, kb)) => [
            format!("{:.0} ({:.2})", p.relayed_pps, p.loss_pct),
            format!("{:.0}", p.relay_cpu_pct),
            format!("{:.1}", p.cpu_us_per_packet()),
            format!("{:.0}/{:.0}", p.p50_us, p.p99_us),
            format!("{kb:.1}"),
        ],
        None => std::array::from_fn(|_| "-".to_owned()),
    };
    for &n in &counts {
        for bi in [false, true] {
            let mut runs: [Vec<(Phase, f64)>; 2] = [Vec::new(), Vec::new()];
            // Alternate the relays so a change in the box's other load hits both alike.
            for _ in 0..reps {
                for (i, kind) in [Relay::Drawbridge, Relay::Rtpengine]
                    .into_iter()
                    .enumerate()
                {
                    if kinds.contains(&kind) {
                        runs[i].push(steady(kind, work.path(), &blast, n, bi, secs, place));
                    }
                }
            }
            let [d_runs, r_runs] = runs;
            let res = [median(d_runs), median(r_runs)];
            let offered = res
                .iter()
                .flatten()
                .map(|(p, _)| p.offered_pps)
                .fold(0.0, f64::max);
            let ratio = match (&res[0], &res[1]) {
                (Some((a, _)), Some((b, _))) if b.relayed_pps > 0.0 => {
                    format!("{:.2}x", a.relayed_pps / b.relayed_pps)
                }
                _ => "-".into(),
            };
            let (d, r) = (cell(&res[0]), cell(&res[1]));
            println!(
                "{n:>5} {:>4} | {offered:>10.0} | {:>22} {:>5} {:>6} {:>11} {:>5} | {:>22} {:>5} {:>6} {:>11} {:>5} | {ratio:>5}",
                if bi { "both" } else { "one" },
                d[0],
                d[1],
                d[2],
                d[3],
                d[4],
                r[0],
                r[1],
                r[2],
                r[3],
                r[4]
            );
        }
    }
    // Latency baseline: the same generator and sink without a relay.
    if let Some(&n) = counts.first() {
        let (p, _) = steady(Relay::Direct, work.path(), &blast, n, false, secs, place);
        println!(
            "{n:>5}  one | {:>10.0} | direct, no relay: p50/p99 {:.0}/{:.0} us, loss {:.2}% (latency baseline)",
            p.offered_pps, p.p50_us, p.p99_us, p.loss_pct
        );
    }

    // Past the limit: a burst far above capacity, then normal load on the same calls. The
    // relay is pinned to one CPU and the generator to the other, so that the generator can
    // outrun the relay (on a shared box it mostly starves itself first).
    let n = std::env::var("BURST_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500usize)
        .min(4500);
    println!();
    println!(
        "past the limit (relay on CPU 1, generator and sink on CPU 0): {n} calls, 3 s at {burst_pps} pps each way, \
         then {secs} s at {STREAM_PPS} pps per stream both ways"
    );
    println!(
        "{:>10} | {:>22} {:>5} | {:>24} {:>9} {:>10} {:>11} | notes",
        "relay",
        "burst relayed (loss%)",
        "cpu%",
        "after: streams with pkts",
        "min/strm",
        "<half/strm",
        "loss% after"
    );
    for kind in kinds {
        let dir = tempfile::tempdir_in(work.path()).unwrap();
        let s = setup(
            kind,
            dir.path(),
            n,
            Place {
                pinned: true,
                cg: cg.as_ref(),
            },
        );
        let burst = traffic(&s, &blast, n, burst_pps, burst_pps, 3, 0);
        let after = traffic(
            &s,
            &blast,
            n,
            n as u64 * STREAM_PPS,
            n as u64 * STREAM_PPS,
            secs,
            0x0100_0000,
        );
        let log = finish(s);
        let notes = match kind {
            Relay::Drawbridge => drawbridge_drops(&log),
            _ => format!("calls with media discarded: {}", rtpengine_dead_calls(&log)),
        };
        println!(
            "{:>10} | {:>22} {:>5.0} | {:>24} {:>9.0} {:>10} {:>11.2} | {notes}",
            kind.name(),
            format!("{:.0} ({:.1})", burst.relayed_pps, burst.loss_pct),
            burst.relay_cpu_pct,
            format!("{}/{}", after.streams_seen, after.streams),
            after.min_stream_rx,
            after.streams_under_half,
            after.loss_pct
        );
        detail(kind, n, "burst", &burst);
        detail(kind, n, "after", &after);
    }
    println!("load average at end: {}", loadavg());
}
