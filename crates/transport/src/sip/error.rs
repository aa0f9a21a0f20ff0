//! Failure domains of the SIP transports: setting up (bind, certificates), sending, and
//! opening outbound connections.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use drawbridge_config::Transport;

use super::FlowId;

/// Binding the listeners or loading TLS material failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A listener could not be bound.
    #[error("binding SIP/{transport} on {addr}: {source}", transport = transport.as_str())]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Listener kind.
        transport: Transport,
        /// Why.
        source: io::Error,
    },
    /// An allowlist entry names a trunk that does not exist.
    #[error(
        "listener {addr} admits {net} for trunk #{trunk}, but only {trunks} trunks are configured"
    )]
    UnknownTrunk {
        /// Listener address.
        addr: SocketAddr,
        /// The range.
        net: ipnet::IpNet,
        /// The bad index.
        trunk: usize,
        /// Trunks configured.
        trunks: usize,
    },
    /// A TLS listener is configured but no certificate is.
    #[error("a SIP/TLS listener on {addr} needs [sip.tls] cert_file and key_file")]
    NoTlsIdentity {
        /// Listener address.
        addr: SocketAddr,
    },
    /// A PEM file could not be read or parsed.
    #[error("reading {path} ({what}): {source}", path = path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What it should hold ("certificate chain", "private key", "CA bundle").
        what: &'static str,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{path} ({what}) holds no PEM certificate", path = path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
    },
    /// The key does not match the certificate, or its type is unsupported.
    #[error("the key {key} does not fit the certificate {cert}: {source}", key = key.display(), cert = cert.display())]
    BadKey {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A CA certificate was rejected as a trust anchor.
    #[error("{path}: not a usable CA certificate: {source}", path = path.display())]
    BadCa {
        /// The CA file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// Building a trunk's client-certificate verifier failed.
    #[error("trunk {trunk}: client-certificate verifier from {path}: {source}", path = path.display())]
    ClientVerifier {
        /// Trunk name.
        trunk: String,
        /// Its `verify_client_ca_file`.
        path: PathBuf,
        /// Why.
        source: rustls::server::VerifierBuilderError,
    },
    /// The system trust store holds no usable certificate and a trunk relies on it.
    #[error(
        "trunk {trunk}: no `tls.ca_file` and the system trust store (/etc/ssl/certs) gave no certificate; install ca-certificates or set ca_file"
    )]
    NoSystemRoots {
        /// Trunk name.
        trunk: String,
    },
    /// Any other TLS configuration error.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// A message could not be handed to a flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The flow is closed (or never existed); open a new one with `connect`.
    #[error("flow {0} is closed")]
    Closed(FlowId),
    /// The connection's writer queue is full: the peer is not reading.
    #[error("flow {0}: send queue full, peer not reading")]
    QueueFull(FlowId),
    /// No UDP listener can reach the destination's address family.
    #[error("no SIP/UDP listener to send to {0} from")]
    NoUdpSocket(SocketAddr),
    /// The UDP flow table is full (`ConnectionLimits::max_udp_flows`).
    #[error("too many UDP flows; not sending to {0}")]
    TooManyFlows(SocketAddr),
    /// The UDP socket refused the datagram.
    #[error("sending to {dst}: {source}")]
    Udp {
        /// Destination.
        dst: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// An outbound connection to a trunk could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No trunk with this index.
    #[error("no trunk #{0}")]
    UnknownTrunk(usize),
    /// The host name did not resolve.
    #[error("resolving {host}: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// The name resolved to no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The name.
        host: String,
    },
    /// Every address refused or timed out; the last error is kept.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The TLS server name (SNI, or the host) is not a valid DNS name or address.
    #[error("{name:?} is not a valid TLS server name")]
    ServerName {
        /// The name.
        name: String,
    },
    /// The trunk's TLS client configuration could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Sending the first datagram failed (UDP).
    #[error(transparent)]
    Send(#[from] SendError),
}
