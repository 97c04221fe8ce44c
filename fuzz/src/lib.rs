//! The fuzz harnesses of the asap-state core, as plain functions over bytes, for the targets in
//! `fuzz_targets/`. They live in the workspace's test kit (`testkit/src/harness.rs`), where
//! `tests/fuzz_regressions.rs` replays the crashers and the committed corpus through them.

pub use asap_state_testkit::harness::*;
