//! Plain data exchanged with the table: identifiers, leg specifications, decisions, stats.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::loss::LossStats;

/// Index of a bind address in [`MediaConfig::interfaces`](crate::MediaConfig::interfaces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceId(pub u8);

/// A local media port on one interface: where a packet arrived, or where to send it from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalPort {
    /// The bind address (socket) the port belongs to.
    pub interface: InterfaceId,
    /// The UDP port.
    pub port: u16,
}

/// One side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The first leg given to [`create_session`](crate::MediaTable::create_session).
    A = 0,
    /// The second leg.
    B = 1,
}

impl Leg {
    /// The other leg.
    #[must_use]
    pub fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The media direction a remote party signalled in its SDP (RFC 3264 §6.1), from its
/// own point of view: `SendOnly` means it sends and does not want to receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`: e.g. the holding side playing music on hold.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// Whether the party will send RTP.
    #[must_use]
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the party wants to receive RTP.
    #[must_use]
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// Which sources a leg accepts media from (no RTP injection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LatchMode {
    /// Only the exact address:port the SDP named (per RTP and RTCP). For peers whose SDP
    /// address is reachable as-is: trunks, the PBX, WireGuard peers' inner addresses.
    Strict,
    /// For a peer behind NAT: the first valid packet from an address inside `allowed`
    /// (any port), or from the SDP address itself, locks the stream to that source; after
    /// that only that source is accepted until signalling changes the remote. `allowed` is
    /// typically the source IP the signalling came from, as a /32 or /128. Until the
    /// latch is taken, media towards the party goes to its signalled address (as
    /// rtpengine and rtpproxy do); afterwards to the latched one (symmetric RTP).
    LatchOnce {
        /// Addresses allowed to take the latch.
        allowed: IpNet,
    },
}

/// A party's media address as signalled in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteSpec {
    /// RTP address; `None` when there is none to send to: no SDP yet, `c=0.0.0.0` hold,
    /// or port 0 (stream rejected).
    pub rtp: Option<SocketAddr>,
    /// RTCP address; `None` = no RTCP to send to.
    pub rtcp: Option<SocketAddr>,
    /// Signalled direction.
    pub direction: Direction,
    /// Source check for packets from this party.
    pub latch: LatchMode,
}

impl RemoteSpec {
    /// No SDP from this party yet (the leg an offer goes to): nothing is forwarded to it,
    /// and nothing is accepted from it unless `latch` allows it.
    #[must_use]
    pub fn pending(latch: LatchMode) -> Self {
        Self {
            rtp: None,
            rtcp: None,
            direction: Direction::SendRecv,
            latch,
        }
    }

    /// From an SDP media description: connection address, media port, the `a=rtcp`
    /// address if present (else RTP port + 1, RFC 3605) and the direction attribute.
    /// An unspecified address (`0.0.0.0`, `::`) or port 0 yields no RTP/RTCP address.
    #[must_use]
    pub fn from_sdp(
        addr: IpAddr,
        port: u16,
        rtcp: Option<SocketAddr>,
        direction: Direction,
        latch: LatchMode,
    ) -> Self {
        if addr.is_unspecified() || port == 0 {
            return Self {
                rtp: None,
                rtcp: None,
                direction,
                latch,
            };
        }
        let rtp = SocketAddr::new(addr, port);
        let rtcp = rtcp.or_else(|| port.checked_add(1).map(|p| SocketAddr::new(addr, p)));
        Self {
            rtp: Some(rtp),
            rtcp,
            direction,
            latch,
        }
    }
}

/// What [`create_session`](crate::MediaTable::create_session) needs for one leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LegSpec {
    /// Interface the leg's local ports are allocated on.
    pub interface: InterfaceId,
    /// The party's media address, as far as known.
    pub remote: RemoteSpec,
}

/// Handle of a session; stale handles (after removal) are refused, never aliased.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// The local ports allocated to one leg; put them (with the interface's advertised
/// address) into the SDP sent to that leg's party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalPair {
    /// Interface of the ports.
    pub interface: InterfaceId,
    /// Bind address of the interface.
    pub address: IpAddr,
    /// Even RTP port.
    pub rtp_port: u16,
    /// RTCP port (`rtp_port + 1`).
    pub rtcp_port: u16,
}

