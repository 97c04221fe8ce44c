//! The two store interfaces every backend implements.

use crate::error::Result;
use crate::model::{
    DataText, StateSnapshot, StateSnapshotInput, TaskSummary, UsageAggregate, UsageBucket,
    UsageEvent, UsageEventInput,
};
use crate::options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};

/// Versioned snapshots of tasks' state.
///
/// The reference semantics (`asap.state.SnapshotStore`) plus the additions of the contract.
/// Every method that fails has changed nothing.
pub trait SnapshotStore {
    /// Saves a version of a task's state and returns what was stored.
    ///
    /// Upserts on `(task_id, version)`: saving an existing version replaces it silently.
    /// Without a version, the store assigns the task's latest version + 1 (1 for a new task),
    /// atomically. With [`SaveOptions::expected_version`], the task's latest version must equal
    /// it (0: the task must not exist), else `VERSION_CONFLICT`.
    fn save(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<StateSnapshot>;

    /// The given version, or the highest version when `version` is `None`; `None` if absent.
    fn get(&self, task_id: &str, version: Option<u64>) -> Result<Option<StateSnapshot>>;

    /// [`save`](Self::save), answering with the stored snapshot as JSON text (exactly what
    /// `serde_json::to_string` writes for it): what the JavaScript binding hands back. Backends
    /// that hold JSON text override it to skip building and re-serialising the snapshot.
    fn save_json(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<String> {
        snapshot_text(&self.save(input, options)?)
    }

    /// [`save_json`](Self::save_json) of `input` with `data` (already checked) in place of
    /// `input.data`, which is ignored. Backends that store JSON text keep `data` as it is.
    fn save_data_text(
        &self,
        mut input: StateSnapshotInput,
        data: DataText,
        options: SaveOptions,
    ) -> Result<String> {
        input.data = data.to_data()?;
        self.save_json(input, options)
    }

    /// [`get`](Self::get) as JSON text, as [`save_json`](Self::save_json).
    fn get_json(&self, task_id: &str, version: Option<u64>) -> Result<Option<String>> {
        self.get(task_id, version)?
            .map(|s| snapshot_text(&s))
            .transpose()
    }

    /// The task's snapshot with this id (the highest version if several share it).
    fn get_by_id(&self, task_id: &str, snapshot_id: &str) -> Result<Option<StateSnapshot>>;

    /// [`get_by_id`](Self::get_by_id) as JSON text, as [`get_json`](Self::get_json).
    fn get_by_id_json(&self, task_id: &str, snapshot_id: &str) -> Result<Option<String>> {
        self.get_by_id(task_id, snapshot_id)?
            .map(|s| snapshot_text(&s))
            .transpose()
    }

    /// The task's versions, ascending; empty for an unknown task.
    fn list_versions(&self, task_id: &str) -> Result<Vec<u64>>;

    /// Deletes one version (`Some`) or all of the task's versions (`None`); `true` iff
    /// anything was deleted.
    fn delete(&self, task_id: &str, version: Option<u64>) -> Result<bool>;

    /// Every task with its version count, latest version and checkpoints, ordered by task id
    /// (byte order, as SQLite's `ORDER BY`).
    fn list_tasks(&self) -> Result<Vec<TaskSummary>>;

    /// Deletes the versions [`PrunePolicy`] selects and returns how many. The latest version is
    /// never deleted.
    fn prune(&self, task_id: &str, policy: PrunePolicy) -> Result<u64>;
}

/// A snapshot's JSON text.
pub(crate) fn snapshot_text(snapshot: &StateSnapshot) -> Result<String> {
    serde_json::to_string(snapshot).map_err(|e| {
        crate::error::StateError::StorageIo(format!("could not encode a snapshot: {e}"))
    })
}

/// Usage events of agents, for metering.
///
/// The reference semantics (`asap.state.MeteringStore`) plus the additions of the contract.
pub trait MeteringStore {
    /// Records an event and returns what was stored. Recording an `id` that is already stored
    /// stores nothing and returns the stored event.
    fn record(&self, input: UsageEventInput) -> Result<UsageEvent>;

    /// The agent's events with `start <= timestamp <= end`, ascending by time, ties in
    /// recording order, paged by `options`.
    fn query(
        &self,
        agent_id: &str,
        start: crate::Timestamp,
        end: crate::Timestamp,
        options: QueryOptions,
    ) -> Result<Vec<UsageEvent>>;

    /// [`query`](Self::query) as the JSON text of the list (serde_json's bytes).
    fn query_json(
        &self,
        agent_id: &str,
        start: crate::Timestamp,
        end: crate::Timestamp,
        options: QueryOptions,
    ) -> Result<String> {
        Ok(UsageEvent::list_json(
            &self.query(agent_id, start, end, options)?,
        ))
    }

    /// Totals of the agent's events (inside `window` when given); `period` is echoed back.
    fn aggregate(&self, agent_id: &str, period: &str, window: Window) -> Result<UsageAggregate>;

    /// One bucket per UTC hour or day in `[start, end)` that holds events of the agent,
    /// ascending.
    fn series(&self, agent_id: &str, options: SeriesOptions) -> Result<Vec<UsageBucket>>;

    /// Every agent with events, sorted.
    fn agents(&self) -> Result<Vec<String>>;

    /// The events matching `filter` as a JSON array or CSV, ascending by time.
    fn export(&self, format: ExportFormat, filter: &ExportFilter) -> Result<String>;
}
