//! What the SIP transports are built from: listeners with their allowlists, the TLS
//! identity, per-trunk TLS settings and the connection limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use drawbridge_config::{Config, Transport, TrunkTlsConfig};
use drawbridge_sip::Limits;
use ipnet::IpNet;

use super::TcpKeepalive;

/// Everything [`super::SipTransports::bind`] needs. Build it with
/// [`SipTransportConfig::from_config`] in the binary, or by hand in tests.
#[derive(Debug, Clone)]
pub struct SipTransportConfig {
    /// The listeners to bind.
    pub listeners: Vec<ListenerConfig>,
    /// Certificate and key of the TLS listener; required when a listener is TLS.
    pub tls: Option<TlsIdentity>,
    /// Per-trunk settings; a trunk index everywhere in this module is an index into this
    /// list (the same order as `[[trunk]]` in the configuration).
    pub trunks: Vec<TrunkTransport>,
    /// Connection limits and timeouts.
    pub limits: ConnectionLimits,
    /// Message limits: UDP datagrams over `max_message_size` are dropped, streams are
    /// framed with them.
    pub sip_limits: Limits,
}

/// One listening socket.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Where to bind (port 0 picks a free port; see [`super::SipTransports::local_addr`]).
    pub addr: SocketAddr,
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// Source ranges admitted, each with the trunk index it admits for. The first match
    /// wins. Everything else is dropped before any byte is read.
    pub allow: Vec<(IpNet, usize)>,
    /// Also attach the allowlist as a kernel socket filter (no SYN-ACK, no queueing for
    /// other sources; a list too large for it is logged and left to the userspace check).
    /// On in [`SipTransportConfig::from_config`]; tests turn it off to see the userspace
    /// check count.
    pub kernel_filter: bool,
}

/// The TLS listener's certificate chain and key, as PEM files (reloaded by
/// [`super::SipTransports::reload_certificate`]).
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// What the transports need to know about one trunk.
#[derive(Debug, Clone)]
pub struct TrunkTransport {
    /// Name for logs.
    pub name: String,
    /// TLS client settings (towards the provider) and the client-certificate CA (when
    /// the provider connects to us).
    pub tls: TrunkTlsConfig,
}

/// Bounds on connections. Every limit that trips is counted in
/// [`super::SipCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Concurrent inbound connections per TCP/TLS listener (handshaking ones included).
    pub max_connections_per_listener: usize,
    /// Concurrent inbound connections from one source address.
    pub max_connections_per_source: usize,
    /// Time a TLS client has to finish its handshake.
    pub handshake_timeout: Duration,
    /// A connection that delivers no message (or keep-alive) for this long is closed.
    pub idle_timeout: Duration,
    /// Time allowed for an outbound TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// A single write that cannot complete within this closes the connection (a peer
    /// that stops reading must not pin memory).
    pub write_timeout: Duration,
    /// Messages queued per connection before [`super::SendError::QueueFull`].
    pub writer_queue: usize,
    /// Dead-peer detection on every TCP/TLS socket ([`super::TcpKeepalive`]); `None`
    /// leaves the system defaults (no keep-alive: a silent peer lasts until
    /// `idle_timeout`).
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// UDP flows remembered at once; datagrams from new sources beyond it are dropped.
    pub max_udp_flows: usize,
    /// A UDP flow unused for this long is forgotten (its id is not reused).
    pub udp_flow_idle: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections_per_listener: 1024,
            max_connections_per_source: 32,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            writer_queue: 256,
            tcp_keepalive: Some(TcpKeepalive::default()),
            max_udp_flows: 65_536,
            udp_flow_idle: Duration::from_secs(300),
        }
    }
}

