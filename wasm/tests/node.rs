//! The binding tests in Node.js (`cargo test -p asap-state-wasm --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

mod common;

binding_tests!();
