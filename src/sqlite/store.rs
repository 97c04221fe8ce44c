//! `SqliteStateDb`: one SQLite file holding both stores, with the reference's tables.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value as Json;

use super::backing::{BackingStore, MemoryStore};
use super::engine::{self, Db, DbError, SqlValue, SCHEMA_SQL};
use crate::error::{Result, StateError};
use crate::export;
use crate::json::data_from_text;
use crate::model::{
    self, DataText, StateSnapshot, StateSnapshotInput, TaskSummary, Totals, UsageAggregate,
    UsageBucket, UsageEvent, UsageEventInput, UsageMetrics,
};
use crate::options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};
use crate::runtime::Runtime;
use crate::store::{MeteringStore, SnapshotStore};
use crate::timestamp::Timestamp;
use crate::versioning::{build_snapshot, check_expected, new_event, next_version};

/// The name of the main file inside a database's own in-memory store.
const IMAGE_PATH: &str = "state.db";

impl From<DbError> for StateError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Corrupt(m) => {
                StateError::CorruptDatabase(format!("not a readable SQLite database: {m}"))
            }
            DbError::SchemaMismatch(m) => StateError::SchemaMismatch(m),
            DbError::Constraint(m) => StateError::StorageIo(format!("constraint failed: {m}")),
            DbError::Engine(m) | DbError::Stale(m) => {
                StateError::StorageIo(format!("SQL engine: {m}"))
            }
            DbError::Io(m) => StateError::StorageIo(m),
        }
    }
}

enum Backing {
    /// An image in memory.
    Image,
    /// Files of a host store (a native filesystem, Node's fs, OPFS).
    Files,
}

struct Shared {
    db: Mutex<Option<Db>>,
    runtime: Runtime,
    backing: Backing,
    /// Native files: an exclusive advisory lock on the main file, held while open, so a second
    /// process gets `DATABASE_LOCKED` instead of writing the same file.
    #[cfg(not(target_arch = "wasm32"))]
    lock: Mutex<Option<std::fs::File>>,
}

