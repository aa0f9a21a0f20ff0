//! Memory per established call: signalling state only (the goal is ≤ 8 KiB), measured
//! with a counting global allocator once every transaction of the set-up has ended.

// Setup helpers may unwrap: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "calls/harness.rs"]
mod harness;

use std::alloc::System;
use std::time::Duration;

use harness::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize
}

fn establish(h: &mut Harness, i: usize) {
    let invite = trunk_invite()
        .replace("prov-callid-8f3a", &format!("prov-callid-{i}"))
        .replace("z9hG4bKprov-inv-1", &format!("z9hG4bKprov-inv-{i}"))
        .replace("prov-tag-1", &format!("prov-tag-{i}"));
    h.trunk_sends(&invite);
    let to_pbx = h.take_to(PBX_FLOW);
    h.pbx_sends(&pbx_response(
        &to_pbx[0].request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let ok = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .find(|s| s.code() == Some(200))
        .unwrap();
    h.trunk_sends(&ack_for(
        &ok.text(),
        &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-{i}"),
        4711,
        "",
    ));
    h.forget();
}

#[test]
fn established_call_costs_at_most_8_kib_of_signalling_state() {
    const N: usize = 200;
    let mut h = Harness::new();
    // Warm up the maps so their growth is not charged to the measured calls.
    for i in 0..N {
        establish(&mut h, i);
    }
    h.advance(Duration::from_secs(40));
    h.forget();
    let before = live();
    for i in N..2 * N {
        establish(&mut h, i);
    }
    // Let every set-up transaction end (Timers L/M, D, K…), as in a long-running call.
    h.advance(Duration::from_secs(40));
    h.forget();
    assert_eq!(h.b2bua.calls_active(), 2 * N);
    assert_eq!(h.b2bua.transactions(), 0);
    let per_call = (live() - before) / N as isize;
    println!("signalling state per established call: {per_call} bytes");
    assert!(per_call <= 8 * 1024, "{per_call} bytes per call");
}
