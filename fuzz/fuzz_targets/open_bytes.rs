//! Arbitrary bytes opened as a SQLite database image (see `asap_state_fuzz::open_bytes`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| asap_state_fuzz::open_bytes(data));
