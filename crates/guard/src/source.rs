//! Who sent a request: an address on the trunk side, a WireGuard peer on the tunnel side.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// A WireGuard peer, as numbered by the tunnel (its index in the peer table). The key is
/// the peer's identity, so per-peer limits and bans follow the key, not its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PeerId(pub u32);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// A trunk provider: the index of its `[[trunk]]` table in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TrunkId(pub u16);

impl TrunkId {
    /// The index into `Config::trunk`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The origin of a request as the guard sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A packet or connection from this address (trunk side). IPv4-mapped IPv6
    /// addresses are treated as the IPv4 address they carry.
    Ip(IpAddr),
    /// A request that arrived through this WireGuard peer's tunnel.
    Peer(PeerId),
}

impl Source {
    /// The address, with IPv4-mapped IPv6 turned into IPv4, if this is an address.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Self::Ip(ip) => Some(canonical(ip)),
            Self::Peer(_) => None,
        }
    }

    /// The peer, if this is a peer.
    pub fn peer(&self) -> Option<PeerId> {
        match *self {
            Self::Peer(p) => Some(p),
            Self::Ip(_) => None,
        }
    }
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl From<PeerId> for Source {
    fn from(p: PeerId) -> Self {
        Self::Peer(p)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip() {
            Some(ip) => ip.fmt(f),
            None => match self.peer() {
                Some(p) => p.fmt(f),
                None => Ok(()),
            },
        }
    }
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; everything else unchanged. A dual-stack socket reports
/// IPv4 peers this way, and an IPv4 allowlist or ban must still apply to them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The key under which per-source state (rate, failures, bans, probes) is kept.
///
/// IPv6 sources are keyed by their /64: one host usually owns a whole /64 and can pick a
/// fresh address for every request, so per-address state would be trivially dodged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SourceKey {
    V4(u32),
    V6Net64(u64),
    Peer(u32),
}

impl SourceKey {
    pub(crate) fn of(source: Source) -> Self {
        match source {
            Source::Peer(p) => Self::Peer(p.0),
            Source::Ip(ip) => match canonical(ip) {
                IpAddr::V4(v4) => Self::V4(u32::from(v4)),
                IpAddr::V6(v6) => Self::V6Net64((u128::from(v6) >> 64) as u64),
            },
        }
    }

    /// A representative address for events (the /64 network for IPv6).
    pub(crate) fn ip(self) -> Option<IpAddr> {
        match self {
            Self::V4(a) => Some(IpAddr::V4(Ipv4Addr::from(a))),
            Self::V6Net64(n) => Some(IpAddr::V6(Ipv6Addr::from(u128::from(n) << 64))),
            Self::Peer(_) => None,
        }
    }

    pub(crate) fn peer(self) -> Option<PeerId> {
        match self {
            Self::Peer(p) => Some(PeerId(p)),
            Self::V4(_) | Self::V6Net64(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_v6_is_the_v4_key() {
        let v4: IpAddr = "198.18.1.66".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.18.1.66".parse().unwrap();
        assert_eq!(
            SourceKey::of(Source::Ip(v4)),
            SourceKey::of(Source::Ip(mapped))
        );
        assert_eq!(Source::Ip(mapped).ip(), Some(v4));
        // IPv4-compatible (deprecated ::a.b.c.d) is not mapped and stays IPv6.
        let compat: IpAddr = "::198.18.1.66".parse().unwrap();
        assert_ne!(
            SourceKey::of(Source::Ip(v4)),
            SourceKey::of(Source::Ip(compat))
        );
    }

    #[test]
    fn v6_sources_share_their_64() {
        let a = Source::Ip("2001:db8:1:2::1".parse().unwrap());
        let b = Source::Ip("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = Source::Ip("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(SourceKey::of(a), SourceKey::of(b));
        assert_ne!(SourceKey::of(a), SourceKey::of(c));
        assert_eq!(
            SourceKey::of(a).ip(),
            Some("2001:db8:1:2::".parse().unwrap())
        );
    }
}
