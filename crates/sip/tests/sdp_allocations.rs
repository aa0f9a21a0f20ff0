//! Regression guard for the SDP path's heap allocations: the model borrows its text from
//! the body, so a parse allocates only its line and `m=` lists, `media_info` one Vec, and
//! `rewrite_into` nothing when the buffer is large enough. Counted with a global counting
//! allocator, so this file holds one test only (a second would run on another thread and
//! count into the same totals).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;

use drawbridge_sip::sdp::{MediaPorts, Rewrite, SessionDescription};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A typical trunk offer, as the B2BUA's calls bench sends it: one audio stream, codecs,
/// DTMF, RTCP, ICE attributes to drop.
const OFFER: &str = "v=0\r\n\
o=ProvMG 998877 1 IN IP4 198.18.7.20\r\n\
s=ProviderSession\r\n\
c=IN IP4 198.18.7.20\r\n\
t=0 0\r\n\
a=tool:provider-mg-7\r\n\
m=audio 31000 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:31001 IN IP4 198.18.7.21\r\n\
a=ice-ufrag:provUfrag\r\n\
a=ice-pwd:provPasswordProvPassword\r\n\
a=candidate:1 1 UDP 2130706431 198.18.7.20 31000 typ host\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

#[test]
fn the_sdp_path_allocates_only_its_lists() {
    let region = Region::new(GLOBAL);
    let sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
    let parse = region.change();
    // session lines, media list, the m= section's lines: no String per field, and the
    // section's list is sized for a typical one.
    assert!(
        parse.allocations <= 3 && parse.reallocations == 0,
        "parse: {parse:?}"
    );

    let region = Region::new(GLOBAL);
    let info = sdp.media_info();
    let media_info = region.change().allocations;
    assert_eq!(info.len(), 1);
    assert_eq!(media_info, 1, "media_info allocates its Vec only");

    let mut out = String::with_capacity(OFFER.len() + 64);
    let region = Region::new(GLOBAL);
    sdp.rewrite_into(
        &Rewrite {
            address: "203.0.113.5".parse().unwrap(),
            ports: &[MediaPorts {
                rtp: 30000,
                rtcp: Some(30001),
            }],
            username: "-",
            sess_id: 1,
            sess_version: 1,
        },
        &mut out,
    )
    .unwrap();
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "rewrite_into a large enough buffer allocates nothing"
    );
    assert!(out.contains("m=audio 30000 RTP/AVP 8 0 101\r\n"));
}
