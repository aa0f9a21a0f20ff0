//! Arbitrary sequences of time advances, network messages and TU actions against one
//! transaction layer: must never panic, never exceed the cap, never grow timer state.
//!
//! Run with a scratch corpus first so the committed seeds stay readable:
//! `cargo +nightly fuzz run transactions /tmp/tx-corpus corpus/transactions`.
//! Seeds are written by `gen_corpus.py`; crash inputs go to `regressions/transactions/`.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let origin = *ORIGIN.get_or_init(Instant::now);
    drawbridge_b2bua::fuzzing::run_transactions(origin, data);
});
