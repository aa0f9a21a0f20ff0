//! Replays every seed corpus file and every recorded crash (`fuzz/regressions/`) through
//! the same entry points the cargo-fuzz targets use, so CI checks them on stable.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.') {
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
