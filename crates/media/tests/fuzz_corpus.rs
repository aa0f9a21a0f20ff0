//! Replays every fuzz seed and every saved crash through the fuzz targets' entry points,
//! so CI checks them on stable without cargo-fuzz.
// A panic here is a failed test, and the file system is the test's own fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn rtp_header_corpus() {
    let inputs = inputs("rtp_header");
    assert!(inputs.len() >= 20, "seed corpus missing: {}", inputs.len());
    for (_name, data) in &inputs {
        drawbridge_media::fuzz_support::rtp_header(data);
    }
}

#[test]
fn relay_corpus() {
    let inputs = inputs("relay");
    assert!(inputs.len() >= 15, "seed corpus missing: {}", inputs.len());
    #[allow(clippy::disallowed_methods)] // ok: origin of virtual time, as in the fuzz target
    let origin = Instant::now();
    let (mut fwd, mut drop, mut timeouts) = (0, 0, 0);
    for (_name, data) in &inputs {
        let s = drawbridge_media::fuzz_support::relay(origin, data);
        fwd += s.forwarded;
        drop += s.dropped;
        timeouts += s.timeouts;
    }
    // The seeds must reach the interesting paths, or the fuzzer starts blind.
    assert!(
        fwd > 0 && drop > 0 && timeouts > 0,
        "{fwd} {drop} {timeouts}"
    );
}
