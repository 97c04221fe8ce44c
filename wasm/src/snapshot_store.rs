//! `MemorySnapshotStore` for JavaScript.

use asap_state::{
    string_arg, version_arg, DataText, PrunePolicy, SaveOptions, SnapshotStore, StateError,
    StateSnapshotInput,
};
use wasm_bindgen::prelude::*;

use crate::convert::{arg, arg_or_null, snapshot_arg, text_to_js, to_js};
use crate::error::{js, JsResult};
use crate::runtime;

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

/// The snapshot-store methods, shared by every backend's JavaScript class.
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
    match js(store.get_by_id(&task_id, &snapshot_id))? {
        Some(s) => to_js(&s),
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

/// Versioned snapshots of tasks' state, held in this instance's memory.
#[wasm_bindgen(js_name = MemorySnapshotStore, skip_typescript)]
pub struct MemorySnapshotStore {
    pub(crate) inner: asap_state::MemorySnapshotStore,
}

#[wasm_bindgen(js_class = MemorySnapshotStore)]
impl MemorySnapshotStore {
    /// An empty store.
    #[wasm_bindgen(constructor)]
    pub fn new() -> MemorySnapshotStore {
        MemorySnapshotStore {
            inner: asap_state::MemorySnapshotStore::with_runtime(runtime::host()),
        }
    }

    /// Saves a version (upsert on `(task_id, version)`; auto-increment without a version).
    pub fn save(&self, snapshot: JsValue, options: JsValue) -> JsResult<JsValue> {
        save(&self.inner, &snapshot, &options)
    }

    /// The given version, or the latest; `undefined` if absent.
    pub fn get(&self, task_id: JsValue, version: JsValue) -> JsResult<JsValue> {
        get(&self.inner, &task_id, &version)
    }

    /// The task's snapshot with this id.
    #[wasm_bindgen(js_name = getById)]
    pub fn get_by_id(&self, task_id: JsValue, snapshot_id: JsValue) -> JsResult<JsValue> {
        get_by_id(&self.inner, &task_id, &snapshot_id)
    }

    /// The task's versions, ascending.
    #[wasm_bindgen(js_name = listVersions)]
    pub fn list_versions(&self, task_id: JsValue) -> JsResult<JsValue> {
        list_versions(&self.inner, &task_id)
    }

    /// Deletes one version, or every version without one.
    pub fn delete(&self, task_id: JsValue, version: JsValue) -> JsResult<bool> {
        delete(&self.inner, &task_id, &version)
    }

    /// Every task, ordered by id.
    #[wasm_bindgen(js_name = listTasks)]
    pub fn list_tasks(&self) -> JsResult<JsValue> {
        list_tasks(&self.inner)
    }

    /// Deletes old versions by policy; returns how many.
    pub fn prune(&self, task_id: JsValue, policy: JsValue) -> JsResult<f64> {
        prune(&self.inner, &task_id, &policy)
    }
}

impl Default for MemorySnapshotStore {
    fn default() -> Self {
        Self::new()
    }
}
