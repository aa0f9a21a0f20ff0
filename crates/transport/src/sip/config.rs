//! What the SIP transports are built from: listeners with their allowlists, the TLS
//! identity, per-trunk TLS settings and the connection limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use drawbridge_config::{Config, Transport, TrunkTlsConfig};
use drawbridge_sip::Limits;
use ipnet::IpNet;

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
    /// other sources). On by default; tests turn it off to see the userspace check count.
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
            limits: ConnectionLimits::default(),
            sip_limits: Limits {
                max_message_size: g.max_message_size,
                max_headers: g.max_headers,
                max_via: g.max_via,
                max_line_length: g.max_line_length,
            },
        }
    }
}
