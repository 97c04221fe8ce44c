//! The in-memory backend: fast, per-process, gone when the process ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Result, StateError};
use crate::export;
use crate::json::data_from_text;
use crate::model::{
    self, DataText, StateSnapshot, StateSnapshotInput, TaskSummary, Totals, UsageAggregate,
    UsageBucket, UsageEvent, UsageEventInput,
};
use crate::options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};
use crate::runtime::Runtime;
use crate::store::{MeteringStore, SnapshotStore};
use crate::timestamp::Timestamp;
use crate::versioning::{build_snapshot, check_expected, new_event, next_version};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps half-updated (every mutation is a
    // single insert or remove), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Snapshots held in memory. Thread-safe; returned values are copies.
/// One stored version: its fields, and its `data` kept as the JSON text it was saved as —
/// several times smaller than a parsed tree, and what a JavaScript caller reads back as is.
#[derive(Debug)]
struct Stored {
    id: String,
    checkpoint: bool,
    created_at: Timestamp,
    data: Box<str>,
}

impl Stored {
    fn snapshot(&self, task_id: &str, version: u64) -> Result<StateSnapshot> {
        Ok(StateSnapshot {
            id: self.id.clone(),
            task_id: task_id.to_owned(),
            version,
            data: data_from_text(&self.data).map_err(|e| {
                StateError::StorageIo(format!("stored data of {task_id:?} v{version}: {e}"))
            })?,
            checkpoint: self.checkpoint,
            created_at: self.created_at,
        })
    }

    fn json(&self, task_id: &str, version: u64) -> String {
        StateSnapshot::json_text(
            &self.id,
            task_id,
            version,
            &self.data,
            self.checkpoint,
            self.created_at,
        )
    }
}

#[derive(Debug)]
pub struct MemorySnapshotStore {
    tasks: Mutex<BTreeMap<String, BTreeMap<u64, Stored>>>,
    runtime: Runtime,
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for MemorySnapshotStore {
    fn default() -> Self {
        MemorySnapshotStore::with_runtime(Runtime::default())
    }
}

impl MemorySnapshotStore {
    /// An empty store on the system clock and random ids.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with its own clock and id generator.
    pub fn with_runtime(runtime: Runtime) -> Self {
        MemorySnapshotStore {
            tasks: Mutex::new(BTreeMap::new()),
            runtime,
        }
    }
}

impl MemorySnapshotStore {
    /// Validates and stores `input` (with `data` in place of its data when given), answering with `answer(snapshot, stored)`, computed before
    /// the version is stored and under the same lock (if it fails, nothing is stored).
    fn insert<T>(
        &self,
        input: StateSnapshotInput,
        data: Option<DataText>,
        options: SaveOptions,
        answer: impl FnOnce(StateSnapshot, &Stored) -> Result<T>,
    ) -> Result<T> {
        let text = match data {
            Some(data) => {
                input.validate_fields()?;
                data.as_str().to_owned()
            }
            None => input.validate_to_text()?,
        };
        let mut tasks = lock(&self.tasks);
        let latest = tasks
            .get(&input.task_id)
            .and_then(|versions| versions.keys().next_back().copied());
        check_expected(&input.task_id, latest, options)?;
        let version = match input.version {
            Some(v) => v,
            None => next_version(&input.task_id, latest)?,
        };
        let snapshot = build_snapshot(input, version, &self.runtime);
        let stored = Stored {
            id: snapshot.id.clone(),
            checkpoint: snapshot.checkpoint,
            created_at: snapshot.created_at,
            data: text.into_boxed_str(),
        };
        let task_id = snapshot.task_id.clone();
        let out = answer(snapshot, &stored)?;
        tasks.entry(task_id).or_default().insert(version, stored);
        Ok(out)
    }

    fn find<T>(
        &self,
        task_id: &str,
        version: Option<u64>,
        f: impl FnOnce(&Stored, u64) -> Result<T>,
    ) -> Result<Option<T>> {
        let tasks = lock(&self.tasks);
        let Some(versions) = tasks.get(task_id) else {
            return Ok(None);
        };
        let found = match version {
            Some(v) => versions.get(&v).map(|s| (v, s)),
            None => versions.iter().next_back().map(|(v, s)| (*v, s)),
        };
        found.map(|(v, s)| f(s, v)).transpose()
    }

    /// `f` of the task's highest version whose snapshot has this id.
    fn find_id<T>(
        &self,
        task_id: &str,
        snapshot_id: &str,
        f: impl FnOnce(&Stored, u64) -> Result<T>,
    ) -> Result<Option<T>> {
        let tasks = lock(&self.tasks);
        tasks
            .get(task_id)
            .and_then(|versions| versions.iter().rev().find(|(_, s)| s.id == snapshot_id))
            .map(|(v, s)| f(s, *v))
            .transpose()
    }
}

impl SnapshotStore for MemorySnapshotStore {
    fn save(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<StateSnapshot> {
        self.insert(input, None, options, |snapshot, _| Ok(snapshot))
    }

    fn save_json(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<String> {
        self.insert(input, None, options, |snapshot, stored| {
            Ok(stored.json(&snapshot.task_id, snapshot.version))
        })
    }

    fn save_data_text(
        &self,
        input: StateSnapshotInput,
        data: DataText,
        options: SaveOptions,
    ) -> Result<String> {
        self.insert(input, Some(data), options, |snapshot, stored| {
            Ok(stored.json(&snapshot.task_id, snapshot.version))
        })
    }

    fn get(&self, task_id: &str, version: Option<u64>) -> Result<Option<StateSnapshot>> {
        self.find(task_id, version, |s, v| s.snapshot(task_id, v))
    }

    fn get_json(&self, task_id: &str, version: Option<u64>) -> Result<Option<String>> {
        self.find(task_id, version, |s, v| Ok(s.json(task_id, v)))
    }

    fn get_by_id(&self, task_id: &str, snapshot_id: &str) -> Result<Option<StateSnapshot>> {
        self.find_id(task_id, snapshot_id, |s, v| s.snapshot(task_id, v))
    }

    fn get_by_id_json(&self, task_id: &str, snapshot_id: &str) -> Result<Option<String>> {
        self.find_id(task_id, snapshot_id, |s, v| Ok(s.json(task_id, v)))
    }

    fn list_versions(&self, task_id: &str) -> Result<Vec<u64>> {
        let tasks = lock(&self.tasks);
        Ok(tasks
            .get(task_id)
            .map(|versions| versions.keys().copied().collect())
            .unwrap_or_default())
    }

    fn delete(&self, task_id: &str, version: Option<u64>) -> Result<bool> {
        let mut tasks = lock(&self.tasks);
        match version {
            None => Ok(tasks.remove(task_id).is_some()),
            Some(v) => {
                let Some(versions) = tasks.get_mut(task_id) else {
                    return Ok(false);
                };
                let existed = versions.remove(&v).is_some();
                if versions.is_empty() {
                    tasks.remove(task_id);
                }
                Ok(existed)
            }
        }
    }

    fn list_tasks(&self) -> Result<Vec<TaskSummary>> {
        let tasks = lock(&self.tasks);
        Ok(tasks
            .iter()
            .filter_map(|(task_id, versions)| {
                let (latest_version, latest) = versions.iter().next_back()?;
                Some(TaskSummary {
                    task_id: task_id.clone(),
                    versions: u64::try_from(versions.len()).unwrap_or(u64::MAX),
                    latest_version: *latest_version,
                    latest_created_at: latest.created_at,
                    checkpoints: u64::try_from(versions.values().filter(|s| s.checkpoint).count())
                        .unwrap_or(u64::MAX),
                })
            })
            .collect())
    }

    fn prune(&self, task_id: &str, policy: PrunePolicy) -> Result<u64> {
        policy.validate()?;
        let mut tasks = lock(&self.tasks);
        let Some(versions) = tasks.get_mut(task_id) else {
            return Ok(0);
        };
        let listed: Vec<(u64, bool, Timestamp)> = versions
            .iter()
            .map(|(v, s)| (*v, s.checkpoint, s.created_at))
            .collect();
        let doomed = policy.select(&listed);
        for v in &doomed {
            versions.remove(v);
        }
        Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX))
    }
}

/// Events of one agent, keyed by (timestamp, recording sequence).
type AgentEvents = BTreeMap<(Timestamp, u64), UsageEvent>;

#[derive(Debug, Default)]
struct Metering {
    by_agent: BTreeMap<String, AgentEvents>,
    by_id: HashMap<String, (String, Timestamp, u64)>,
    seq: u64,
}

impl Metering {
    fn range(
        &self,
        agent_id: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> impl Iterator<Item = &UsageEvent> {
        // An inverted window is empty (and `BTreeMap::range` would panic on it).
        self.by_agent
            .get(agent_id)
            .filter(|_| start <= end)
            .into_iter()
            .flat_map(move |events| events.range((start, 0)..=(end, u64::MAX)))
            .map(|(_, e)| e)
    }
}

/// Usage events held in memory. Thread-safe; returned values are copies.
#[derive(Debug)]
pub struct MemoryMeteringStore {
    state: Mutex<Metering>,
    runtime: Runtime,
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for MemoryMeteringStore {
    fn default() -> Self {
        MemoryMeteringStore::with_runtime(Runtime::default())
    }
}

impl MemoryMeteringStore {
    /// An empty store on the system clock and random ids.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with its own clock and id generator.
    pub fn with_runtime(runtime: Runtime) -> Self {
        MemoryMeteringStore {
            state: Mutex::new(Metering::default()),
            runtime,
        }
    }
}

impl MeteringStore for MemoryMeteringStore {
    fn record(&self, input: UsageEventInput) -> Result<UsageEvent> {
        input.validate()?;
        let mut state = lock(&self.state);
        if let Some(id) = &input.id {
            if let Some((agent, ts, seq)) = state.by_id.get(id) {
                if let Some(stored) = state.by_agent.get(agent).and_then(|m| m.get(&(*ts, *seq))) {
                    return Ok(stored.clone());
                }
            }
        }
        let event = new_event(input, &self.runtime, |id| Ok(state.by_id.contains_key(id)))?;
        let seq = state.seq;
        state.seq = seq.saturating_add(1);
        state.by_id.insert(
            event.id.clone(),
            (event.agent_id.clone(), event.timestamp, seq),
        );
        state
            .by_agent
            .entry(event.agent_id.clone())
            .or_default()
            .insert((event.timestamp, seq), event.clone());
        Ok(event)
    }

    fn query(
        &self,
        agent_id: &str,
        start: Timestamp,
        end: Timestamp,
        options: QueryOptions,
    ) -> Result<Vec<UsageEvent>> {
        let state = lock(&self.state);
        Ok(options
            .page(state.range(agent_id, start, end))
            .cloned()
            .collect())
    }

    fn aggregate(&self, agent_id: &str, period: &str, window: Window) -> Result<UsageAggregate> {
        let state = lock(&self.state);
        let (start, end) = window.bounds();
        let mut totals = Totals::default();
        for e in state.range(agent_id, start, end) {
            totals.add(&e.metrics);
        }
        Ok(totals.aggregate(agent_id, period))
    }

    fn series(&self, agent_id: &str, options: SeriesOptions) -> Result<Vec<UsageBucket>> {
        let state = lock(&self.state);
        Ok(model::buckets(
            state
                .range(agent_id, options.start, options.end)
                .filter(|e| e.timestamp < options.end)
                .map(|e| (e.timestamp, &e.metrics)),
            options.bucket,
        ))
    }

    fn agents(&self) -> Result<Vec<String>> {
        let state = lock(&self.state);
        Ok(state
            .by_agent
            .iter()
            .filter(|(_, events)| !events.is_empty())
            .map(|(agent, _)| agent.clone())
            .collect())
    }

    fn export(&self, format: ExportFormat, filter: &ExportFilter) -> Result<String> {
        let state = lock(&self.state);
        let (start, end) = filter.window.bounds();
        let mut events: Vec<(&(Timestamp, u64), &UsageEvent)> = state
            .by_agent
            .iter()
            .filter(|(agent, _)| filter.agent_id.as_ref().is_none_or(|a| a == *agent))
            .flat_map(|(_, events)| events.iter())
            .filter(|(_, e)| e.timestamp >= start && e.timestamp <= end)
            .collect();
        events.sort_by_key(|(key, _)| **key);
        export::render(events.into_iter().map(|(_, e)| e), format)
    }
}