/// The databases this process has open by path, so every open of one file shares one database.
/// Takes the exclusive lock on `file`, retrying for about a quarter of a second before
/// reporting `WouldBlock`. A lock that is only briefly held elsewhere is waited out: when any
/// thread of this process starts a child process, the child holds copies of every open file
/// (and so of their locks) between its fork and its exec, even after this process closed them.
#[cfg(not(target_arch = "wasm32"))]
fn lock_briefly(file: &std::fs::File) -> std::result::Result<(), std::fs::TryLockError> {
    let mut wait = std::time::Duration::from_millis(1);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock)
                if waited < std::time::Duration::from_millis(250) =>
            {
                std::thread::sleep(wait);
                waited = waited.saturating_add(wait);
                wait = wait
                    .saturating_mul(2)
                    .min(std::time::Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
static OPEN_FILES: Mutex<Vec<(std::path::PathBuf, std::sync::Weak<Shared>)>> =
    Mutex::new(Vec::new());

/// One SQLite database holding snapshots and usage events in the tables of the Python
/// reference, so the file moves between this library, the reference and the `sqlite3` CLI.
///
/// Cloning gives another handle to the same database. Every multi-statement operation is one
/// transaction: a failure rolls back and changes nothing.
#[derive(Clone)]
pub struct SqliteStateDb {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateDb").finish_non_exhaustive()
    }
}

impl SqliteStateDb {
    /// A fresh, empty database image in memory.
    pub fn open_in_memory(runtime: Runtime) -> Result<Self> {
        Self::open_image(None, runtime)
    }

    /// An existing SQLite file image (rollback-journal or WAL mode). The bytes are copied;
    /// they are never modified. Not a SQLite database, truncated or damaged:
    /// `CORRUPT_DATABASE`; other columns or another application's tables: `SCHEMA_MISMATCH`.
    pub fn open_bytes(bytes: &[u8], runtime: Runtime) -> Result<Self> {
        if bytes.is_empty() {
            return Err(StateError::CorruptDatabase(
                "not a readable SQLite database: the file is empty (0 bytes)".into(),
            ));
        }
        Self::open_image(Some(bytes.to_vec()), runtime)
    }

    fn open_image(bytes: Option<Vec<u8>>, runtime: Runtime) -> Result<Self> {
        let store = Arc::new(MemoryStore::new());
        store.put(IMAGE_PATH, bytes.unwrap_or_default());
        let db = Self::open_db(store, IMAGE_PATH, true)?;
        Ok(Self::wrap(db, runtime, Backing::Image))
    }

    /// The database `path` of a host's file store (a missing file is created).
    pub fn open_store(store: Arc<dyn BackingStore>, path: &str, runtime: Runtime) -> Result<Self> {
        let db = Self::open_db(store, path, false)?;
        Ok(Self::wrap(db, runtime, Backing::Files))
    }

    /// A real file on a native filesystem, written as the engine commits (a missing file is
    /// created). Every open of the same file in this process shares one database (`runtime` is
    /// the first opener's); a file another process holds open gives `DATABASE_LOCKED` (after
    /// waiting about a quarter of a second for the lock).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_path(path: impl AsRef<std::path::Path>, runtime: Runtime) -> Result<Self> {
        let path = path.as_ref();
        let io = |e: std::io::Error| StateError::StorageIo(format!("{}: {e}", path.display()));
        // One lock for the whole lookup-or-open, so two threads opening one path share it.
        let mut open = OPEN_FILES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lock_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let key = std::fs::canonicalize(path).map_err(io)?;
        open.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(shared) = open
            .iter()
            .find(|(p, _)| *p == key)
            .and_then(|(_, weak)| weak.upgrade())
        {
            if shared.db.lock().map(|db| db.is_some()).unwrap_or(false) {
                return Ok(SqliteStateDb { shared });
            }
        }
        lock_briefly(&lock_file).map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => {
                StateError::DatabaseLocked(format!("{} is open in another process", path.display()))
            }
            std::fs::TryLockError::Error(e) => io(e),
        })?;
        let text = key.to_str().ok_or_else(|| {
            StateError::InvalidArgument(format!("path {path:?} is not valid UTF-8"))
        })?;
        let db = Self::open_db(Arc::new(super::backing::FsStore), text, false)?;
        let this = Self::wrap(db, runtime, Backing::Files);
        if let Ok(mut lock) = this.shared.lock.lock() {
            *lock = Some(lock_file);
        }
        open.push((key, Arc::downgrade(&this.shared)));
        Ok(this)
    }

    fn open_db(store: Arc<dyn BackingStore>, path: &str, private: bool) -> Result<Db> {
        let db = Db::open(store, path, private)?;
        db.exec_batch(SCHEMA_SQL)?;
        Ok(db)
    }

    fn wrap(db: Db, runtime: Runtime, backing: Backing) -> Self {
        SqliteStateDb {
            shared: Arc::new(Shared {
                db: Mutex::new(Some(db)),
                runtime,
                backing,
                #[cfg(not(target_arch = "wasm32"))]
                lock: Mutex::new(None),
            }),
        }
    }

    /// The snapshot store of this database.
    pub fn snapshots(&self) -> SqliteSnapshotStore {
        SqliteSnapshotStore { db: self.clone() }
    }

    /// The metering store of this database.
    pub fn metering(&self) -> SqliteMeteringStore {
        SqliteMeteringStore { db: self.clone() }
    }

    /// One self-contained SQLite file image (the WAL checkpointed in), which `sqlite3` and the
    /// Python reference open as-is.
    pub fn export_bytes(&self) -> Result<Vec<u8>> {
        self.with(|db| Ok(db.export_bytes()?))
    }

    /// Checkpoints and closes the database; every later call on it or its stores fails with
    /// `CLOSED`. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let db = self.lock().take();
        let result = match db {
            Some(db) => {
                let result = db.checkpoint().and_then(|()| db.close());
                drop(db);
                result.map_err(StateError::from)
            }
            None => Ok(()),
        };
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(mut lock) = self.shared.lock.lock() {
            // Dropping the file releases the lock for other processes.
            lock.take();
        }
        result
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().is_none()
    }

    /// Whether the database lives in memory (an image) rather than in files.
    pub fn is_image(&self) -> bool {
        matches!(self.shared.backing, Backing::Image)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Db>> {
        self.shared
            .db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        let guard = self.lock();
        match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StateError::Closed("the database was closed".into())),
        }
    }

    fn transaction<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.with(|db| {
            let mut inner: Option<StateError> = None;
            let result = db.transaction(|db| {
                f(db).map_err(|e| {
                    let message = e.message().to_owned();
                    inner = Some(e);
                    DbError::Engine(message)
                })
            });
            match (result, inner) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(e)) => Err(e),
                (Err(e), None) => Err(e.into()),
            }
        })
    }
}

