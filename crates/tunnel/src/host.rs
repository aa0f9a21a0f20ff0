//! The virtual inner host: what a peer sees at the other end of its tunnel.
//!
//! There is no TUN device and no routing. A decrypted inner packet is parsed here, defensively,
//! and is either a UDP datagram for one of drawbridge's services, an ICMP/ICMPv6 echo request
//! to one of drawbridge's inner addresses (answered), or dropped with a reason. A peer can
//! reach nothing else: no other address, no TCP (yet), no other protocol, no closed port.
//!
//! Accepted: IPv4 without fragmentation (options are skipped), IPv6 without extension headers,
//! correct header/UDP/ICMP checksums (an IPv4 UDP checksum of zero means "none", as RFC 768
//! allows; IPv6 requires one, RFC 8200 §8.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use crate::counters::DropReason;
use crate::ports::UdpPorts;

const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;
/// IPv6 extension headers (RFC 8200 §4, plus ESP/AH, mobility, HIP, shim6, experiments).
const IPV6_EXTENSION_HEADERS: [u8; 11] = [0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254];
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// TTL / hop limit of the packets the virtual host originates.
const HOP_LIMIT: u8 = 64;

/// What the virtual host makes of one inner packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A UDP datagram for an open service port.
    Udp {
        /// The peer's inner address and port.
        src: SocketAddr,
        /// drawbridge's inner address and the service port.
        dst: SocketAddr,
        /// Where the UDP payload lies in the packet that was inspected.
        payload: Range<usize>,
    },
    /// An ICMP echo request (IPv4) or ICMPv6 echo request (IPv6) to one of drawbridge's
    /// addresses; answer it with [`VirtualHost::write_echo_reply`].
    EchoRequest,
    /// Dropped, for this reason.
    Drop(DropReason),
}

/// drawbridge's inner addresses and open UDP ports, and the logic that decides what an inner
/// packet from a peer may reach.
#[derive(Debug, Clone)]
pub struct VirtualHost {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    ports: UdpPorts,
}

impl VirtualHost {
    /// A host answering on `v4` and/or `v6` with `ports` open.
    pub fn new(v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>, ports: UdpPorts) -> Self {
        Self { v4, v6, ports }
    }

    /// The inner IPv4 address, if any.
    pub fn v4(&self) -> Option<Ipv4Addr> {
        self.v4
    }

    /// The inner IPv6 address, if any.
    pub fn v6(&self) -> Option<Ipv6Addr> {
        self.v6
    }

    /// The open UDP ports.
    pub fn ports(&self) -> &UdpPorts {
        &self.ports
    }

