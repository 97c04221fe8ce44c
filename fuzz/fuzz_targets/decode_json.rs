//! Arbitrary bytes as JSON through every strict reader, the diff and the envelope handlers
//! (see `asap_state_fuzz::decode_json`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| asap_state_fuzz::decode_json(data));