// ------------------------------------------------------------------------------ value helpers

fn text(s: &str) -> SqlValue {
    engine::text(s)
}

/// Integers the library stores are at most 2^53 - 1, so they always fit an i64.
fn int(n: u64) -> SqlValue {
    engine::int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn corrupt(what: String) -> StateError {
    StateError::CorruptDatabase(what)
}

fn col<'a>(row: &'a [SqlValue], i: usize, table: &str) -> Result<&'a SqlValue> {
    row.get(i)
        .ok_or_else(|| corrupt(format!("{table}: a row has too few columns")))
}

fn col_text(row: &[SqlValue], i: usize, table: &str, name: &str) -> Result<String> {
    col(row, i, table)?
        .to_text()
        .map(str::to_owned)
        .ok_or_else(|| corrupt(format!("{table}.{name} is not text")))
}

fn col_int(row: &[SqlValue], i: usize, table: &str, name: &str) -> Result<i64> {
    col(row, i, table)?
        .as_int()
        .ok_or_else(|| corrupt(format!("{table}.{name} is not an integer")))
}

fn col_u64(row: &[SqlValue], i: usize, table: &str, name: &str) -> Result<u64> {
    let v = col_int(row, i, table, name)?;
    u64::try_from(v).map_err(|_| corrupt(format!("{table}.{name} is negative ({v})")))
}

const SNAPSHOT_COLUMNS: &str = "task_id, id, version, data, checkpoint, created_at";
const EVENT_COLUMNS: &str = "id, task_id, agent_id, consumer_id, metrics, timestamp";

const GET_VERSION: &str = "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots WHERE task_id = ? AND version = ?";
const GET_LATEST: &str = "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1";

/// The row of a task's version (the latest without one).
fn get_row(db: &Db, task_id: &str, version: Option<u64>) -> Result<Option<Vec<SqlValue>>> {
    let rows = match version {
        Some(v) => db.query(GET_VERSION, &[text(task_id), int(v)])?,
        None => db.query(GET_LATEST, &[text(task_id)])?,
    };
    Ok(rows.into_iter().next())
}

/// A snapshot row as the JSON text of its snapshot (see `get_json`).
fn snapshot_json_from_row(row: &[SqlValue]) -> Result<String> {
    let t = "snapshots";
    let task_id = col_text(row, 0, t, "task_id")?;
    let version = col_u64(row, 2, t, "version")?;
    let data_text = col_text(row, 3, t, "data")?;
    let data = DataText::read(&data_text).map_err(|e| {
        corrupt(format!(
            "snapshots row ({task_id:?}, {version}): data is not a JSON object: {}",
            e.message()
        ))
    })?;
    let created_at =
        Timestamp::parse_lenient(&col_text(row, 5, t, "created_at")?, "snapshots.created_at")
            .map_err(|e| corrupt(e.message().to_owned()))?;
    StateSnapshot::json_text(
        &col_text(row, 1, t, "id")?,
        &task_id,
        version,
        data.as_str(),
        col_int(row, 4, t, "checkpoint")? != 0,
        created_at,
    )
}

fn snapshot_from_row(row: &[SqlValue]) -> Result<StateSnapshot> {
    let t = "snapshots";
    let task_id = col_text(row, 0, t, "task_id")?;
    let version = col_u64(row, 2, t, "version")?;
    let data_text = col_text(row, 3, t, "data")?;
    let data = data_from_text(&data_text).map_err(|e| {
        corrupt(format!(
            "snapshots row ({task_id:?}, {version}): data is not a JSON object: {e}"
        ))
    })?;
    Ok(StateSnapshot {
        id: col_text(row, 1, t, "id")?,
        task_id,
        version,
        data,
        checkpoint: col_int(row, 4, t, "checkpoint")? != 0,
        created_at: Timestamp::parse_lenient(
            &col_text(row, 5, t, "created_at")?,
            "snapshots.created_at",
        )
        .map_err(|e| corrupt(e.message().to_owned()))?,
    })
}

