//! ASAP state messages for JavaScript: `handleStateEnvelope(envelope)` and
//! `handleAsapRequest(request)` on the snapshot store classes (`MemorySnapshotStore`, and
//! `SqliteSnapshotStore` in the full entry). The package's `handleStateEnvelope(stores, …)` /
//! `handleAsapRequest(stores, …)` (pkg-template/envelope.js) call them.
//!
//! They never throw: a value that cannot be converted to JSON (BigInt, a cycle, `NaN`, a getter
//! or proxy that throws, …) is a -32602 error object, a closed store a -32603 one, and the answer
//! is always a fresh plain object.

#[cfg(feature = "sqlite")]
use std::cell::Cell;

use asap_state::{
    handle_asap_request, handle_state_envelope, json_object, RpcError, SnapshotStore, StateError,
    INTERNAL_ERROR,
};
#[cfg(feature = "sqlite")]
use asap_state::{PrunePolicy, SaveOptions, StateSnapshot, StateSnapshotInput, TaskSummary};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::convert::{json_arg, to_js};
use crate::runtime;
use crate::snapshot_store::MemorySnapshotStore;
#[cfg(feature = "sqlite")]
use crate::sqlite_stores::SqliteSnapshotStore;

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

/// A plain object for a JSON answer; a constant error object in the (never seen) case that the
/// answer cannot be encoded, so nothing here throws.
fn answer(value: &Value) -> JsValue {
    to_js(value)
        .or_else(|_| {
            let error = RpcError::new(
                INTERNAL_ERROR,
                "the answer could not be encoded",
                "STORAGE_IO",
            );
            to_js(&json_object([("error", error.to_json())]))
        })
        .unwrap_or(JsValue::NULL)
}

/// `{envelope}` or `{error}` for an envelope given as a JavaScript value.
pub(crate) fn state_envelope(store: &dyn SnapshotStore, envelope: &JsValue) -> JsValue {
    let result = json_arg(envelope, "envelope", ARG)
        .map_err(|e| RpcError::from_state(&e, ""))
        .and_then(|v| handle_state_envelope(store, &runtime::host(), &v));
    answer(&match result {
        Ok(reply) => json_object([("envelope", reply)]),
        Err(error) => json_object([("error", error.to_json())]),
    })
}

/// The request's `id` when it can be read safely (a string or a finite number), else null:
/// the id of an error response for a request that could not be converted.
fn readable_id(request: &JsValue) -> Value {
    if !request.is_object() {
        return Value::Null;
    }
    let Ok(id) = js_sys::Reflect::get(request, &JsValue::from_str("id")) else {
        return Value::Null;
    };
    if let Some(s) = id.as_string() {
        if id
            .dyn_ref::<js_sys::JsString>()
            .is_some_and(|js| js.is_valid_utf16())
        {
            return Value::String(s);
        }
    }
    id.as_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// The JSON-RPC response to a request given as a JavaScript value. Text is parsed by the
/// package's glue (`JSON.parse`) before it gets here, so the SQL-free build carries no JSON
/// parser; a string reaching this method is answered as any other non-object (-32600).
pub(crate) fn asap_request(store: &dyn SnapshotStore, request: &JsValue) -> JsValue {
    match json_arg(request, "request", ARG) {
        Ok(v) => answer(&handle_asap_request(store, &runtime::host(), &v)),
        Err(e) => answer(&RpcError::from_state(&e, "").response(readable_id(request))),
    }
}

/// A store that fails with `CLOSED` once its JavaScript handle was closed (the database itself
/// may stay open for other handles), so a message to a closed handle is a -32603 answer after
/// the envelope was checked, like any other store failure.
#[cfg(feature = "sqlite")]
pub(crate) struct OpenOnly<'a> {
    pub(crate) inner: &'a dyn SnapshotStore,
    pub(crate) closed: &'a Cell<bool>,
}

#[cfg(feature = "sqlite")]
impl OpenOnly<'_> {
    fn check(&self) -> asap_state::Result<()> {
        if self.closed.get() {
            Err(StateError::Closed("the database was closed".into()))
        } else {
            Ok(())
        }
    }
}

#[cfg(feature = "sqlite")]
impl SnapshotStore for OpenOnly<'_> {
    fn save(
        &self,
        input: StateSnapshotInput,
        options: SaveOptions,
    ) -> asap_state::Result<StateSnapshot> {
        self.check()?;
        self.inner.save(input, options)
    }

    fn get(
        &self,
        task_id: &str,
        version: Option<u64>,
    ) -> asap_state::Result<Option<StateSnapshot>> {
        self.check()?;
        self.inner.get(task_id, version)
    }

    fn get_by_id(
        &self,
        task_id: &str,
        snapshot_id: &str,
    ) -> asap_state::Result<Option<StateSnapshot>> {
        self.check()?;
        self.inner.get_by_id(task_id, snapshot_id)
    }

    fn list_versions(&self, task_id: &str) -> asap_state::Result<Vec<u64>> {
        self.check()?;
        self.inner.list_versions(task_id)
    }

    fn delete(&self, task_id: &str, version: Option<u64>) -> asap_state::Result<bool> {
        self.check()?;
        self.inner.delete(task_id, version)
    }

    fn list_tasks(&self) -> asap_state::Result<Vec<TaskSummary>> {
        self.check()?;
        self.inner.list_tasks()
    }

    fn prune(&self, task_id: &str, policy: PrunePolicy) -> asap_state::Result<u64> {
        self.check()?;
        self.inner.prune(task_id, policy)
    }
}

#[wasm_bindgen(js_class = MemorySnapshotStore)]
impl MemorySnapshotStore {
    /// Answers an ASAP state message: `{envelope}` (the reply) or `{error}` (JSON-RPC). Never
    /// throws. Internal: use the package's `handleStateEnvelope(stores, envelope)`.
    #[wasm_bindgen(js_name = handleStateEnvelope, skip_typescript)]
    pub fn handle_state_envelope(&self, envelope: JsValue) -> JsValue {
        state_envelope(&self.inner, &envelope)
    }

    /// Answers a JSON-RPC 2.0 `asap.send` request (an object; the glue parses text). Never
    /// throws.
    /// Internal: use the package's `handleAsapRequest(stores, request)`.
    #[wasm_bindgen(js_name = handleAsapRequest, skip_typescript)]
    pub fn handle_asap_request(&self, request: JsValue) -> JsValue {
        asap_request(&self.inner, &request)
    }
}

#[cfg(feature = "sqlite")]
#[wasm_bindgen(js_class = SqliteSnapshotStore)]
impl SqliteSnapshotStore {
    /// Answers an ASAP state message: `{envelope}` (the reply) or `{error}` (JSON-RPC; -32603
    /// with `data.code` `CLOSED` once the database was closed). Never throws. Internal: use the
    /// package's `handleStateEnvelope(stores, envelope)`.
    #[wasm_bindgen(js_name = handleStateEnvelope, skip_typescript)]
    pub fn handle_state_envelope(&self, envelope: JsValue) -> JsValue {
        let store = OpenOnly {
            inner: &self.inner,
            closed: &self.closed,
        };
        state_envelope(&store, &envelope)
    }

    /// Answers a JSON-RPC 2.0 `asap.send` request (an object; the glue parses text). Never
    /// throws.
    /// Internal: use the package's `handleAsapRequest(stores, request)`.
    #[wasm_bindgen(js_name = handleAsapRequest, skip_typescript)]
    pub fn handle_asap_request(&self, request: JsValue) -> JsValue {
        let store = OpenOnly {
            inner: &self.inner,
            closed: &self.closed,
        };
        asap_request(&store, &request)
    }
}
