//! The JavaScript methods of every snapshot-store class, written once: the functions that read
//! the arguments, call the store and convert the answer, and [`snapshot_store_class!`], which
//! gives a class its methods (with their documentation) in a few lines.

use asap_state::binding::{string_arg, version_arg};
use asap_state::{
    DataText, PrunePolicy, SaveOptions, SnapshotStore, StateError, StateSnapshotInput,
};
use wasm_bindgen::prelude::*;

use crate::convert::{arg, arg_or_null, snapshot_arg, text_to_js, to_js};
use crate::error::{js, JsResult};

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

fn task_arg(v: &JsValue, name: &str) -> JsResult<String> {
    // A string without U+FFFD cannot hold a lone surrogate (see convert.rs): checked directly.
    if let Some(s) = v.as_string().filter(|s| !s.contains('\u{FFFD}')) {
        return Ok(s);
    }
    js(arg_or_null(v, name, ARG).and_then(|v| string_arg(&v, name)))
}

fn version(v: &JsValue) -> JsResult<Option<u64>> {
    js(arg(v, "version", ARG).and_then(|v| version_arg(v.as_ref(), "version")))
}

pub(crate) fn save(
    store: &dyn SnapshotStore,
    snapshot: &JsValue,
    options: &JsValue,
) -> JsResult<JsValue> {
    // Plain data crosses as JSON text and is stored as such (see convert::snapshot_arg).
    let (value, data_text) = js(snapshot_arg(
        snapshot,
        "snapshot",
        StateError::InvalidSnapshot,
    ))?;
    let input = js(StateSnapshotInput::from_json(&value))?;
    // The text json-text.js wrote is serde_json's own form: kept as it is.
    let data = js(data_text.map(DataText::from_canonical).transpose())?;
    let options =
        js(arg(options, "options", ARG).and_then(|v| SaveOptions::from_json(v.as_ref())))?;
    let text = match data {
        Some(data) => js(store.save_data_text(input, data, options))?,
        None => js(store.save_json(input, options))?,
    };
    text_to_js(&text)
}

pub(crate) fn get(store: &dyn SnapshotStore, task_id: &JsValue, v: &JsValue) -> JsResult<JsValue> {
    let task_id = task_arg(task_id, "taskId")?;
    let version = version(v)?;
    match js(store.get_json(&task_id, version))? {
        Some(text) => text_to_js(&text),
        None => Ok(JsValue::UNDEFINED),
    }
}

pub(crate) fn get_by_id(
    store: &dyn SnapshotStore,
    task_id: &JsValue,
    snapshot_id: &JsValue,
) -> JsResult<JsValue> {
    let task_id = task_arg(task_id, "taskId")?;
    let snapshot_id = task_arg(snapshot_id, "snapshotId")?;
    match js(store.get_by_id_json(&task_id, &snapshot_id))? {
        Some(text) => text_to_js(&text),
        None => Ok(JsValue::UNDEFINED),
    }
}

pub(crate) fn list_versions(store: &dyn SnapshotStore, task_id: &JsValue) -> JsResult<JsValue> {
    let task_id = task_arg(task_id, "taskId")?;
    // Versions are integers below 2^53: exact as doubles.
    #[allow(clippy::cast_precision_loss)]
    let versions: Vec<f64> = js(store.list_versions(&task_id))?
        .into_iter()
        .map(|v| v as f64)
        .collect();
    Ok(crate::convert::number_array(&versions))
}

pub(crate) fn delete(store: &dyn SnapshotStore, task_id: &JsValue, v: &JsValue) -> JsResult<bool> {
    let task_id = task_arg(task_id, "taskId")?;
    let version = version(v)?;
    js(store.delete(&task_id, version))
}

pub(crate) fn list_tasks(store: &dyn SnapshotStore) -> JsResult<JsValue> {
    to_js(&js(store.list_tasks())?)
}

pub(crate) fn prune(
    store: &dyn SnapshotStore,
    task_id: &JsValue,
    policy: &JsValue,
) -> JsResult<f64> {
    let task_id = task_arg(task_id, "taskId")?;
    let policy = js(arg(policy, "policy", ARG).and_then(|v| PrunePolicy::from_json(v.as_ref())))?;
    #[allow(clippy::cast_precision_loss)]
    js(store.prune(&task_id, policy)).map(|n| n as f64)
}

/// Gives the `#[wasm_bindgen]` class `$class` (a struct whose field `inner` is a guarded
/// [`SnapshotStore`]) the snapshot-store methods of the package, each checking first that the
/// instance is alive ([`crate::error::alive`]); the guard checks that the store is open.
macro_rules! snapshot_store_class {
    ($class:ident) => {
        #[wasm_bindgen::prelude::wasm_bindgen(js_class = $class)]
        impl $class {
            /// Saves a version (upsert on `(task_id, version)`; auto-increment without a version).
            pub fn save(
                &self,
                snapshot: wasm_bindgen::JsValue,
                options: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::snapshot_methods::save(&self.inner, &snapshot, &options)
            }

            /// The given version, or the latest; `undefined` if absent.
            pub fn get(
                &self,
                task_id: wasm_bindgen::JsValue,
                version: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::snapshot_methods::get(&self.inner, &task_id, &version)
            }

            /// The task's snapshot with this id.
            #[wasm_bindgen(js_name = getById)]
            pub fn get_by_id(
                &self,
                task_id: wasm_bindgen::JsValue,
                snapshot_id: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::snapshot_methods::get_by_id(&self.inner, &task_id, &snapshot_id)
            }

            /// The task's versions, ascending.
            #[wasm_bindgen(js_name = listVersions)]
            pub fn list_versions(
                &self,
                task_id: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::snapshot_methods::list_versions(&self.inner, &task_id)
            }

            /// Deletes one version, or every version without one.
            pub fn delete(
                &self,
                task_id: wasm_bindgen::JsValue,
                version: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<bool> {
                $crate::error::alive()?;
                $crate::snapshot_methods::delete(&self.inner, &task_id, &version)
            }

            /// Every task, ordered by id.
            #[wasm_bindgen(js_name = listTasks)]
            pub fn list_tasks(&self) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                $crate::snapshot_methods::list_tasks(&self.inner)
            }

            /// Deletes old versions by policy; returns how many.
            pub fn prune(
                &self,
                task_id: wasm_bindgen::JsValue,
                policy: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<f64> {
                $crate::error::alive()?;
                $crate::snapshot_methods::prune(&self.inner, &task_id, &policy)
            }

            /// Answers an ASAP state message: `{envelope}` (the reply) or `{error}` (JSON-RPC;
            /// -32603 with `data.code` `CLOSED` once the store's database was closed).
            /// Internal: use the package's `handleStateEnvelope(stores, envelope)`.
            #[wasm_bindgen(js_name = handleStateEnvelope, skip_typescript)]
            pub fn handle_state_envelope(
                &self,
                envelope: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                Ok($crate::envelope::state_envelope(&self.inner, &envelope))
            }

            /// Answers a JSON-RPC 2.0 `asap.send` request (an object or its JSON text).
            /// Internal: use the package's `handleAsapRequest(stores, request)`.
            #[wasm_bindgen(js_name = handleAsapRequest, skip_typescript)]
            pub fn handle_asap_request(
                &self,
                request: wasm_bindgen::JsValue,
            ) -> $crate::error::JsResult<wasm_bindgen::JsValue> {
                $crate::error::alive()?;
                Ok($crate::envelope::asap_request(&self.inner, &request))
            }
        }
    };
}
pub(crate) use snapshot_store_class;
