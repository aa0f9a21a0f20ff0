//! Which trunk an address belongs to: the check that runs before any parsing or crypto.
//!
//! The configured ranges are flattened once into sorted, disjoint intervals, each tagged
//! with the trunk of the most specific range that covers it. A lookup is then one binary
//! search over a `Vec<u128>`: no allocation, no hashing, a few dozen comparisons for a
//! few hundred ranges. The transports call it per datagram and per accepted connection,
//! from any thread (`&self`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use drawbridge_config::TrunkConfig;
use ipnet::IpNet;

use crate::error::GuardError;
use crate::source::{TrunkId, canonical};

/// Disjoint intervals of one address family, sorted by start.
#[derive(Debug, Default, Clone)]
struct Intervals {
    starts: Vec<u128>,
    ends: Vec<u128>,
    trunks: Vec<TrunkId>,
}

impl Intervals {
    /// Flattens `(first, last, prefix_len, trunk)` ranges. Ranges either nest or are
    /// disjoint (they are CIDRs), and the most specific one wins; between equally specific
    /// identical ranges the first trunk wins (configuration validation forbids overlaps
    /// between trunks, so this is only a deterministic fallback).
    fn build(ranges: &[(u128, u128, u8, TrunkId)]) -> Self {
        // Elementary interval boundaries: every start and every end + 1.
        let mut bounds: Vec<u128> = ranges
            .iter()
            .flat_map(|&(a, b, _, _)| [Some(a), b.checked_add(1)])
            .flatten()
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut out = Self::default();
        for (i, &start) in bounds.iter().enumerate() {
            let end = match bounds.get(i + 1) {
                Some(&next) => next - 1,
                None => u128::MAX,
            };
            // O(ranges) per boundary: O(n²) once at build for n in the hundreds.
            let owner = ranges
                .iter()
                .filter(|&&(a, b, _, _)| a <= start && start <= b)
                .fold(None::<(u8, TrunkId)>, |best, &(_, _, len, t)| match best {
                    Some((l, _)) if l >= len => best,
                    _ => Some((len, t)),
                });
            let Some((_, trunk)) = owner else { continue };
            // Merge with the previous interval when adjacent and of the same trunk.
            if let (Some(last_end), Some(&last_trunk)) = (out.ends.last_mut(), out.trunks.last())
                && last_trunk == trunk
                && last_end.checked_add(1) == Some(start)
            {
                *last_end = end;
                continue;
            }
            out.starts.push(start);
            out.ends.push(end);
            out.trunks.push(trunk);
        }
        out
    }

    fn lookup(&self, addr: u128) -> Option<TrunkId> {
        // Index of the first interval starting after addr; the candidate is the one before.
        let i = self.starts.partition_point(|&s| s <= addr).checked_sub(1)?;
        (addr <= self.ends[i]).then(|| self.trunks[i])
    }
}

/// The set of trunk source ranges, answering "which trunk is this address, if any".
#[derive(Debug)]
pub struct SourceAllowlist {
    v4: Intervals,
    v6: Intervals,
    names: Vec<String>,
    dropped: AtomicU64,
}

impl SourceAllowlist {
    /// Builds the allowlist of every trunk's `allow` ranges, trunk `i` of the slice
    /// becoming [`TrunkId`]`(i)`. Host bits written in a range are ignored (the range is
    /// what the prefix length says).
    pub fn from_trunks(trunks: &[TrunkConfig]) -> Result<Self, GuardError> {
        let mut list: Vec<(String, Vec<IpNet>)> = Vec::with_capacity(trunks.len());
        for t in trunks {
            list.push((
                t.name.clone(),
                t.allow.iter().map(|c| c.truncated()).collect(),
            ));
        }
        Self::new(list)
    }

    /// Builds the allowlist from `(trunk name, ranges)` pairs, the index in the vector
    /// being the trunk's [`TrunkId`].
    pub fn new(trunks: Vec<(String, Vec<IpNet>)>) -> Result<Self, GuardError> {
        if trunks.len() > usize::from(u16::MAX) {
            return Err(GuardError::TooManyTrunks {
                count: trunks.len(),
                max: usize::from(u16::MAX),
            });
        }
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut names = Vec::with_capacity(trunks.len());
        for (i, (name, nets)) in trunks.into_iter().enumerate() {
            let id = TrunkId(i as u16); // ok: checked against u16::MAX above
            for net in nets {
                match net.trunc() {
                    IpNet::V4(n) => v4.push((
                        u128::from(u32::from(n.network())),
                        u128::from(u32::from(n.broadcast())),
                        n.prefix_len(),
                        id,
                    )),
                    IpNet::V6(n) => v6.push((
                        u128::from(n.network()),
                        u128::from(n.broadcast()),
                        n.prefix_len(),
                        id,
                    )),
                }
            }
            names.push(name);
        }
        Ok(Self {
            v4: Intervals::build(&v4),
            v6: Intervals::build(&v6),
            names,
            dropped: AtomicU64::new(0),
        })
    }

