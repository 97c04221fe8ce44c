//! `SqliteSnapshotStore` and `SqliteMeteringStore` for JavaScript: the two stores of one
//! `SqliteStateDb`, with the same methods as the memory stores.

use std::cell::Cell;
use std::rc::Rc;

use asap_state::StateError;
use wasm_bindgen::prelude::*;

use crate::error::{to_js, JsResult};
use crate::{metering_store as metering, snapshot_store as snapshots};

/// Fails with `CLOSED` once the handle that made the store was closed.
pub(crate) fn open_check(closed: &Cell<bool>) -> JsResult<()> {
    if closed.get() {
        Err(to_js(StateError::Closed("the database was closed".into())))
    } else {
        Ok(())
    }
}

/// The snapshot store of a `SqliteStateDb` (table `snapshots`).
#[wasm_bindgen(js_name = SqliteSnapshotStore, skip_typescript)]
pub struct SqliteSnapshotStore {
    pub(crate) inner: asap_state::SqliteSnapshotStore,
    pub(crate) closed: Rc<Cell<bool>>,
}

#[wasm_bindgen(js_class = SqliteSnapshotStore)]
impl SqliteSnapshotStore {
    /// Saves a version (upsert on `(task_id, version)`; auto-increment without a version).
    pub fn save(&self, snapshot: JsValue, options: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        snapshots::save(&self.inner, &snapshot, &options)
    }

    /// The given version, or the latest; `undefined` if absent.
    pub fn get(&self, task_id: JsValue, version: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        snapshots::get(&self.inner, &task_id, &version)
    }

    /// The task's snapshot with this id.
    #[wasm_bindgen(js_name = getById)]
    pub fn get_by_id(&self, task_id: JsValue, snapshot_id: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        snapshots::get_by_id(&self.inner, &task_id, &snapshot_id)
    }

    /// The task's versions, ascending.
    #[wasm_bindgen(js_name = listVersions)]
    pub fn list_versions(&self, task_id: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        snapshots::list_versions(&self.inner, &task_id)
    }

    /// Deletes one version, or every version without one.
    pub fn delete(&self, task_id: JsValue, version: JsValue) -> JsResult<bool> {
        open_check(&self.closed)?;
        snapshots::delete(&self.inner, &task_id, &version)
    }

    /// Every task, ordered by id.
    #[wasm_bindgen(js_name = listTasks)]
    pub fn list_tasks(&self) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        snapshots::list_tasks(&self.inner)
    }

    /// Deletes old versions by policy; returns how many.
    pub fn prune(&self, task_id: JsValue, policy: JsValue) -> JsResult<f64> {
        open_check(&self.closed)?;
        snapshots::prune(&self.inner, &task_id, &policy)
    }
}

/// The metering store of a `SqliteStateDb` (table `usage_events`).
#[wasm_bindgen(js_name = SqliteMeteringStore, skip_typescript)]
pub struct SqliteMeteringStore {
    pub(crate) inner: asap_state::SqliteMeteringStore,
    pub(crate) closed: Rc<Cell<bool>>,
}

#[wasm_bindgen(js_class = SqliteMeteringStore)]
impl SqliteMeteringStore {
    /// Records an event (idempotent by `id`).
    pub fn record(&self, event: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        metering::record(&self.inner, &event)
    }

    /// The agent's events in `[start, end]`, ascending.
    pub fn query(
        &self,
        agent_id: JsValue,
        start: JsValue,
        end: JsValue,
        options: JsValue,
    ) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        metering::query(&self.inner, &agent_id, &start, &end, &options)
    }

    /// Totals of the agent's events.
    pub fn aggregate(
        &self,
        agent_id: JsValue,
        period: JsValue,
        window: JsValue,
    ) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        metering::aggregate(&self.inner, &agent_id, &period, &window)
    }

    /// Hourly or daily buckets of the agent's events.
    pub fn series(&self, agent_id: JsValue, options: JsValue) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        metering::series(&self.inner, &agent_id, &options)
    }

    /// Every agent with events, sorted.
    pub fn agents(&self) -> JsResult<JsValue> {
        open_check(&self.closed)?;
        metering::agents(&self.inner)
    }

    /// The events as JSON or CSV.
    pub fn export(&self, format: JsValue, filter: JsValue) -> JsResult<String> {
        open_check(&self.closed)?;
        metering::export(&self.inner, &format, &filter)
    }
}
