//! Arbitrary bytes as the log of a space: see `spacestore_fuzz::replay_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    spacestore_fuzz::replay_bytes(data);
});
