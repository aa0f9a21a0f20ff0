#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| drawbridge_sip::fuzzing::framer(data));
