//! The SDP data model and its serialization.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// One `x=value` line kept as text (every line the model does not interpret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line type letter (`a`, `b`, `t` …).
    pub kind: u8,
    /// Everything after `=`.
    pub value: &'a str,
}

impl<'a> Line<'a> {
    /// For `a=name[:value]`: the attribute name; `None` for other line types.
    pub fn attribute_name(&self) -> Option<&'a str> {
        (self.kind == b'a').then(|| self.value.split_once(':').map_or(self.value, |(n, _)| n))
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// Username (`-` when none).
    pub username: &'a str,
    /// Session id: decimal digits, kept as text (it may exceed u64 in the wild).
    pub sess_id: &'a str,
    /// Session version.
    pub sess_version: u64,
    /// Network type, `IN`.
    pub nettype: &'a str,
    /// `IP4` or `IP6`.
    pub addrtype: &'a str,
    /// The originating host (address or name).
    pub address: &'a str,
}

/// `c=<nettype> <addrtype> <connection-address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// Network type, `IN`.
    pub nettype: &'a str,
    /// `IP4` or `IP6`.
    pub addrtype: &'a str,
    /// Address, possibly with `/ttl[/n]` (multicast) or a host name.
    pub address: &'a str,
}

impl Connection<'_> {
    /// The address as an IP, if it is one (no TTL suffix, not a host name).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

/// The format list of an `m=` line (payload type numbers for RTP), kept as the text of the
/// line so parsing allocates nothing per format. Iterate with [`Self::iter`]; equality is
/// format by format (the separating spaces do not count).
#[derive(Clone, Copy)]
pub struct Formats<'a>(&'a str);

impl<'a> Formats<'a> {
    /// The formats in `list`, separated by spaces. The parser refuses an `m=` line without
    /// formats; a hand-built empty list serializes as no formats.
    pub fn new(list: &'a str) -> Self {
        Self(list)
    }

    /// The formats in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.0.split(' ').filter(|f| !f.is_empty())
    }
}

impl PartialEq for Formats<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Formats<'_> {}

impl fmt::Debug for Formats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription<'a> {
    /// `audio`, `video`, `image`, `application`, `text`, `message` …
    pub media: &'a str,
    /// Transport port; 0 = stream disabled / rejected (RFC 3264 §5.1, §6).
    pub port: u16,
    /// The `/<number of ports>` suffix.
    pub num_ports: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `udptl` …
    pub proto: &'a str,
    /// Format list (payload type numbers for RTP).
    pub formats: Formats<'a>,
    /// Media-level `c=`.
    pub connection: Option<Connection<'a>>,
    /// The other media-level lines, in order (`i`, `b`, `k`, `a`).
    pub lines: Vec<Line<'a>>,
}

impl<'a> MediaDescription<'a> {
    /// The numeric formats (RTP payload types) in order; other formats are skipped.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + use<'a> {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

/// A parsed session description, borrowing its text from the parsed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription<'a> {
    /// `o=`.
    pub origin: Origin<'a>,
    /// `s=`.
    pub session_name: &'a str,
    /// Session-level `c=`.
    pub connection: Option<Connection<'a>>,
    /// The other session-level lines, in order (`i u e p b t r z k a`).
    pub lines: Vec<Line<'a>>,
    /// The `m=` sections.
    pub media: Vec<MediaDescription<'a>>,
}

/// Media direction (RFC 3264 §5.1, RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    SendRecv,
    /// `a=sendonly` (the sender puts the other side on hold).
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

/// `a=rtcp:<port> [IN IP4|IP6 <addr>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpAttr {
    /// RTCP port.
    pub port: u16,
    /// RTCP address, if given and an IP.
    pub address: Option<IpAddr>,
}

/// The media type of an `m=` line, as far as the media layer distinguishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `image` (T.38 fax).
    Image,
    /// `application`.
    Application,
    /// `text`.
    Text,
    /// `message`.
    Message,
    /// Any other token (the text is in [`MediaDescription::media`]).
    Other,
}

impl MediaKind {
    /// The kind named by an `m=` media token (case-sensitive, as RFC 8866 registers them).
    pub fn from_token(media: &str) -> Self {
        match media {
            "audio" => Self::Audio,
            "video" => Self::Video,
            "image" => Self::Image,
            "application" => Self::Application,
            "text" => Self::Text,
            "message" => Self::Message,
            _ => Self::Other,
        }
    }
}

