//! SDP (RFC 8866) for a media-anchoring B2BUA: a strict parser, the topology-hiding
//! rewrite for the other leg, and the per-stream facts the media layer needs.
//!
//! Why not `sdp-types`: it accepts SDP without `o=`/`s=`/`t=`, silently skips unknown
//! line types and bare-LF input, and normalises fields on the way through; an SBC wants
//! to refuse what it does not understand and to control every byte it forwards. This
//! parser keeps every line in order and writes canonical CRLF text, so
//! `parse(write(x)) == x` and `write(parse(write(x))) == write(x)`.
//!
//! The rewrite is an allow-list: only attributes known to carry neither an address nor
//! an identity are kept (codecs, directions, RTCP feedback, SRTP/DTLS parameters, T.38 …);
//! everything else, including every ICE attribute, is dropped. See [`KEPT_ATTRIBUTES`].
//!
//! Not done here: codec negotiation, answer generation, SRTP termination, ICE.

mod model;
mod parse;
mod rewrite;

pub use model::{
    Connection, Direction, Formats, Line, MediaDescription, MediaInfo, MediaKind, Origin, RtcpAttr,
    SessionDescription,
};
pub use parse::SdpError;
pub use rewrite::{KEPT_ATTRIBUTES, LegOrigin, MediaPorts, Rewrite};
