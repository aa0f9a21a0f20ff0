#![no_main]
//! The virtual host's inner-packet parser, echo replies and UDP writer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    drawbridge_tunnel::fuzzing::inner_ip(data);
});
