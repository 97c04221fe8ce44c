//! The binding tests in Node.js (`cargo test -p asap-state-wasm --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

mod common;

binding_tests!();
