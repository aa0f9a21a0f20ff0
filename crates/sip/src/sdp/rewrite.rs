//! The topology-hiding rewrite of an SDP for the other leg.

use std::net::IpAddr;

use std::fmt::Write as _;

use super::model::{Connection, Line, Origin, SessionDescription, parse_rtcp};
use super::parse::SdpError;

/// Attributes that survive a rewrite (compared case-sensitively, as RFC 8866 names are).
/// Everything else is dropped: ICE (`candidate`, `remote-candidates`, `ice-*`,
/// `end-of-candidates`), `tool`, `ssrc` (its `cname` is often `user@inside-host`), `msid`,
/// `label`, unknown vendor attributes … `rtcp` is kept but rewritten.
pub const KEPT_ATTRIBUTES: &[&str] = &[
    // codecs and packetisation
    "rtpmap",
    "fmtp",
    "ptime",
    "maxptime",
    "framerate",
    "quality",
    "silenceSupp",
    // direction (RFC 3264)
    "sendrecv",
    "sendonly",
    "recvonly",
    "inactive",
    // RTCP (rtcp is rewritten below)
    "rtcp",
    "rtcp-mux",
    "rtcp-rsize",
    "rtcp-fb",
    // SRTP / DTLS-SRTP keying: no addresses; needed if media is relayed encrypted
    "crypto",
    "fingerprint",
    "setup",
    "connection",
    // grouping
    "mid",
    "group",
    // misc harmless
    "orient",
    "type",
    "charset",
    "sdplang",
    "lang",
    "extmap",
    // T.38 fax (RFC 3362 / ITU-T T.38 Annex D)
    "T38FaxVersion",
    "T38MaxBitRate",
    "T38FaxFillBitRemoval",
    "T38FaxTranscodingMMR",
    "T38FaxTranscodingJBIG",
    "T38FaxRateManagement",
    "T38FaxMaxBuffer",
    "T38FaxMaxDatagram",
    "T38FaxUdpEC",
];

/// Our ports for one `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPorts {
    /// Our RTP port for this stream (ignored when the stream has port 0: it stays 0).
    pub rtp: u16,
    /// Our RTCP port: written as `a=rtcp:<port> IN IP4|IP6 <our address>` when the input
    /// had `a=rtcp`; with `None` the input's `a=rtcp` is dropped (RTCP on rtp+1 implied).
    pub rtcp: Option<u16>,
}

/// Per-leg `o=` state, so every SDP sent on a leg carries the same session id and a
/// version that grows by one exactly when the content changes (RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegOrigin {
    /// Username written in `o=` (`-` hides any identity).
    pub username: String,
    /// Our session id on this leg.
    pub sess_id: u64,
    /// Version last sent.
    pub sess_version: u64,
    /// (sess-id, version) of the last SDP received from the other leg.
    last_in: Option<(SessId, u64)>,
}

/// An incoming `o=` sess-id as [`LegOrigin`] remembers it, without allocating: the parser
/// allows at most 20 digits, which always fit a u128; any other text (only a hand-built
/// [`Origin`] can carry one) is remembered by a hash, good enough for "did it change".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessId {
    Number(u128),
    Hashed(u64),
}

impl SessId {
    fn of(text: &str) -> Self {
        // Only canonical decimal is a number ("01" or "+1" would equal "1"); the rest is hashed.
        match text.parse() {
            Ok(n)
                if text.bytes().all(|b| b.is_ascii_digit())
                    && (!text.starts_with('0') || text == "0") =>
            {
                Self::Number(n)
            }
            _ => {
                use std::hash::{Hash as _, Hasher as _};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut h);
                Self::Hashed(h.finish())
            }
        }
    }
}

impl LegOrigin {
    /// A leg with `o=- <sess_id> <initial_version> …`. Pick `sess_id` at random per leg
    /// (the caller owns the RNG: this crate is deterministic).
    pub fn new(sess_id: u64, initial_version: u64) -> Self {
        Self {
            username: "-".into(),
            sess_id,
            sess_version: initial_version,
            last_in: None,
        }
    }

    /// The version to send for an SDP whose incoming origin is `incoming`: the first call
    /// uses the initial version; later ones add 1 when the other side's session id or
    /// version changed, and repeat the last version when it did not (a re-sent SDP).
    pub fn version_for(&mut self, incoming: &Origin<'_>) -> u64 {
        let key = (SessId::of(incoming.sess_id), incoming.sess_version);
        match &self.last_in {
            None => {}
            Some(last) if *last == key => {}
            Some(_) => self.sess_version = self.sess_version.wrapping_add(1),
        }
        self.last_in = Some(key);
        self.sess_version
    }
}

/// Parameters of [`SessionDescription::rewrite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite<'a> {
    /// Our media address on the other leg (IPv4 or IPv6).
    pub address: IpAddr,
    /// One entry per `m=` line, in order.
    pub ports: &'a [MediaPorts],
    /// `o=` username.
    pub username: &'a str,
    /// `o=` session id.
    pub sess_id: u64,
    /// `o=` session version (see [`LegOrigin::version_for`]).
    pub sess_version: u64,
}

