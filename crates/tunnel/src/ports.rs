//! Which UDP ports of the virtual inner host are open.

use std::fmt;
use std::ops::RangeInclusive;

/// The set of open UDP ports on drawbridge's inner addresses (e.g. SIP 5060 and the RTP range).
///
/// A fixed 8 KiB bitmap: lookups are one load and a mask, whatever the number of ranges.
/// Everything not in the set is closed; packets to a closed port are dropped without an
/// ICMP port-unreachable (deny by default, no hints).
#[derive(Clone, PartialEq, Eq)]
pub struct UdpPorts {
    bits: Box<[u64; 1024]>,
}

impl UdpPorts {
    /// No port open.
    pub fn none() -> Self {
        Self {
            bits: Box::new([0; 1024]),
        }
    }

    /// Opens one port.
    pub fn open(&mut self, port: u16) -> &mut Self {
        self.bits[usize::from(port >> 6)] |= 1 << (port & 63);
        self
    }

    /// Opens every port in an inclusive range (an empty range opens nothing).
    pub fn open_range(&mut self, range: RangeInclusive<u16>) -> &mut Self {
        for port in range {
            self.open(port);
        }
        self
    }

    /// Whether `port` is open.
    pub fn is_open(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// How many ports are open.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|w| w.count_ones()).sum()
    }
}

impl Default for UdpPorts {
    fn default() -> Self {
        Self::none()
    }
}

impl fmt::Debug for UdpPorts {
    /// Prints the open ranges (`UdpPorts[5060, 10000-20000]`), not 8 KiB of bits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UdpPorts[")?;
        let mut first = true;
        let mut port: u32 = 0;
        while port <= u32::from(u16::MAX) {
            let p = port as u16;
            if !self.is_open(p) {
                port += 1;
                continue;
            }
            let start = p;
            while port < u32::from(u16::MAX) && self.is_open((port + 1) as u16) {
                port += 1;
            }
            let end = port as u16;
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            port += 1;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ports_and_ranges() {
        let mut p = UdpPorts::none();
        p.open(5060)
            .open_range(10_000..=10_003)
            .open(65_535)
            .open(0);
        assert!(p.is_open(5060) && p.is_open(10_000) && p.is_open(10_003));
        assert!(p.is_open(65_535) && p.is_open(0));
        assert!(!p.is_open(5061) && !p.is_open(9_999) && !p.is_open(10_004));
        assert_eq!(p.count(), 7);
        assert_eq!(format!("{p:?}"), "UdpPorts[0, 5060, 10000-10003, 65535]");
    }
}
