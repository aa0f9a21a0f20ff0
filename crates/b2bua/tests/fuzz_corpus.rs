//! Replays every seed and every recorded crash of the fuzz targets through the same
//! entry points, on stable, so CI catches regressions without nightly.

// Setup helpers (not #[test] fns) may unwrap: a panic there is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Every file in `dirs` (under `fuzz/`), sorted.
fn files(dirs: &[&str]) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

// Only differences from the origin matter.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

#[test]
fn transactions_corpus_replays() {
    let origin = origin();
    let files = files(&["corpus/transactions", "regressions/transactions"]);
    for path in &files {
        let data = std::fs::read(path).unwrap();
        drawbridge_b2bua::fuzzing::run_transactions(origin, &data);
    }
    assert!(
        files.len() >= 30,
        "seed corpus missing: {} files",
        files.len()
    );
}

#[test]
fn calls_corpus_replays() {
    let origin = origin();
    let files = files(&["corpus/calls", "regressions/calls"]);
    let (mut answered, mut repinned, mut forged, mut auth) = (0, 0, 0, 0);
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let c = drawbridge_b2bua::fuzzing::run_calls(origin, &data);
        answered += c.calls_answered;
        repinned += c.dialogs_repinned;
        forged += c.forged_in_dialog;
        auth += c.auth_retries;
    }
    assert!(
        files.len() >= 40,
        "seed corpus missing: {} files",
        files.len()
    );
    // The seeds reach deep states, not only 481s.
    assert!(
        answered >= 10,
        "only {answered} calls answered by the seeds"
    );
    assert!(
        repinned >= 1,
        "only {repinned} dialogs re-pinned by the seeds"
    );
    assert!(forged >= 2, "only {forged} forged messages in the seeds");
    assert!(auth >= 2, "only {auth} digest retries in the seeds");
}
