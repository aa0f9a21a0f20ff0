//! Strict SDP parser.

use super::model::{Connection, Formats, Line, MediaDescription, Origin, SessionDescription};

/// Most lines / `m=` sections accepted: real offers have a few dozen lines; the bounds
/// keep a hostile body from costing more than that.
const MAX_LINES: usize = 512;
const MAX_MEDIA: usize = 32;
/// Initial capacity of an `m=` section's line list.
const MEDIA_LINES_HINT: usize = 16;

/// Why an SDP body was refused. An SBC answers the SIP request with 488 Not Acceptable Here
/// (or 400); `line` numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8.
    #[error("SDP is not UTF-8")]
    NotUtf8,
    /// More than 512 lines or 32 `m=` sections.
    #[error("SDP too large")]
    TooLarge,
    /// A line is not `x=value` with a lowercase letter, or contains a control character.
    #[error("SDP line {line}: malformed")]
    BadLine {
        /// Line number.
        line: usize,
    },
    /// A line's fields are wrong (`what` names the field).
    #[error("SDP line {line}: bad {what}")]
    BadField {
        /// Line number.
        line: usize,
        /// Which field, e.g. `m= port`.
        what: &'static str,
    },
    /// A line type that is not allowed there, or out of the RFC 8866 §5 order, or repeated
    /// where only one is allowed.
    #[error("SDP line {line}: unexpected {kind:?} line")]
    Unexpected {
        /// Line number.
        line: usize,
        /// The line type letter.
        kind: char,
    },
    /// `v=0`, `o=`, `s=` or `t=` is missing.
    #[error("SDP lacks {0} line")]
    Missing(&'static str),
    /// [`crate::sdp::Rewrite`] was given a port list whose length differs from the number of `m=` lines.
    #[error("rewrite has {got} port entries for {expected} m= lines")]
    PortCount {
        /// Number of `m=` lines.
        expected: usize,
        /// Number of port entries given.
        got: usize,
    },
}

/// Session-level order (RFC 8866 §5): v o s i u e p c b t r z k a. `t` and `r` share a rank
/// (they alternate).
fn session_rank(k: u8) -> Option<u8> {
    Some(match k {
        b'i' => 1,
        b'u' => 2,
        b'e' => 3,
        b'p' => 4,
        b'c' => 5,
        b'b' => 6,
        b't' | b'r' => 7,
        b'z' => 8,
        b'k' => 9,
        b'a' => 10,
        _ => return None,
    })
}

/// Media-level order: m i c b k a.
fn media_rank(k: u8) -> Option<u8> {
    Some(match k {
        b'i' => 1,
        b'c' => 2,
        b'b' => 3,
        b'k' => 4,
        b'a' => 5,
        _ => return None,
    })
}

