//! SIP message layer of drawbridge, on top of [`rsip`] 0.4.
//!
//! The workspace builds rsip 0.4.0 from `vendor/rsip` with a few parser fixes (listed in
//! `vendor/rsip/PATCHES.md`): bracketed IPv6 references (`sip:a@[2001:db8::1]:5070`, Via
//! sent-by `[2001:db8::9:1]`, `received=` with or without brackets), `tel:` URIs
//! ([`rsip::Scheme::Tel`], the number kept opaque in the URI's host), quoted-string
//! parameter values (`+sip.instance="<urn:…>"`) and a `<` inside a quoted display name.
//! An IPv6 host prints as `[v6]` (in URIs, Via sent-by, [`rsip::HostWithPort`]); `received=`
//! prints bare, as RFC 3261's grammar has it.
//!
//! rsip parses well-formed SIP but leaves gaps an SBC facing the internet must fill; this
//! crate fills them, sans-IO (bytes in, values out):
//!
//! - [`Limits`] on message size, header count, Via count and line length, checked before
//!   and while parsing (oversize input never reaches rsip);
//! - [`parse_message`]: a normalising pre-pass (compact header names, line unfolding,
//!   one header per Via/Route/Record-Route/Contact value, bare-LF line endings,
//!   Content-Length framing of datagrams) and the request/response sanity checks
//!   (mandatory headers, CSeq), with short, structured [`ParseError`]s;
//! - [`peek()`]: pull Via/From/To/Call-ID/CSeq out of a message too broken to parse, to
//!   answer it with a 400;
//! - [`StreamFramer`]: Content-Length framing for TCP/TLS, with RFC 5626 keep-alives;
//! - [`edit`]: body and header edits that keep Content-Length right, and [`to_bytes`];
//! - [`route_key`]: the top Via branch and Call-ID found by a cheap scan, to pick the
//!   worker that owns a message before anything parses it;
//! - [`response_to`]: a stateless answer (400/403/503 …) to a request;
//! - [`sdp`]: a strict SDP parser, the topology-hiding rewrite for the other leg, and the
//!   per-stream facts the media layer needs.
//!
//! What it does **not** do: no sockets, no timers, no clock, no transactions, no dialogs,
//! no authentication, no DNS. Those live in `drawbridge-b2bua` and `drawbridge-transport`.
//!
//! rsip quirks a caller sees through this crate (all harmless on the wire):
//! - known status codes are printed with rsip's reason (`400 BadRequest`); [`response_to`]
//!   avoids that by using [`rsip::StatusCode::Other`], so compare status codes with
//!   [`rsip::StatusCode::code`], not `==`;
//! - typed Via parameters are re-emitted in rsip's spelling (`;transport=udp` becomes
//!   `;transport=UDP`); untouched headers are re-emitted byte for byte;
//! - rsip's own `Display` for a message turns a non-UTF-8 body into U+FFFD: use
//!   [`to_bytes`], which writes the body verbatim and a correct Content-Length.
//! - a `.` in the user part of a SIP URI (Request-URI, From, To, Contact, Route …) reaches
//!   rsip escaped as `%2E`, because rsip 0.4 loses the userinfo at a dot (`john.doe@host`
//!   would become a host). The URI is equivalent (RFC 3261 §19.1.4); read users with
//!   [`normalized_user`], not `uri.auth.user` (it also gives the number of a `tel:` URI);
//! - IPv6 addresses are re-spelled canonically when a header is re-emitted from its typed
//!   form (`[2001:DB8:0::1]` becomes `[2001:db8::1]`; the three-colon spelling RFC 5118
//!   §4.10 describes, `[2001:db8:::192.0.2.1]`, becomes `[2001:db8::c000:201]`): the same
//!   address.
//!
//! What our rsip still cannot represent, so valid messages carrying it are refused (400):
//! an unknown transport in the top Via (`SIP/2.0/QUIC`). URIs of other schemes than
//! `sip:`, `sips:` and `tel:` in the Request-URI, or in From or To of a request that may
//! start a dialog, are answered 416 (in-dialog requests and responses are matched by tags;
//! their From/To are not read as URIs).
#![warn(missing_docs)]

mod compact;
pub mod edit;
mod error;
pub mod fields;
mod framer;
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod normalize;
mod parse;
mod peek;
mod response;
mod route;
pub mod sdp;
mod split;
mod userinfo;

pub use compact::expand_compact_name;
pub use edit::{set_body, to_bytes};
pub use error::{FrameError, ParseError};
pub use framer::{Frame, StreamFramer};
pub use limits::Limits;
pub use parse::{parse_built, parse_message};
pub use peek::{Peek, peek};
pub use response::{response_bytes, response_to};
pub use route::{RouteKey, route_key};
pub use userinfo::normalized_user;
