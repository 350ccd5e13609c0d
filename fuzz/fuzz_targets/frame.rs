#![no_main]
// Fuzz target "frame": filled in by the frame decoder work.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
