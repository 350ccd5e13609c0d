#![no_main]
// Fuzz target "record": filled in by the record decoder work.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
