//! Minimal, defensive RTP and RTCP header validation (RFC 3550 §5.1, §6.4; RFC 5761 §4).
//!
//! The relay forwards packets unchanged, so it only needs to know that a datagram is
//! plausibly RTP/RTCP (to refuse garbage and probes) and, for RTP, the sequence number and
//! SSRC (for loss statistics). Nothing here allocates or copies; every length read from the
//! packet is checked against the datagram before use.

use thiserror::Error;

/// Size of the fixed RTP header (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// Size of the smallest RTCP packet: the 4-byte common header plus the sender SSRC.
pub const RTCP_MIN_LEN: usize = 8;

/// Why a datagram was not accepted as RTP or RTCP.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// The datagram is shorter than the fixed header.
    #[error("packet of {len} bytes is shorter than the {min}-byte header")]
    TooShort {
        /// Datagram length.
        len: usize,
        /// Minimum header length for this kind of packet.
        min: usize,
    },
    /// The version field is not 2 (STUN, DTLS, ZRTP and random probes land here).
    #[error("RTP/RTCP version {version}, expected 2")]
    BadVersion {
        /// The two version bits.
        version: u8,
    },
    /// The CSRC list announced by the CC field does not fit in the datagram.
    #[error("{csrc_count} CSRCs do not fit in a {len}-byte packet")]
    CsrcOverflow {
        /// The CC field.
        csrc_count: u8,
        /// Datagram length.
        len: usize,
    },
    /// The X bit is set but the header extension does not fit in the datagram.
    #[error("header extension of {needed} bytes does not fit in a {len}-byte packet")]
    ExtensionOverflow {
        /// Bytes the header plus extension need.
        needed: usize,
        /// Datagram length.
        len: usize,
    },
    /// The P bit is set but the padding count is zero or longer than the payload.
    #[error("padding of {padding} bytes is invalid for {available} bytes after the header")]
    BadPadding {
        /// The last byte of the packet.
        padding: u8,
        /// Bytes after the header.
        available: usize,
    },
    /// An RTCP packet type outside the range reserved for RTCP (192..=223, RFC 5761 §4).
    #[error("RTCP packet type {packet_type} is outside 192..=223")]
    NotRtcp {
        /// The packet-type byte.
        packet_type: u8,
    },
    /// The first RTCP packet's length field runs past the datagram.
    #[error("RTCP length of {declared} bytes exceeds the {len}-byte datagram")]
    RtcpLength {
        /// Length declared by the header, in bytes.
        declared: usize,
        /// Datagram length.
        len: usize,
    },
}

/// The fields of a validated RTP header that the relay uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Number of contributing sources (CC field).
    pub csrc_count: u8,
    /// Offset of the payload: fixed header, CSRCs and extension included.
    pub payload_offset: usize,
    /// Length of the payload, padding excluded.
    pub payload_len: usize,
}

/// The fields of a validated RTCP (compound) packet's first header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpHeader {
    /// Packet type of the first packet (e.g. 200 = SR, 201 = RR).
    pub packet_type: u8,
    /// SSRC of the sender.
    pub ssrc: u32,
    /// Length of the first packet in bytes (from its length field).
    pub first_len: usize,
}

/// Whether the second byte says RTCP: on a port that carries both (RFC 5761 rtcp-mux),
/// RTCP packet types 192..=223 are what tells the two apart.
#[must_use]
pub fn looks_like_rtcp(packet: &[u8]) -> bool {
    packet.get(1).is_some_and(|b| (192..=223).contains(b))
}

fn version(packet: &[u8]) -> Result<(), PacketError> {
    let version = packet.first().map_or(0, |b| b >> 6);
    if version == 2 {
        Ok(())
    } else {
        Err(PacketError::BadVersion { version })
    }
}

