//! The configuration model: one struct per section of `drawbridge.toml`.
//!
//! Every struct rejects unknown keys (a typo like `alow` is an error, not a silently
//! open port) and every limit has a safe default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Cidr;

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// WireGuard termination for remote workers; absent means no VPN listener.
    #[serde(default)]
    pub tunnel: Option<TunnelConfig>,
    /// The public SIP listeners (the trunk side).
    #[serde(default)]
    pub sip: SipConfig,
    /// One table per SIP trunk provider.
    #[serde(default)]
    pub trunk: Vec<TrunkConfig>,
    /// The internal PBX that every call is relayed to or from.
    pub pbx: PbxConfig,
    /// RTP anchoring.
    #[serde(default)]
    pub media: MediaConfig,
    /// Limits and policies against scanning, enumeration, cracking and toll fraud.
    #[serde(default)]
    pub guard: GuardConfig,
    /// Metrics, control and logging.
    #[serde(default)]
    pub admin: AdminConfig,
}

/// `[tunnel]`: the userspace WireGuard server.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// UDP addresses WireGuard listens on (one socket each, IPv4 and/or IPv6).
    #[serde(default = "default_tunnel_listen")]
    pub listen: Vec<SocketAddr>,
    /// File holding the server's private key (base64, as printed by `drawbridge keygen`).
    pub private_key_file: PathBuf,
    /// Create `private_key_file` (mode 0600) on start if it does not exist yet.
    #[serde(default)]
    pub generate_key: bool,
    /// The SBC's own addresses inside the tunnel, with the prefix peers are numbered from
    /// (for example `100.64.0.1/24` and `fd64::1/64`).
    pub address: Vec<IpNet>,
    /// The human-readable file that lists peers (name, key, addresses, extensions).
    pub peers_file: PathBuf,
    /// `host:port` that remote workers use to reach this server; printed in peer configs.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Keepalive interval written into peer configs, in seconds (NAT bindings on phones).
    #[serde(default = "default_keepalive")]
    pub persistent_keepalive: u16,
    /// Handshake initiations per second (all peers together) above which cookies are
    /// demanded (WireGuard's DoS defence).
    #[serde(default = "default_handshake_rate")]
    pub handshakes_per_second: u64,
    /// The UDP port of the SIP service on the inner addresses.
    #[serde(default = "default_sip_port")]
    pub sip_port: u16,
    /// A UDP echo service (RFC 862) on the inner addresses, for checking a tunnel from the
    /// phone's side (`nc -u 100.64.0.1 7`); off when absent.
    #[serde(default)]
    pub echo_port: Option<u16>,
}

/// `[sip]`: the public signalling listeners that trunk providers reach.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// SIP over TLS listener (the default for trunks); `"off"` = none.
    #[serde(default = "default_sip_tls", deserialize_with = "optional_addr")]
    pub listen_tls: Option<SocketAddr>,
    /// SIP over TCP listener; only if a trunk needs it.
    #[serde(default)]
    pub listen_tcp: Option<SocketAddr>,
    /// SIP over UDP listener; only if a trunk needs it.
    #[serde(default)]
    pub listen_udp: Option<SocketAddr>,
    /// Host name or address that drawbridge puts in its Via and Contact towards trunks.
    #[serde(default)]
    pub advertised_host: Option<String>,
    /// Certificate and key of the TLS listener.
    #[serde(default)]
    pub tls: Option<TlsServerConfig>,
    /// Signalling workers, each owning a share of the calls (1–64); unset = one per CPU
    /// core drawbridge may use, at most 16.
    #[serde(default)]
    pub workers: Option<u16>,
    /// TCP keep-alive on every SIP TCP/TLS connection, in seconds of silence before the
    /// first probe (1–3600; 0 = off). Three probes follow at a third of it, so a dead
    /// provider (host gone, NAT state dropped) is noticed within twice this time instead
    /// of at the 300 s idle timeout; data left unacknowledged as long fails too.
    #[serde(default = "default_tcp_keepalive")]
    pub tcp_keepalive_secs: u32,
}

