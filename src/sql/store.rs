//! `SqliteStateDb`: one SQLite database holding both stores, with the reference's tables, over
//! any [`SqlConnection`]: the embedded engine (`crate::sqlite`) or a host's SQLite.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value as Json;

use super::image;
use super::schema::{self, EVENT_COLUMNS};
use super::{query, SqlConnection, SqlRef, SqlValue};
use crate::error::{Result, StateError};
use crate::export;
use crate::json::data_from_text;
use crate::model::{
    self, push_event_json_by, DataText, StateSnapshot, StateSnapshotInput, TaskSummary, Totals,
    UsageAggregate, UsageBucket, UsageEvent, UsageEventInput, UsageMetrics,
};
use crate::options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};
use crate::runtime::Runtime;
use crate::store::{MeteringStore, SnapshotStore};
use crate::timestamp::Timestamp;
use crate::versioning::{build_snapshot, check_expected, new_event, next_version};

/// Where a database lives.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// An image in memory (the embedded engine).
    Image,
    /// Files of a host store: a native filesystem, Node's fs, OPFS (the embedded engine).
    Files,
    /// A host's own SQLite (a Durable Object's storage, say).
    Host,
}

pub(crate) struct Shared {
    conn: Mutex<Option<Box<dyn SqlConnection>>>,
    runtime: Runtime,
    backing: Backing,
    /// The host's limit on one value (see [`SqlConnection::max_value_bytes`]): larger data is
    /// stored in chunks of at most this many bytes.
    chunk_bytes: Option<usize>,
    /// Native files: an exclusive advisory lock on the main file, held while open, so a second
    /// process gets `DATABASE_LOCKED` instead of writing the same file.
    #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
    pub(crate) lock: Mutex<Option<std::fs::File>>,
}

/// One SQLite database holding snapshots and usage events in the tables of the Python
/// reference, so the file moves between this library, the reference and the `sqlite3` CLI.
///
/// Cloning gives another handle to the same database. Every multi-statement operation is one
/// transaction: a failure rolls back and changes nothing.
#[derive(Clone)]
pub struct SqliteStateDb {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SqliteStateDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateDb").finish_non_exhaustive()
    }
}

/// The smallest chunk: one character of UTF-8 always fits.
const MIN_CHUNK_BYTES: usize = 4;

impl SqliteStateDb {
    /// The stores on a host's SQLite connection (a Durable Object's storage, or any SQLite a
    /// program already has): the reference's tables and indexes are created where missing;
    /// existing tables with other columns, or another application's tables without ours, are
    /// refused with `SCHEMA_MISMATCH`. Where the host limits the size of one value, snapshot
    /// data above it is stored in chunks, transparently.
    pub fn open_connection(conn: Box<dyn SqlConnection>, runtime: Runtime) -> Result<Self> {
        schema::check_columns(conn.as_ref())?;
        let chunks = conn.max_value_bytes().map(|n| n.max(MIN_CHUNK_BYTES));
        let mut created: Result<()> = Ok(());
        conn.transaction(&mut || {
            created = schema::create(conn.as_ref(), chunks.is_some());
            created.clone()
        })?;
        Ok(Self::wrap(conn, runtime, Backing::Host, chunks))
    }

