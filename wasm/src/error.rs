//! Turning core errors into real JavaScript `StateError`s, and what happens after a panic.
//!
//! A Rust panic in WebAssembly aborts the call with a trap (`RuntimeError: unreachable`), and
//! the instance's state is unknown from then on: a lock may be held, a structure half-updated.
//! The panic hook installed at start-up ([`install`]) prints the panic message once
//! (`console.error`) and records it; from then on every call into a store, database or factory
//! of this instance throws a `StateError` with code `ENGINE_FAILED` and that message
//! ([`alive`]) instead of running on a broken instance. What to do then: load the package again
//! (a new instance) and reopen; a file-backed database has what it committed before the fault.

use std::cell::RefCell;

use asap_state::{StateError, ERROR_CODES};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/state-error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeStateError)]
    fn make_state_error(code: &str, message: &str) -> JsValue;

    /// Sets `StateError.codes` (once, for every entry of the package).
    #[wasm_bindgen(js_name = defineCodes)]
    fn define_codes(codes: Vec<JsValue>);
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

thread_local! {
    /// The message of the panic that stopped this instance, once there was one.
    static FAILED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs when the instance starts: the panic hook, and `StateError.codes` from the core's list.
#[wasm_bindgen(start)]
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let mut message = String::from(
            "asap-state: the WebAssembly engine stopped on an internal fault and every store of \
             this instance is unusable; load the package again and reopen (committed file data \
             is intact). Cause: ",
        );
        let payload = info.payload();
        let cause = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        message.push_str(cause.unwrap_or("a panic"));
        if let Some(at) = info.location() {
            message.push_str(" at ");
            message.push_str(at.file());
            message.push(':');
            message.push_str(&at.line().to_string());
        }
        let first = FAILED.with(|f| match f.try_borrow_mut() {
            Ok(mut failed) if failed.is_none() => {
                *failed = Some(message.clone());
                true
            }
            _ => false,
        });
        if first {
            console_error(&message);
        }
    }));
    define_codes(ERROR_CODES.iter().map(|c| JsValue::from_str(c)).collect());
}

/// `Ok` while no panic has stopped this instance, else the `ENGINE_FAILED` error to throw.
#[inline(never)]
pub fn alive() -> JsResult<()> {
    let failed = FAILED.with(|f| f.try_borrow().ok().and_then(|f| f.clone()));
    match failed {
        None => Ok(()),
        Some(message) => Err(to_js(StateError::EngineFailed(message))),
    }
}

/// The JavaScript `StateError` (an `Error` subclass with `.code`) for a core error.
pub fn to_js(err: StateError) -> JsValue {
    make_state_error(err.code(), err.message())
}

/// `Result` whose error is already a JavaScript `StateError`.
pub type JsResult<T> = Result<T, JsValue>;

/// Maps a core result into one whose error is a JavaScript `StateError`.
pub fn js<T>(result: asap_state::Result<T>) -> JsResult<T> {
    result.map_err(to_js)
}

/// A panic on purpose, so the tests can see what a trap does to an instance. Not part of the
/// package's API (no entry exports it).
#[wasm_bindgen(js_name = __asapStateTestTrap, skip_typescript)]
pub fn test_trap() {
    #[allow(clippy::panic)]
    {
        panic!("deliberate test trap");
    }
}