/// The TLS server identity of the SIP-TLS listener.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain, leaf first. Reloaded on SIGHUP.
    pub cert_file: PathBuf,
    /// PEM private key of the certificate.
    pub key_file: PathBuf,
    /// Create a self-signed certificate and key on start if the files do not exist yet
    /// (for first runs and labs; a provider will want a real certificate).
    #[serde(default)]
    pub generate_self_signed: bool,
}

/// `[[trunk]]`: one SIP trunk provider.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A short name used in logs and metrics.
    pub name: String,
    /// The only source ranges accepted from this provider. Everyone else gets silence.
    pub allow: Vec<Cidr>,
    /// Must be set to accept a world-open range such as `0.0.0.0/0`.
    #[serde(default)]
    pub allow_any: bool,
    /// Transport for calls to and from this provider.
    #[serde(default)]
    pub transport: Transport,
    /// The provider's SIP host for outbound calls (name or address).
    pub host: String,
    /// Port on `host`; defaults to 5061 for TLS and 5060 otherwise.
    #[serde(default)]
    pub port: Option<u16>,
    /// TLS client settings for the connection to the provider.
    #[serde(default)]
    pub tls: TrunkTlsConfig,
    /// Digest credentials drawbridge answers the provider's challenges with.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// Register the trunk account with the provider.
    #[serde(default)]
    pub register: bool,
    /// Registration lifetime asked for, in seconds (refreshed at half of what the provider
    /// grants).
    #[serde(default = "default_register_expires")]
    pub register_expires_secs: u32,
    /// Interval of OPTIONS keep-alives to the provider, in seconds; 0 turns them off.
    #[serde(default = "default_options_interval")]
    pub options_interval_secs: u32,
    /// Concurrent calls allowed on this trunk (toll-fraud ceiling).
    #[serde(default = "default_trunk_calls")]
    pub max_concurrent_calls: u32,
    /// The provider's media comes from behind NAT (its SDP names an address its RTP does
    /// not come from): each stream locks to the first RTP packet from the address the
    /// call's signalling came from, any port, instead of the SDP address. Off: only the
    /// exact SDP address:port is accepted.
    #[serde(default)]
    pub media_nat: bool,
}

impl TrunkConfig {
    /// The port outbound requests go to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.transport {
            Transport::Tls => 5061,
            Transport::Tcp | Transport::Udp => 5060,
        })
    }
}

/// TLS settings of a trunk.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrunkTlsConfig {
    /// CA bundle that verifies the provider's certificate; the system roots when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Server name sent and verified; defaults to `host`.
    #[serde(default)]
    pub sni: Option<String>,
    /// Our client certificate, when the provider wants mutual TLS.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// Key of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// CA that the provider's client certificate must chain to when it connects to us;
    /// when set, connections from this trunk without a valid certificate are refused.
    #[serde(default)]
    pub verify_client_ca_file: Option<PathBuf>,
}

/// Digest credentials. The password is read from a file or an environment variable,
/// never written in the configuration and never logged.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Digest user name.
    pub username: String,
    /// Realm to answer; any realm when absent.
    #[serde(default)]
    pub realm: Option<String>,
    /// File whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable that holds the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

/// SIP transport protocol.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// SIP over TLS over TCP.
    #[default]
    Tls,
    /// SIP over TCP.
    Tcp,
    /// SIP over UDP.
    Udp,
}

impl Transport {
    /// Lower-case name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// `[pbx]`: the internal PBX.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PbxConfig {
    /// Address and port of the PBX's SIP service.
    pub address: SocketAddr,
    /// Transport towards the PBX.
    #[serde(default = "default_pbx_transport")]
    pub transport: Transport,
    /// SIP domain of the PBX (used in Request-URIs and From/To towards it).
    pub domain: String,
    /// Local address drawbridge's LAN leg binds for signalling with the PBX. Only the
    /// PBX's own address is accepted on it.
    #[serde(default = "default_pbx_listen")]
    pub listen: SocketAddr,
    /// Credentials drawbridge answers the PBX's challenges with, if it challenges.
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

/// `[media]`: RTP anchoring.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// First port of the RTP/RTCP range (even).
    #[serde(default = "default_port_min")]
    pub port_min: u16,
    /// Last port of the RTP/RTCP range.
    #[serde(default = "default_port_max")]
    pub port_max: u16,
    /// Address the public (trunk) media sockets bind to.
    #[serde(default = "default_unspecified")]
    pub public_address: IpAddr,
    /// Address written into SDP towards trunks (the public address seen from outside,
    /// if drawbridge sits behind 1:1 NAT). Defaults to `public_address`.
    #[serde(default)]
    pub public_advertise: Option<IpAddr>,
    /// Address the LAN media sockets bind to and that SDP towards the PBX carries.
    #[serde(default = "default_unspecified")]
    pub lan_address: IpAddr,
    /// Seconds without RTP in either direction after which a call's media is ended.
    #[serde(default = "default_media_timeout")]
    pub inactivity_timeout_secs: u32,
    /// Seconds a released port pair stays unused, so late packets of an ended call never
    /// reach the next one. Bounds the sustained new-call rate: every call holds a pair
    /// per side for this long after it ends, so at most (pairs in the range) / this many
    /// calls per second (the default 20000-29999 with 10 s: 500 calls/s).
    #[serde(default = "default_port_quarantine")]
    pub port_quarantine_secs: u32,
}

