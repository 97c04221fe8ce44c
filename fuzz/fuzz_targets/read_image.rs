//! Arbitrary bytes read as a SQLite file by the engine-free reader (see `asap_state_fuzz::read_image`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| asap_state_fuzz::read_image(data));
