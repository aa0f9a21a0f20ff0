//! SIPp in a [`Lab`]: one builder for the arguments every interop test gives it, and the
//! three ways the tests run it (a callee in the background, a caller that must succeed, a
//! caller whose failure is the point).
//!
//! Presets name the places of [`Lab::sbc`]: the PBX at 198.18.2.10 behind drawbridge's LAN
//! leg 198.18.2.1:5080, the provider at 198.18.1.10 in front of its public leg
//! 198.18.1.2:5060.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::netns::Lab;
use crate::repo_root;

/// How long the `timeout` wrapper lets a foreground SIPp run before killing it.
const BOUND_SECS: &str = "60";

/// Path of a scenario file in `tests/sipp/` (e.g. "uac_rtp.xml").
pub fn scenario(name: &str) -> String {
    repo_root()
        .join("tests/sipp")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// One SIPp instance: its scenario, where it listens, whom it calls, and its limits. Each
/// setter replaces the value it sets; unset options are left out of the command line.
#[derive(Clone, Debug)]
pub struct Sipp {
    scenario: [String; 2],
    local: Option<(String, u16)>,
    remote: Option<(String, String)>,
    media_port: Option<u16>,
    rtp_echo: bool,
    calls: Option<u32>,
    rate: Option<u32>,
    timeout_secs: Option<u32>,
}

impl Sipp {
    fn new(flag: &str, scenario: &str) -> Self {
        Self {
            scenario: [flag.to_owned(), scenario.to_owned()],
            local: None,
            remote: None,
            media_port: None,
            rtp_echo: false,
            calls: None,
            rate: None,
            timeout_secs: None,
        }
    }

    /// SIPp's built-in callee (`-sn uas`): answers every call.
    pub fn uas() -> Self {
        Self::new("-sn", "uas")
    }

    /// SIPp's built-in caller (`-sn uac`).
    pub fn uac() -> Self {
        Self::new("-sn", "uac")
    }

    /// Scenario file `path` (`-sf`), e.g. from [`scenario`].
    pub fn file(path: &str) -> Self {
        Self::new("-sf", path)
    }

    /// Listens for SIP on `ip`:`port` (`-i`, `-p`).
    pub fn at(mut self, ip: &str, port: u16) -> Self {
        self.local = Some((ip.to_owned(), port));
        self
    }

    /// Calls `service` (`-s`, the user part) at `host` ("address:port").
    pub fn to(mut self, host: &str, service: &str) -> Self {
        self.remote = Some((host.to_owned(), service.to_owned()));
        self
    }

    /// Media on `port` (`-mp`).
    pub fn media(mut self, port: u16) -> Self {
        self.media_port = Some(port);
        self
    }

    /// Sends the RTP it receives back (`-rtp_echo`).
    pub fn echo(mut self) -> Self {
        self.rtp_echo = true;
        self
    }

    /// Stops after `n` calls (`-m`).
    pub fn calls(mut self, n: u32) -> Self {
        self.calls = Some(n);
        self
    }

    /// Places `cps` calls per second (`-r`; SIPp's default is 10).
    pub fn rate(mut self, cps: u32) -> Self {
        self.rate = Some(cps);
        self
    }

    /// Gives up after `secs` seconds (`-timeout`).
    pub fn timeout(mut self, secs: u32) -> Self {
        self.timeout_secs = Some(secs);
        self
    }

    /// The PBX of [`Lab::sbc`] as a callee: 198.18.2.10:5060, media on 16000.
    pub fn as_pbx(self) -> Self {
        self.at("198.18.2.10", 5060).media(16000)
    }

    /// A PBX phone of [`Lab::sbc`] (198.18.2.10:5090, media on 19000) dialling `number`
    /// out through drawbridge's LAN leg 198.18.2.1:5080.
    pub fn as_pbx_phone(self, number: &str) -> Self {
        self.at("198.18.2.10", 5090)
            .media(19000)
            .to("198.18.2.1:5080", number)
    }

    /// The provider of [`Lab::sbc`] as a callee: 198.18.1.10:5060, media on 18000.
    pub fn as_provider(self) -> Self {
        self.at("198.18.1.10", 5060).media(18000)
    }

    /// The provider of [`Lab::sbc`] (198.18.1.10:5070, media on 17000) calling extension
    /// 100 through drawbridge's public leg 198.18.1.2:5060.
    pub fn as_provider_caller(self) -> Self {
        self.at("198.18.1.10", 5070)
            .media(17000)
            .to("198.18.1.2:5060", "100")
    }

    /// The command line after `sipp`, with `-nostdin` (no test has a terminal to give it).
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        // SIPp takes the host it calls as a positional argument: first.
        if let Some((host, _)) = &self.remote {
            a.push(host.clone());
        }
        a.extend(self.scenario.iter().cloned());
        let mut opt = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                a.extend([flag.to_owned(), v]);
            }
        };
        opt("-s", self.remote.as_ref().map(|(_, s)| s.clone()));
        opt("-i", self.local.as_ref().map(|(ip, _)| ip.clone()));
        opt("-p", self.local.as_ref().map(|(_, p)| p.to_string()));
        opt("-mp", self.media_port.map(|p| p.to_string()));
        opt("-m", self.calls.map(|n| n.to_string()));
        opt("-r", self.rate.map(|n| n.to_string()));
        opt("-timeout", self.timeout_secs.map(|n| n.to_string()));
        if self.rtp_echo {
            a.push("-rtp_echo".to_owned());
        }
        a.push("-nostdin".to_owned());
        a
    }

    /// Starts it in the background in namespace `ns` (stopped with the lab), its output in
    /// `log`, and gives it 300 ms to bind before anyone calls it.
    pub fn spawn(&self, lab: &mut Lab, ns: &str, log: &Path) -> u32 {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let pid = lab.spawn(ns, "sipp", &args, log);
        std::thread::sleep(Duration::from_millis(300));
        pid
    }

    /// Runs it in namespace `ns` with the extra `args`, killed after 60 s, and returns
    /// what it did, whether it succeeded or not.
    pub fn output_with(&self, lab: &Lab, ns: &str, args: &[&str]) -> Output {
        let own = self.args();
        let mut all = vec![BOUND_SECS, "sipp"];
        all.extend(own.iter().map(String::as_str));
        all.extend_from_slice(args);
        lab.output(ns, "timeout", &all)
    }

    /// [`Sipp::output_with`] without extra arguments.
    pub fn output(&self, lab: &Lab, ns: &str) -> Output {
        self.output_with(lab, ns, &[])
    }

    /// Runs it in namespace `ns` (killed after 60 s) with its errors traced to `errors`, and
    /// fails the test if SIPp fails (a failed call, a timeout), showing its output, the
    /// errors and the `context` logs (drawbridge's, a peer's).
    pub fn run(&self, lab: &Lab, ns: &str, errors: &Path, context: &[&Path]) -> Output {
        let errors_arg = errors.to_string_lossy();
        let out = self.output_with(lab, ns, &["-trace_err", "-error_file", &errors_arg]);
        if !out.status.success() {
            let mut msg = format!(
                "sipp in {ns} failed ({:?}): {:?}\n{}\nerrors:\n{}",
                out.status,
                self.args(),
                String::from_utf8_lossy(&out.stdout),
                std::fs::read_to_string(errors).unwrap_or_default()
            );
            for log in context {
                msg += &format!(
                    "\n{}:\n{}",
                    log.display(),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            panic!("{msg}");
        }
        out
    }
}

/// The error file of a SIPp run called `name` in `dir`.
pub fn errors_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-errors.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_called_host_comes_first_and_a_setter_replaces_its_option() {
        let args = Sipp::file("x.xml")
            .as_provider_caller()
            .timeout(30)
            .calls(2)
            .timeout(40)
            .args();
        assert_eq!(
            args,
            [
                "198.18.1.2:5060",
                "-sf",
                "x.xml",
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
                "-timeout",
                "40",
                "-nostdin"
            ]
        );
    }

    #[test]
    fn unset_options_are_left_out() {
        assert_eq!(
            Sipp::uas().at("198.18.2.10", 5060).echo().args(),
            [
                "-sn",
                "uas",
                "-i",
                "198.18.2.10",
                "-p",
                "5060",
                "-rtp_echo",
                "-nostdin"
            ]
        );
    }
}
