//! RTP/RTCP header validation: never panics, accepted lengths lie inside the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drawbridge_media::fuzz_support::rtp_header(data);
});
