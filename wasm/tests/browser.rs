//! The binding tests in headless Chromium (needs `CHROMEDRIVER`).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

binding_tests!();
