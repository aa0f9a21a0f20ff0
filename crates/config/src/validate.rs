//! Semantic checks that serde cannot express. Every check adds to one list, so the user
//! sees all problems of a file in one run.

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use base64::Engine;

use crate::{Config, Credentials, Problem, Transport};

/// Checks a parsed configuration and returns every problem found (empty = valid).
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut v = Validator {
        problems: Vec::new(),
    };
    v.trunks(config);
    v.tunnel(config);
    v.sip(config);
    v.pbx(config);
    v.media(config);
    v.guard(config);
    v.admin(config);
    v.listeners(config);
    v.problems
}

struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn push(
        &mut self,
        key: impl Into<String>,
        value: impl std::fmt::Display,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem::new(key, value, message));
    }

    fn trunks(&mut self, config: &Config) {
        let mut names: Vec<&str> = Vec::new();
        for (i, t) in config.trunk.iter().enumerate() {
            let at = format!("trunk[{i}]");
            if t.name.trim().is_empty() {
                self.push(
                    format!("{at}.name"),
                    "\"\"",
                    "a trunk needs a name (used in logs and metrics)",
                );
            } else if names.contains(&t.name.as_str()) {
                self.push(
                    format!("{at}.name"),
                    &t.name,
                    "another trunk has the same name; names must be unique",
                );
            }
            names.push(&t.name);
            if t.host.trim().is_empty() {
                self.push(
                    format!("{at}.host"),
                    "\"\"",
                    "the provider's SIP host name or address is required",
                );
            }
            if t.allow.is_empty() {
                self.push(
                    format!("{at}.allow"),
                    "[]",
                    "no source is allowed, so this provider could never reach drawbridge; list its address ranges",
                );
            }
            for (j, c) in t.allow.iter().enumerate() {
                let key = format!("{at}.allow[{j}]");
                if c.has_host_bits() {
                    self.push(
                        &key,
                        c,
                        format!(
                            "range {} has host bits set; did you mean {}?",
                            c.net(),
                            c.truncated()
                        ),
                    );
                }
                if c.is_world() && !t.allow_any {
                    self.push(
                        &key,
                        c,
                        format!(
                            "allows every address on the internet; list the provider's ranges, or set trunk[{i}].allow_any = true if that is really meant"
                        ),
                    );
                }
                for (k, d) in t.allow.iter().enumerate().take(j) {
                    if c.overlaps(d) {
                        self.push(
                            &key,
                            c,
                            format!("overlaps {at}.allow[{k}] ({d}); list each range once"),
                        );
                    }
                }
                for (oi, other) in config.trunk.iter().enumerate().take(i) {
                    for (ok, d) in other.allow.iter().enumerate() {
                        if c.overlaps(d) {
                            self.push(
                                &key,
                                c,
                                format!(
                                    "overlaps trunk[{oi}].allow[{ok}] ({d}) of trunk \"{}\"; a source must belong to exactly one trunk",
                                    other.name
                                ),
                            );
                        }
                    }
                }
                // A world range is reported above (or explicitly wanted with allow_any).
                if !c.is_world() && c.contains(&config.pbx.address.ip()) {
                    self.push(
                        &key,
                        c,
                        format!(
                            "contains the PBX address {} (pbx.address): the internal PBX would be accepted as this trunk; narrow the range",
                            config.pbx.address.ip()
                        ),
                    );
                }
            }
            match t.transport {
                Transport::Tls if config.sip.listen_tls.is_none() => self.push(
                    format!("{at}.transport"),
                    "tls",
                    "needs sip.listen_tls so the provider can reach drawbridge",
                ),
                Transport::Tcp if config.sip.listen_tcp.is_none() => self.push(
                    format!("{at}.transport"),
                    "tcp",
                    "needs sip.listen_tcp so the provider can reach drawbridge",
                ),
                Transport::Udp if config.sip.listen_udp.is_none() => self.push(
                    format!("{at}.transport"),
                    "udp",
                    "needs sip.listen_udp so the provider can reach drawbridge",
                ),
                _ => {}
            }
            let tls = &t.tls;
            for (name, file) in [
                ("ca_file", &tls.ca_file),
                ("client_cert_file", &tls.client_cert_file),
                ("client_key_file", &tls.client_key_file),
                ("verify_client_ca_file", &tls.verify_client_ca_file),
            ] {
                if let Some(p) = file {
                    self.readable(format!("{at}.tls.{name}"), p);
                }
            }
            if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
                self.push(
                    format!("{at}.tls"),
                    "",
                    "client_cert_file and client_key_file go together; set both or neither",
                );
            }
            if let Some(c) = &t.credentials {
                self.credentials(&format!("{at}.credentials"), c);
            }
            if t.register && !(60..=86_400).contains(&t.register_expires_secs) {
                self.push(
                    format!("{at}.register_expires_secs"),
                    t.register_expires_secs,
                    "must be between 60 and 86400 seconds",
                );
            }
            if t.register && t.credentials.is_none() {
                self.push(
                    format!("{at}.register"),
                    "true",
                    "registering needs credentials; add a credentials table",
                );
            }
        }
    }

    fn credentials(&mut self, at: &str, c: &Credentials) {
        if c.username.trim().is_empty() {
            self.push(
                format!("{at}.username"),
                "\"\"",
                "a digest user name is required",
            );
        }
        match (&c.password_file, &c.password_env) {
            (Some(p), None) => {
                self.readable(format!("{at}.password_file"), p);
            }
            (None, Some(var)) => {
                if std::env::var_os(var).is_none() {
                    self.push(
                        format!("{at}.password_env"),
                        var,
                        "this environment variable is not set; export it or use password_file",
                    );
                }
            }
            (Some(_), Some(_)) => self.push(at, "", "set password_file or password_env, not both"),
            (None, None) => self.push(
                at,
                "",
                "no password: set password_file (preferred) or password_env",
            ),
        }
    }

    fn tunnel(&mut self, config: &Config) {
        let Some(t) = &config.tunnel else { return };
        if t.listen.is_empty() {
            self.push(
                "tunnel.listen",
                "[]",
                "WireGuard needs at least one UDP address to listen on",
            );
        }
        let key_path = &t.private_key_file;
        if (!t.generate_key || key_path.exists())
            && let Some(content) = self.readable("tunnel.private_key_file", key_path)
        {
            let text = String::from_utf8_lossy(&content);
            let ok = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .is_ok_and(|b| b.len() == 32);
            if !ok {
                self.push(
                        "tunnel.private_key_file",
                        key_path.display(),
                        "does not hold a WireGuard private key (44 base64 characters, as printed by `drawbridge keygen` or `wg genkey`)",
                    );
            }
        }
        if t.address.is_empty() {
            self.push(
                "tunnel.address",
                "[]",
                "the SBC needs an inner address, e.g. [\"100.64.0.1/24\"]",
            );
        }
        for (i, a) in t.address.iter().enumerate() {
            if a.prefix_len() + 1 >= a.max_prefix_len() {
                self.push(
                    format!("tunnel.address[{i}]"),
                    a,
                    format!(
                        "prefix /{} leaves no addresses for peers; use a subnet such as {}/24 (IPv4) or /64 (IPv6)",
                        a.prefix_len(),
                        a.addr()
                    ),
                );
            } else if a.addr() == a.network() {
                self.push(
                    format!("tunnel.address[{i}]"),
                    a,
                    format!(
                        "is the network address; give the SBC a host address such as {}",
                        first_host(a)
                    ),
                );
            }
        }
        if t.peers_file.exists() && File::open(&t.peers_file).is_err() {
            self.push(
                "tunnel.peers_file",
                t.peers_file.display(),
                "exists but cannot be read; check its permissions",
            );
        }
        if let Some(e) = &t.endpoint {
            let ok = e
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
            if !ok {
                self.push(
                    "tunnel.endpoint",
                    e,
                    "expected host:port, e.g. vpn.example.com:51820 or [2001:db8::1]:51820",
                );
            }
        }
        if let Some(port) = t.echo_port {
            let m = &config.media;
            if port == 0 || port == t.sip_port || (m.port_min..=m.port_max).contains(&port) {
                self.push(
                    "tunnel.echo_port",
                    port,
                    "must be a port of its own: not 0, not tunnel.sip_port, not in the RTP range",
                );
            }
        }
        if t.handshakes_per_second == 0 {
            self.push("tunnel.handshakes_per_second", 0, "must be at least 1");
        }
    }

    fn sip(&mut self, config: &Config) {
        let sip = &config.sip;
        if let Some(w) = sip.workers
            && !(1..=64).contains(&w)
        {
            self.push(
                "sip.workers",
                w,
                "must be between 1 and 64 (or left out: one per CPU core)",
            );
        }
        if sip.tcp_keepalive_secs > 3600 {
            self.push(
                "sip.tcp_keepalive_secs",
                sip.tcp_keepalive_secs,
                "must be between 1 and 3600 seconds, or 0 to turn TCP keep-alive off",
            );
        }
        if sip.listen_tls.is_some() {
            match &sip.tls {
                None => self.push(
                    "sip.tls",
                    "",
                    "sip.listen_tls is set but no certificate: add [sip.tls] with cert_file and key_file",
                ),
                Some(tls) => {
                    let missing = !tls.cert_file.exists() && !tls.key_file.exists();
                    if !(tls.generate_self_signed && missing) {
                        self.readable("sip.tls.cert_file", &tls.cert_file);
                        self.readable("sip.tls.key_file", &tls.key_file);
                    }
                }
            }
        }
    }

    fn pbx(&mut self, config: &Config) {
        let pbx = &config.pbx;
        if pbx.address.ip().is_unspecified() || pbx.address.port() == 0 {
            self.push(
                "pbx.address",
                pbx.address,
                "must be the PBX's own address and SIP port, e.g. 192.0.2.10:5060",
            );
        }
        if pbx.domain.trim().is_empty() {
            self.push(
                "pbx.domain",
                "\"\"",
                "the PBX's SIP domain is required, e.g. pbx.lan",
            );
        }
        if let Some(c) = &pbx.credentials {
            self.credentials("pbx.credentials", c);
        }
    }

    fn media(&mut self, config: &Config) {
        let m = &config.media;
        if m.port_min > m.port_max {
            self.push(
                "media.port_min",
                m.port_min,
                format!(
                    "is above media.port_max ({}); the range is inverted",
                    m.port_max
                ),
            );
        } else if u32::from(m.port_max) - u32::from(m.port_min) < 3 {
            self.push(
                "media.port_min",
                format!("{}-{}", m.port_min, m.port_max),
                "the RTP range must hold at least two port pairs",
            );
        }
        if m.port_min < 1024 {
            self.push(
                "media.port_min",
                m.port_min,
                "RTP ports below 1024 are reserved; use e.g. 20000-29999",
            );
        }
        if !(1..=300).contains(&m.port_quarantine_secs) {
            self.push(
                "media.port_quarantine_secs",
                m.port_quarantine_secs,
                "must be between 1 and 300 seconds",
            );
        }
        if m.inactivity_timeout_secs == 0 {
            self.push(
                "media.inactivity_timeout_secs",
                0,
                "must be at least 1 second",
            );
        }
        if let Some(adv) = m.public_advertise
            && adv.is_unspecified()
        {
            self.push(
                "media.public_advertise",
                adv,
                "must be an address peers can send RTP to",
            );
        }
    }

    fn guard(&mut self, config: &Config) {
        let g = &config.guard;
        if !(1024..=65_535).contains(&g.max_message_size) {
            self.push(
                "guard.max_message_size",
                g.max_message_size,
                "must be between 1024 and 65535 bytes",
            );
        }
        for (key, value) in [
            ("guard.max_headers", g.max_headers),
            ("guard.max_via", g.max_via),
            ("guard.max_line_length", g.max_line_length),
        ] {
            if value == 0 {
                self.push(key, 0, "must be at least 1");
            }
        }
        for (key, value) in [
            ("guard.requests_per_second", g.requests_per_second),
            ("guard.auth_failures_before_ban", g.auth_failures_before_ban),
            ("guard.max_calls_per_second", g.max_calls_per_second),
            ("guard.max_concurrent_calls", g.max_concurrent_calls),
            ("guard.max_dialogs_per_peer", g.max_dialogs_per_peer),
            ("guard.max_call_duration_secs", g.max_call_duration_secs),
        ] {
            if value == 0 {
                self.push(key, 0, "must be at least 1");
            }
        }
        for (list, prefixes) in [
            ("allow_prefixes", &g.dial.allow_prefixes),
            ("deny_prefixes", &g.dial.deny_prefixes),
        ] {
            for (i, p) in prefixes.iter().enumerate() {
                let digits = p.strip_prefix('+').unwrap_or(p);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    self.push(
                        format!("guard.dial.{list}[{i}]"),
                        format!("{p:?}"),
                        "a dial prefix is digits with an optional leading +, e.g. \"+1900\"",
                    );
                }
            }
        }
        for (i, ua) in g.scanner_user_agents.iter().enumerate() {
            if ua.trim().is_empty() {
                self.push(
                    format!("guard.scanner_user_agents[{i}]"),
                    "\"\"",
                    "an empty pattern would match every User-Agent",
                );
            }
        }
    }

    fn admin(&mut self, config: &Config) {
        let level = &config.admin.log_level;
        const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
        let ok = !level.trim().is_empty()
            && level.split(',').all(|part| {
                let lvl = part
                    .rsplit_once('=')
                    .map_or(part, |(target, l)| if target.is_empty() { "" } else { l });
                LEVELS.contains(&lvl.trim().to_ascii_lowercase().as_str())
            });
        if !ok {
            self.push(
                "admin.log_level",
                format!("{level:?}"),
                "expected a level (trace, debug, info, warn, error, off) or target=level pairs separated by commas",
            );
        }
    }

    /// Two sockets of the same protocol cannot share a port on overlapping addresses, and
    /// the RTP range must not swallow a listener's port.
    fn listeners(&mut self, config: &Config) {
        let mut udp: Vec<(String, SocketAddr)> = Vec::new();
        let mut tcp: Vec<(String, SocketAddr)> = Vec::new();
        if let Some(t) = &config.tunnel {
            for (i, a) in t.listen.iter().enumerate() {
                udp.push((format!("tunnel.listen[{i}]"), *a));
            }
        }
        if let Some(a) = config.sip.listen_tls {
            tcp.push(("sip.listen_tls".into(), a));
        }
        if let Some(a) = config.sip.listen_tcp {
            tcp.push(("sip.listen_tcp".into(), a));
        }
        if let Some(a) = config.sip.listen_udp {
            udp.push(("sip.listen_udp".into(), a));
        }
        match config.pbx.transport {
            Transport::Udp => udp.push(("pbx.listen".into(), config.pbx.listen)),
            Transport::Tcp | Transport::Tls => tcp.push(("pbx.listen".into(), config.pbx.listen)),
        }
        if let Some(a) = config.admin.metrics_listen {
            tcp.push(("admin.metrics_listen".into(), a));
        }
        if let Some(a) = config.admin.control_listen {
            udp.push(("admin.control_listen".into(), a));
        }
        for list in [&udp, &tcp] {
            for (i, (ka, a)) in list.iter().enumerate() {
                for (kb, b) in list.iter().take(i) {
                    if a.port() != 0 && a.port() == b.port() && ips_overlap(a.ip(), b.ip()) {
                        self.push(
                            ka,
                            a,
                            format!(
                                "uses the same port as {kb} ({b}); give each listener its own port"
                            ),
                        );
                    }
                }
            }
        }
        let m = &config.media;
        if m.port_min <= m.port_max {
            let range = m.port_min..=m.port_max;
            for (k, a) in &udp {
                let clashes =
                    ips_overlap(a.ip(), m.public_address) || ips_overlap(a.ip(), m.lan_address);
                if range.contains(&a.port()) && clashes {
                    self.push(
                        "media.port_min",
                        format!("{}-{}", m.port_min, m.port_max),
                        format!("the RTP range contains the port of {k} ({a}); move one of them"),
                    );
                }
            }
        }
    }

    /// Opens a file named by the configuration and returns its content, or records why not.
    fn readable(&mut self, key: impl Into<String>, path: &Path) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        match File::open(path).and_then(|mut f| f.read_to_end(&mut buf)) {
            Ok(_) => Some(buf),
            Err(e) => {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "file not found".to_owned(),
                    std::io::ErrorKind::PermissionDenied => {
                        "permission denied; check the file's owner and mode".to_owned()
                    }
                    _ => format!("cannot be read: {e}"),
                };
                self.push(key, path.display(), why);
                None
            }
        }
    }
}

fn ips_overlap(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

fn first_host(net: &ipnet::IpNet) -> IpAddr {
    net.hosts().next().unwrap_or_else(|| net.addr())
}
