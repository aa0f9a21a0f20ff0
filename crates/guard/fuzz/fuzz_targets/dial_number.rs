//! Normaliser + dial policy on arbitrary input: must never panic, and whatever it allows
//! must be a plain number outside every denied prefix (checked inside the entry point).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drawbridge_guard::dial::fuzz_dial_number(data);
});
