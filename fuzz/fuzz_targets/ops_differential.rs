//! Arbitrary operation sequences on the memory and SQLite backends, answers compared (see
//! `asap_state_fuzz::ops_differential`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| asap_state_fuzz::ops_differential(data));
