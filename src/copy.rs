//! Copying state between stores of any backends (memory → SQLite for a migration, SQLite →
//! memory for a failover cache, ...): every version of every task and every usage event, with
//! their ids, so copying again changes nothing.

use serde_json::Value;

use crate::error::{Result, StateError};
use crate::model::{StateSnapshotInput, UsageEventInput};
use crate::options::{ExportFilter, ExportFormat, SaveOptions};
use crate::store::{MeteringStore, SnapshotStore};

/// What [`copy_state`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyReport {
    /// Snapshots read from the source and saved in the destination.
    pub snapshots: u64,
    /// Usage events read from the source and present in the destination afterwards.
    pub events: u64,
}

/// Copies every version of every task of `from` into `to`, keeping each snapshot's `id`,
/// `task_id`, `version`, `data`, `checkpoint` and `created_at`; returns how many snapshots it
/// copied.
///
/// `save` upserts on `(task_id, version)`, so a version `to` already holds is replaced by
/// `from`'s, and copying twice changes nothing the second time. Versions `to` holds that `from`
/// does not are left alone. Not one transaction: after a failure (returned as is), copying
/// again completes the copy.
///
/// ```
/// use asap_state::{copy_snapshots, MemorySnapshotStore, SaveOptions, SnapshotStore, StateSnapshotInput};
/// use serde_json::json;
///
/// let from = MemorySnapshotStore::new();
/// let data = json!({"step": 1}).as_object().cloned().unwrap_or_default();
/// let saved = from.save(StateSnapshotInput::new("task-1", data), SaveOptions::default())?;
/// let to = MemorySnapshotStore::new();
/// assert_eq!(copy_snapshots(&from, &to)?, 1);
/// assert_eq!(to.get("task-1", None)?, Some(saved));
/// assert_eq!(copy_snapshots(&from, &to)?, 1); // again: nothing changes
/// assert_eq!(to.list_versions("task-1")?, vec![1]);
/// # Ok::<(), asap_state::StateError>(())
/// ```
pub fn copy_snapshots(from: &dyn SnapshotStore, to: &dyn SnapshotStore) -> Result<u64> {
    let mut copied: u64 = 0;
    for task in from.list_tasks()? {
        for version in from.list_versions(&task.task_id)? {
            // A version deleted between the listing and the read is simply not copied.
            let Some(snapshot) = from.get(&task.task_id, Some(version))? else {
                continue;
            };
            let input = StateSnapshotInput {
                id: Some(snapshot.id),
                task_id: snapshot.task_id,
                version: Some(snapshot.version),
                data: snapshot.data,
                checkpoint: snapshot.checkpoint,
                created_at: Some(snapshot.created_at),
            };
            to.save(input, SaveOptions::default())?;
            copied = copied.saturating_add(1);
        }
    }
    Ok(copied)
}

/// Copies every usage event of `from` into `to` in the order `from`'s JSON export gives (time
/// order, ties in recording order, so the copy's ties keep that order too), keeping each
/// event's `id`, ids, metrics and timestamp; returns how many events it copied.
///
/// `record` stores nothing for an id `to` already holds, so copying twice changes nothing the
/// second time (and an event `to` holds under the same id is kept as it is).
///
/// ```
/// use asap_state::{copy_usage, MemoryMeteringStore, MeteringStore, UsageEventInput, Window};
///
/// let from = MemoryMeteringStore::new();
/// from.record(UsageEventInput::new("task-1", "agent-a", "me").id("evt-1"))?;
/// let to = MemoryMeteringStore::new();
/// assert_eq!(copy_usage(&from, &to)?, 1);
/// assert_eq!(copy_usage(&from, &to)?, 1); // again: still one event
/// assert_eq!(to.aggregate("agent-a", "all", Window::default())?.total_tasks, 1);
/// # Ok::<(), asap_state::StateError>(())
/// ```
pub fn copy_usage(from: &dyn MeteringStore, to: &dyn MeteringStore) -> Result<u64> {
    let text = from.export(ExportFormat::Json, &ExportFilter::default())?;
    let events: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
        StateError::StorageIo(format!("the source's JSON export could not be read: {e}"))
    })?;
    let mut copied: u64 = 0;
    for event in &events {
        to.record(UsageEventInput::from_json(event)?)?;
        copied = copied.saturating_add(1);
    }
    Ok(copied)
}

/// Copies the snapshots (when both sides have a snapshot store) and the usage events (when both
/// have a metering store) of `from` into `to`: [`copy_snapshots`] then [`copy_usage`].
/// Idempotent.
///
/// ```
/// use asap_state::{copy_state, MemoryMeteringStore, MemorySnapshotStore, SqliteStateDb, Runtime};
///
/// let (snapshots, metering) = (MemorySnapshotStore::new(), MemoryMeteringStore::new());
/// let db = SqliteStateDb::open_in_memory(Runtime::default())?;
/// let report = copy_state(
///     (Some(&snapshots), Some(&metering)),
///     (Some(&db.snapshots()), Some(&db.metering())),
/// )?;
/// assert_eq!((report.snapshots, report.events), (0, 0));
/// # Ok::<(), asap_state::StateError>(())
/// ```
pub fn copy_state(
    from: (Option<&dyn SnapshotStore>, Option<&dyn MeteringStore>),
    to: (Option<&dyn SnapshotStore>, Option<&dyn MeteringStore>),
) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    if let (Some(from), Some(to)) = (from.0, to.0) {
        report.snapshots = copy_snapshots(from, to)?;
    }
    if let (Some(from), Some(to)) = (from.1, to.1) {
        report.events = copy_usage(from, to)?;
    }
    Ok(report)
}
