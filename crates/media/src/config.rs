//! Configuration of a [`MediaTable`](crate::MediaTable) and splitting it into shards.

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use crate::ports::PoolError;
use crate::rate::RateLimit;

/// Everything a [`MediaTable`](crate::MediaTable) needs; the binary builds it from
/// `[media]` in the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaConfig {
    /// Bind addresses media ports are allocated on (public, LAN, tunnel-inner v4/v6...).
    /// The index in this list is the [`InterfaceId`](crate::InterfaceId). At most 255.
    pub interfaces: Vec<IpAddr>,
    /// First port of the range (rounded up to even), the same on every interface.
    pub port_min: u16,
    /// Last port of the range.
    pub port_max: u16,
    /// How long a released pair stays unusable, so late packets of an ended call never
    /// reach the next call on the same port. Default 30 s.
    pub quarantine: Duration,
    /// No RTP in either direction for this long, while media is expected, ends the call.
    /// Default 60 s (`media.inactivity_timeout_secs`).
    pub inactivity_timeout: Duration,
    /// Inactivity limit while no media is expected (call on hold with `inactive` or
    /// `c=0.0.0.0`, or the answer has not arrived yet); `None` = no limit there (the
    /// guard's maximum call duration still applies). Default 2 h.
    pub hold_timeout: Option<Duration>,
    /// Per-stream packet-rate guard; `None` disables it.
    pub rate_limit: Option<RateLimit>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            port_min: 20000,
            port_max: 29999,
            quarantine: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(60),
            hold_timeout: Some(Duration::from_secs(2 * 3600)),
            rate_limit: Some(RateLimit::default()),
        }
    }
}

/// Why a [`MediaConfig`] was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No bind address was given.
    #[error("no media interface configured: give at least one bind address")]
    NoInterfaces,
    /// More than 255 bind addresses.
    #[error("{count} media interfaces configured; at most 255 are supported")]
    TooManyInterfaces {
        /// Number given.
        count: usize,
    },
    /// The port range is unusable.
    #[error(transparent)]
    Range(#[from] PoolError),
    /// A timeout of zero would end every call at once.
    #[error("media.{name} must be greater than zero")]
    ZeroTimeout {
        /// Which timeout.
        name: &'static str,
    },
    /// A rate limit of zero packets would drop every packet.
    #[error("media rate limit must allow at least 1 packet per second and a burst of 1")]
    ZeroRate,
    /// The range cannot be cut into that many shards of at least one pair each.
    #[error("cannot split {pairs} port pairs into {shards} shards")]
    TooManyShards {
        /// Pairs in the range.
        pairs: usize,
        /// Shards asked for.
        shards: usize,
    },
}

impl MediaConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.interfaces.is_empty() {
            return Err(ConfigError::NoInterfaces);
        }
        if self.interfaces.len() > 255 {
            return Err(ConfigError::TooManyInterfaces {
                count: self.interfaces.len(),
            });
        }
        if self.inactivity_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout {
                name: "inactivity_timeout",
            });
        }
        if self.hold_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroTimeout {
                name: "hold_timeout",
            });
        }
        if self
            .rate_limit
            .is_some_and(|r| r.packets_per_second == 0 || r.burst == 0)
        {
            return Err(ConfigError::ZeroRate);
        }
        Ok(())
    }

    /// Cuts the port range into `shards` contiguous, even-aligned sub-ranges, one config
    /// per shard, plus the [`ShardMap`] that finds a port's shard in O(1).
    ///
    /// Each shard becomes its own [`MediaTable`](crate::MediaTable) behind its own lock:
    /// packet tasks working on different shards never contend, and the signalling task
    /// holds one shard's lock only for an O(1) install or removal. See the crate docs.
    pub fn split(&self, shards: usize) -> Result<(Vec<Self>, ShardMap), ConfigError> {
        let base = u32::from(self.port_min) + u32::from(self.port_min) % 2;
        let top = u32::from(self.port_max);
        let pairs = if top > base {
            (top - base).div_ceil(2) as usize
        } else {
            0
        };
        if pairs == 0 {
            return Err(PoolError::EmptyRange {
                port_min: self.port_min,
                port_max: self.port_max,
            }
            .into());
        }
        if shards == 0 || shards > pairs {
            return Err(ConfigError::TooManyShards { pairs, shards });
        }
        let per = pairs.div_ceil(shards);
        let span_ports = u32::try_from(per * 2).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(shards);
        let mut lo = base;
        // Stop when what is left holds no pair (an even last port without its odd partner).
        while lo < top && out.len() < shards {
            let hi = (lo + span_ports - 1).min(top);
            let mut c = self.clone();
            // Both bounds lie inside the original u16 range.
            c.port_min = u16::try_from(lo).unwrap_or(u16::MAX);
            c.port_max = u16::try_from(hi).unwrap_or(u16::MAX);
            out.push(c);
            lo = hi + 1;
        }
        let map = ShardMap {
            base,
            top: out.last().map_or(base, |c| u32::from(c.port_max)),
            span: span_ports,
            count: out.len(),
        };
        Ok((out, map))
    }
}

/// Finds which shard (from [`MediaConfig::split`]) owns a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardMap {
    base: u32,
    /// Last port of the last shard.
    top: u32,
    span: u32,
    count: usize,
}

impl ShardMap {
    /// The shard owning `port`, or `None` outside the media range.
    #[must_use]
    pub fn shard(&self, port: u16) -> Option<usize> {
        if u32::from(port) > self.top {
            return None;
        }
        let off = u32::from(port).checked_sub(self.base)?;
        let i = (off / self.span) as usize;
        (i < self.count).then_some(i)
    }

    /// Number of shards (may be fewer than asked when the range is small).
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a map has at least one shard.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_range_without_overlap() {
        let c = MediaConfig {
            port_min: 20001,
            port_max: 20100,
            ..MediaConfig::default()
        };
        let (shards, map) = c.split(4).unwrap();
        assert_eq!(map.len(), shards.len());
        let mut next = 20002u16;
        for (i, s) in shards.iter().enumerate() {
            assert_eq!(s.port_min, next);
            assert_eq!(s.port_min % 2, 0);
            for p in s.port_min..=s.port_max {
                assert_eq!(map.shard(p), Some(i), "port {p}");
            }
            next = s.port_max + 1;
        }
        assert_eq!(next, 20101);
        assert_eq!(map.shard(20001), None);
        assert_eq!(map.shard(20101), None);
        assert!(c.split(0).is_err());
        assert!(c.split(50).is_err()); // 49 pairs
        // 9 pairs in 4 shards of 3: three shards, no empty fourth for the spare even port.
        let c = MediaConfig {
            port_min: 20002,
            port_max: 20020,
            ..MediaConfig::default()
        };
        let (shards, map) = c.split(4).unwrap();
        assert_eq!((shards.len(), map.len()), (3, 3));
    }
}
