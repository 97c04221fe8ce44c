//! What every backend shares when it stores a version or an event: the `expectedVersion`
//! check, the next version number, the stored snapshot built from a validated input, and new
//! event ids. A backend's own code only reads and writes its storage.

use crate::error::{Result, StateError};
use crate::model::{StateSnapshot, StateSnapshotInput, UsageEvent, UsageEventInput};
use crate::options::SaveOptions;
use crate::runtime::Runtime;
use crate::MAX_SAFE_INTEGER;

/// Checks `expected_version` against the task's latest version.
pub(crate) fn check_expected(
    task_id: &str,
    latest: Option<u64>,
    options: SaveOptions,
) -> Result<()> {
    match (options.expected_version, latest) {
        (None, _) | (Some(0), None) => Ok(()),
        (Some(e), Some(l)) if e == l => Ok(()),
        (Some(0), Some(l)) => Err(StateError::VersionConflict(format!(
            "task {task_id:?} already exists at version {l}; expectedVersion required it not to exist"
        ))),
        (Some(e), Some(l)) => Err(StateError::VersionConflict(format!(
            "task {task_id:?} is at version {l}, expectedVersion was {e}"
        ))),
        (Some(e), None) => Err(StateError::VersionConflict(format!(
            "task {task_id:?} does not exist, expectedVersion was {e}"
        ))),
    }
}

/// The version a save without a version gets.
pub(crate) fn next_version(task_id: &str, latest: Option<u64>) -> Result<u64> {
    match latest {
        None => Ok(1),
        Some(l) if l < MAX_SAFE_INTEGER => Ok(l.saturating_add(1)),
        Some(l) => Err(StateError::InvalidSnapshot(format!(
            "task {task_id:?} is at version {l}; the next version would exceed {MAX_SAFE_INTEGER}"
        ))),
    }
}

/// Builds the stored snapshot from a validated input.
pub(crate) fn build_snapshot(
    input: StateSnapshotInput,
    version: u64,
    rt: &Runtime,
) -> StateSnapshot {
    let now = rt.clock.now();
    StateSnapshot {
        id: input.id.unwrap_or_else(|| rt.ids.new_id("snap_", now)),
        task_id: input.task_id,
        version,
        data: input.data,
        checkpoint: input.checkpoint,
        created_at: input.created_at.unwrap_or(now),
    }
}

/// How many ids [`new_event`] takes from the generator before giving up.
pub(crate) const EVENT_ID_ATTEMPTS: u32 = 1024;

/// Builds the stored event from a validated input. Without an `id`, the event gets a new one
/// from the generator that is not stored yet (`taken` says whether one is): event ids are
/// unique, and a generator may hand out an id a caller gave an earlier event (a sequential one
/// does), so a taken id is skipped rather than stored twice or refused.
pub(crate) fn new_event(
    input: UsageEventInput,
    rt: &Runtime,
    mut taken: impl FnMut(&str) -> Result<bool>,
) -> Result<UsageEvent> {
    let now = rt.clock.now();
    let id = match input.id {
        Some(id) => id,
        None => {
            let mut found = None;
            for _ in 0..EVENT_ID_ATTEMPTS {
                let id = rt.ids.new_id("evt_", now);
                if !taken(&id)? {
                    found = Some(id);
                    break;
                }
            }
            found.ok_or_else(|| {
                StateError::StorageIo(format!(
                    "the id generator gave {EVENT_ID_ATTEMPTS} event ids in a row that are already stored"
                ))
            })?
        }
    };
    Ok(UsageEvent {
        id,
        task_id: input.task_id,
        agent_id: input.agent_id,
        consumer_id: input.consumer_id,
        metrics: input.metrics,
        timestamp: input.timestamp.unwrap_or(now),
    })
}
