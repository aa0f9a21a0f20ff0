//! The relay table fed arbitrary packets, sources, ports, re-INVITEs and churn.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The table only uses `now` relative to this origin; one per process is enough.
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let _ = drawbridge_media::fuzz_support::relay(origin, data);
});