/// Runs a query, handing each row to `f` without collecting the rows; the first error of `f`
/// stops it and is returned as it is.
fn each_row(
    db: &Db,
    sql: &str,
    params: &[SqlValue],
    mut f: impl FnMut(&[&SqlValue]) -> Result<()>,
) -> Result<()> {
    let mut failed: Option<StateError> = None;
    let result = db.query_each(sql, params, |row| {
        f(row).map_err(|e| {
            let message = e.message().to_owned();
            failed = Some(e);
            DbError::Engine(message)
        })
    });
    match (result, failed) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

/// Column `i` of a `usage_events` row as text.
fn row_text<'a>(row: &[&'a SqlValue], i: usize, name: &str) -> Result<&'a str> {
    row.get(i)
        .ok_or_else(|| corrupt("usage_events: a row has too few columns".into()))?
        .to_text()
        .ok_or_else(|| corrupt(format!("usage_events.{name} is not text")))
}

fn metrics_from_text(text: &str) -> Result<UsageMetrics> {
    // What this library writes (and most writers do): an object of non-negative integers,
    // read straight into the struct. Anything else (a duplicate key, a float, a string, not an
    // object) takes the exact path, which names what is wrong, or accepts it as it always did.
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Plain {
        tokens_in: u64,
        tokens_out: u64,
        duration_ms: u64,
        api_calls: u64,
    }
    // (A derived struct would also read a JSON array by position: objects only.)
    let object = text.trim_start().starts_with('{');
    if let Some(m) = object
        .then(|| serde_json::from_str::<Plain>(text).ok())
        .flatten()
    {
        return Ok(UsageMetrics {
            tokens_in: m.tokens_in,
            tokens_out: m.tokens_out,
            duration_ms: m.duration_ms,
            api_calls: m.api_calls,
        });
    }
    let bad = |why: String| corrupt(format!("usage_events.metrics {text:?}: {why}"));
    let value: Json = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let field = |name: &str| -> Result<u64> {
        match obj.get(name) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad(format!("{name} is not a non-negative integer"))),
        }
    };
    Ok(UsageMetrics {
        tokens_in: field("tokens_in")?,
        tokens_out: field("tokens_out")?,
        duration_ms: field("duration_ms")?,
        api_calls: field("api_calls")?,
    })
}

fn event_from_row(row: &[SqlValue]) -> Result<UsageEvent> {
    let t = "usage_events";
    Ok(UsageEvent {
        id: col_text(row, 0, t, "id")?,
        task_id: col_text(row, 1, t, "task_id")?,
        agent_id: col_text(row, 2, t, "agent_id")?,
        consumer_id: col_text(row, 3, t, "consumer_id")?,
        metrics: metrics_from_text(&col_text(row, 4, t, "metrics")?)?,
        timestamp: Timestamp::parse_lenient(
            &col_text(row, 5, t, "timestamp")?,
            "usage_events.timestamp",
        )
        .map_err(|e| corrupt(e.message().to_owned()))?,
    })
}

fn to_json_text(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StateError::StorageIo(format!("could not encode JSON: {e}")))
}

// ------------------------------------------------------------------------------ snapshots

/// The snapshot store of a [`SqliteStateDb`] (table `snapshots`).
#[derive(Clone, Debug)]
pub struct SqliteSnapshotStore {
    db: SqliteStateDb,
}

impl SqliteSnapshotStore {
    /// The database this store belongs to.
    pub fn database(&self) -> &SqliteStateDb {
        &self.db
    }
}

fn latest_version(db: &Db, task_id: &str) -> Result<Option<u64>> {
    let rows = db.query(
        "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1",
        &[text(task_id)],
    )?;
    rows.first()
        .map(|r| col_u64(r, 0, "snapshots", "version"))
        .transpose()
}

