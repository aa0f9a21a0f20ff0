//! Replays every seed and every recorded crash of the `transactions` fuzz target through
//! the same entry point, on stable, so CI catches regressions without nightly.

use std::path::Path;
use std::time::Instant;

#[test]
fn transactions_corpus_replays() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    // Only differences from the origin matter.
    #[allow(clippy::disallowed_methods)]
    let origin = Instant::now();
    let mut replayed = 0;
    for dir in ["corpus/transactions", "regressions/transactions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let data = std::fs::read(&path).unwrap();
                drawbridge_b2bua::fuzzing::run_transactions(origin, &data);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 30, "seed corpus missing: {replayed} files");
}
