//! Prints what one `calls` fuzz script sends and receives, message by message: a tool for
//! writing seeds and reading crash inputs.
//!
//! `cargo run -p drawbridge-b2bua --example trace_calls -- crates/b2bua/fuzz/regressions/calls/<file>`
// A tool run by hand: the clock origin and a failed read may panic.
#![allow(clippy::disallowed_methods, clippy::expect_used)]

use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: trace_calls <script file>");
    let data = std::fs::read(&path).expect("reading the script");
    let counters = drawbridge_b2bua::fuzzing::trace_calls(
        Instant::now(),
        &data,
        Box::new(|line| println!("{line}\n----")),
    );
    println!("{counters:?}");
}
