//! Replays every fuzz seed and every saved crash through the fuzz targets' entry points,
//! so that CI checks them on stable without cargo-fuzz.
// The replay helper is outside #[test] fns; a panic there is a failed test all the same.
#![allow(clippy::expect_used)]

use std::fs;
use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[("dial_number", drawbridge_guard::dial::fuzz_dial_number)];

fn replay(dir: &Path, run: Target) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        let hidden = path
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.starts_with('.'));
        if path.is_file() && !hidden {
            let data = fs::read(&path).expect("readable corpus file");
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn every_corpus_and_regression_input_replays_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for &(name, run) in TARGETS {
        let seeds = replay(&fuzz.join("corpus").join(name), run);
        assert!(seeds >= 20, "{name}: only {seeds} seed files");
        replay(&fuzz.join("regressions").join(name), run);
    }
}
