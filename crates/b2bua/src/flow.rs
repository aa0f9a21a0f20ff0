//! [`Flow`]: where a message came from and where its answers go, without naming a socket.

use std::net::SocketAddr;

/// An opaque identifier the transport gives each connection (TCP/TLS) or socket (UDP), so
/// the transaction layer can hand a response back to the exact flow a request came in on
/// (RFC 3261 §18.2.2) without knowing what a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// The kind of transport a flow runs over. Only reliability matters to the transaction
/// layer: reliable transports get no retransmissions and zero wait timers (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// UDP, or UDP inside the WireGuard tunnel: unreliable, the layer retransmits.
    Udp,
    /// TCP: reliable.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
}

impl TransportKind {
    /// Whether the transport delivers in order without loss (TCP, TLS), which switches
    /// off Timers A, E, G and zeroes Timers D, I, J and K (RFC 3261 §17.1.1.2, §17.1.2.2,
    /// §17.2.1, §17.2.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }
}

/// A transport-agnostic address: the flow a request arrived on, or the one to send a
/// request on. Responses always go back on the request's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport's own handle for the connection or socket.
    pub id: FlowId,
    /// The remote address (for UDP, where datagrams go; for TCP/TLS, informational).
    pub remote: SocketAddr,
    /// What the flow runs over.
    pub transport: TransportKind,
}

impl Flow {
    /// A flow with this id, remote address and transport.
    pub fn new(id: u64, remote: SocketAddr, transport: TransportKind) -> Self {
        Self {
            id: FlowId(id),
            remote,
            transport,
        }
    }

    /// Shorthand for `self.transport.is_reliable()`.
    pub fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}