impl SqliteSnapshotStore {
    /// Stores `input` with `data` (its data's checked JSON text) in one transaction; the stored
    /// snapshot, its `data` moved from the input.
    fn insert(
        &self,
        input: StateSnapshotInput,
        data: &str,
        options: SaveOptions,
    ) -> Result<StateSnapshot> {
        let runtime = self.db.shared.runtime.clone();
        self.db.transaction(|db| {
            let latest = latest_version(db, &input.task_id)?;
            check_expected(&input.task_id, latest, options)?;
            let version = match input.version {
                Some(v) => v,
                None => next_version(&input.task_id, latest)?,
            };
            let snapshot = build_snapshot(input, version, &runtime);
            db.exec(
                "INSERT OR REPLACE INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    text(&snapshot.task_id),
                    text(&snapshot.id),
                    int(snapshot.version),
                    text(data),
                    int(u64::from(snapshot.checkpoint)),
                    text(&snapshot.created_at.to_string()),
                ],
            )?;
            Ok(snapshot)
        })
    }
}

fn json_of(s: &StateSnapshot, data: &str) -> Result<String> {
    StateSnapshot::json_text(
        &s.id,
        &s.task_id,
        s.version,
        data,
        s.checkpoint,
        s.created_at,
    )
}

impl SnapshotStore for SqliteSnapshotStore {
    fn save(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<StateSnapshot> {
        let data = input.validate_to_text()?;
        self.insert(input, &data, options)
    }

    fn save_json(&self, input: StateSnapshotInput, options: SaveOptions) -> Result<String> {
        let data = input.validate_to_text()?;
        json_of(&self.insert(input, &data, options)?, &data)
    }

    fn save_data_text(
        &self,
        input: StateSnapshotInput,
        data: DataText,
        options: SaveOptions,
    ) -> Result<String> {
        input.validate_fields()?;
        json_of(&self.insert(input, data.as_str(), options)?, data.as_str())
    }

    fn get(&self, task_id: &str, version: Option<u64>) -> Result<Option<StateSnapshot>> {
        self.db.with(|db| {
            get_row(db, task_id, version)?
                .map(|r| snapshot_from_row(&r))
                .transpose()
        })
    }

    /// The row's `data` is checked and rewritten in serde_json's form as one stream (no tree),
    /// then embedded: the same text as serialising [`get`](SnapshotStore::get)'s snapshot.
    fn get_json(&self, task_id: &str, version: Option<u64>) -> Result<Option<String>> {
        self.db.with(|db| {
            get_row(db, task_id, version)?
                .map(|r| snapshot_json_from_row(&r))
                .transpose()
        })
    }

    fn get_by_id(&self, task_id: &str, snapshot_id: &str) -> Result<Option<StateSnapshot>> {
        self.db.with(|db| {
            let rows = db.query(
                &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE task_id = ? AND id = ? ORDER BY version DESC LIMIT 1"),
                &[text(task_id), text(snapshot_id)],
            )?;
            rows.first().map(|r| snapshot_from_row(r)).transpose()
        })
    }

    fn list_versions(&self, task_id: &str) -> Result<Vec<u64>> {
        self.db.with(|db| {
            db.query(
                "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version",
                &[text(task_id)],
            )?
            .iter()
            .map(|r| col_u64(r, 0, "snapshots", "version"))
            .collect()
        })
    }

    fn delete(&self, task_id: &str, version: Option<u64>) -> Result<bool> {
        self.db.with(|db| {
            let changed = match version {
                Some(v) => db.exec(
                    "DELETE FROM snapshots WHERE task_id = ? AND version = ?",
                    &[text(task_id), int(v)],
                )?,
                None => db.exec("DELETE FROM snapshots WHERE task_id = ?", &[text(task_id)])?,
            };
            Ok(changed > 0)
        })
    }

    fn list_tasks(&self) -> Result<Vec<TaskSummary>> {
        self.db.with(|db| {
            let rows = db.query(
                "SELECT task_id, COUNT(*), MAX(version), SUM(checkpoint != 0), \
                 (SELECT s2.created_at FROM snapshots s2 WHERE s2.task_id = s.task_id ORDER BY s2.version DESC LIMIT 1) \
                 FROM snapshots s GROUP BY task_id ORDER BY task_id",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    let t = "snapshots";
                    Ok(TaskSummary {
                        task_id: col_text(r, 0, t, "task_id")?,
                        versions: col_u64(r, 1, t, "count")?,
                        latest_version: col_u64(r, 2, t, "version")?,
                        checkpoints: col_u64(r, 3, t, "checkpoint")?,
                        latest_created_at: Timestamp::parse_lenient(
                            &col_text(r, 4, t, "created_at")?,
                            "snapshots.created_at",
                        )
                        .map_err(|e| corrupt(e.message().to_owned()))?,
                    })
                })
                .collect()
        })
    }