fn be16(p: &[u8], at: usize) -> u16 {
    // Callers check the length first; a short slice yields 0 rather than a panic.
    match p.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn be32(p: &[u8], at: usize) -> u32 {
    match p.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Validates an RTP packet and returns its header fields.
///
/// Checks: length ≥ 12, version 2, the CSRC list and header extension fit, and the padding
/// count (P bit) is at least 1 and no longer than what follows the header.
pub fn parse_rtp(packet: &[u8]) -> Result<RtpHeader, PacketError> {
    let len = packet.len();
    if len < RTP_HEADER_LEN {
        return Err(PacketError::TooShort {
            len,
            min: RTP_HEADER_LEN,
        });
    }
    version(packet)?;
    let b0 = packet[0];
    let b1 = packet[1];
    let csrc_count = b0 & 0x0f;
    let mut offset = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
    if offset > len {
        return Err(PacketError::CsrcOverflow { csrc_count, len });
    }
    if b0 & 0x10 != 0 {
        // Extension header: 16-bit profile, 16-bit length in 32-bit words (RFC 3550 §5.3.1).
        if offset + 4 > len {
            return Err(PacketError::ExtensionOverflow {
                needed: offset + 4,
                len,
            });
        }
        let words = usize::from(be16(packet, offset + 2));
        let needed = offset + 4 + 4 * words;
        if needed > len {
            return Err(PacketError::ExtensionOverflow { needed, len });
        }
        offset = needed;
    }
    let available = len - offset;
    let padding = if b0 & 0x20 != 0 {
        let padding = packet[len - 1];
        if padding == 0 || usize::from(padding) > available {
            return Err(PacketError::BadPadding { padding, available });
        }
        usize::from(padding)
    } else {
        0
    };
    Ok(RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        sequence: be16(packet, 2),
        timestamp: be32(packet, 4),
        ssrc: be32(packet, 8),
        csrc_count,
        payload_offset: offset,
        payload_len: available - padding,
    })
}

/// Validates an RTCP packet (plain or the start of a compound or SRTCP packet).
///
/// Checks: length ≥ 8, version 2, packet type in 192..=223, and the first packet's length
/// field fits in the datagram. Later packets of a compound are not walked: SRTCP appends
/// an index and tag that would not parse, and the relay forwards the datagram unchanged.
pub fn parse_rtcp(packet: &[u8]) -> Result<RtcpHeader, PacketError> {
    let len = packet.len();
    if len < RTCP_MIN_LEN {
        return Err(PacketError::TooShort {
            len,
            min: RTCP_MIN_LEN,
        });
    }
    version(packet)?;
    let packet_type = packet[1];
    if !(192..=223).contains(&packet_type) {
        return Err(PacketError::NotRtcp { packet_type });
    }
    let first_len = (usize::from(be16(packet, 2)) + 1) * 4;
    if first_len > len {
        return Err(PacketError::RtcpLength {
            declared: first_len,
            len,
        });
    }
    Ok(RtcpHeader {
        packet_type,
        ssrc: be32(packet, 4),
        first_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(b0: u8, seq: u16, tail: &[u8]) -> Vec<u8> {
        let mut p = vec![b0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(tail);
        p
    }

    #[test]
    fn plain_rtp_parses() {
        let h = parse_rtp(&rtp(0x80, 4242, &[1, 2, 3, 4])).unwrap();
        assert_eq!(h.sequence, 4242);
        assert_eq!(h.ssrc, 0xdead_beef);
        assert_eq!(h.payload_offset, 12);
        assert_eq!(h.payload_len, 4);
    }

    #[test]
    fn short_and_wrong_version_rejected() {
        assert!(matches!(
            parse_rtp(&[0x80; 11]),
            Err(PacketError::TooShort { len: 11, .. })
        ));
        assert!(matches!(
            parse_rtp(&rtp(0x40, 1, &[])),
            Err(PacketError::BadVersion { version: 1 })
        ));
        // STUN binding request starts with 0x00 0x01.
        assert!(matches!(
            parse_rtp(&rtp(0x00, 1, &[0; 8])),
            Err(PacketError::BadVersion { version: 0 })
        ));
    }

    #[test]
    fn csrc_extension_and_padding_must_fit() {
        // CC = 2 needs 8 more bytes.
        assert!(matches!(
            parse_rtp(&rtp(0x82, 1, &[0; 7])),
            Err(PacketError::CsrcOverflow { .. })
        ));
        assert_eq!(
            parse_rtp(&rtp(0x82, 1, &[0; 8])).unwrap().payload_offset,
            20
        );
        // X bit with a 1-word extension: 4 + 4 bytes.
        assert!(matches!(
            parse_rtp(&rtp(0x90, 1, &[0xbe, 0xde, 0, 1, 0, 0, 0])),
            Err(PacketError::ExtensionOverflow { needed: 20, .. })
        ));
        assert_eq!(
            parse_rtp(&rtp(0x90, 1, &[0xbe, 0xde, 0, 1, 0, 0, 0, 0, 9]))
                .unwrap()
                .payload_len,
            1
        );
        // P bit: count 0 is invalid, count beyond the payload is invalid.
        assert!(matches!(
            parse_rtp(&rtp(0xa0, 1, &[1, 0])),
            Err(PacketError::BadPadding { padding: 0, .. })
        ));
        assert!(matches!(
            parse_rtp(&rtp(0xa0, 1, &[1, 3])),
            Err(PacketError::BadPadding { padding: 3, .. })
        ));
        assert_eq!(parse_rtp(&rtp(0xa0, 1, &[1, 2])).unwrap().payload_len, 0);
    }

    #[test]
    fn rtcp_checks() {
        // RR with no report blocks: length field 1 (= 8 bytes).
        let rr = [0x80, 201, 0, 1, 1, 2, 3, 4];
        let h = parse_rtcp(&rr).unwrap();
        assert_eq!((h.packet_type, h.ssrc, h.first_len), (201, 0x0102_0304, 8));
        assert!(looks_like_rtcp(&rr));
        assert!(matches!(
            parse_rtcp(&[0x80, 96, 0, 1, 1, 2, 3, 4]),
            Err(PacketError::NotRtcp { packet_type: 96 })
        ));
        assert!(matches!(
            parse_rtcp(&[0x80, 200, 0, 6, 1, 2, 3, 4]),
            Err(PacketError::RtcpLength { declared: 28, .. })
        ));
        assert!(matches!(
            parse_rtcp(&[0x80, 200, 0]),
            Err(PacketError::TooShort { .. })
        ));
    }
}
