//! Arbitrary operation sequences with a power cut against a reference model: see
//! `spacestore_fuzz::ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spacestore_fuzz::ops(data);
});