/// Result of [`create_session`](crate::MediaTable::create_session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionInfo {
    /// Handle for later updates, stats and removal.
    pub id: SessionId,
    /// Local ports of leg A (index 0) and leg B (index 1).
    pub local: [LocalPair; 2],
}

/// What to do with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Send the packet, unchanged, from local port `via` to `dst`.
    Forward {
        /// Local port (and so socket) to send from.
        via: LocalPort,
        /// Destination: the other leg's latched or signalled address. IPv4 destinations
        /// are plain IPv4 (a dual-stack socket must map them to `::ffff:a.b.c.d`).
        dst: SocketAddr,
    },
    /// Drop it; the reason was counted.
    Drop(DropReason),
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// No session holds this port (never allocated, ended, in quarantine), or the
    /// interface is unknown. Counted table-wide.
    UnknownPort,
    /// The source is not the one the leg accepts (strict latching; injection attempt or
    /// a stale peer).
    WrongSource,
    /// The stream exceeded its packet-rate guard.
    RateLimited,
    /// Not valid RTP (on an RTP port) or RTCP (on an RTCP port).
    Malformed,
    /// The other leg has no address to send to (no answer yet, `c=0.0.0.0` hold).
    NoDestination,
    /// The other leg said it does not want RTP (`sendonly`/`inactive`).
    NotReceiving,
}

impl DropReason {
    /// Number of reasons (length of [`DropCounts`]).
    pub const COUNT: usize = 6;

    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::UnknownPort,
        Self::WrongSource,
        Self::RateLimited,
        Self::Malformed,
        Self::NoDestination,
        Self::NotReceiving,
    ];

    /// A stable lower-case name, for metrics labels and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownPort => "unknown_port",
            Self::WrongSource => "wrong_source",
            Self::RateLimited => "rate_limited",
            Self::Malformed => "malformed",
            Self::NoDestination => "no_destination",
            Self::NotReceiving => "not_receiving",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Drop counters by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::COUNT]);

impl DropCounts {
    /// Drops for one reason.
    #[must_use]
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Drops for all reasons.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        let c = &mut self.0[reason.index()];
        *c = c.wrapping_add(1);
    }
}

/// Counters of one ingress stream: packets arriving on one leg's RTP (or RTCP) port, i.e.
/// one direction of one media flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Packets that passed the source, rate and validity checks.
    pub received_packets: u64,
    /// Bytes of those packets (UDP payload).
    pub received_bytes: u64,
    /// Packets forwarded to the other leg.
    pub forwarded_packets: u64,
    /// Bytes forwarded.
    pub forwarded_bytes: u64,
    /// Drops by reason (the `UnknownPort` slot stays 0 here).
    pub dropped: DropCounts,
    /// Loss estimate from sequence numbers (RTP ports only; RTCP stays zero).
    pub loss: LossStats,
    /// The source packets are accepted from now: the latched address, else the signalled
    /// one.
    pub source: Option<SocketAddr>,
}

/// Counters for what one leg sent (its RTP and RTCP ingress streams).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegStats {
    /// RTP (and rtcp-mux RTCP) arriving on the leg's RTP port.
    pub rtp: StreamStats,
    /// RTCP arriving on the leg's RTCP port.
    pub rtcp: StreamStats,
}

/// Counters of a session, by leg: `legs[0]` is what leg A sent (A→B), `legs[1]` B→A.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// The caller's tag given at creation.
    pub tag: u64,
    /// Per leg.
    pub legs: [LegStats; 2],
}

/// Table-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Packets for ports no session holds.
    pub unknown_port: u64,
    /// Live sessions.
    pub sessions: usize,
    /// Sessions that timed out since start.
    pub timeouts: u64,
}

/// What the table reports to the B2BUA through [`poll_event`](crate::MediaTable::poll_event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// No RTP in either direction for the configured timeout: end the call, then
    /// [`remove_session`](crate::MediaTable::remove_session). Reported once per session.
    TimedOut {
        /// The session.
        id: SessionId,
        /// The caller's tag given at creation (e.g. a call handle).
        tag: u64,
        /// How long the session had been silent.
        idle: Duration,
    },
}

/// Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports
/// IPv4 peers) to plain IPv4, so SDP addresses and packet sources compare equal.
#[must_use]
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}
