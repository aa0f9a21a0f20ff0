//! Scripts of messages from the trunk, the PBX and a rogue source (templates echoing
//! what the core sent, with raw mutations), clock advances, connection events and
//! hang-ups against one B2BUA: must never panic, send anything unparseable, leak one
//! side's identifiers to the other, exceed a cap, or leave anything behind.
//!
//! Run with a scratch corpus first so the committed seeds stay readable:
//! `cargo +nightly fuzz run calls /tmp/calls-corpus corpus/calls`.
//! Seeds are written by `gen_calls_corpus.py`; crash inputs go to `regressions/calls/`.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

static ORIGIN: OnceLock<Instant> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let origin = *ORIGIN.get_or_init(Instant::now);
    drawbridge_b2bua::fuzzing::run_calls(origin, data);
});