/// What the media layer needs to know about one `m=` line. Owns nothing on the heap, so
/// extracting it costs one allocation per SDP (the Vec); the transport protocol and the
/// payload types are in the [`MediaDescription`] it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Media type.
    pub kind: MediaKind,
    /// Port as offered (0 = disabled).
    pub port: u16,
    /// Effective connection address: media-level `c=` over session-level; `None` if absent
    /// or not an IP literal.
    pub address: Option<IpAddr>,
    /// Effective direction: media-level attribute over session-level, default sendrecv.
    pub direction: Direction,
    /// `a=rtcp`, if present.
    pub rtcp: Option<RtcpAttr>,
    /// `a=rtcp-mux` present.
    pub rtcp_mux: bool,
    /// Port 0: the stream is disabled or rejected; allocate nothing.
    pub disabled: bool,
    /// On hold: connection address 0.0.0.0/:: (RFC 2543 style), or sendonly/inactive.
    pub on_hold: bool,
}

fn direction_of(lines: &[Line<'_>]) -> Option<Direction> {
    lines.iter().rev().find_map(|l| match l.attribute_name()? {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

pub(crate) fn parse_rtcp(value: &str) -> Option<RtcpAttr> {
    let mut it = value.split(' ').filter(|s| !s.is_empty());
    let port = it.next()?.parse().ok()?;
    let address = match (it.next(), it.next(), it.next()) {
        (Some(_), Some(_), Some(a)) => a.parse().ok(),
        _ => None,
    };
    Some(RtcpAttr { port, address })
}

impl SessionDescription<'_> {
    /// Per-`m=` facts for the media layer, in `m=` order.
    pub fn media_info(&self) -> Vec<MediaInfo> {
        let session_dir = direction_of(&self.lines);
        self.media
            .iter()
            .map(|m| {
                let conn = m.connection.as_ref().or(self.connection.as_ref());
                let address = conn.and_then(Connection::ip);
                let direction = direction_of(&m.lines)
                    .or(session_dir)
                    .unwrap_or(Direction::SendRecv);
                let attr = |name: &str| {
                    m.lines
                        .iter()
                        .find(|l| l.attribute_name() == Some(name))
                        .map(|l| l.value.split_once(':').map_or("", |(_, v)| v))
                };
                MediaInfo {
                    kind: MediaKind::from_token(m.media),
                    port: m.port,
                    address,
                    direction,
                    rtcp: attr("rtcp").and_then(parse_rtcp),
                    rtcp_mux: attr("rtcp-mux").is_some(),
                    disabled: m.port == 0,
                    on_hold: address.is_some_and(|a| a.is_unspecified())
                        || matches!(direction, Direction::SendOnly | Direction::Inactive),
                }
            })
            .collect()
    }

    /// Canonical CRLF text (`v=0` first); what [`Self::to_bytes`] returns as a String.
    fn write(&self, out: &mut String) {
        let o = &self.origin;
        out.push_str("v=0\r\n");
        let _ = write!(
            out,
            "o={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.sess_id,
            o.sess_version,
            o.nettype,
            o.addrtype,
            o.address,
            self.session_name
        );
        // RFC 8866 §5 order: i u e p before c; b t r z k a after it.
        let before_c = |k: u8| matches!(k, b'i' | b'u' | b'e' | b'p');
        for l in self.lines.iter().filter(|l| before_c(l.kind)) {
            write_line(out, l);
        }
        if let Some(c) = &self.connection {
            write_conn(out, c);
        }
        for l in self.lines.iter().filter(|l| !before_c(l.kind)) {
            write_line(out, l);
        }
        for m in &self.media {
            let _ = write!(out, "m={} {}", m.media, m.port);
            if let Some(n) = m.num_ports {
                let _ = write!(out, "/{n}");
            }
            let _ = write!(out, " {}", m.proto);
            for f in m.formats.iter() {
                out.push(' ');
                out.push_str(f);
            }
            out.push_str("\r\n");
            for l in m.lines.iter().filter(|l| l.kind == b'i') {
                write_line(out, l);
            }
            if let Some(c) = &m.connection {
                write_conn(out, c);
            }
            for l in m.lines.iter().filter(|l| l.kind != b'i') {
                write_line(out, l);
            }
        }
    }

    /// Serializes to CRLF-terminated SDP bytes, ready for [`crate::set_body`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SessionDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(512);
        self.write(&mut s);
        f.write_str(&s)
    }
}

fn write_line(out: &mut String, l: &Line<'_>) {
    out.push(char::from(l.kind));
    out.push('=');
    out.push_str(l.value);
    out.push_str("\r\n");
}

fn write_conn(out: &mut String, c: &Connection<'_>) {
    let _ = write!(out, "c={} {} {}\r\n", c.nettype, c.addrtype, c.address);
}
