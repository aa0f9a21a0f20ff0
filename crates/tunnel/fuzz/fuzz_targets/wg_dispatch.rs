#![no_main]
//! `Server::handle_datagram` and friends on arbitrary datagrams and operation sequences.
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let start = *START.get_or_init(Instant::now);
    drawbridge_tunnel::fuzzing::wg_dispatch(start, data);
});