/// `[guard]`: limits and policies, all with safe defaults.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Largest SIP message accepted, in bytes.
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Most header lines in one SIP message.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Most Via values in one SIP message.
    #[serde(default = "default_max_via")]
    pub max_via: usize,
    /// Longest single line of a SIP message, in bytes.
    #[serde(default = "default_max_line")]
    pub max_line_length: usize,
    /// SIP requests per second accepted from one source before it is throttled.
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
    /// Failed authentications from one source (or WireGuard peer) before a ban.
    #[serde(default = "default_auth_failures")]
    pub auth_failures_before_ban: u32,
    /// How long a ban lasts, in seconds.
    #[serde(default = "default_ban_secs")]
    pub ban_secs: u32,
    /// New calls per second, all sources together.
    #[serde(default = "default_cps")]
    pub max_calls_per_second: u32,
    /// Concurrent calls, all sources together.
    #[serde(default = "default_concurrent")]
    pub max_concurrent_calls: u32,
    /// Concurrent dialogs of one WireGuard peer.
    #[serde(default = "default_dialogs_per_peer")]
    pub max_dialogs_per_peer: u32,
    /// Longest call, in seconds, before drawbridge ends it (bounds a toll-fraud bill).
    #[serde(default = "default_max_call_secs")]
    pub max_call_duration_secs: u32,
    /// User-Agent substrings of known scanners (compared case-insensitively); matching
    /// requests are dropped without an answer and the source is banned.
    #[serde(default = "default_scanner_agents")]
    pub scanner_user_agents: Vec<String>,
    /// Which numbers outside callers may dial through the trunk.
    #[serde(default)]
    pub dial: DialPolicy,
}

/// Dial policy for outbound calls (PBX or remote worker → trunk).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DialPolicy {
    /// If not empty, only numbers starting with one of these prefixes may be dialled.
    #[serde(default)]
    pub allow_prefixes: Vec<String>,
    /// Numbers starting with one of these are always refused (premium rate, satellite…).
    /// Checked after normalising `00` to `+`.
    #[serde(default = "default_deny_prefixes")]
    pub deny_prefixes: Vec<String>,
}