    /// The trunk whose ranges contain `ip`, or `None`. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) match IPv4 ranges.
    /// Pure: counts nothing.
    pub fn lookup(&self, ip: IpAddr) -> Option<TrunkId> {
        match canonical(ip) {
            IpAddr::V4(v4) => self.v4.lookup(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => self.v6.lookup(u128::from(v6)),
        }
    }

    /// [`lookup`](Self::lookup) for the transports' per-packet / per-connection gate:
    /// a miss is counted (exported as `kind="drop",reason="not_allowlisted"`) but queues
    /// no event, because a flood would otherwise become a flood of log lines.
    pub fn admit(&self, ip: IpAddr) -> Option<TrunkId> {
        let found = self.lookup(ip);
        if found.is_none() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// How many sources [`admit`](Self::admit) refused.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The configured name of a trunk.
    pub fn trunk_name(&self, trunk: TrunkId) -> Option<&str> {
        self.names.get(trunk.index()).map(String::as_str)
    }

    /// Number of trunks.
    pub fn trunk_count(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(spec: &[(&str, &[&str])]) -> SourceAllowlist {
        SourceAllowlist::new(
            spec.iter()
                .map(|(n, nets)| {
                    (
                        (*n).to_owned(),
                        nets.iter().map(|s| s.parse().unwrap()).collect(),
                    )
                })
                .collect(),
        )
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_ranges_and_edges() {
        let a = list(&[
            ("carrier", &["198.18.1.8/29", "77.240.48.0/24"]),
            ("backup", &["2001:db8:5::/48", "203.0.113.7/32"]),
        ]);
        assert_eq!(a.lookup(ip("198.18.1.8")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("198.18.1.15")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("198.18.1.7")), None);
        assert_eq!(a.lookup(ip("198.18.1.16")), None);
        assert_eq!(a.lookup(ip("77.240.48.255")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("203.0.113.7")), Some(TrunkId(1)));
        assert_eq!(a.lookup(ip("203.0.113.8")), None);
        assert_eq!(a.lookup(ip("2001:db8:5:ffff::1")), Some(TrunkId(1)));
        assert_eq!(a.lookup(ip("2001:db8:6::1")), None);
        assert_eq!(a.trunk_name(TrunkId(1)), Some("backup"));
    }

    #[test]
    fn ipv4_mapped_ipv6_matches_ipv4_ranges() {
        let a = list(&[("carrier", &["198.18.1.10/32"])]);
        assert_eq!(a.lookup(ip("::ffff:198.18.1.10")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("::ffff:198.18.1.11")), None);
        assert_eq!(a.admit(ip("::ffff:198.18.1.11")), None);
        assert_eq!(a.dropped(), 1);
    }

    #[test]
    fn most_specific_range_wins_and_families_are_separate() {
        let a = list(&[
            ("wide", &["10.0.0.0/8", "0.0.0.0/0"]),
            ("narrow", &["10.1.2.0/24"]),
        ]);
        assert_eq!(a.lookup(ip("10.1.2.3")), Some(TrunkId(1)));
        assert_eq!(a.lookup(ip("10.1.3.3")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("255.255.255.255")), Some(TrunkId(0)));
        assert_eq!(a.lookup(ip("0.0.0.0")), Some(TrunkId(0)));
        // 0.0.0.0/0 is IPv4 only.
        assert_eq!(a.lookup(ip("2001:db8::1")), None);
        let all6 = list(&[("v6", &["::/0"])]);
        assert_eq!(
            all6.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            Some(TrunkId(0))
        );
        assert_eq!(all6.lookup(ip("1.2.3.4")), None);
    }

    #[test]
    fn empty_list_admits_nothing() {
        let a = list(&[]);
        assert_eq!(a.lookup(ip("198.18.1.10")), None);
        assert_eq!(a.lookup(ip("::1")), None);
    }

    #[test]
    fn agrees_with_a_linear_scan_over_many_ranges() {
        // 300 pseudo-random ranges of mixed lengths against a brute-force most-specific scan.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut spec: Vec<(String, Vec<IpNet>)> =
            (0..6).map(|i| (format!("t{i}"), vec![])).collect();
        let mut flat: Vec<(ipnet::Ipv4Net, usize)> = Vec::new();
        for _ in 0..300 {
            let len = 8 + (next() % 25) as u8;
            let addr = std::net::Ipv4Addr::from((next() as u32) & 0x0fff_ffff);
            let net = ipnet::Ipv4Net::new(addr, len).unwrap().trunc();
            let t = (next() % 6) as usize;
            spec[t].1.push(IpNet::V4(net));
            flat.push((net, t));
        }
        let a = SourceAllowlist::new(spec).unwrap();
        for _ in 0..20_000 {
            let probe = std::net::Ipv4Addr::from((next() as u32) & 0x0fff_ffff);
            let want = flat
                .iter()
                .filter(|(n, _)| n.contains(&probe))
                .max_by_key(|(n, t)| (n.prefix_len(), std::cmp::Reverse(*t)))
                .map(|&(_, t)| TrunkId(t as u16));
            // Equal ranges in two trunks: the lowest trunk index wins in both.
            assert_eq!(a.lookup(IpAddr::V4(probe)), want, "{probe}");
        }
    }
}