    pub(crate) fn wrap(
        conn: Box<dyn SqlConnection>,
        runtime: Runtime,
        backing: Backing,
        chunk_bytes: Option<usize>,
    ) -> Self {
        SqliteStateDb {
            shared: Arc::new(Shared {
                conn: Mutex::new(Some(conn)),
                runtime,
                backing,
                chunk_bytes,
                #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
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
    /// A host's database (which has no file of its own to hand out) is written as a new file
    /// from its rows ([`super::image`]): the reference's tables, chunked data reassembled.
    pub fn export_bytes(&self) -> Result<Vec<u8>> {
        if self.shared.backing != Backing::Host {
            return self.with(|conn| conn.export_bytes());
        }
        // One transaction: the rows of both tables as of one moment.
        let rows = self.transaction(|conn| {
            let mut snapshots = query(conn, schema::ALL_SNAPSHOTS, &[])?;
            if self.shared.chunk_bytes.is_some() {
                for row in &mut snapshots {
                    self.fill_chunks(conn, row)?;
                }
            }
            let usage_events = query(conn, schema::ALL_EVENTS, &[])?;
            Ok(image::ImageRows {
                snapshots,
                usage_events,
            })
        })?;
        image::write_image(&rows)
    }

    /// Checkpoints and closes the database; every later call on it or its stores fails with
    /// `CLOSED`. Closing twice is harmless.
    pub fn close(&self) -> Result<()> {
        let conn = self.lock().take();
        let result = match conn {
            Some(conn) => conn.close(),
            None => Ok(()),
        };
        #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
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

    /// Whether the database lives in memory (an image) rather than in files or a host.
    pub fn is_image(&self) -> bool {
        self.shared.backing == Backing::Image
    }

    /// Whether the database is a host's own SQLite ([`open_connection`](Self::open_connection)).
    pub fn is_host(&self) -> bool {
        self.shared.backing == Backing::Host
    }

    fn lock(&self) -> MutexGuard<'_, Option<Box<dyn SqlConnection>>> {
        self.shared
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with<T>(&self, f: impl FnOnce(&dyn SqlConnection) -> Result<T>) -> Result<T> {
        let guard = self.lock();
        match guard.as_ref() {
            Some(conn) => f(conn.as_ref()),
            None => Err(StateError::Closed("the database was closed".into())),
        }
    }

    /// `f` in one transaction of the connection: what it wrote is committed if it returns
    /// `Ok`, and nothing otherwise.
    fn transaction<T>(&self, f: impl FnOnce(&dyn SqlConnection) -> Result<T>) -> Result<T> {
        self.with(|conn| {
            let mut f = Some(f);
            let mut out = None;
            conn.transaction(&mut || {
                if let Some(f) = f.take() {
                    out = Some(f(conn)?);
                }
                Ok(())
            })?;
            out.ok_or_else(|| StateError::StorageIo("the transaction did not run".into()))
        })
    }
}

// ------------------------------------------------------------------------------ value helpers

fn text(s: &str) -> SqlRef<'_> {
    SqlRef::Text(s)
}

/// Integers the library stores are at most 2^53 - 1, so they always fit an i64.
fn int(n: u64) -> SqlRef<'static> {
    SqlRef::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn corrupt(what: String) -> StateError {
    StateError::CorruptDatabase(what)
}

/// A value of a row as the column readers below take it: owned (a row a query collected) or
/// borrowed from the connection.
trait Cell {
    fn sql(&self) -> SqlRef<'_>;
}

impl Cell for SqlValue {
    fn sql(&self) -> SqlRef<'_> {
        self.as_ref()
    }
}

impl Cell for SqlRef<'_> {
    fn sql(&self) -> SqlRef<'_> {
        *self
    }
}

fn col<'r, C: Cell>(row: &'r [C], i: usize, table: &str) -> Result<SqlRef<'r>> {
    row.get(i)
        .map(Cell::sql)
        .ok_or_else(|| corrupt(format!("{table}: a row has too few columns")))
}

fn col_text<C: Cell>(row: &[C], i: usize, table: &str, name: &str) -> Result<String> {
    col_str(row, i, table, name).map(str::to_owned)
}

/// A text column, borrowed from the row (a `data` of 64 KiB is not copied to be read).
fn col_str<'r, C: Cell>(row: &'r [C], i: usize, table: &str, name: &str) -> Result<&'r str> {
    col(row, i, table)?
        .as_text()
        .ok_or_else(|| corrupt(format!("{table}.{name} is not text")))
}

fn col_int<C: Cell>(row: &[C], i: usize, table: &str, name: &str) -> Result<i64> {
    col(row, i, table)?
        .as_int()
        .ok_or_else(|| corrupt(format!("{table}.{name} is not an integer")))
}

fn col_u64<C: Cell>(row: &[C], i: usize, table: &str, name: &str) -> Result<u64> {
    let v = col_int(row, i, table, name)?;
    u64::try_from(v).map_err(|_| corrupt(format!("{table}.{name} is negative ({v})")))
}

/// The column of `snapshots.data` in a row of [`schema::SNAPSHOT_COLUMNS`].
const DATA_COLUMN: usize = 3;

