//! Replays every seed corpus file and every recorded crash (`fuzz/regressions/`) through
//! the same entry points the cargo-fuzz targets use, so CI checks them on stable.
//! `sip_message` also replays our torture corpus (`tests/torture/*.sip`; pass that directory
//! to `cargo fuzz run sip_message` as a second corpus).

// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let krate = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        krate.join("fuzz/corpus").join(target),
        krate.join("fuzz/regressions").join(target),
    ];
    if target == "sip_message" {
        dirs.push(krate.join("tests/torture"));
    }
    let mut n = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The torture directory also holds its README.md and MANIFEST: only *.sip there.
            let wanted = if path.starts_with(krate.join("tests/torture")) {
                name.ends_with(".sip")
            } else {
                !name.starts_with('.') && !name.ends_with(".md")
            };
            if path.is_file() && wanted {
                run(&std::fs::read(&path).unwrap());
                n += 1;
            }
        }
    }
    assert!(n > 5, "{target}: only {n} corpus files");
}

#[test]
fn sip_message_corpus() {
    replay("sip_message", drawbridge_sip::fuzzing::sip_message);
}

#[test]
fn framer_corpus() {
    replay("framer", drawbridge_sip::fuzzing::framer);
}

#[test]
fn sdp_corpus() {
    replay("sdp", drawbridge_sip::fuzzing::sdp);
}