impl SipTransportConfig {
    /// The listeners and trunks of a validated configuration: one listener per
    /// configured `sip.listen_*`, each admitting the ranges of the trunks that use its
    /// transport (a trunk's `allow` applies to the listener of its `transport`).
    pub fn from_config(config: &Config) -> Self {
        let allow_for = |transport: Transport| -> Vec<(IpNet, usize)> {
            config
                .trunk
                .iter()
                .enumerate()
                .filter(|(_, t)| t.transport == transport)
                .flat_map(|(i, t)| t.allow.iter().map(move |c| (c.net(), i)))
                .collect()
        };
        let listeners = [
            (config.sip.listen_tls, Transport::Tls),
            (config.sip.listen_tcp, Transport::Tcp),
            (config.sip.listen_udp, Transport::Udp),
        ]
        .into_iter()
        .filter_map(|(addr, transport)| {
            addr.map(|addr| ListenerConfig {
                addr,
                transport,
                allow: allow_for(transport),
                kernel_filter: true,
            })
        })
        .collect();
        let g = &config.guard;
        Self {
            listeners,
            tls: config.sip.tls.as_ref().map(|t| TlsIdentity {
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
            }),
            trunks: config
                .trunk
                .iter()
                .map(|t| TrunkTransport {
                    name: t.name.clone(),
                    tls: t.tls.clone(),
                })
                .collect(),
            limits: ConnectionLimits {
                tcp_keepalive: (config.sip.tcp_keepalive_secs > 0).then(|| {
                    TcpKeepalive::from_idle(Duration::from_secs(
                        config.sip.tcp_keepalive_secs.into(),
                    ))
                }),
                ..ConnectionLimits::default()
            },
            sip_limits: Limits {
                max_message_size: g.max_message_size,
                max_headers: g.max_headers,
                max_via: g.max_via,
                max_line_length: g.max_line_length,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_config_gives_each_listener_the_ranges_of_its_trunks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), "").unwrap();
        std::fs::write(dir.path().join("tls.key"), "").unwrap();
        let toml = r#"
[sip]
listen_tls = "0.0.0.0:5061"
listen_udp = "0.0.0.0:5060"
[sip.tls]
cert_file = "tls.crt"
key_file = "tls.key"

[[trunk]]
name = "a"
allow = ["77.240.48.0/24", "77.240.60.0/24"]
host = "sip.a.example"

[[trunk]]
name = "b"
allow = ["198.51.100.7/32"]
transport = "udp"
host = "sip.b.example"

[[trunk]]
name = "c"
allow = ["2001:db8::/32"]
host = "sip.c.example"
[trunk.tls]
verify_client_ca_file = "tls.crt"

[pbx]
address = "198.18.2.10:5060"
domain = "pbx.lan"
"#;
        let config = drawbridge_config::load_str(toml, dir.path()).unwrap();
        let c = SipTransportConfig::from_config(&config);
        let by = |t: Transport| c.listeners.iter().find(|l| l.transport == t);
        let tls = by(Transport::Tls).unwrap();
        let nets = |v: &[(&str, usize)]| -> Vec<(IpNet, usize)> {
            v.iter().map(|(n, i)| (n.parse().unwrap(), *i)).collect()
        };
        assert_eq!(
            tls.allow,
            nets(&[
                ("77.240.48.0/24", 0),
                ("77.240.60.0/24", 0),
                ("2001:db8::/32", 2)
            ])
        );
        assert!(tls.kernel_filter);
        assert_eq!(
            by(Transport::Udp).unwrap().allow,
            nets(&[("198.51.100.7/32", 1)])
        );
        assert!(by(Transport::Tcp).is_none(), "no TCP unless configured");
        assert_eq!(c.trunks.len(), 3);
        assert_eq!(
            c.trunks[2].tls.verify_client_ca_file,
            Some(dir.path().join("tls.crt"))
        );
        assert_eq!(c.tls.unwrap().cert_file, dir.path().join("tls.crt"));
        assert_eq!(c.sip_limits.max_message_size, config.guard.max_message_size);
        assert_eq!(
            c.limits.tcp_keepalive,
            Some(TcpKeepalive::default()),
            "keep-alive on by default"
        );

        let off = toml.replace("[sip]\n", "[sip]\ntcp_keepalive_secs = 0\n");
        let off = drawbridge_config::load_str(&off, dir.path()).unwrap();
        assert_eq!(
            SipTransportConfig::from_config(&off).limits.tcp_keepalive,
            None
        );
        let short = toml.replace("[sip]\n", "[sip]\ntcp_keepalive_secs = 6\n");
        let short = drawbridge_config::load_str(&short, dir.path()).unwrap();
        let k = SipTransportConfig::from_config(&short)
            .limits
            .tcp_keepalive
            .unwrap();
        assert_eq!(
            (k.idle, k.interval, k.probes, k.user_timeout),
            (
                Duration::from_secs(6),
                Duration::from_secs(2),
                3,
                Duration::from_secs(12)
            )
        );
    }
}
