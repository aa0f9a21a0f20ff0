//! Network namespaces for interop tests: a small "internet" and LAN built per test, and
//! torn down (namespaces deleted, our own processes killed by PID) when the lab drops.
//!
//! Addresses: lab hosts use 198.18.0.0/15; nothing here routes anywhere else.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the interop tests can run here: root and the named tools present. Outside CI a
/// missing requirement skips the test with a loud note; with `CI=true` it fails the test,
/// so that a broken install step cannot pass silently.
pub fn require(tools: &[&str]) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut missing: Vec<String> = Vec::new();
    if !root {
        missing.push("root (network namespaces)".into());
    }
    for t in tools {
        if !which(t) {
            missing.push(format!("`{t}` (scripts/install-peers installs it)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("interop test needs {}", missing.join(", "));
    assert!(!ci, "{msg}");
    eprintln!("SKIPPED (not in CI): {msg}");
    false
}

/// Whether an executable is on PATH.
pub fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A set of namespaces joined by bridges. Dropping it removes everything it made.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    interfaces: u32,
}

impl Lab {
    /// A lab with a unique namespace prefix (tests may run in parallel).
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("d{}x{n}-", std::process::id() % 100_000);
        Self {
            prefix,
            namespaces: Vec::new(),
            children: Vec::new(),
            interfaces: 0,
        }
    }

    /// Full name of a namespace of this lab.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A new interface name, unique on the machine and at most 15 characters, for global
    /// resources such as wireguard-go's UAPI socket (`/var/run/wireguard/<name>.sock`).
    /// `hint` only makes it readable; call once per interface and keep the result.
    pub fn ifname(&mut self, hint: &str) -> String {
        self.interfaces += 1;
        let mut s = format!(
            "{}i{}{hint}",
            self.prefix.trim_end_matches('-'),
            self.interfaces
        );
        s.truncate(15);
        s
    }

    fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").args(args));
    }

    /// Creates a namespace with loopback up.
    pub fn add_ns(&mut self, name: &str) {
        let ns = self.ns(name);
        self.ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.ip(&["-n", &ns, "link", "set", "lo", "up"]);
    }

    /// Creates a switch (a namespace holding bridge `br0`).
    pub fn add_switch(&mut self, name: &str) {
        self.add_ns(name);
        let ns = self.ns(name);
        self.ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"]);
        self.ip(&["-n", &ns, "link", "set", "br0", "up"]);
    }

    /// Connects host namespace `host` (created if needed) to `switch` with interface `dev`
    /// carrying `cidr` (e.g. "198.18.1.2/24").
    pub fn link(&mut self, switch: &str, host: &str, dev: &str, cidr: &str) {
        if !self.namespaces.contains(&self.ns(host)) {
            self.add_ns(host);
        }
        let (sw, h) = (self.ns(switch), self.ns(host));
        let mut peer = format!("v{}{dev}", host);
        peer.truncate(15);
        self.ip(&[
            "link", "add", dev, "netns", &h, "type", "veth", "peer", "name", &peer, "netns", &sw,
        ]);
        self.ip(&["-n", &sw, "link", "set", &peer, "master", "br0", "up"]);
        self.ip(&["-n", &h, "addr", "add", cidr, "dev", dev]);
        self.ip(&["-n", &h, "link", "set", dev, "up"]);
    }

    /// A command that runs inside namespace `name`.
    pub fn cmd(&self, name: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(name)]).arg(program);
        c
    }

    /// Runs a command inside a namespace and returns its output.
    pub fn output(&self, name: &str, program: &str, args: &[&str]) -> Output {
        self.cmd(name, program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {program} in {name}: {e}"))
    }

    /// Runs a command inside a namespace and panics with its output if it fails.
    pub fn run_ok_in(&self, name: &str, program: &str, args: &[&str]) -> Output {
        run_ok(self.cmd(name, program).args(args))
    }

    /// Runs Python `script` (`python3 -c`) with `args` inside namespace `name`.
    pub fn python(&self, name: &str, script: &str, args: &[&str]) -> Output {
        let mut all = vec!["-c", script];
        all.extend_from_slice(args);
        self.output(name, "python3", &all)
    }

    /// What [`Lab::python`] printed on its standard output.
    pub fn python_stdout(&self, name: &str, script: &str, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.python(name, script, args).stdout).into_owned()
    }

    /// Starts a long-running process inside a namespace; it is killed (by PID) when the
    /// lab drops.
    pub fn spawn(
        &mut self,
        name: &str,
        program: impl AsRef<Path>,
        args: &[&str],
        log: &Path,
    ) -> u32 {
        let file = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = file.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let child = self
            .cmd(name, program.as_ref())
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} in {name}: {e}", program.as_ref().display()));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// The outside half of [`Lab::sbc`]: switch `inet` with drawbridge's public leg (ns
    /// `dmz`, 198.18.1.2/24) and the given outside hosts (name, CIDR), and no LAN.
    pub fn internet(outside: &[(&str, &str)]) -> Self {
        let mut lab = Self::new();
        lab.add_switch("inet");
        lab.link("inet", "dmz", "inet0", "198.18.1.2/24");
        for (name, cidr) in outside {
            lab.link("inet", name, "eth0", cidr);
        }
        lab
    }

    /// The SBC topology every interop test starts from: [`Lab::internet`] with the given
    /// outside hosts, and switch `lan` with drawbridge's LAN leg (198.18.2.1/24) and the
    /// PBX (ns `pbx`, 198.18.2.10/24). `dmz` does not forward: only drawbridge joins the two.
    pub fn sbc(outside: &[(&str, &str)]) -> Self {
        let mut lab = Self::internet(outside);
        lab.add_switch("lan");
        lab.link("lan", "dmz", "lan0", "198.18.2.1/24");
        lab.link("lan", "pbx", "eth0", "198.18.2.10/24");
        let _ = lab.output("dmz", "sysctl", &["-qw", "net.ipv4.ip_forward=0"]);
        lab
    }

    /// Adopts a child started elsewhere so the lab stops it.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
        for c in &mut self.children {
            for _ in 0..50 {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs a command and panics with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