/// Lines that may appear at most once per level: their bit in the per-level seen mask
/// (bit `k - 'a'`), or 0 for a line type that may repeat.
fn single_bit(k: u8) -> u32 {
    if matches!(k, b'i' | b'u' | b'c' | b'z' | b'k') {
        1 << (k - b'a')
    } else {
        0
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

impl<'a> SessionDescription<'a> {
    /// Parses an SDP body strictly: `v=0`, `o=`, `s=` first, at least one `t=`, line types
    /// only where RFC 8866 allows them and in its order, at most one `c=` per level,
    /// well-formed `o=`, `c=` and `m=` fields. CRLF or bare LF line ends; a final line
    /// without line end is accepted.
    ///
    /// The result borrows every text field from `body`: parsing allocates only the line
    /// and `m=` lists.
    pub fn parse(body: &'a [u8]) -> Result<Self, SdpError> {
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut lines: Vec<Line<'a>> = Vec::new();
        let mut media: Vec<MediaDescription<'a>> = Vec::new();
        let mut saw_time = false;
        let mut rank = 0u8;
        let mut seen_single = 0u32;

        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            if n > MAX_LINES {
                return Err(SdpError::TooLarge);
            }
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let bytes = raw.as_bytes();
            if bytes.len() < 2
                || bytes[1] != b'='
                || !bytes[0].is_ascii_lowercase()
                || raw.chars().any(|c| c.is_control() && c != '\t')
            {
                return Err(SdpError::BadLine { line: n });
            }
            let kind = bytes[0];
            let value = &raw[2..];
            let unexpected = SdpError::Unexpected {
                line: n,
                kind: char::from(kind),
            };
            match (n, kind) {
                (1, b'v') => {
                    if value != "0" {
                        return Err(SdpError::BadField {
                            line: n,
                            what: "version",
                        });
                    }
                    continue;
                }
                (1, _) => return Err(SdpError::Missing("v=")),
                (2, b'o') => {
                    origin = Some(parse_origin(value, n)?);
                    continue;
                }
                (2, _) => return Err(SdpError::Missing("o=")),
                (3, b's') => {
                    if value.is_empty() {
                        return Err(SdpError::BadField {
                            line: n,
                            what: "s= (empty)",
                        });
                    }
                    session_name = Some(value);
                    continue;
                }
                (3, _) => return Err(SdpError::Missing("s=")),
                _ => {}
            }
            if kind == b'm' {
                if media.len() >= MAX_MEDIA {
                    return Err(SdpError::TooLarge);
                }
                media.push(parse_media(value, n)?);
                rank = 0;
                seen_single = 0;
                continue;
            }
            let in_media = !media.is_empty();
            let r = if in_media {
                media_rank(kind)
            } else {
                session_rank(kind)
            };
            let Some(r) = r else { return Err(unexpected) };
            let bit = single_bit(kind);
            if r < rank || seen_single & bit != 0 {
                return Err(unexpected);
            }
            rank = r;
            seen_single |= bit;
            if kind == b't' {
                parse_time(value, n)?;
                saw_time = true;
            }
            if kind == b'a' && value.is_empty() {
                return Err(SdpError::BadField {
                    line: n,
                    what: "a= (empty)",
                });
            }
            if kind == b'c' {
                let c = parse_connection(value, n)?;
                match media.last_mut() {
                    Some(m) => m.connection = Some(c),
                    None => connection = Some(c),
                }
                continue;
            }
            let line = Line { kind, value };
            match media.last_mut() {
                Some(m) => m.lines.push(line),
                None => lines.push(line),
            }
        }
        let origin = origin.ok_or(SdpError::Missing("o="))?;
        let session_name = session_name.ok_or(SdpError::Missing("s="))?;
        if !saw_time {
            return Err(SdpError::Missing("t="));
        }
        Ok(Self {
            origin,
            session_name,
            connection,
            lines,
            media,
        })
    }
}

fn fields(value: &str) -> impl Iterator<Item = &str> {
    // Single SP separates fields (RFC 8866); tolerate runs of SP as sdp-types does.
    value.split(' ').filter(|s| !s.is_empty())
}

/// Exactly `N` fields, or `None`.
fn exact_fields<const N: usize>(value: &str) -> Option<[&str; N]> {
    let mut it = fields(value);
    let mut out = [""; N];
    for slot in &mut out {
        *slot = it.next()?;
    }
    it.next().is_none().then_some(out)
}

fn parse_origin(value: &str, line: usize) -> Result<Origin<'_>, SdpError> {
    let bad = |what| SdpError::BadField { line, what };
    let Some([username, sess_id, version, nettype, addrtype, address]) = exact_fields(value) else {
        return Err(bad("o= field count"));
    };
    if sess_id.is_empty() || !sess_id.bytes().all(|b| b.is_ascii_digit()) || sess_id.len() > 20 {
        return Err(bad("o= sess-id"));
    }
    let sess_version = version.parse().map_err(|_| bad("o= sess-version"))?;
    if !is_token(nettype) || !is_token(addrtype) || address.is_empty() {
        return Err(bad("o= address"));
    }
    Ok(Origin {
        username,
        sess_id,
        sess_version,
        nettype,
        addrtype,
        address,
    })
}

fn parse_connection(value: &str, line: usize) -> Result<Connection<'_>, SdpError> {
    let bad = SdpError::BadField { line, what: "c=" };
    let Some([nettype, addrtype, address]) = exact_fields(value) else {
        return Err(bad);
    };
    if !is_token(nettype) || !is_token(addrtype) {
        return Err(bad);
    }
    // An IP literal must match its declared family (a mismatch is a classic parser confusion).
    let host = address.split('/').next().unwrap_or("");
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if nettype == "IN" && (ip.is_ipv4() != (addrtype == "IP4")) => return Err(bad),
        Ok(_) => {}
        Err(_) if host.is_empty() => return Err(bad),
        Err(_) => {}
    }
    Ok(Connection {
        nettype,
        addrtype,
        address,
    })
}

/// The first field of `s` (as [`fields`] splits) and the text after it.
fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

fn parse_media(value: &str, line: usize) -> Result<MediaDescription<'_>, SdpError> {
    let bad = |what| SdpError::BadField { line, what };
    let (media, rest) = next_field(value)
        .filter(|(m, _)| is_token(m))
        .ok_or_else(|| bad("m= media"))?;
    let (port_field, rest) = next_field(rest).ok_or_else(|| bad("m= port"))?;
    let (port, num_ports) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(n.parse().map_err(|_| bad("m= port count"))?)),
        None => (port_field, None),
    };
    let port = port.parse().map_err(|_| bad("m= port"))?;
    let (proto, rest) = next_field(rest)
        .filter(|(p, _)| p.split('/').all(is_token))
        .ok_or_else(|| bad("m= proto"))?;
    // The rest of the line is the format list, kept as text.
    let formats = Formats::new(rest);
    if formats.iter().next().is_none() {
        return Err(bad("m= formats"));
    }
    Ok(MediaDescription {
        media,
        port,
        num_ports,
        proto,
        formats,
        connection: None,
        // Room for a typical section (rtpmap per codec, fmtp, ptime, rtcp, direction …)
        // so it does not grow by reallocation.
        lines: Vec::with_capacity(MEDIA_LINES_HINT),
    })
}

fn parse_time(value: &str, line: usize) -> Result<(), SdpError> {
    match exact_fields(value) {
        Some([a, b]) if a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok() => Ok(()),
        _ => Err(SdpError::BadField { line, what: "t=" }),
    }
}
