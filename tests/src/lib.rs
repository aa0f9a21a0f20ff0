//! Helpers shared by drawbridge's end-to-end tests: finding the binary, running it with a
//! configuration in a temporary directory, and waiting for its log lines.

pub mod dmz;
pub mod lab_config;
pub mod netns;
pub mod sipp;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of the `drawbridge` binary under test: `DRAWBRIDGE_BIN`, or the one cargo built
/// next to this test executable (`scripts/test` builds it before the tests run).
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("DRAWBRIDGE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/drawbridge
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("drawbridge"))
        .unwrap_or_default();
    assert!(
        candidate.exists(),
        "drawbridge binary not found at {}; run `cargo build --bins` first (scripts/test does)",
        candidate.display()
    );
    candidate
}

/// A `drawbridge` command with a clean environment for its configuration variables.
pub fn drawbridge() -> Command {
    let mut cmd = Command::new(binary());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DRAWBRIDGE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `cmd` with `input` on its standard input; its output, stdout and stderr captured.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .unwrap_or_else(|e| panic!("writing to {cmd:?}: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))
}

/// `Key = Value` of a wg-quick configuration (as `drawbridge peer add` prints it).
pub fn wg_quick_field<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
    conf.lines().find_map(|l| {
        l.strip_prefix(key)?
            .trim_start()
            .strip_prefix('=')
            .map(str::trim)
    })
}

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The example configuration with its listen ports replaced by free ones, written into
/// `dir` (so that a test never writes into the repository and never collides with a
/// drawbridge already running on the default ports).
pub fn example_config_in(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(repo_root().join("config/drawbridge.toml")).unwrap_or_default();
    let udp = free_udp_port();
    let (tls, pbx, metrics) = (free_tcp_port(), free_udp_port(), free_tcp_port());
    let text = text
        .replace("0.0.0.0:51820", &format!("127.0.0.1:{udp}"))
        .replace("0.0.0.0:5061", &format!("127.0.0.1:{tls}"))
        .replace("0.0.0.0:5080", &format!("127.0.0.1:{pbx}"))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{metrics}"))
        // Tests never reach past loopback: the trunk is a closed local port, so drawbridge's
        // resolver and connector stay on this machine.
        .replace("host = \"sip.provider.example\"", "host = \"127.0.0.1\"")
        .replace("port = 5061", &format!("port = {}", free_tcp_port()));
    let path = dir.join("drawbridge.toml");
    std::fs::write(&path, text).unwrap_or_default();
    path
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A TCP port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A running `drawbridge run` whose log lines are collected.
pub struct Running {
    /// The child process.
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every log line seen so far.
    pub log: Vec<String>,
}

impl Running {
    /// Starts `drawbridge run --config <config>`.
    pub fn start(config: &Path) -> Self {
        let mut child = drawbridge()
            .args(["run", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        let (tx, lines) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits until a log line contains `needle`; panics with the log after `timeout`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!(
                    "no log line with {needle:?} within {timeout:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends a signal (by name, e.g. "TERM") to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                    self.log.push(l);
                }
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only our own child, by PID.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `path` (a log file) contains `needle`; panics with the file after `timeout`.
pub fn wait_for_file(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line with {needle:?} in {} within {timeout:?}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads one counter from a Prometheus text exposition (sums all label sets).
pub fn metric(exposition: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        let base = key.split('{').next().unwrap_or(key);
        if base == name
            && let Ok(v) = value.parse::<f64>()
        {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Asserts each (counter, value) pair against a Prometheus exposition (summed over label
/// sets, as [`metric`] reads it), showing the whole exposition when one differs.
pub fn assert_metrics(exposition: &str, want: &[(&str, f64)]) {
    for (name, value) in want {
        assert_eq!(
            metric(exposition, name),
            Some(*value),
            "{name}:\n{exposition}"
        );
    }
}

/// Python snippet: sends one UDP datagram (argv: host port payload [timeout]) and prints
/// `REPLY <payload>` or `SILENCE`. Works for IPv4 and IPv6 hosts.
pub const UDP_PROBE_PY: &str = r#"
import socket, sys
host, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
try:
    s.sendto(payload, (host, port))
    data, _ = s.recvfrom(65535)
    print("REPLY", data.decode(errors="replace"))
except (socket.timeout, OSError) as e:
    print("SILENCE", type(e).__name__)
"#;

/// Python snippet: counts UDP datagrams arriving on (argv: host port seconds) and prints
/// `RECEIVED <n>` when the time is up.
pub const UDP_SINK_PY: &str = r#"
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
s.settimeout(0.2)
n, end = 0, time.time() + secs
while time.time() < end:
    try:
        s.recvfrom(65535); n += 1
    except socket.timeout:
        pass
print("RECEIVED", n, flush=True)
"#;

/// Python snippet: prints the Prometheus metrics served on 127.0.0.1:PORT (argv: port).
pub const METRICS_PY: &str = r#"
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=3).read().decode())
"#;

/// One captured UDP datagram: source, destination, payload.
pub type Datagram = (std::net::SocketAddrV4, std::net::SocketAddrV4, Vec<u8>);

/// UDP payloads (with their IPv4 source and destination) of a classic pcap file written by
/// tcpdump on an Ethernet interface. Other frames are skipped.
pub fn pcap_udp_payloads(path: &Path) -> Vec<Datagram> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    let Some(magic) = data.get(0..4) else {
        return out;
    };
    let le = magic == [0xd4, 0xc3, 0xb2, 0xa1] || magic == [0x4d, 0x3c, 0xb2, 0xa1];
    let rd = |b: &[u8]| -> usize {
        let a = [b[0], b[1], b[2], b[3]];
        (if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }) as usize
    };
    let mut at = 24;
    while let Some(h) = data.get(at..at + 16) {
        let len = rd(&h[8..12]);
        let Some(frame) = data.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        // Ethernet II, IPv4, UDP.
        if frame.len() < 14 + 20 + 8
            || frame[12..14] != [0x08, 0x00]
            || frame[14] >> 4 != 4
            || frame[23] != 17
        {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let ip = &frame[14..];
        let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        let sp = u16::from_be_bytes([udp[0], udp[1]]);
        let dp = u16::from_be_bytes([udp[2], udp[3]]);
        out.push((
            std::net::SocketAddrV4::new(src, sp),
            std::net::SocketAddrV4::new(dst, dp),
            udp[8..].to_vec(),
        ));
    }
    out
}
