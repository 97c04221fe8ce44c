//! `diffSnapshots` / `diffJson`: the core's JSON diff for JavaScript. Both are free functions
//! exported by every entry (the memory one and the full one).

use asap_state::{diff_json, diff_snapshots, StateError, StateSnapshot};
use wasm_bindgen::prelude::*;

use crate::convert::{arg_or_null, json_arg, to_js};
use crate::error::{js, JsResult};

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

/// A snapshot argument, as `get` returns them: every field required, nothing else allowed.
fn snapshot_arg(v: &JsValue, name: &str) -> JsResult<StateSnapshot> {
    js(arg_or_null(v, name, ARG).and_then(|v| StateSnapshot::from_json(&v, name)))
}

/// The difference between two snapshots' `data` (objects as `get` returns them), with their
/// versions, ids and the count of each kind of change. `task_id` is `from`'s.
#[wasm_bindgen(js_name = diffSnapshots, skip_typescript)]
pub fn diff_snapshots_js(from: JsValue, to: JsValue) -> JsResult<JsValue> {
    crate::error::alive()?;
    let from = snapshot_arg(&from, "from")?;
    let to = snapshot_arg(&to, "to")?;
    to_js(&diff_snapshots(&from, &to))
}

/// The changes that turn one JSON value into another.
#[wasm_bindgen(js_name = diffJson, skip_typescript)]
pub fn diff_json_js(old_value: JsValue, new_value: JsValue) -> JsResult<JsValue> {
    crate::error::alive()?;
    let old = js(json_arg(&old_value, "oldValue", ARG))?;
    let new = js(json_arg(&new_value, "newValue", ARG))?;
    to_js(&diff_json(&old, &new))
}