impl SqliteStateDb {
    /// The first row of a snapshot query, its data reassembled if it was stored in chunks.
    fn snapshot_row(
        &self,
        conn: &dyn SqlConnection,
        sql: &str,
        params: &[SqlRef<'_>],
    ) -> Result<Option<Vec<SqlValue>>> {
        let Some(mut row) = query(conn, sql, params)?.into_iter().next() else {
            return Ok(None);
        };
        if self.shared.chunk_bytes.is_some() {
            self.fill_chunks(conn, &mut row)?;
        }
        Ok(Some(row))
    }

    /// The first row of a snapshot query as its snapshot's JSON text, read where the connection
    /// holds the row; a row whose data is in chunks (a host's database, data above its limit)
    /// is read again and reassembled.
    fn snapshot_json(
        &self,
        conn: &dyn SqlConnection,
        sql: &str,
        params: &[SqlRef<'_>],
    ) -> Result<Option<String>> {
        let chunks = self.shared.chunk_bytes.is_some();
        let (mut out, mut chunked) = (None, false);
        conn.query_each(sql, params, &mut |row| {
            if out.is_none() && !chunked {
                if chunks && matches!(row.get(DATA_COLUMN), Some(SqlRef::Text(""))) {
                    chunked = true;
                } else {
                    out = Some(snapshot_json_from_row(row)?);
                }
            }
            Ok(())
        })?;
        if chunked {
            return self
                .snapshot_row(conn, sql, params)?
                .map(|r| snapshot_json_from_row(&r))
                .transpose();
        }
        Ok(out)
    }

    /// A snapshot row whose data is in chunks (its `data` empty) gets its data back whole.
    fn fill_chunks(&self, conn: &dyn SqlConnection, row: &mut [SqlValue]) -> Result<()> {
        if !matches!(row.get(DATA_COLUMN), Some(SqlValue::Text(d)) if d.is_empty()) {
            return Ok(());
        }
        let t = "snapshots";
        let task_id = col_text(row, 0, t, "task_id")?;
        let version = col_u64(row, 2, t, "version")?;
        let mut data = String::new();
        conn.query_each(
            schema::GET_CHUNKS,
            &[text(&task_id), int(version)],
            &mut |chunk| {
                let piece = chunk
                    .first()
                    .and_then(SqlRef::as_text)
                    .ok_or_else(|| corrupt("asap_snapshot_chunks.chunk is not text".into()))?;
                data.push_str(piece);
                Ok(())
            },
        )?;
        if let Some(slot) = row.get_mut(DATA_COLUMN) {
            *slot = SqlValue::Text(data);
        }
        Ok(())
    }

    /// Deletes a task's version (every version without one), chunks included; returns
    /// whether a snapshot was deleted.
    fn delete_rows(
        &self,
        conn: &dyn SqlConnection,
        task_id: &str,
        version: Option<u64>,
    ) -> Result<bool> {
        let chunks = self.shared.chunk_bytes.is_some();
        let changed = match version {
            Some(v) => {
                if chunks {
                    conn.execute(schema::DELETE_CHUNKS_VERSION, &[text(task_id), int(v)])?;
                }
                conn.execute(schema::DELETE_VERSION, &[text(task_id), int(v)])?
            }
            None => {
                if chunks {
                    conn.execute(schema::DELETE_CHUNKS_TASK, &[text(task_id)])?;
                }
                conn.execute(schema::DELETE_TASK, &[text(task_id)])?
            }
        };
        Ok(changed > 0)
    }
}

/// `data` cut into pieces of at most `limit` bytes (`limit` ≥ 4), each ending on a character.
fn chunks(data: &str, limit: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let mut end = limit.min(rest.len());
        while !rest.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        if end == 0 {
            // (Only if `limit` were below one character: take one character.)
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// `read` run with the statement for a task's version (the latest without one) and its
/// parameters.
fn by_version<T>(
    task_id: &str,
    version: Option<u64>,
    read: impl FnOnce(&str, &[SqlRef<'_>]) -> Result<T>,
) -> Result<T> {
    match version {
        Some(v) => read(schema::GET_VERSION, &[text(task_id), int(v)]),
        None => read(schema::GET_LATEST, &[text(task_id)]),
    }
}

/// A snapshot row as the JSON text of its snapshot (see `get_json`): collected, or borrowed
/// from the connection (then `data` is read where the engine holds it, not copied first).
fn snapshot_json_from_row<C: Cell>(row: &[C]) -> Result<String> {
    let t = "snapshots";
    let task_id = col_str(row, 0, t, "task_id")?;
    let version = col_u64(row, 2, t, "version")?;
    let data = DataText::read(col_str(row, 3, t, "data")?).map_err(|e| {
        corrupt(format!(
            "snapshots row ({task_id:?}, {version}): data is not a JSON object: {}",
            e.message()
        ))
    })?;
    let text = col_str(row, 5, t, "created_at")?;
    // Text already in this library's form is copied, any other is written again.
    let (created_at, canonical) = stored_timestamp(text, "snapshots.created_at")?;
    Ok(StateSnapshot::json_text_by(
        col_str(row, 1, t, "id")?,
        task_id,
        version,
        &data,
        col_int(row, 4, t, "checkpoint")? != 0,
        |out| {
            if canonical {
                out.push_str(text);
            } else {
                created_at.push_iso(out);
            }
        },
    ))
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

/// Metrics text exactly as this library writes it (serde_json's form of [`UsageMetrics`]):
/// read without a parser; `None` for any other text.
fn written_metrics(text: &str) -> Option<UsageMetrics> {
    /// A non-negative integer as serde_json writes it, and the bytes after it (one pass).
    fn int(text: &[u8]) -> Option<(u64, &[u8])> {
        let (mut n, mut len) = (0u64, 0usize);
        for &c in text {
            let Some(d) = c.checked_sub(b'0').filter(|d| *d <= 9) else {
                break;
            };
            // A leading zero, or past u64: not this form.
            if len == 1 && n == 0 {
                return None;
            }
            // Below 19 digits no u64 overflows (checked multiplication is a 128-bit one in wasm).
            n = if len < 18 {
                n.wrapping_mul(10).wrapping_add(u64::from(d))
            } else {
                n.checked_mul(10)?.checked_add(u64::from(d))?
            };
            len = len.wrapping_add(1);
        }
        // Empty: not this form.
        (len > 0).then_some((n, text.get(len..)?))
    }
    let text = text.as_bytes();
    let (tokens_in, rest) = int(text.strip_prefix(b"{\"tokens_in\":")?)?;
    let (tokens_out, rest) = int(rest.strip_prefix(b",\"tokens_out\":")?)?;
    let (duration_ms, rest) = int(rest.strip_prefix(b",\"duration_ms\":")?)?;
    let (api_calls, rest) = int(rest.strip_prefix(b",\"api_calls\":")?)?;
    (rest == b"}").then_some(UsageMetrics {
        tokens_in,
        tokens_out,
        duration_ms,
        api_calls,
    })
}

fn metrics_from_text(text: &str) -> Result<UsageMetrics> {
    stored_metrics(text).map(|(m, _)| m)
}

/// A row's metrics, and whether `text` is exactly what this library writes for them (a reader
/// may then copy it).
fn stored_metrics(text: &str) -> Result<(UsageMetrics, bool)> {
    if let Some(m) = written_metrics(text) {
        return Ok((m, true));
    }
    parsed_metrics(text).map(|m| (m, false))
}

/// Metrics text in any other form than this library's.
fn parsed_metrics(text: &str) -> Result<UsageMetrics> {
    // What most other writers write: an object of non-negative integers, read straight into
    // the struct. Anything else (a duplicate key, a float, a string, not an
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

/// A `usage_events.timestamp` text as an instant.
fn event_timestamp(text: &str) -> Result<Timestamp> {
    stored_timestamp(text, "usage_events.timestamp").map(|(at, _)| at)
}

/// A stored timestamp (`field` names its column), and whether its text is exactly what this
/// library writes for it; any other text a file may hold is read as before, a bad one is damage.
fn stored_timestamp(text: &str, field: &str) -> Result<(Timestamp, bool)> {
    Timestamp::parse_stored(text, field).map_err(|e| corrupt(e.message().to_owned()))
}

/// A `usage_events` row ([`EVENT_COLUMNS`]) checked and read, its text borrowed from the row.
struct EventParts<'a> {
    /// `id`, `task_id`, `agent_id`, `consumer_id`.
    ids: [&'a str; 4],
    metrics: UsageMetrics,
    /// The row's metrics text when it is exactly what this library writes for `metrics`.
    metrics_text: Option<&'a str>,
    timestamp: Timestamp,
    /// The row's timestamp text when it is exactly what this library writes for `timestamp`.
    timestamp_text: Option<&'a str>,
}

fn event_parts<C: Cell>(row: &[C]) -> Result<EventParts<'_>> {
    let t = "usage_events";
    let ids = [
        col_str(row, 0, t, "id")?,
        col_str(row, 1, t, "task_id")?,
        col_str(row, 2, t, "agent_id")?,
        col_str(row, 3, t, "consumer_id")?,
    ];
    let metrics_text = col_str(row, 4, t, "metrics")?;
    let (metrics, metrics_canonical) = stored_metrics(metrics_text)?;
    let timestamp_text = col_str(row, 5, t, "timestamp")?;
    let (timestamp, timestamp_canonical) =
        stored_timestamp(timestamp_text, "usage_events.timestamp")?;
    Ok(EventParts {
        ids,
        metrics,
        metrics_text: metrics_canonical.then_some(metrics_text),
        timestamp,
        timestamp_text: timestamp_canonical.then_some(timestamp_text),
    })
}

/// Appends a `usage_events` row's event as JSON text (what [`UsageEvent::push_json`] writes for
/// [`event_from_row`]'s event), read where the connection holds the row: metrics and timestamp
/// text already in this library's form are copied.
fn push_event_row<C: Cell>(out: &mut String, row: &[C]) -> Result<()> {
    let e = event_parts(row)?;
    push_event_json_by(
        out,
        e.ids,
        |out| match e.metrics_text {
            Some(text) => out.push_str(text),
            None => e.metrics.push_json(out),
        },
        |out| match e.timestamp_text {
            Some(text) => out.push_str(text),
            None => e.timestamp.push_iso(out),
        },
    );
    Ok(())
}

fn event_from_row(row: &[SqlValue]) -> Result<UsageEvent> {
    let EventParts {
        ids: [id, task_id, agent_id, consumer_id],
        metrics,
        timestamp,
        ..
    } = event_parts(row)?;
    Ok(UsageEvent {
        id: id.to_owned(),
        task_id: task_id.to_owned(),
        agent_id: agent_id.to_owned(),
        consumer_id: consumer_id.to_owned(),
        metrics,
        timestamp,
    })
}

/// The statement and parameters of a metering `query`.
fn window_query(
    agent_id: &str,
    start: Timestamp,
    end: Timestamp,
    options: QueryOptions,
) -> (String, Vec<SqlValue>) {
    let (clause, mut params) = event_filter(
        Some(agent_id),
        Window {
            start: Some(start),
            end: Some(end),
        },
    );
    params.push(SqlValue::Integer(
        options
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
    ));
    params.push(SqlValue::Integer(
        i64::try_from(options.offset).unwrap_or(i64::MAX),
    ));
    (
        format!(
            "SELECT {EVENT_COLUMNS} FROM usage_events{clause} ORDER BY timestamp, rowid LIMIT ? OFFSET ?"
        ),
        params,
    )
}

/// Owned parameters, borrowed for a call.
fn refs(params: &[SqlValue]) -> Vec<SqlRef<'_>> {
    params.iter().map(SqlValue::as_ref).collect()
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

fn latest_version(conn: &dyn SqlConnection, task_id: &str) -> Result<Option<u64>> {
    let rows = query(conn, schema::LATEST_VERSION, &[text(task_id)])?;
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
        let chunk_bytes = self.db.shared.chunk_bytes;
        self.db.transaction(|conn| {
            let latest = latest_version(conn, &input.task_id)?;
            check_expected(&input.task_id, latest, options)?;
            let version = match input.version {
                Some(v) => v,
                None => next_version(&input.task_id, latest)?,
            };
            let replaces = input.version.is_some();
            let snapshot = build_snapshot(input, version, &runtime);
            let chunked = chunk_bytes.filter(|limit| data.len() > *limit);
            if chunk_bytes.is_some() && replaces {
                // A replaced version's chunks go with it.
                conn.execute(
                    schema::DELETE_CHUNKS_VERSION,
                    &[text(&snapshot.task_id), int(version)],
                )?;
            }
            let insert = if replaces {
                schema::INSERT_SNAPSHOT
            } else {
                schema::INSERT_NEW_SNAPSHOT
            };
            conn.execute(
                insert,
                &[
                    text(&snapshot.task_id),
                    text(&snapshot.id),
                    int(snapshot.version),
                    text(if chunked.is_some() { "" } else { data }),
                    int(u64::from(snapshot.checkpoint)),
                    text(&snapshot.created_at.iso()),
                ],
            )?;
            if let Some(limit) = chunked {
                for (seq, piece) in chunks(data, limit).into_iter().enumerate() {
                    conn.execute(
                        schema::INSERT_CHUNK,
                        &[
                            text(&snapshot.task_id),
                            int(version),
                            int(u64::try_from(seq).unwrap_or(u64::MAX)),
                            text(piece),
                        ],
                    )?;
                }
            }
            Ok(snapshot)
        })
    }
}

fn json_of(s: &StateSnapshot, data: &str) -> String {
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
        Ok(json_of(&self.insert(input, &data, options)?, &data))
    }

    fn save_data_text(
        &self,
        input: StateSnapshotInput,
        data: DataText,
        options: SaveOptions,
    ) -> Result<String> {
        input.validate_fields()?;
        Ok(json_of(
            &self.insert(input, data.as_str(), options)?,
            data.as_str(),
        ))
    }

    fn get(&self, task_id: &str, version: Option<u64>) -> Result<Option<StateSnapshot>> {
        self.db.with(|conn| {
            by_version(task_id, version, |sql, params| {
                self.db.snapshot_row(conn, sql, params)
            })?
            .map(|r| snapshot_from_row(&r))
            .transpose()
        })
    }

    /// The row's `data` is checked and rewritten in serde_json's form as one stream (no tree),
    /// then embedded: the same text as serialising [`get`](SnapshotStore::get)'s snapshot.
    fn get_json(&self, task_id: &str, version: Option<u64>) -> Result<Option<String>> {
        self.db.with(|conn| {
            by_version(task_id, version, |sql, params| {
                self.db.snapshot_json(conn, sql, params)
            })
        })
    }

    fn get_by_id(&self, task_id: &str, snapshot_id: &str) -> Result<Option<StateSnapshot>> {
        self.db.with(|conn| {
            self.db
                .snapshot_row(conn, schema::GET_BY_ID, &[text(task_id), text(snapshot_id)])?
                .map(|r| snapshot_from_row(&r))
                .transpose()
        })
    }

    fn get_by_id_json(&self, task_id: &str, snapshot_id: &str) -> Result<Option<String>> {
        self.db.with(|conn| {
            self.db
                .snapshot_json(conn, schema::GET_BY_ID, &[text(task_id), text(snapshot_id)])
        })
    }

    fn list_versions(&self, task_id: &str) -> Result<Vec<u64>> {
        self.db.with(|conn| {
            query(conn, schema::LIST_VERSIONS, &[text(task_id)])?
                .iter()
                .map(|r| col_u64(r, 0, "snapshots", "version"))
                .collect()
        })
    }

    fn delete(&self, task_id: &str, version: Option<u64>) -> Result<bool> {
        if self.db.shared.chunk_bytes.is_some() {
            // Chunks and rows go together.
            self.db
                .transaction(|conn| self.db.delete_rows(conn, task_id, version))
        } else {
            self.db
                .with(|conn| self.db.delete_rows(conn, task_id, version))
        }
    }

    fn list_tasks(&self) -> Result<Vec<TaskSummary>> {
        self.db.with(|conn| {
            let rows = query(conn, schema::LIST_TASKS, &[])?;
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
        self.db.transaction(|conn| {
            let rows = query(conn, schema::PRUNE_CANDIDATES, &[text(task_id)])?;
            let listed = rows
                .iter()
                .map(|r| {
                    let t = "snapshots";
                    Ok((
                        col_u64(r, 0, t, "version")?,
                        col_int(r, 1, t, "checkpoint")? != 0,
                        Timestamp::parse_lenient(
                            &col_text(r, 2, t, "created_at")?,
                            "snapshots.created_at",
                        )
                        .map_err(|e| corrupt(e.message().to_owned()))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let doomed = policy.select(&listed);
            for v in &doomed {
                self.db.delete_rows(conn, task_id, Some(*v))?;
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
        params.push(SqlValue::Text(agent.to_owned()));
    }
    if let Some(start) = window.start {
        conditions.push("timestamp >= ?");
        params.push(SqlValue::Text(start.iso()));
    }
    if let Some(end) = window.end {
        conditions.push("timestamp <= ?");
        params.push(SqlValue::Text(end.iso()));
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
        self.db.transaction(|conn| {
            if let Some(id) = &input.id {
                let rows = query(conn, schema::GET_EVENT, &[text(id)])?;
                if let Some(row) = rows.first() {
                    return event_from_row(row);
                }
            }
            let event = new_event(input, &runtime, |id| {
                Ok(!query(conn, schema::EVENT_EXISTS, &[text(id)])?.is_empty())
            })?;
            conn.execute(
                schema::INSERT_EVENT,
                &[
                    text(&event.id),
                    text(&event.task_id),
                    text(&event.agent_id),
                    text(&event.consumer_id),
                    text(&event.metrics.json_text()),
                    text(&event.timestamp.iso()),
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
        let (sql, params) = window_query(agent_id, start, end, options);
        self.db.with(|conn| {
            query(conn, &sql, &refs(&params))?
                .iter()
                .map(|r| event_from_row(r))
                .collect()
        })
    }

    /// The rows are written as JSON where the connection holds them, none collected first.
    fn query_json(
        &self,
        agent_id: &str,
        start: Timestamp,
        end: Timestamp,
        options: QueryOptions,
    ) -> Result<String> {
        let (sql, params) = window_query(agent_id, start, end, options);
        self.db.with(|conn| {
            let mut out = String::from("[");
            conn.query_each(&sql, &refs(&params), &mut |row| {
                if out.len() > 1 {
                    out.push(',');
                }
                push_event_row(&mut out, row)
            })?;
            out.push(']');
            Ok(out)
        })
    }

    fn aggregate(&self, agent_id: &str, period: &str, window: Window) -> Result<UsageAggregate> {
        let (clause, params) = event_filter(Some(agent_id), window);
        self.db.with(|conn| {
            let mut totals = Totals::default();
            conn.query_each(
                &format!("SELECT metrics FROM usage_events{clause}"),
                &refs(&params),
                &mut |row| {
                    totals.add(&metrics_from_text(col_str(
                        row,
                        0,
                        "usage_events",
                        "metrics",
                    )?)?);
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
        self.db.with(|conn| {
            let mut events = Vec::new();
            conn.query_each(
                &format!(
                    "SELECT timestamp, metrics FROM usage_events{clause} ORDER BY timestamp, rowid"
                ),
                &refs(&params),
                &mut |row| {
                    let t = "usage_events";
                    let at = event_timestamp(col_str(row, 0, t, "timestamp")?)?;
                    if at < options.end {
                        events.push((at, metrics_from_text(col_str(row, 1, t, "metrics")?)?));
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
        self.db.with(|conn| {
            query(conn, schema::AGENTS, &[])?
                .iter()
                .map(|r| col_text(r, 0, "usage_events", "agent_id"))
                .collect()
        })
    }

    fn export(&self, format: ExportFormat, filter: &ExportFilter) -> Result<String> {
        let (clause, params) = event_filter(filter.agent_id.as_deref(), filter.window);
        self.db.with(|conn| {
            let events = query(
                conn,
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM usage_events{clause} ORDER BY timestamp, rowid"
                ),
                &refs(&params),
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

    #[cfg(feature = "sqlite")]
    #[test]
    fn db_errors_map_to_state_error_codes() {
        use crate::sqlite::DbError;
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

    #[test]
    fn an_event_row_is_written_as_its_event_whether_its_texts_are_copied_or_not() {
        let canonical = r#"{"tokens_in":3,"tokens_out":0,"duration_ms":7,"api_calls":1}"#;
        for (metrics, timestamp) in [
            (canonical, "2025-02-08T12:00:00+00:00"),
            (canonical, "2025-02-08T12:00:00.250000+00:00"),
            (canonical, "2025-02-08T12:00:00.000000+00:00"),
            (canonical, "2025-02-08T13:00:00+01:00"),
            (canonical, "2025-02-08 12:00:00"),
            (
                r#"{"tokens_in": 3, "duration_ms": 7, "api_calls": 1}"#,
                "2025-02-08T12:00:00Z",
            ),
            (
                r#"{"api_calls":1,"tokens_in":3,"duration_ms":7}"#,
                "2025-02-08T12:00:00+00:00",
            ),
        ] {
            let row: Vec<SqlValue> = ["evt_1", "t\"1", "agent", "c"]
                .into_iter()
                .chain([metrics, timestamp])
                .map(|v| SqlValue::Text(v.to_owned()))
                .collect();
            let mut written = String::new();
            push_event_row(&mut written, &row).unwrap();
            let event = event_from_row(&row).unwrap();
            assert_eq!(
                written,
                serde_json::to_string(&event).unwrap(),
                "{metrics} {timestamp}"
            );
            assert_eq!(event.metrics.tokens_in, 3);
        }
    }

    #[test]
    fn a_snapshot_row_gives_its_created_at_in_this_librarys_form_copied_or_not() {
        for created_at in [
            "2025-02-08T12:00:00+00:00",
            "2025-02-08T12:00:00.250000+00:00",
            "2025-02-08T12:00:00.000000+00:00",
            "2025-02-08T13:00:00.25+01:00",
            "2025-02-08 12:00:00",
        ] {
            let row = vec![
                SqlValue::Text("t".into()),
                SqlValue::Text("snap_1".into()),
                SqlValue::Integer(2),
                SqlValue::Text(r#"{"a":1}"#.into()),
                SqlValue::Integer(0),
                SqlValue::Text(created_at.into()),
            ];
            let at = Timestamp::parse_lenient(created_at, "t").unwrap();
            let want = StateSnapshot::json_text("snap_1", "t", 2, r#"{"a":1}"#, false, at);
            assert_eq!(snapshot_json_from_row(&row).unwrap(), want, "{created_at}");
            assert!(want.contains(&format!("\"created_at\":\"{}\"", at.iso())));
        }
        let mut row = vec![SqlValue::Text("t".into()); 6];
        row[2] = SqlValue::Integer(1);
        row[3] = SqlValue::Text("{}".into());
        row[4] = SqlValue::Integer(0);
        row[5] = SqlValue::Text("yesterday".into());
        assert!(corrupt_message(snapshot_json_from_row(&row)).contains("snapshots.created_at"));
    }

    fn corrupt_message<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(StateError::CorruptDatabase(m)) => m,
            other => panic!("expected CORRUPT_DATABASE, got {other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn written_metrics_read_back_exactly(
            a: u64, b: u64, c: u64, d: u64, digits in 0u32..20,
        ) {
            // Every width, not only the 19-20 digits most random u64s have.
            let m = UsageMetrics {
                tokens_in: a,
                tokens_out: b % 10u64.pow(digits),
                duration_ms: c >> (digits * 3),
                api_calls: d % 1000,
            };
            let text = m.json_text();
            proptest::prop_assert_eq!(written_metrics(&text), Some(m));
            proptest::prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), serde_json::to_value(m).unwrap());
        }
    }

    #[test]
    fn metrics_as_this_library_writes_them_are_read_without_a_parser() {
        let written =
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":18446744073709551615,"api_calls":10}"#;
        let want = UsageMetrics {
            tokens_in: 3,
            tokens_out: 0,
            duration_ms: u64::MAX,
            api_calls: 10,
        };
        assert_eq!(written_metrics(written), Some(want));
        assert_eq!(serde_json::to_string(&want).unwrap(), written);
        assert_eq!(want.json_text(), written);
        // Any other form is left to the parser, which gives the same answer or the error.
        for text in [
            r#"{"tokens_in": 3,"tokens_out":0,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":03,"tokens_out":0,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":3,"tokens_out":00,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":18446744073709551616,"api_calls":1}"#,
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":99999999999999999999,"api_calls":1}"#,
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":1}"#,
            r#"{"tokens_out":0,"tokens_in":3,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":1,"api_calls":10,"x":1}"#,
            r#"{"tokens_in":3,"tokens_out":0,"duration_ms":1,"api_calls":10} "#,
            r#"{"tokens_in":,"tokens_out":0,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":-3,"tokens_out":0,"duration_ms":1,"api_calls":10}"#,
            r#"{"tokens_in":3.0,"tokens_out":0,"duration_ms":1,"api_calls":10}"#,
        ] {
            assert_eq!(written_metrics(text), None, "{text}");
        }
        let zeros = r#"{"tokens_in":0,"tokens_out":0,"duration_ms":0,"api_calls":0}"#;
        assert_eq!(written_metrics(zeros), Some(UsageMetrics::default()));
        let m = metrics_from_text(r#"{"tokens_in":03,"api_calls":1}"#);
        assert!(corrupt_message(m).contains("usage_events.metrics"));
        let m =
            metrics_from_text(r#"{"tokens_in":3 , "tokens_out":0,"duration_ms":1,"api_calls":10}"#);
        assert_eq!(m.unwrap().api_calls, 10);
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
            SqlValue::Text("t".into()),
            SqlValue::Text("snap_1".into()),
            SqlValue::Integer(1),
            SqlValue::Text(data.into()),
            SqlValue::Integer(0),
            SqlValue::Text("2026-04-01T00:00:00Z".into()),
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
        row[2] = SqlValue::Integer(-4);
        assert!(
            corrupt_message(snapshot_from_row(&row)).contains("snapshots.version is negative (-4)")
        );
        let mut row = snapshot_row("{}");
        row[1] = SqlValue::Blob(vec![1, 2]);
        assert!(corrupt_message(snapshot_from_row(&row)).contains("snapshots.id is not text"));
        let mut row = snapshot_row("{}");
        row[4] = SqlValue::Text("yes".into());
        assert!(corrupt_message(snapshot_from_row(&row))
            .contains("snapshots.checkpoint is not an integer"));
        assert!(corrupt_message(snapshot_from_row(&snapshot_row("{}")[..3]))
            .contains("a row has too few columns"));
        let mut row = snapshot_row("{}");
        row[5] = SqlValue::Text("yesterday".into());
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
    fn chunks_end_on_characters_and_rejoin() {
        assert_eq!(chunks("", 4), Vec::<&str>::new());
        assert_eq!(chunks("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        // "é" is two bytes, "€" three: no piece splits one.
        let text = "aé€€é€a";
        for limit in 4..12 {
            let pieces = chunks(text, limit);
            assert!(pieces.iter().all(|p| !p.is_empty() && p.len() <= limit));
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(
            chunks("€€", 1),
            ["€", "€"],
            "below one character: one character"
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn image_and_file_backings_say_which_they_are() {
        let image = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
        assert!(image.is_image());
        let files = SqliteStateDb::open_store(
            Arc::new(crate::sqlite::MemoryStore::new()),
            "f.db",
            Runtime::default(),
        )
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