    fn prune(&self, task_id: &str, policy: PrunePolicy) -> Result<u64> {
        policy.validate()?;
        self.db.transaction(|db| {
            let rows = db.query(
                "SELECT version, checkpoint, created_at FROM snapshots WHERE task_id = ? ORDER BY version",
                &[text(task_id)],
            )?;
            let listed = rows
                .iter()
                .map(|r| {
                    let t = "snapshots";
                    Ok((
                        col_u64(r, 0, t, "version")?,
                        col_int(r, 1, t, "checkpoint")? != 0,
                        Timestamp::parse_lenient(&col_text(r, 2, t, "created_at")?, "snapshots.created_at")
                            .map_err(|e| corrupt(e.message().to_owned()))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let doomed = policy.select(&listed);
            for v in &doomed {
                db.exec(
                    "DELETE FROM snapshots WHERE task_id = ? AND version = ?",
                    &[text(task_id), int(*v)],
                )?;
            }
            Ok(u64::try_from(doomed.len()).unwrap_or(u64::MAX))
        })
    }
}

// ------------------------------------------------------------------------------ metering

/// The metering store of a [`SqliteStateDb`] (table `usage_events`).
#[derive(Clone, Debug)]
pub struct SqliteMeteringStore {
    db: SqliteStateDb,
}

impl SqliteMeteringStore {
    /// The database this store belongs to.
    pub fn database(&self) -> &SqliteStateDb {
        &self.db
    }
}

/// `WHERE` conditions and parameters for an optional agent and window (inclusive bounds).
fn event_filter(agent_id: Option<&str>, window: Window) -> (String, Vec<SqlValue>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(agent) = agent_id {
        conditions.push("agent_id = ?");
        params.push(text(agent));
    }
    if let Some(start) = window.start {
        conditions.push("timestamp >= ?");
        params.push(text(&start.to_string()));
    }
    if let Some(end) = window.end {
        conditions.push("timestamp <= ?");
        params.push(text(&end.to_string()));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, params)
}

impl MeteringStore for SqliteMeteringStore {
    fn record(&self, input: UsageEventInput) -> Result<UsageEvent> {
        input.validate()?;
        let runtime = self.db.shared.runtime.clone();
        self.db.transaction(|db| {
            if let Some(id) = &input.id {
                let rows = db.query(
                    &format!("SELECT {EVENT_COLUMNS} FROM usage_events WHERE id = ?"),
                    &[text(id)],
                )?;
                if let Some(row) = rows.first() {
                    return event_from_row(row);
                }
            }
            let event = new_event(input, &runtime, |id| {
                Ok(!db
                    .query("SELECT 1 FROM usage_events WHERE id = ?", &[text(id)])?
                    .is_empty())
            })?;
            db.exec(
                "INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    text(&event.id),
                    text(&event.task_id),
                    text(&event.agent_id),
                    text(&event.consumer_id),
                    text(&to_json_text(&event.metrics)?),
                    text(&event.timestamp.to_string()),
                ],
            )?;
            Ok(event)
        })
    }

    fn query(
        &self,
        agent_id: &str,
        start: Timestamp,
        end: Timestamp,
        options: QueryOptions,
    ) -> Result<Vec<UsageEvent>> {
        let (clause, mut params) = event_filter(
            Some(agent_id),
            Window {
                start: Some(start),
                end: Some(end),
            },
        );
        params.push(engine::int(
            options
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
        ));
        params.push(int(options.offset));
        self.db.with(|db| {
            db.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM usage_events{clause} ORDER BY timestamp, rowid LIMIT ? OFFSET ?"
                ),
                &params,
            )?
            .iter()
            .map(|r| event_from_row(r))
            .collect()
        })
    }

    fn aggregate(&self, agent_id: &str, period: &str, window: Window) -> Result<UsageAggregate> {
        let (clause, params) = event_filter(Some(agent_id), window);
        self.db.with(|db| {
            let mut totals = Totals::default();
            each_row(
                db,
                &format!("SELECT metrics FROM usage_events{clause}"),
                &params,
                |row| {
                    totals.add(&metrics_from_text(row_text(row, 0, "metrics")?)?);
                    Ok(())
                },
            )?;
            Ok(totals.aggregate(agent_id, period))
        })
    }

    fn series(&self, agent_id: &str, options: SeriesOptions) -> Result<Vec<UsageBucket>> {
        let (clause, params) = event_filter(
            Some(agent_id),
            Window {
                start: Some(options.start),
                end: Some(options.end),
            },
        );
        self.db.with(|db| {
            let mut events = Vec::new();
            each_row(
                db,
                &format!(
                    "SELECT timestamp, metrics FROM usage_events{clause} ORDER BY timestamp, rowid"
                ),
                &params,
                |row| {
                    let at = Timestamp::parse_lenient(
                        row_text(row, 0, "timestamp")?,
                        "usage_events.timestamp",
                    )
                    .map_err(|e| corrupt(e.message().to_owned()))?;
                    if at < options.end {
                        events.push((at, metrics_from_text(row_text(row, 1, "metrics")?)?));
                    }
                    Ok(())
                },
            )?;
            Ok(model::buckets(
                events.iter().map(|(at, m)| (*at, m)),
                options.bucket,
            ))
        })
    }

    fn agents(&self) -> Result<Vec<String>> {
        self.db.with(|db| {
            db.query(
                "SELECT DISTINCT agent_id FROM usage_events ORDER BY agent_id",
                &[],
            )?
            .iter()
            .map(|r| col_text(r, 0, "usage_events", "agent_id"))
            .collect()
        })
    }

    fn export(&self, format: ExportFormat, filter: &ExportFilter) -> Result<String> {
        let (clause, params) = event_filter(filter.agent_id.as_deref(), filter.window);
        self.db.with(|db| {
            let events = db
                .query(
                    &format!("SELECT {EVENT_COLUMNS} FROM usage_events{clause} ORDER BY timestamp, rowid"),
                    &params,
                )?
                .iter()
                .map(|r| event_from_row(r))
                .collect::<Result<Vec<_>>>()?;
            export::render(&events, format)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_nesting;

    #[test]
    fn db_errors_map_to_state_error_codes() {
        let cases = [
            (
                DbError::Corrupt("bad page".into()),
                "CORRUPT_DATABASE",
                "not a readable SQLite database: bad page",
            ),
            (
                DbError::SchemaMismatch("cols".into()),
                "SCHEMA_MISMATCH",
                "cols",
            ),
            (
                DbError::Constraint("UNIQUE".into()),
                "STORAGE_IO",
                "constraint failed: UNIQUE",
            ),
            (
                DbError::Engine("busy".into()),
                "STORAGE_IO",
                "SQL engine: busy",
            ),
            (DbError::Io("disk".into()), "STORAGE_IO", "disk"),
        ];
        for (e, code, message) in cases {
            let s = StateError::from(e);
            assert_eq!((s.code(), s.message()), (code, message));
        }
    }

    fn corrupt_message<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(StateError::CorruptDatabase(m)) => m,
            other => panic!("expected CORRUPT_DATABASE, got {other:?}"),
        }
    }

    #[test]
    fn metrics_text_must_be_an_object_of_non_negative_integers() {
        let m = metrics_from_text(r#"{"tokens_in":3,"api_calls":1}"#).unwrap();
        assert_eq!((m.tokens_in, m.tokens_out, m.api_calls), (3, 0, 1));
        assert!(corrupt_message(metrics_from_text("nope")).contains("usage_events.metrics"));
        assert!(corrupt_message(metrics_from_text("[1]")).contains("not a JSON object"));
        assert!(corrupt_message(metrics_from_text("[1, 2, 3, 4]")).contains("not a JSON object"));
        // Duplicate keys: the last one counts, as in every JSON reader.
        let m = metrics_from_text(r#"{"tokens_in":3,"tokens_in":5, "other": "x"}"#).unwrap();
        assert_eq!(m.tokens_in, 5);
        assert!(corrupt_message(metrics_from_text(r#"{"tokens_out":-1}"#))
            .contains("tokens_out is not a non-negative integer"));
        assert!(corrupt_message(metrics_from_text(r#"{"duration_ms":1.5}"#))
            .contains("duration_ms is not a non-negative integer"));
    }

    fn snapshot_row(data: &str) -> Vec<SqlValue> {
        vec![
            text("t"),
            text("snap_1"),
            engine::int(1),
            text(data),
            engine::int(0),
            text("2026-04-01T00:00:00Z"),
        ]
    }

    #[test]
    fn snapshot_rows_are_checked_column_by_column() {
        let s = snapshot_from_row(&snapshot_row(r#"{"a":1}"#)).unwrap();
        assert_eq!(
            (s.task_id.as_str(), s.id.as_str(), s.version),
            ("t", "snap_1", 1)
        );
        assert!(corrupt_message(snapshot_from_row(&snapshot_row("{oops")))
            .contains("data is not a JSON object"));
        assert!(corrupt_message(snapshot_from_row(&snapshot_row("[1,2]")))
            .contains("data is not a JSON object"));
        let mut row = snapshot_row("{}");
        row[2] = engine::int(-4);
        assert!(
            corrupt_message(snapshot_from_row(&row)).contains("snapshots.version is negative (-4)")
        );
        let mut row = snapshot_row("{}");
        row[1] = SqlValue::from_blob(vec![1, 2]);
        assert!(corrupt_message(snapshot_from_row(&row)).contains("snapshots.id is not text"));
        let mut row = snapshot_row("{}");
        row[4] = text("yes");
        assert!(corrupt_message(snapshot_from_row(&row))
            .contains("snapshots.checkpoint is not an integer"));
        assert!(corrupt_message(snapshot_from_row(&snapshot_row("{}")[..3]))
            .contains("a row has too few columns"));
        let mut row = snapshot_row("{}");
        row[5] = text("yesterday");
        assert_eq!(
            snapshot_from_row(&row).unwrap_err().code(),
            "CORRUPT_DATABASE"
        );
    }

    #[test]
    fn data_text_reads_back_at_the_depth_limit_and_no_deeper() {
        let nested =
            |levels: usize| format!("{{\"k\":{}1{}}}", "[".repeat(levels), "]".repeat(levels));
        // Brackets inside strings (and escaped quotes) do not count.
        assert_eq!(json_nesting(r#"{"a":"[[[{{\"]]","b":[{}]}"#), 3);
        assert_eq!(json_nesting("1"), 0);
        // The object and MAX_DEPTH - 1 arrays around a scalar: a value MAX_DEPTH levels deep.
        let deepest = nested(crate::MAX_DEPTH - 1);
        assert_eq!(json_nesting(&deepest), crate::MAX_DEPTH);
        assert!(
            serde_json::from_str::<Json>(&deepest).is_err(),
            "past serde's default limit"
        );
        assert!(data_from_text(&deepest).is_ok());
        assert!(data_from_text(&nested(crate::MAX_DEPTH)).is_ok());
        let err = data_from_text(&nested(crate::MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err, "it nests 130 levels deep; the limit is 129");
        let row = snapshot_row(&nested(100_000));
        assert!(corrupt_message(snapshot_from_row(&row)).contains("nests 100001 levels deep"));
        assert!(data_from_text(r#"{"a":1} trailing"#).is_err());
    }

    #[test]
    fn image_and_file_backings_say_which_they_are() {
        let image = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
        assert!(image.is_image());
        let files =
            SqliteStateDb::open_store(Arc::new(MemoryStore::new()), "f.db", Runtime::default())
                .unwrap();
        assert!(!files.is_image());
        assert!(format!("{image:?}").starts_with("SqliteStateDb"));
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn is<T: Send + Sync + 'static>() {}
        is::<super::SqliteStateDb>();
        is::<super::SqliteSnapshotStore>();
        is::<super::SqliteMeteringStore>();
    }
}
