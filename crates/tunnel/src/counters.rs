//! What the server did and why it dropped what it dropped.

/// Why a datagram or an inner packet was dropped. Every drop is counted in [`Counters`] and
/// reported in [`crate::Action::Dropped`] so the caller can turn it into a security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a WireGuard message (wrong type/length) or a handshake with a bad MAC1: scanners
    /// and garbage. Never answered.
    InvalidPacket,
    /// A handshake initiation whose static key is not a configured peer. Never answered.
    UnknownKey,
    /// A handshake from a configured but disabled peer. Never answered.
    DisabledPeer,
    /// A handshake from a known peer that boringtun rejected (replayed or stale timestamp,
    /// bad AEAD, rate limited by the per-peer limiter).
    HandshakeRejected,
    /// A response, cookie or data message whose receiver index names no live session.
    UnknownIndex,
    /// A message for a live session that failed authentication or was a replay.
    DecryptFailed,
    /// The caller's buffer was too small for the datagram (a caller bug, not an attack).
    BufferTooSmall,
    /// An inner packet whose source address is not one assigned to the peer that sent it.
    SpoofedSource,
    /// An inner packet addressed to something other than drawbridge's inner addresses.
    NotForUs,
    /// UDP to a port that is not a service.
    ClosedPort,
    /// A protocol the virtual host does not speak (TCP for now, ICMP other than echo, ...).
    UnsupportedProtocol,
    /// An inner packet with bad lengths, a bad checksum or a truncated header.
    MalformedInner,
    /// An IPv4 fragment (the virtual host does not reassemble).
    Fragment,
    /// An IPv6 packet with extension headers (not accepted on the inner link).
    Ipv6ExtensionHeader,
}

impl DropReason {
    /// A short snake_case name, stable, for metric labels and log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPacket => "invalid_packet",
            Self::UnknownKey => "unknown_key",
            Self::DisabledPeer => "disabled_peer",
            Self::HandshakeRejected => "handshake_rejected",
            Self::UnknownIndex => "unknown_index",
            Self::DecryptFailed => "decrypt_failed",
            Self::BufferTooSmall => "buffer_too_small",
            Self::SpoofedSource => "spoofed_source",
            Self::NotForUs => "not_for_us",
            Self::ClosedPort => "closed_port",
            Self::UnsupportedProtocol => "unsupported_protocol",
            Self::MalformedInner => "malformed_inner",
            Self::Fragment => "fragment",
            Self::Ipv6ExtensionHeader => "ipv6_extension_header",
        }
    }
}

/// Drop counters, one per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is the count of the DropReason of the same name
pub struct Drops {
    pub invalid_packet: u64,
    pub unknown_key: u64,
    pub disabled_peer: u64,
    pub handshake_rejected: u64,
    pub unknown_index: u64,
    pub decrypt_failed: u64,
    pub buffer_too_small: u64,
    pub spoofed_source: u64,
    pub not_for_us: u64,
    pub closed_port: u64,
    pub unsupported_protocol: u64,
    pub malformed_inner: u64,
    pub fragment: u64,
    pub ipv6_extension_header: u64,
}

impl Drops {
    /// The counter of one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        *self.slot(reason)
    }

    /// Total of all drops.
    pub fn total(&self) -> u64 {
        ALL_REASONS.iter().map(|r| self.get(*r)).sum()
    }

    fn slot(&self, reason: DropReason) -> &u64 {
        match reason {
            DropReason::InvalidPacket => &self.invalid_packet,
            DropReason::UnknownKey => &self.unknown_key,
            DropReason::DisabledPeer => &self.disabled_peer,
            DropReason::HandshakeRejected => &self.handshake_rejected,
            DropReason::UnknownIndex => &self.unknown_index,
            DropReason::DecryptFailed => &self.decrypt_failed,
            DropReason::BufferTooSmall => &self.buffer_too_small,
            DropReason::SpoofedSource => &self.spoofed_source,
            DropReason::NotForUs => &self.not_for_us,
            DropReason::ClosedPort => &self.closed_port,
            DropReason::UnsupportedProtocol => &self.unsupported_protocol,
            DropReason::MalformedInner => &self.malformed_inner,
            DropReason::Fragment => &self.fragment,
            DropReason::Ipv6ExtensionHeader => &self.ipv6_extension_header,
        }
    }

    pub(crate) fn record(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::InvalidPacket => &mut self.invalid_packet,
            DropReason::UnknownKey => &mut self.unknown_key,
            DropReason::DisabledPeer => &mut self.disabled_peer,
            DropReason::HandshakeRejected => &mut self.handshake_rejected,
            DropReason::UnknownIndex => &mut self.unknown_index,
            DropReason::DecryptFailed => &mut self.decrypt_failed,
            DropReason::BufferTooSmall => &mut self.buffer_too_small,
            DropReason::SpoofedSource => &mut self.spoofed_source,
            DropReason::NotForUs => &mut self.not_for_us,
            DropReason::ClosedPort => &mut self.closed_port,
            DropReason::UnsupportedProtocol => &mut self.unsupported_protocol,
            DropReason::MalformedInner => &mut self.malformed_inner,
            DropReason::Fragment => &mut self.fragment,
            DropReason::Ipv6ExtensionHeader => &mut self.ipv6_extension_header,
        };
        *c += 1;
    }
}

/// Every drop reason, for iterating (metrics export).
pub const ALL_REASONS: [DropReason; 14] = [
    DropReason::InvalidPacket,
    DropReason::UnknownKey,
    DropReason::DisabledPeer,
    DropReason::HandshakeRejected,
    DropReason::UnknownIndex,
    DropReason::DecryptFailed,
    DropReason::BufferTooSmall,
    DropReason::SpoofedSource,
    DropReason::NotForUs,
    DropReason::ClosedPort,
    DropReason::UnsupportedProtocol,
    DropReason::MalformedInner,
    DropReason::Fragment,
    DropReason::Ipv6ExtensionHeader,
];

/// Everything the server counts. Plain numbers: read them with [`crate::Server::counters`]
/// and export them as Prometheus counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Outer datagrams handed to `handle_datagram`.
    pub datagrams: u64,
    /// Handshake initiations answered with a response (sessions established as responder).
    pub handshakes: u64,
    /// Handshake initiations sent by the server (rekey, retry, or a send to an idle peer).
    pub handshakes_initiated: u64,
    /// Cookie replies sent because the server was under handshake load.
    pub cookie_replies: u64,
    /// Peer sessions (boringtun `Tunn`s) created.
    pub sessions_created: u64,
    /// Sessions dropped because the peer went quiet or boringtun declared them expired.
    pub sessions_expired: u64,
    /// UDP payloads delivered to a local service.
    pub delivered: u64,
    /// ICMP / ICMPv6 echo replies sent.
    pub echo_replies: u64,
    /// Datagrams built by `send_udp`.
    pub sent: u64,
    /// Keepalives and other timer-driven transmits.
    pub timer_transmits: u64,
    /// Drops, by reason.
    pub drops: Drops,
}
