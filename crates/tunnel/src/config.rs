//! What the server is built from: its own key and addresses, and the list of peers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::ports::UdpPorts;

/// How long a session lives without any authenticated packet from its peer before its
/// boringtun state is dropped. WireGuard refuses keys older than REJECT_AFTER_TIME (180 s,
/// whitepaper §6.1), so after 180 s of silence the peer must handshake again anyway; the
/// extra 20 s covers a handshake in flight.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(200);

/// Default server-wide handshake budget per second before cookie replies start
/// (whitepaper §5.3: under load, answer with a cookie instead of doing Diffie-Hellman).
pub const DEFAULT_HANDSHAKES_PER_SECOND: u64 = 200;

/// The server's own settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The server's static private key.
    pub private_key: [u8; 32],
    /// drawbridge's inner IPv4 host address (what peers ping and send SIP to), if any.
    pub inner_v4: Option<Ipv4Addr>,
    /// drawbridge's inner IPv6 host address, if any.
    pub inner_v6: Option<Ipv6Addr>,
    /// UDP ports open on the inner addresses.
    pub udp_ports: UdpPorts,
    /// Handshake messages per second the server processes before answering with cookie
    /// replies instead ([`DEFAULT_HANDSHAKES_PER_SECOND`]).
    pub handshakes_per_second: u64,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with the defaults for everything but the key, addresses and ports.
    pub fn new(
        private_key: [u8; 32],
        inner_v4: Option<Ipv4Addr>,
        inner_v6: Option<Ipv6Addr>,
        udp_ports: UdpPorts,
    ) -> Self {
        Self {
            private_key,
            inner_v4,
            inner_v6,
            udp_ports,
            handshakes_per_second: DEFAULT_HANDSHAKES_PER_SECOND,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("private_key", &"<redacted>")
            .field("inner_v4", &self.inner_v4)
            .field("inner_v6", &self.inner_v6)
            .field("udp_ports", &self.udp_ports)
            .field("handshakes_per_second", &self.handshakes_per_second)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// One configured peer (a remote worker). The binary converts its peers file into these.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSpec {
    /// The peer's name, for logs and for the services (`alice`).
    pub name: String,
    /// Its static public key: its identity.
    pub public_key: [u8; 32],
    /// Its inner host addresses; an inner packet is accepted only from one of these.
    pub addresses: Vec<IpAddr>,
    /// A disabled peer is known but cut off: its handshakes are dropped and counted.
    pub enabled: bool,
    /// Optional pre-shared key (whitepaper §5.2, post-quantum hedge).
    pub preshared_key: Option<[u8; 32]>,
    /// Optional persistent keepalive interval in seconds (normally set on the client).
    pub persistent_keepalive: Option<u16>,
}

impl PeerSpec {
    /// An enabled peer without pre-shared key or server-side keepalive.
    pub fn new(name: impl Into<String>, public_key: [u8; 32], addresses: Vec<IpAddr>) -> Self {
        Self {
            name: name.into(),
            public_key,
            addresses,
            enabled: true,
            preshared_key: None,
            persistent_keepalive: None,
        }
    }
}

impl std::fmt::Debug for PeerSpec {
    /// Prints the public key in base64; never prints the pre-shared key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSpec")
            .field("name", &self.name)
            .field("public_key", &crate::keys::encode(&self.public_key))
            .field("addresses", &self.addresses)
            .field("enabled", &self.enabled)
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("persistent_keepalive", &self.persistent_keepalive)
            .finish()
    }
}

/// A server configuration or peer list that cannot be used. Nothing is changed when one is
/// returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither an inner IPv4 nor an inner IPv6 address.
    #[error("the tunnel needs an inner address: set an IPv4 or an IPv6 inner address (or both)")]
    NoInnerAddress,
    /// Two peers with the same public key.
    #[error(
        "peers `{first}` and `{second}` have the same public key {key}; each peer needs its own key"
    )]
    DuplicateKey {
        /// The first peer's name.
        first: String,
        /// The second peer's name.
        second: String,
        /// The key, base64.
        key: String,
    },
    /// Two peers with the same name.
    #[error("two peers are named `{name}`; names must be unique")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two peers claim the same inner address.
    #[error("peers `{first}` and `{second}` both claim inner address {address}")]
    DuplicateAddress {
        /// The first peer's name.
        first: String,
        /// The second peer's name.
        second: String,
        /// The address.
        address: IpAddr,
    },
    /// A peer claims drawbridge's own inner address.
    #[error("peer `{peer}` claims {address}, which is drawbridge's own inner address")]
    AddressIsServer {
        /// The peer's name.
        peer: String,
        /// The address.
        address: IpAddr,
    },
    /// A peer's key is the server's own public key.
    #[error("peer `{peer}` has the server's own public key")]
    ServerKey {
        /// The peer's name.
        peer: String,
    },
    /// More peers than session indexes (2^24).
    #[error("{count} peers configured; at most {max} are supported")]
    TooManyPeers {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}