/// `[admin]`: observability and control.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where Prometheus metrics are served (HTTP); absent = not served.
    #[serde(default = "default_metrics", deserialize_with = "optional_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// Where the control channel listens (status, reloads); absent = not served.
    #[serde(default)]
    pub control_listen: Option<SocketAddr>,
    /// Log format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Log level or filter (`info`, `debug`, `drawbridge_sip=debug,info`).
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Config {
    /// Makes every relative path absolute against `base` (the configuration file's
    /// directory), so that the same file works wherever drawbridge is started from.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let fix_opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                fix(p);
            }
        };
        if let Some(t) = &mut self.tunnel {
            fix(&mut t.private_key_file);
            fix(&mut t.peers_file);
        }
        if let Some(tls) = &mut self.sip.tls {
            fix(&mut tls.cert_file);
            fix(&mut tls.key_file);
        }
        for t in &mut self.trunk {
            fix_opt(&mut t.tls.ca_file);
            fix_opt(&mut t.tls.client_cert_file);
            fix_opt(&mut t.tls.client_key_file);
            fix_opt(&mut t.tls.verify_client_ca_file);
            if let Some(c) = &mut t.credentials {
                fix_opt(&mut c.password_file);
            }
        }
        if let Some(c) = &mut self.pbx.credentials {
            fix_opt(&mut c.password_file);
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen_tls: default_sip_tls(),
            listen_tcp: None,
            listen_udp: None,
            advertised_host: None,
            tls: None,
            workers: None,
            tcp_keepalive_secs: default_tcp_keepalive(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            port_min: default_port_min(),
            port_max: default_port_max(),
            public_address: default_unspecified(),
            public_advertise: None,
            lan_address: default_unspecified(),
            inactivity_timeout_secs: default_media_timeout(),
            port_quarantine_secs: default_port_quarantine(),
        }
    }
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_message_size: default_max_message(),
            max_headers: default_max_headers(),
            max_via: default_max_via(),
            max_line_length: default_max_line(),
            requests_per_second: default_rps(),
            auth_failures_before_ban: default_auth_failures(),
            ban_secs: default_ban_secs(),
            max_calls_per_second: default_cps(),
            max_concurrent_calls: default_concurrent(),
            max_dialogs_per_peer: default_dialogs_per_peer(),
            max_call_duration_secs: default_max_call_secs(),
            scanner_user_agents: default_scanner_agents(),
            dial: DialPolicy::default(),
        }
    }
}

impl Default for DialPolicy {
    fn default() -> Self {
        Self {
            allow_prefixes: Vec::new(),
            deny_prefixes: default_deny_prefixes(),
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            metrics_listen: default_metrics(),
            control_listen: None,
            log_format: LogFormat::Text,
            log_level: default_log_level(),
        }
    }
}

/// A listener address, or `"off"` (also `""`) for none: TOML has no null, and a listener
/// that is on by default must be possible to switch off.
fn optional_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "" | "off" | "none" => Ok(None),
        other => other.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "{other:?} is not a listen address: expected IP:port such as 0.0.0.0:5061 or [::]:5061, or \"off\""
            ))
        }),
    }
}

fn default_tunnel_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 51820))]
}
fn default_tcp_keepalive() -> u32 {
    30
}
fn default_keepalive() -> u16 {
    25
}
fn default_handshake_rate() -> u64 {
    100
}
fn default_sip_port() -> u16 {
    5060
}
fn default_sip_tls() -> Option<SocketAddr> {
    Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5061)))
}
fn default_register_expires() -> u32 {
    3600
}
fn default_options_interval() -> u32 {
    30
}
fn default_trunk_calls() -> u32 {
    30
}
fn default_pbx_transport() -> Transport {
    Transport::Udp
}
fn default_pbx_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5080))
}
fn default_port_min() -> u16 {
    20000
}
fn default_port_max() -> u16 {
    29999
}
fn default_unspecified() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}
fn default_port_quarantine() -> u32 {
    10
}

fn default_media_timeout() -> u32 {
    60
}
fn default_max_message() -> usize {
    16 * 1024
}
fn default_max_headers() -> usize {
    100
}
fn default_max_via() -> usize {
    32
}
fn default_max_line() -> usize {
    4096
}
fn default_rps() -> u32 {
    20
}
fn default_auth_failures() -> u32 {
    5
}
fn default_ban_secs() -> u32 {
    3600
}
fn default_cps() -> u32 {
    20
}
fn default_concurrent() -> u32 {
    200
}
fn default_dialogs_per_peer() -> u32 {
    4
}
fn default_max_call_secs() -> u32 {
    4 * 3600
}
fn default_scanner_agents() -> Vec<String> {
    [
        "friendly-scanner",
        "sipvicious",
        "sipcli",
        "sip-scan",
        "sipsak",
        "sundayddr",
        "iwar",
        "vaxsipuseragent",
        "pplsip",
        "smap",
    ]
    .map(String::from)
    .to_vec()
}
fn default_deny_prefixes() -> Vec<String> {
    // Premium-rate and satellite ranges that toll fraud favours. Extend per country.
    [
        "+1900", "+1976", "+44870", "+44871", "+44872", "+4490", "+49900", "+881", "+882", "+883",
    ]
    .map(String::from)
    .to_vec()
}
fn default_metrics() -> Option<SocketAddr> {
    Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9090)))
}
fn default_log_level() -> String {
    "info".to_owned()
}