impl SessionDescription<'_> {
    /// The SDP to send on the other leg: our address and ports, nothing of the sender.
    ///
    /// - `o=` becomes `<username> <sess_id> <sess_version> IN IP4|IP6 <address>`;
    /// - `s=` becomes `-`; `i=`, `u=`, `e=`, `p=`, `k=` lines are dropped (session and media);
    /// - one session-level `c=` with our address; media-level `c=` lines are dropped, except
    ///   that a stream on hold the RFC 2543 way (`c=` 0.0.0.0 or `::`) keeps an unspecified
    ///   media-level `c=` so the hold survives;
    /// - `m=` ports become ours; port 0 (disabled stream) stays 0;
    /// - `a=rtcp` is rewritten to our RTCP port and address (or dropped, see [`MediaPorts`]);
    /// - attributes not in [`KEPT_ATTRIBUTES`] are dropped; `b=`, `t=`, `r=`, `z=` are kept.
    ///
    /// Returns the canonical CRLF text (see [`Self::rewrite_into`] to append to a buffer);
    /// [`Self::parse`] it for a model of the result.
    pub fn rewrite(&self, rw: &Rewrite<'_>) -> Result<String, SdpError> {
        let mut out = String::with_capacity(512);
        self.rewrite_into(rw, &mut out)?;
        Ok(out)
    }

    /// [`Self::rewrite`] written straight to `out` as canonical CRLF text, the bytes
    /// [`Self::to_bytes`] of the rewritten description would give: the relay path's form,
    /// which builds no model of the result. Appends to `out`; on an error nothing is
    /// written.
    pub fn rewrite_into(&self, rw: &Rewrite<'_>, out: &mut String) -> Result<(), SdpError> {
        if rw.ports.len() != self.media.len() {
            return Err(SdpError::PortCount {
                expected: self.media.len(),
                got: rw.ports.len(),
            });
        }
        let addrtype = if rw.address.is_ipv4() { "IP4" } else { "IP6" };
        let _ = write!(
            out,
            "v=0\r\no={} {} {} IN {addrtype} {}\r\ns=-\r\nc=IN {addrtype} {}\r\n",
            rw.username, rw.sess_id, rw.sess_version, rw.address, rw.address
        );
        // Session level: the RFC 8866 order puts i u e p before c=, but the rewrite drops
        // all four, so every kept line follows c=. A session-level a=rtcp is dropped.
        write_kept(out, &self.lines, None, rw.address);
        let session_conn = self.connection.as_ref();
        for (m, p) in self.media.iter().zip(rw.ports) {
            let port = if m.port == 0 { 0 } else { p.rtp };
            let _ = write!(out, "m={} {port}", m.media);
            if let Some(n) = m.num_ports {
                let _ = write!(out, "/{n}");
            }
            out.push(' ');
            out.push_str(m.proto);
            for f in m.formats.iter() {
                out.push(' ');
                out.push_str(f);
            }
            out.push_str("\r\n");
            let held = m
                .connection
                .as_ref()
                .or(session_conn)
                .and_then(Connection::ip)
                .is_some_and(|a| a.is_unspecified());
            if held {
                let unspecified = if rw.address.is_ipv4() {
                    "0.0.0.0"
                } else {
                    "::"
                };
                let _ = write!(out, "c=IN {addrtype} {unspecified}\r\n");
            }
            write_kept(out, &m.lines, p.rtcp, rw.address);
        }
        Ok(())
    }
}

/// Whether a line other than `v o s c m` survives the rewrite.
fn kept(l: &Line<'_>) -> bool {
    match l.kind {
        b'b' | b't' | b'r' | b'z' => true,
        b'a' => l
            .attribute_name()
            .is_some_and(|n| KEPT_ATTRIBUTES.contains(&n)),
        _ => false,
    }
}

/// Writes the kept lines in order; `a=rtcp` becomes ours (`rtcp` port, our address), or is
/// dropped without a port of ours or when the sender's value is not a valid RFC 3605 one.
fn write_kept(out: &mut String, lines: &[Line<'_>], rtcp: Option<u16>, address: IpAddr) {
    for l in lines.iter().filter(|l| kept(l)) {
        if l.attribute_name() != Some("rtcp") {
            out.push(char::from(l.kind));
            out.push('=');
            out.push_str(l.value);
            out.push_str("\r\n");
            continue;
        }
        let value = l.value.split_once(':').map_or("", |(_, v)| v);
        if let (Some(_), Some(port)) = (parse_rtcp(value), rtcp) {
            let addrtype = if address.is_ipv4() { "IP4" } else { "IP6" };
            let _ = write!(out, "a=rtcp:{port} IN {addrtype} {address}\r\n");
        }
    }
}
