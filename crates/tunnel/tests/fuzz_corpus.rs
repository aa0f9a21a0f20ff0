//! Replays every fuzz corpus and regression file through the fuzz entry points, on stable.

// Test support: a panic is a failed test.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::time::Instant;

fn files(target: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut v = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(rd) = fs::read_dir(root.join(dir).join(target)) {
            for e in rd {
                let p = e.unwrap().path();
                if p.is_file() {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn inner_ip_corpus() {
    let f = files("inner_ip");
    assert!(
        f.len() >= 20,
        "inner_ip seed corpus missing ({} files)",
        f.len()
    );
    for p in f {
        drawbridge_tunnel::fuzzing::inner_ip(&fs::read(&p).unwrap());
    }
}

#[test]
fn wg_dispatch_corpus() {
    let f = files("wg_dispatch");
    assert!(
        f.len() >= 10,
        "wg_dispatch seed corpus missing ({} files)",
        f.len()
    );
    #[allow(clippy::disallowed_methods)] // the replay needs one starting instant
    let start = Instant::now();
    for p in f {
        drawbridge_tunnel::fuzzing::wg_dispatch(start, &fs::read(&p).unwrap());
    }
}
