//! `drawbridge check`: validate, then show what is exposed to whom.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use drawbridge_config::{Config, ConfigError, Transport};

use crate::cli::ConfigArg;

pub(crate) fn check(args: &ConfigArg) -> anyhow::Result<ExitCode> {
    let path = args.path()?;
    match drawbridge_config::load(&path) {
        Ok(config) => {
            put!("ok\n{}", exposure(&config));
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ConfigError::Invalid(_)) => {
            eprintln!("{}: {e}", path.display());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A one-screen table of every listener and the sources it accepts.
pub(crate) fn exposure(config: &Config) -> String {
    let mut out = String::new();
    let rtp = format!("{}-{}", config.media.port_min, config.media.port_max);
    let row = |out: &mut String, proto: &str, at: &str, what: &str, who: &str| {
        let _ = writeln!(out, "  {proto:<5}{at:<24}{what:<11}{who}");
    };

    out.push_str("exposed (listener, service, who gets an answer):\n");
    if let Some(t) = &config.tunnel {
        for a in &t.listen {
            row(
                &mut out,
                "udp",
                &a.to_string(),
                "WireGuard",
                &format!(
                    "peers in {}; any other key: no answer",
                    t.peers_file.display()
                ),
            );
        }
    }
    for (listen, transport, name) in [
        (config.sip.listen_tls, Transport::Tls, "SIP/TLS"),
        (config.sip.listen_tcp, Transport::Tcp, "SIP/TCP"),
        (config.sip.listen_udp, Transport::Udp, "SIP/UDP"),
    ] {
        let Some(addr) = listen else { continue };
        let trunks: Vec<String> = config
            .trunk
            .iter()
            .filter(|t| t.transport == transport)
            .map(|t| {
                let ranges: Vec<String> = t.allow.iter().map(ToString::to_string).collect();
                format!("trunk \"{}\" from {}", t.name, ranges.join(", "))
            })
            .collect();
        let who = if trunks.is_empty() {
            "nobody (no trunk uses it): everything dropped".to_owned()
        } else {
            format!("{}; anyone else: dropped unanswered", trunks.join("; "))
        };
        let proto = if transport == Transport::Udp {
            "udp"
        } else {
            "tcp"
        };
        row(&mut out, proto, &addr.to_string(), name, &who);
    }
    let public_rtp = format!("{}:{rtp}", config.media.public_address);
    row(
        &mut out,
        "udp",
        &public_rtp,
        "RTP",
        "only the media address signalled in each call, latched",
    );

    if let Some(t) = &config.tunnel {
        let addrs: Vec<String> = t.address.iter().map(|a| a.addr().to_string()).collect();
        let _ = writeln!(
            out,
            "inside the tunnel ({}; nothing else is reachable):",
            addrs.join(", ")
        );
        row(
            &mut out,
            "udp",
            &format!("*:{}", t.sip_port),
            "SIP",
            "WireGuard peers, each for its own extensions",
        );
        row(
            &mut out,
            "udp",
            &format!("*:{rtp}"),
            "RTP",
            "the peer of each call, latched",
        );
        row(&mut out, "icmp", "*", "echo", "WireGuard peers (ping)");
    }

    out.push_str("LAN:\n");
    let proto = match config.pbx.transport {
        Transport::Udp => "udp",
        Transport::Tcp | Transport::Tls => "tcp",
    };
    row(
        &mut out,
        proto,
        &config.pbx.listen.to_string(),
        "SIP",
        &format!("the PBX {} only", config.pbx.address),
    );
    row(
        &mut out,
        "udp",
        &format!("{}:{rtp}", config.media.lan_address),
        "RTP",
        "the PBX's media address of each call, latched",
    );

    if config.admin.metrics_listen.is_some() || config.admin.control_listen.is_some() {
        out.push_str("admin:\n");
        if let Some(a) = config.admin.metrics_listen {
            row(&mut out, "tcp", &a.to_string(), "metrics", &admin_who(a));
        }
        if let Some(a) = config.admin.control_listen {
            row(&mut out, "udp", &a.to_string(), "control", &admin_who(a));
        }
    }
    out
}

fn admin_who(a: SocketAddr) -> String {
    if a.ip().is_loopback() {
        "local processes only".to_owned()
    } else {
        "ANY host that can reach this address: restrict it with a firewall".to_owned()
    }
}