    /// Whether `ip` is one of drawbridge's inner addresses.
    pub fn is_own(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4 == Some(a),
            IpAddr::V6(a) => self.v6 == Some(a),
        }
    }

    /// Decides what to do with `packet`, an inner IP packet from a peer whose assigned inner
    /// addresses are `peer_addrs`. Never panics, whatever the bytes.
    ///
    /// Checks, in order: header sanity and lengths, source address is the peer's
    /// (anti-spoofing), destination is ours, no fragmentation / extension headers, then the
    /// transport header and checksum, then the port.
    pub fn inspect(&self, packet: &[u8], peer_addrs: &[IpAddr]) -> Verdict {
        match packet.first().map(|b| b >> 4) {
            Some(4) => self.inspect_v4(packet, peer_addrs),
            Some(6) => self.inspect_v6(packet, peer_addrs),
            _ => Verdict::Drop(DropReason::MalformedInner),
        }
    }

    fn inspect_v4(&self, packet: &[u8], peer_addrs: &[IpAddr]) -> Verdict {
        if packet.len() < IPV4_HEADER {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        let total = usize::from(be16(packet, 2));
        if ihl < IPV4_HEADER || ihl > total || total > packet.len() {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let packet = &packet[..total];
        if fold(sum(&packet[..ihl], 0)) != 0 {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
        let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
        if !peer_addrs.contains(&IpAddr::V4(src)) {
            return Verdict::Drop(DropReason::SpoofedSource);
        }
        if self.v4 != Some(dst) {
            return Verdict::Drop(DropReason::NotForUs);
        }
        // More-fragments flag or a non-zero offset: a fragment; we do not reassemble.
        if be16(packet, 6) & 0x3fff != 0 {
            return Verdict::Drop(DropReason::Fragment);
        }
        let body = &packet[ihl..];
        match packet[9] {
            PROTO_UDP => {
                let pseudo = sum(&src.octets(), 0) + sum(&dst.octets(), 0) + u64::from(PROTO_UDP);
                self.inspect_udp(body, ihl, IpAddr::V4(src), IpAddr::V4(dst), pseudo, false)
            }
            PROTO_ICMP => {
                if body.len() < 8 || fold(sum(body, 0)) != 0 {
                    Verdict::Drop(DropReason::MalformedInner)
                } else if body[0] == 8 && body[1] == 0 {
                    Verdict::EchoRequest
                } else {
                    Verdict::Drop(DropReason::UnsupportedProtocol)
                }
            }
            _ => Verdict::Drop(DropReason::UnsupportedProtocol),
        }
    }

    fn inspect_v6(&self, packet: &[u8], peer_addrs: &[IpAddr]) -> Verdict {
        if packet.len() < IPV6_HEADER {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let total = IPV6_HEADER + usize::from(be16(packet, 4));
        if total > packet.len() {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let packet = &packet[..total];
        let src = Ipv6Addr::from(octets16(&packet[8..24]));
        let dst = Ipv6Addr::from(octets16(&packet[24..40]));
        if !peer_addrs.contains(&IpAddr::V6(src)) {
            return Verdict::Drop(DropReason::SpoofedSource);
        }
        if self.v6 != Some(dst) {
            return Verdict::Drop(DropReason::NotForUs);
        }
        let body = &packet[IPV6_HEADER..];
        let next = packet[6];
        // RFC 8200 §8.1 pseudo-header: addresses, upper-layer length, next header.
        let pseudo = sum(&src.octets(), 0) + sum(&dst.octets(), 0) + body.len() as u64;
        match next {
            PROTO_UDP => self.inspect_udp(
                body,
                IPV6_HEADER,
                IpAddr::V6(src),
                IpAddr::V6(dst),
                pseudo + u64::from(PROTO_UDP),
                true,
            ),
            PROTO_ICMPV6 => {
                if body.len() < 8 || fold(sum(body, pseudo + u64::from(PROTO_ICMPV6))) != 0 {
                    Verdict::Drop(DropReason::MalformedInner)
                } else if body[0] == 128 && body[1] == 0 {
                    Verdict::EchoRequest
                } else {
                    Verdict::Drop(DropReason::UnsupportedProtocol)
                }
            }
            n if IPV6_EXTENSION_HEADERS.contains(&n) => {
                Verdict::Drop(DropReason::Ipv6ExtensionHeader)
            }
            _ => Verdict::Drop(DropReason::UnsupportedProtocol),
        }
    }

    /// `pseudo` is the pseudo-header sum without the UDP length (added here from the header).
    fn inspect_udp(
        &self,
        body: &[u8],
        offset: usize,
        src: IpAddr,
        dst: IpAddr,
        pseudo: u64,
        checksum_required: bool,
    ) -> Verdict {
        if body.len() < UDP_HEADER {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let len = usize::from(be16(body, 4));
        if len < UDP_HEADER || len > body.len() {
            return Verdict::Drop(DropReason::MalformedInner);
        }
        let datagram = &body[..len];
        let checksum = be16(datagram, 6);
        if checksum == 0 {
            if checksum_required {
                return Verdict::Drop(DropReason::MalformedInner);
            }
        } else {
            // For IPv4 the pseudo-header carries the UDP length; for IPv6 the upper-layer
            // length, which equals it once trailing bytes are cut off. Either way: `len`.
            let base = match src {
                IpAddr::V4(_) => pseudo,
                IpAddr::V6(_) => pseudo - body.len() as u64,
            } + len as u64;
            if fold(sum(datagram, base)) != 0 {
                return Verdict::Drop(DropReason::MalformedInner);
            }
        }
        let dport = be16(datagram, 2);
        if !self.ports.is_open(dport) {
            return Verdict::Drop(DropReason::ClosedPort);
        }
        Verdict::Udp {
            src: SocketAddr::new(src, be16(datagram, 0)),
            dst: SocketAddr::new(dst, dport),
            payload: offset + UDP_HEADER..offset + len,
        }
    }

    /// Writes the echo reply to `request` (a packet [`inspect`](Self::inspect) called an
    /// [`Verdict::EchoRequest`]) into `out`; returns its length, or `None` if `request` is not
    /// a well-formed echo request or `out` is too small. The reply has at most the request's
    /// length (IPv4 options are not echoed).
    pub fn write_echo_reply(&self, request: &[u8], out: &mut [u8]) -> Option<usize> {
        match request.first().map(|b| b >> 4) {
            Some(4) => {
                let ihl = usize::from(request.first()? & 0x0f) * 4;
                let total = usize::from(be16(request.get(..4)?, 2));
                let body = request.get(ihl..total)?;
                let src = Ipv4Addr::from(octets4(request.get(16..20)?));
                let dst = Ipv4Addr::from(octets4(request.get(12..16)?));
                let len = IPV4_HEADER + body.len();
                let out = out.get_mut(..len)?;
                write_ipv4_header(out, src, dst, PROTO_ICMP, len)?;
                let icmp = &mut out[IPV4_HEADER..];
                icmp.copy_from_slice(body);
                icmp[0] = 0; // echo reply
                icmp[1] = 0;
                icmp[2..4].fill(0);
                let c = fold(sum(icmp, 0));
                icmp[2..4].copy_from_slice(&c.to_be_bytes());
                Some(len)
            }
            Some(6) => {
                let total = IPV6_HEADER + usize::from(be16(request.get(..6)?, 4));
                let body = request.get(IPV6_HEADER..total)?;
                let src = Ipv6Addr::from(octets16(request.get(24..40)?));
                let dst = Ipv6Addr::from(octets16(request.get(8..24)?));
                let len = IPV6_HEADER + body.len();
                let out = out.get_mut(..len)?;
                write_ipv6_header(out, src, dst, PROTO_ICMPV6, body.len())?;
                let icmp = &mut out[IPV6_HEADER..];
                icmp.copy_from_slice(body);
                icmp[0] = 129; // echo reply
                icmp[1] = 0;
                icmp[2..4].fill(0);
                let pseudo = sum(&src.octets(), 0)
                    + sum(&dst.octets(), 0)
                    + body.len() as u64
                    + u64::from(PROTO_ICMPV6);
                let c = fold(sum(icmp, pseudo));
                icmp[2..4].copy_from_slice(&c.to_be_bytes());
                Some(len)
            }
            _ => None,
        }
    }

    /// Writes an IP+UDP packet from drawbridge's inner address of `dst`'s family, port
    /// `src_port`, to `dst`, carrying `payload`, into `out`, with the UDP checksum.
    /// Returns its length, or `None` when there is no inner address of that family, the
    /// packet would exceed 65,535 bytes or `out` is too small.
    pub fn write_udp(
        &self,
        src_port: u16,
        dst: SocketAddr,
        payload: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let udp_len = UDP_HEADER + payload.len();
        let udp_len16 = u16::try_from(udp_len).ok()?;
        let (hdr, pseudo) = match dst.ip() {
            IpAddr::V4(d) => {
                let s = self.v4?;
                let len = IPV4_HEADER + udp_len;
                write_ipv4_header(out.get_mut(..len)?, s, d, PROTO_UDP, len)?;
                (
                    IPV4_HEADER,
                    sum(&s.octets(), 0) + sum(&d.octets(), 0) + u64::from(PROTO_UDP),
                )
            }
            IpAddr::V6(d) => {
                let s = self.v6?;
                write_ipv6_header(
                    out.get_mut(..IPV6_HEADER + udp_len)?,
                    s,
                    d,
                    PROTO_UDP,
                    udp_len,
                )?;
                (
                    IPV6_HEADER,
                    sum(&s.octets(), 0) + sum(&d.octets(), 0) + u64::from(PROTO_UDP),
                )
            }
        };
        let udp = out.get_mut(hdr..hdr + udp_len)?;
        udp[0..2].copy_from_slice(&src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len16.to_be_bytes());
        udp[6..8].fill(0);
        udp[UDP_HEADER..].copy_from_slice(payload);
        let mut c = fold(sum(udp, pseudo + udp_len as u64));
        if c == 0 {
            c = 0xffff; // RFC 768: a computed zero is sent as all ones
        }
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        Some(hdr + udp_len)
    }
}

/// Writes a 20-byte IPv4 header (DF set, no options) for a packet of `total` bytes.
fn write_ipv4_header(
    out: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    total: usize,
) -> Option<()> {
    let h = out.get_mut(..IPV4_HEADER)?;
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&u16::try_from(total).ok()?.to_be_bytes());
    h[4..6].fill(0); // identification: unused, DF is set
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = HOP_LIMIT;
    h[9] = proto;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = fold(sum(h, 0));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    Some(())
}

/// Writes a 40-byte IPv6 header for `payload_len` bytes of `next` protocol.
fn write_ipv6_header(
    out: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    payload_len: usize,
) -> Option<()> {
    let h = out.get_mut(..IPV6_HEADER)?;
    h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[4..6].copy_from_slice(&u16::try_from(payload_len).ok()?.to_be_bytes());
    h[6] = next;
    h[7] = HOP_LIMIT;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    Some(())
}

/// Big-endian u16 at `at`; callers have checked the length.
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn octets4(b: &[u8]) -> [u8; 4] {
    let mut o = [0; 4];
    o.copy_from_slice(b);
    o
}

fn octets16(b: &[u8]) -> [u8; 16] {
    let mut o = [0; 16];
    o.copy_from_slice(b);
    o
}

/// One's-complement sum (RFC 1071) of `data` as big-endian 16-bit words, added to `acc`.
/// A u64 accumulator cannot overflow for any IP packet.
fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits and complements it: the checksum to write, or 0 when verifying
/// data that includes a correct checksum.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}
