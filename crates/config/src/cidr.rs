//! Address ranges as written in allowlists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One entry of an allowlist, as the user wrote it: a CIDR (`77.240.48.0/24`) or a bare
/// address (`198.51.100.7`, meaning that one host: /32 or /128).
///
/// Host bits are kept as written so that validation can point at them
/// (`217.14.138.0/12` → "did you mean 217.0.0.0/12?") instead of silently truncating:
/// a typo in the prefix length is more likely than a typo in the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

impl Cidr {
    /// The range as parsed, host bits included.
    pub fn net(&self) -> IpNet {
        self.0
    }

    /// Whether bits beyond the prefix length are set (`217.14.138.0/12`).
    pub fn has_host_bits(&self) -> bool {
        self.0 != self.0.trunc()
    }

    /// The range with its host bits cleared: what the user most likely meant.
    pub fn truncated(&self) -> IpNet {
        self.0.trunc()
    }

    /// Whether `addr` lies inside the range.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.0.trunc().contains(addr)
    }

    /// Whether the two ranges share at least one address.
    pub fn overlaps(&self, other: &Self) -> bool {
        let (a, b) = (self.0.trunc(), other.0.trunc());
        a.contains(&b.network()) || b.contains(&a.network())
    }

    /// Whether this is a range of every address of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_world(&self) -> bool {
        self.0.prefix_len() == 0
    }
}

impl FromStr for Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net));
        }
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Ok(Self(IpNet::from(addr)));
        }
        Err(CidrParseError(s.to_owned()))
    }
}

impl From<IpNet> for Cidr {
    fn from(net: IpNet) -> Self {
        Self(net)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A single host prints as the user would write it.
        if self.0.prefix_len() == self.0.max_prefix_len() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A string that is neither a CIDR nor an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an address range: expected a CIDR like 198.51.100.0/24 or 2001:db8::/32, or a single address"
)]
pub struct CidrParseError(String);

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_address_is_one_host() {
        let c: Cidr = "198.51.100.7".parse().unwrap();
        assert_eq!(c.net().prefix_len(), 32);
        let c: Cidr = "2001:db8::7".parse().unwrap();
        assert_eq!(c.net().prefix_len(), 128);
        assert_eq!(c.to_string(), "2001:db8::7");
    }

    #[test]
    fn host_bits_are_kept_and_reported() {
        let c: Cidr = "217.14.138.0/12".parse().unwrap();
        assert!(c.has_host_bits());
        assert_eq!(c.truncated().to_string(), "217.0.0.0/12");
        assert!(!"77.240.48.0/24".parse::<Cidr>().unwrap().has_host_bits());
    }

    #[test]
    fn overlap_and_contains() {
        let a: Cidr = "10.0.0.0/8".parse().unwrap();
        let b: Cidr = "10.1.2.0/24".parse().unwrap();
        let c: Cidr = "11.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(a.contains(&"10.200.0.1".parse().unwrap()));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!("example.com".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}
