//! Prints what one `calls` fuzz script sends and receives, message by message: a tool for
//! writing seeds and reading crash inputs.
//!
//! `cargo run -p drawbridge-b2bua --example trace_calls -- crates/b2bua/fuzz/regressions/calls/<file>`
// The clock origin of the script's virtual time.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: trace_calls <script file>");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("reading {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counters = drawbridge_b2bua::fuzzing::trace_calls(
        Instant::now(),
        &data,
        Box::new(|line| println!("{line}\n----")),
    );
    println!("{counters:?}");
    ExitCode::SUCCESS
}
