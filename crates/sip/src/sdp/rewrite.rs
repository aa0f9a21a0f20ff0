//! The topology-hiding rewrite of an SDP for the other leg.

use std::net::IpAddr;

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
    last_in: Option<(String, u64)>,
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
    pub fn version_for(&mut self, incoming: &Origin) -> u64 {
        let key = (incoming.sess_id.clone(), incoming.sess_version);
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

impl SessionDescription {
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
    pub fn rewrite(&self, rw: &Rewrite<'_>) -> Result<Self, SdpError> {
        if rw.ports.len() != self.media.len() {
            return Err(SdpError::PortCount {
                expected: self.media.len(),
                got: rw.ports.len(),
            });
        }
        let ours = Connection::from_ip(rw.address);
        let keep_line = |l: &Line| match l.kind {
            b'b' | b't' | b'r' | b'z' => true,
            b'a' => l
                .attribute_name()
                .is_some_and(|n| KEPT_ATTRIBUTES.contains(&n)),
            _ => false,
        };
        let rewrite_lines = |lines: &[Line], rtcp: Option<u16>| -> Vec<Line> {
            lines
                .iter()
                .filter(|l| keep_line(l))
                .filter_map(|l| {
                    if l.attribute_name() != Some("rtcp") {
                        return Some(l.clone());
                    }
                    let value = l.value.split_once(':').map_or("", |(_, v)| v);
                    parse_rtcp(value)?;
                    let port = rtcp?;
                    Some(Line {
                        kind: b'a',
                        value: format!(
                            "rtcp:{port} {} {} {}",
                            ours.nettype, ours.addrtype, ours.address
                        ),
                    })
                })
                .collect()
        };
        let session_conn = self.connection.as_ref();
        let media = self
            .media
            .iter()
            .zip(rw.ports)
            .map(|(m, p)| {
                let held = m
                    .connection
                    .as_ref()
                    .or(session_conn)
                    .and_then(Connection::ip)
                    .is_some_and(|a| a.is_unspecified());
                let connection = held.then(|| {
                    let unspecified: IpAddr = if rw.address.is_ipv4() {
                        std::net::Ipv4Addr::UNSPECIFIED.into()
                    } else {
                        std::net::Ipv6Addr::UNSPECIFIED.into()
                    };
                    Connection::from_ip(unspecified)
                });
                let mut out = m.clone();
                out.port = if m.port == 0 { 0 } else { p.rtp };
                out.connection = connection;
                out.lines = rewrite_lines(&m.lines, p.rtcp);
                out
            })
            .collect();
        let session_lines = rewrite_lines(&self.lines, None);
        Ok(Self {
            origin: Origin {
                username: rw.username.to_owned(),
                sess_id: rw.sess_id.to_string(),
                sess_version: rw.sess_version,
                nettype: ours.nettype.clone(),
                addrtype: ours.addrtype.clone(),
                address: ours.address.clone(),
            },
            session_name: "-".into(),
            connection: Some(ours.clone()),
            lines: session_lines,
            media,
        })
    }
}
