//! Turning core errors into real JavaScript `StateError`s.

use asap_state::StateError;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/state-error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeStateError)]
    fn make_state_error(code: &str, message: &str) -> JsValue;
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
