//! The SQL engine (turso_core 0.8.3, the continuation of limbo) as a [`SqlConnection`]: open,
//! execute, query, transaction, checkpoint, export. Nothing outside this file names the engine,
//! so it can be swapped.
//!
//! * Our own `IO` + `File` over a [`BackingStore`]: each read/write/sync/truncate completes
//!   inside the call, so `StepResult::IO` only means "step again" and no completion is ever
//!   left pending (a pending one would spin forever, hanging a wasm instance).
//! * No threads, no OS calls (clock, sleep, yield, file identity and randomness are all
//!   overridden), no unwrap/expect/indexing on data in this module.
//! * Databases are opened with `Database::do_open_async`, which never touches the engine's
//!   process-wide registry; sharing one database between stores is ours to do.
//! * Never `BEGIN IMMEDIATE`, TEMP objects or `date('now')`: each traps in wasm.

use std::collections::HashMap;
use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::backing::{read_all, BackingFile, BackingStore, MemoryStore};
use crate::error::StateError;
use crate::sql::{schema, RowFn, SqlConnection, SqlRef};

use turso_core::storage::database::DatabaseFile;
use turso_core::{
    Buffer, CheckpointMode, Clock, Completion, CompletionError, Connection, Database, Dialect,
    File, IOResult, LimboError, MonotonicInstant, OpenDbAsyncState, OpenFlags, OpenOptions,
    SqliteDialect, Statement, StepResult, Value, WallClockInstant, IO,
};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub enum DbError {
    /// Not a SQLite file, truncated, or damaged (-> CORRUPT_DATABASE).
    Corrupt(String),
    /// A SQLite file whose contract tables have other columns (-> SCHEMA_MISMATCH).
    SchemaMismatch(String),
    /// UNIQUE / NOT NULL / CHECK ... violations.
    Constraint(String),
    /// Anything else the engine reports (SQL errors, busy, ...).
    Engine(String),
    /// A prepared statement outlived a schema change and must be prepared again.
    Stale(String),
    /// The backing store failed.
    Io(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Corrupt(m) => write!(f, "CORRUPT_DATABASE: {m}"),
            DbError::SchemaMismatch(m) => write!(f, "SCHEMA_MISMATCH: {m}"),
            DbError::Constraint(m) => write!(f, "CONSTRAINT: {m}"),
            DbError::Engine(m) | DbError::Stale(m) => write!(f, "ENGINE: {m}"),
            DbError::Io(m) => write!(f, "IO: {m}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<LimboError> for DbError {
    fn from(e: LimboError) -> Self {
        let msg = e.to_string();
        match e {
            LimboError::Corrupt(_) | LimboError::NotADB => DbError::Corrupt(msg),
            // Short reads / frame mismatches only happen on a damaged or truncated image,
            // because our IO always returns everything that exists.
            LimboError::CompletionError(
                CompletionError::ShortRead { .. }
                | CompletionError::ShortReadWalFrame { .. }
                | CompletionError::DecryptionError { .. }
                | CompletionError::PageCodecError { .. },
            ) => DbError::Corrupt(msg),
            LimboError::Constraint(_) | LimboError::ForeignKeyConstraint(_) => {
                DbError::Constraint(msg)
            }
            LimboError::SchemaUpdated => DbError::Stale(msg),
            _ => DbError::Engine(msg),
        }
    }
}

impl From<Box<LimboError>> for DbError {
    fn from(e: Box<LimboError>) -> Self {
        DbError::from(*e)
    }
}

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

/// A store-level error met while the engine checks a file (the contract's columns): damage
/// stays damage, a schema mismatch stays one, and anything else is the engine's complaint.
impl From<StateError> for DbError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::CorruptDatabase(m) => DbError::Corrupt(m),
            StateError::SchemaMismatch(m) => DbError::SchemaMismatch(m),
            other => DbError::Engine(other.message().to_owned()),
        }
    }
}

pub type Result<T> = std::result::Result<T, DbError>;

fn internal(msg: impl Into<String>) -> LimboError {
    LimboError::InternalError(msg.into())
}

// ---------------------------------------------------------------------------------------------
// File + IO: the engine's traits over our BackingStore
// ---------------------------------------------------------------------------------------------

/// A backing file as the engine sees it. Every call completes its completion before returning.
///
/// The write-ahead log of a file on disk keeps its blocks when the engine cuts it back after a
/// checkpoint: the cut is only recorded (`log` holds the length the engine sees), and the next
/// frames overwrite the old ones in place, as SQLite reuses its log. Appending to a file changes
/// its size, and then `fdatasync` must also write the file's metadata: on ext4 that doubled the
/// cost of a commit (measured: 255 µs against 125 µs for three frames and a sync). The old frames
/// left past the end carry the previous salts, so every reader (the engine, SQLite, our own
/// check in [`super::wal`]) stops before them after a crash. A cut to nothing (a clean close)
/// is made on the file.
struct EngineFile {
    file: Arc<dyn BackingFile>,
    /// For a log on disk: while the engine's cut leaves bytes past it, the length it sees and
    /// the file's own length (kept here, so a write needs no `fstat`).
    log: Option<Mutex<Option<Cut>>>,
}

/// A log cut back by the engine but not on the file.
#[derive(Clone, Copy)]
struct Cut {
    visible: u64,
    physical: u64,
}

impl EngineFile {
    /// The length the engine cut the log to, if the file is longer.
    fn cut(&self) -> Option<u64> {
        let log = self.log.as_ref()?;
        let cut = *log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cut.map(|c| c.visible)
    }

    /// After a write ending at `end`: the log's visible end moves up to it, and once the file
    /// holds nothing past it, no cut is left to remember.
    fn written_to(&self, end: u64) {
        let Some(log) = self.log.as_ref() else {
            return;
        };
        let mut cut = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = *cut {
            let visible = c.visible.max(end);
            let physical = c.physical.max(end);
            *cut = (visible < physical).then_some(Cut { visible, physical });
        }
    }
}

fn io_err(op: &'static str, e: String) -> LimboError {
    internal(format!("{op}: {e}"))
}

fn to_i32(n: usize) -> turso_core::Result<i32> {
    i32::try_from(n).map_err(|_| internal("io length exceeds i32"))
}

impl File for EngineFile {
    fn lock_file(&self, _exclusive: bool) -> turso_core::Result<()> {
        Ok(())
    }

    fn unlock_file(&self) -> turso_core::Result<()> {
        Ok(())
    }

    fn pread(&self, pos: u64, c: Completion) -> turso_core::Result<Completion> {
        let n = {
            let buf = c.as_read().buf();
            let dst = buf.as_mut_slice();
            // Nothing past a cut log's end is visible: a short read, as at the end of a file.
            let visible = match self.cut() {
                Some(len) => {
                    let room = usize::try_from(len.saturating_sub(pos)).unwrap_or(usize::MAX);
                    let end = room.min(dst.len());
                    dst.get_mut(..end).unwrap_or_default()
                }
                None => dst,
            };
            if visible.is_empty() {
                0
            } else {
                self.file
                    .read_at(pos, visible)
                    .map_err(|e| io_err("read", e))?
            }
        };
        // A short read (n < buf len) is reported as such; the engine turns it into an error
        // (or treats reading past the end of the WAL as "no more frames").
        c.complete(to_i32(n)?);
        Ok(c)
    }

    fn pwrite(
        &self,
        pos: u64,
        buffer: Arc<Buffer>,
        c: Completion,
    ) -> turso_core::Result<Completion> {
        let data = buffer.as_slice();
        self.file
            .write_at(pos, data)
            .map_err(|e| io_err("write", e))?;
        self.written_to(pos.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX)));
        c.complete(to_i32(data.len())?);
        Ok(c)
    }

    fn pwritev(
        &self,
        pos: u64,
        buffers: Vec<Arc<Buffer>>,
        c: Completion,
    ) -> turso_core::Result<Completion> {
        let parts: Vec<&[u8]> = buffers.iter().map(|b| b.as_slice()).collect();
        let total = parts
            .iter()
            .map(|p| p.len())
            .fold(0usize, usize::saturating_add);
        let off = pos
            .checked_add(u64::try_from(total).unwrap_or(u64::MAX))
            .ok_or_else(|| internal("pwritev offset overflows"))?;
        self.file
            .write_parts_at(pos, &parts)
            .map_err(|e| io_err("write", e))?;
        self.written_to(off);
        c.complete(to_i32(total)?);
        Ok(c)
    }

    fn sync(
        &self,
        c: Completion,
        _sync_type: turso_core::io::FileSyncType,
    ) -> turso_core::Result<Completion> {
        self.file.sync().map_err(|e| io_err("sync", e))?;
        c.complete(0);
        Ok(c)
    }

    fn size(&self) -> turso_core::Result<u64> {
        let physical = self.file.size().map_err(|e| io_err("size", e))?;
        Ok(self.cut().map_or(physical, |len| len.min(physical)))
    }

    fn truncate(&self, len: u64, c: Completion) -> turso_core::Result<Completion> {
        match self.log.as_ref() {
            Some(log) if len > 0 => {
                let physical = self.file.size().map_err(|e| io_err("size", e))?;
                let mut cut = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if len < physical {
                    *cut = Some(Cut {
                        visible: len,
                        physical,
                    });
                } else {
                    *cut = None;
                    self.file.truncate(len).map_err(|e| io_err("truncate", e))?;
                }
            }
            _ => {
                if let Some(log) = self.log.as_ref() {
                    *log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                }
                self.file.truncate(len).map_err(|e| io_err("truncate", e))?;
            }
        }
        c.complete(0);
        Ok(c)
    }

    // The trait defaults of these two panic; never leave a panicking default reachable.
    fn has_hole(&self, _pos: usize, _len: usize) -> turso_core::Result<bool> {
        Ok(false)
    }

    fn punch_hole(&self, _pos: usize, _len: usize) -> turso_core::Result<()> {
        Ok(())
    }
}

/// The engine's IO over a [`BackingStore`]: no threads, no OS clock, no OS randomness.
pub struct EngineIo {
    store: Arc<dyn BackingStore>,
    /// Fake monotonic clock: advances 1 ms per call so any timeout/busy loop terminates.
    ticks: AtomicU64,
    /// splitmix64 state for WAL salts (no getrandom on our path).
    rng: AtomicU64,
}

impl EngineIo {
    fn new(store: Arc<dyn BackingStore>, seed: u64) -> Self {
        Self {
            store,
            ticks: AtomicU64::new(0),
            rng: AtomicU64::new(seed ^ 0x9E37_79B9_7F4A_7C15),
        }
    }

    fn next_random(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Clock for EngineIo {
    fn current_time_monotonic(&self) -> MonotonicInstant {
        let t = self.ticks.fetch_add(1_000_000, Ordering::Relaxed);
        MonotonicInstant::from_nanos(u128::from(t))
    }

    fn current_time_wall_clock(&self) -> WallClockInstant {
        let t = self.ticks.fetch_add(1_000_000, Ordering::Relaxed);
        WallClockInstant {
            secs: i64::try_from(t / 1_000_000_000).unwrap_or(0),
            micros: u32::try_from((t / 1_000) % 1_000_000).unwrap_or(0),
        }
    }
}

impl IO for EngineIo {
    fn open_file(
        &self,
        path: &str,
        flags: OpenFlags,
        _direct: bool,
    ) -> turso_core::Result<Arc<dyn File>> {
        match self
            .store
            .open(path, flags.contains(OpenFlags::Create))
            .map_err(|e| io_err("open", e))?
        {
            Some(file) => Ok(Arc::new(EngineFile {
                file,
                log: (path.ends_with("-wal") && !self.store.in_memory()).then(|| Mutex::new(None)),
            })),
            None => Err(LimboError::CompletionError(CompletionError::IOError(
                std::io::ErrorKind::NotFound,
                "open",
            ))),
        }
    }

    fn remove_file(&self, path: &str) -> turso_core::Result<()> {
        self.store.remove(path).map_err(|e| io_err("remove", e))
    }

    fn step(&self) -> turso_core::Result<()> {
        Ok(())
    }

    /// Every completion is finished inside the File call; one that is not would otherwise
    /// make the default implementation spin forever (hang in wasm). Fail instead.
    fn wait_for_completion(&self, c: Completion) -> turso_core::Result<()> {
        if !c.finished() {
            return Err(internal("synchronous IO: completion still pending"));
        }
        match c.get_error() {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    fn drain_completions(&self, completions: &[Completion]) -> turso_core::Result<()> {
        if completions.iter().any(|c| !c.finished()) {
            return Err(internal("synchronous IO: completion still pending"));
        }
        Ok(())
    }

    fn generate_random_number(&self) -> i64 {
        i64::from_le_bytes(self.next_random().to_le_bytes())
    }

    fn fill_bytes(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let r = self.next_random().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(r.iter()) {
                *d = *s;
            }
        }
    }

    fn yield_now(&self) {}

    fn sleep(&self, _duration: std::time::Duration) {}

    fn file_id(&self, path: &str) -> turso_core::Result<turso_core::io::FileId> {
        Ok(turso_core::io::FileId::from_path_hash(path))
    }
}

// ---------------------------------------------------------------------------------------------
// Header validation (before the engine sees the bytes)
// ---------------------------------------------------------------------------------------------

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

/// Checks the 100-byte SQLite header and the file length. Returns the page size.
pub fn validate_image(b: &[u8]) -> Result<usize> {
    let page_size = validate_header(b)?;
    let bad = |m: &str| DbError::Corrupt(m.to_string());
    let pages_in_file = b.len().checked_div(page_size).unwrap_or(0);
    let change_counter = be_u32(b, 24).ok_or_else(|| bad("short header"))?;
    let header_pages = be_u32(b, 28).ok_or_else(|| bad("short header"))?;
    let valid_for = be_u32(b, 92).ok_or_else(|| bad("short header"))?;
    if header_pages != 0 && change_counter == valid_for {
        let hp = usize::try_from(header_pages).map_err(|_| bad("page count"))?;
        if hp > pages_in_file {
            return Err(bad("file is shorter than its header says (truncated)"));
        }
    }
    Ok(page_size)
}

/// [`validate_image`] but for the page count the header gives: what a main file in WAL mode
/// may legitimately contradict (a checkpoint killed after writing page 1, with the new size,
/// and before the pages past the old end; the log still holds them, and the check of the
/// main file with the log applied is the one that counts).
fn validate_header(b: &[u8]) -> Result<usize> {
    let bad = |m: &str| DbError::Corrupt(m.to_string());
    if b.is_empty() {
        return Err(bad("empty file"));
    }
    if b.len() < 512 {
        return Err(bad("file too short for a SQLite database"));
    }
    if b.get(..16) != Some(b"SQLite format 3\0".as_slice()) {
        return Err(bad("not a SQLite database (bad magic)"));
    }
    let ps_raw = be_u16(b, 16).ok_or_else(|| bad("short header"))?;
    let page_size: usize = if ps_raw == 1 {
        65536
    } else {
        usize::from(ps_raw)
    };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(bad("invalid page size"));
    }
    let (wv, rv) = (b.get(18).copied(), b.get(19).copied());
    if !matches!(wv, Some(1 | 2)) || !matches!(rv, Some(1 | 2)) {
        return Err(bad("invalid file format version"));
    }
    let reserved = usize::from(b.get(20).copied().unwrap_or(255));
    if page_size.saturating_sub(reserved) < 480 {
        return Err(bad("invalid reserved space"));
    }
    if b.get(21..24) != Some([64u8, 32, 32].as_slice()) {
        return Err(bad("invalid payload fractions"));
    }
    if b.len().checked_rem(page_size) != Some(0) {
        return Err(bad(
            "file length is not a multiple of the page size (truncated?)",
        ));
    }
    let schema_format = be_u32(b, 44).ok_or_else(|| bad("short header"))?;
    if schema_format > 4 {
        return Err(bad("unsupported schema format"));
    }
    let encoding = be_u32(b, 56).ok_or_else(|| bad("short header"))?;
    if encoding > 1 {
        return Err(bad("unsupported text encoding (UTF-16)"));
    }
    Ok(page_size)
}

/// The automatic indexes (`sqlite_schema` index rows without SQL) of each table must be exactly
/// those its `CREATE TABLE` implies — one per PRIMARY KEY that is not the rowid and per UNIQUE
/// constraint — with at most one primary key. turso_core 0.8.3 asserts this when it loads the
/// schema (a panic: "all automatic indexes parsed from sqlite_schema should have been
/// consumed"), so a damaged file that breaks it (a real index's `sql` damaged to a non-text
/// value, a PRIMARY KEY commented out) must be refused before the engine sees it. The tables'
/// SQL is read with the engine's own parser, as the engine reads it.
fn check_automatic_indexes(schema: &[super::check::SchemaRow]) -> Result<()> {
    let bad = |m: String| DbError::Corrupt(format!("sqlite_schema: {m}"));
    let mut automatic: Vec<(String, usize)> = Vec::new();
    for row in schema
        .iter()
        .filter(|r| r.kind == "index" && r.sql.is_none())
    {
        let key = row.tbl_name.to_ascii_lowercase();
        match automatic.iter_mut().find(|(t, _)| *t == key) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => automatic.push((key, 1)),
        }
    }
    for (table_name, found) in automatic {
        let Some((sql, root)) = schema.iter().find_map(|r| match &r.sql {
            Some(sql) if r.kind == "table" && r.name.to_ascii_lowercase() == table_name => {
                Some((sql, r.root))
            }
            _ => None,
        }) else {
            return Err(bad(format!(
                "automatic index for a missing table {table_name:?}"
            )));
        };
        let table = SqliteDialect
            .parse_table_sql(sql, root)
            .map_err(|e| bad(format!("table {table_name:?}: {e}")))?;
        let mut expected = 0usize;
        let mut primary_keys = 0usize;
        for set in &table.unique_sets {
            if !set.is_primary_key {
                expected = expected.saturating_add(1);
                continue;
            }
            primary_keys = primary_keys.saturating_add(1);
            if primary_keys > 1 || set.columns.len() != table.primary_key_columns.len() {
                return Err(bad(format!(
                    "table {table_name:?} has a malformed primary key"
                )));
            }
            let rowid_alias = match set.columns.as_slice() {
                [only] => table
                    .get_column(&only.name)
                    .is_some_and(|(_, c)| c.is_rowid_alias()),
                _ => false,
            };
            if !rowid_alias {
                if table.get_rowid_alias_column().is_some() || table.primary_key_columns.is_empty()
                {
                    return Err(bad(format!(
                        "table {table_name:?} has a malformed primary key"
                    )));
                }
                expected = expected.saturating_add(1);
            }
        }
        if found != expected {
            return Err(bad(format!(
                "table {table_name:?} has {found} automatic indexes, its SQL implies {expected}"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Db
// ---------------------------------------------------------------------------------------------

static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

/// The name of the validation copy inside its own memory store.
const PROBE_PATH: &str = "probe.db";

/// While an existing file is checked, anything the engine cannot make sense of (a conversion
/// error on a malformed schema row, say) means the file is damaged, not that storage failed.
fn refused(e: DbError) -> DbError {
    match e {
        DbError::Engine(m) | DbError::Constraint(m) | DbError::Stale(m) => DbError::Corrupt(m),
        other => other,
    }
}

/// One open database: the engine's connection over a [`BackingStore`].
pub struct Db {
    /// Prepared statements by SQL text, reused (reset and rebound) by every later call with the
    /// same text: parsing and planning cost more than running our point queries. Declared
    /// first so the statements are dropped before the connection they belong to.
    statements: Mutex<HashMap<String, Statement>>,
    io: Arc<EngineIo>,
    // Keep the Database alive as long as the connection.
    _db: Arc<Database>,
    conn: Arc<Connection>,
    path: String,
}

/// The engine's value for a bound parameter.
fn engine_value(v: SqlRef<'_>) -> Result<Value> {
    Ok(match v {
        SqlRef::Null => Value::Null,
        SqlRef::Integer(i) => Value::from_i64(i),
        SqlRef::Real(f) => Value::from_f64(f),
        SqlRef::Text(s) => Value::from_text(s.to_owned()),
        SqlRef::Blob(b) => {
            Value::from_slice(b).map_err(|_| DbError::Engine("out of memory for a blob".into()))?
        }
    })
}

/// An engine value, borrowed as the core's.
fn core_value(v: &Value) -> SqlRef<'_> {
    if let Some(i) = v.as_int() {
        SqlRef::Integer(i)
    } else if let Some(t) = v.to_text() {
        SqlRef::Text(t)
    } else if let Some(b) = v.to_blob() {
        SqlRef::Blob(b)
    } else if matches!(v, Value::Null) {
        SqlRef::Null
    } else {
        SqlRef::Real(v.to_float_or_zero())
    }
}

/// Binds positional parameters `?1..?n` (every earlier binding replaced).
fn bind(stmt: &mut Statement, params: &[SqlRef<'_>]) -> Result<()> {
    stmt.clear_bindings();
    for (i, v) in params.iter().enumerate() {
        let idx = i
            .checked_add(1)
            .and_then(NonZero::new)
            .ok_or_else(|| DbError::Engine("param index".into()))?;
        stmt.bind_at(idx, engine_value(*v)?)?;
    }
    Ok(())
}

/// A row's values, handed to a row callback (borrowed: nothing is copied).
type EngineRowFn<'a> = dyn FnMut(&[&Value]) -> Result<()> + 'a;

/// Drives a statement to completion, handing each row to `on_row`. `StepResult::IO` only
/// means "step again": our IO finished every completion inside the File call.
fn run(io: &EngineIo, stmt: &mut Statement, on_row: &mut EngineRowFn<'_>) -> Result<()> {
    // Guard against a bug turning into an endless loop (which would hang a wasm instance).
    let mut idle_steps: u32 = 0;
    loop {
        match stmt.step()? {
            StepResult::Row => {
                idle_steps = 0;
                if let Some(row) = stmt.row() {
                    let values: Vec<&Value> = row.get_values().collect();
                    on_row(&values)?;
                }
            }
            StepResult::Done => return Ok(()),
            StepResult::IO | StepResult::Yield | StepResult::Sleep { .. } => {
                if let Some(c) = stmt.take_io_completions() {
                    c.wait(io)?;
                }
                idle_steps = idle_steps.saturating_add(1);
                if idle_steps > 1_000_000 {
                    return Err(DbError::Engine("statement made no progress".into()));
                }
            }
            StepResult::Busy => return Err(DbError::Engine("database is busy".into())),
            StepResult::Interrupt => return Err(DbError::Engine("interrupted".into())),
        }
    }
}

/// A database holding only the contract's empty tables and indexes, as the engine would leave
/// it after running the schema script: in WAL mode (file format bytes 18-19 = 2), so the engine
/// has no header to convert on its first write, and with the engine's own "version-valid-for"
/// number (bytes 92-95), which differs from the change counter. The engine keeps the page count
/// of bytes 28-31 but never the change counter; with the two numbers equal, readers would take
/// that count as valid, and a main file whose checkpoint was cut short after page 1 contradicts
/// it (SQLite then counts the file's pages, as for any file the engine created).
fn empty_database() -> Result<Vec<u8>> {
    let mut bytes = crate::sql::image::write_image(&crate::sql::image::ImageRows::default())
        .map_err(|e| DbError::Engine(format!("empty database: {e}")))?;
    if let Some(versions) = bytes.get_mut(18..20) {
        versions.copy_from_slice(&[2, 2]);
    }
    if let Some(valid_for) = bytes.get_mut(92..96) {
        valid_for.copy_from_slice(&ENGINE_VERSION_VALID_FOR.to_be_bytes());
    }
    Ok(bytes)
}

/// The checks of an existing file made before the engine sees it: its header, then the
/// structure a reader sees — the main file with the log's committed frames (after a checkpoint
/// cut short, the main file alone points at pages only the log holds): every b-tree page
/// ([`super::check`]) and the schema's automatic indexes.
fn check_file(main: &[u8], wal: Option<&[u8]>) -> Result<()> {
    let page_size = validate_header(main)?;
    let current = super::wal::apply(main, wal, page_size);
    let page_size = validate_image(&current)?;
    let schema = super::check::check_structure(&current, page_size).map_err(DbError::Corrupt)?;
    check_automatic_indexes(&schema)
}

/// The "version-valid-for" number turso_core 0.8.3 writes in a new database's header.
const ENGINE_VERSION_VALID_FOR: u32 = 3_047_000;

impl Db {
    /// Opens the database `path` of `store`: a missing or empty main file gives a fresh
    /// database; an existing one (rollback-journal or WAL mode) is validated before it is used —
    /// header, then every b-tree page ([`super::check`]), then the engine's
    /// `PRAGMA integrity_check` and the contract's tables ([`schema::check_columns`]) — so a damaged file
    /// is `Corrupt` (or `SchemaMismatch`), never a panic.
    ///
    /// The engine's checks run on a copy in memory first, because opening can write (the engine
    /// switches a rollback-journal file to WAL mode), and a file that is refused must be left
    /// exactly as it was. (A database's own image is checked in place: [`Db::open_image`].)
    pub fn open(store: Arc<dyn BackingStore>, path: &str) -> Result<Db> {
        let existing = match store.open(path, false).map_err(DbError::Io)? {
            Some(f) => read_all(f.as_ref()).map_err(DbError::Io)?,
            None => Vec::new(),
        };
        if existing.is_empty() {
            // A fresh database: no schema page to touch yet.
            return Self::open_unchecked(store, path, false);
        }
        let wal = match store
            .open(&format!("{path}-wal"), false)
            .map_err(DbError::Io)?
        {
            Some(f) => Some(read_all(f.as_ref()).map_err(DbError::Io)?),
            None => None,
        };
        check_file(&existing, wal.as_deref())?;
        let scratch = Arc::new(MemoryStore::new());
        scratch.put(PROBE_PATH, existing);
        if let Some(wal) = wal {
            scratch.put(&format!("{PROBE_PATH}-wal"), wal);
        }
        {
            let probe = Self::open_unchecked(scratch, PROBE_PATH, true).map_err(refused)?;
            probe.validate().map_err(refused)?;
        }
        Self::open_unchecked(store, path, true)
    }

    /// An existing database image that is this database's own, `bytes` (not empty), put in
    /// `store` at `path` once checked: the checks of [`Db::open`], in place (nobody else sees
    /// these bytes, so no copy is needed to leave them untouched on refusal), on the bytes as
    /// given; `validate` gives it the contract's tables where missing.
    pub fn open_image(store: Arc<MemoryStore>, path: &str, bytes: Vec<u8>) -> Result<Db> {
        check_file(&bytes, None)?;
        store.put(path, bytes);
        let db = Self::open_unchecked(store, path, true).map_err(refused)?;
        db.validate().map_err(refused)?;
        Ok(db)
    }

    /// The engine's own checks of an existing file: integrity, the contract's tables, then the
    /// contract's schema script, which must apply to it. (A schema the engine cannot extend —
    /// an index whose `sqlite_schema` name differs from the one in its SQL, say — is damage,
    /// and must not surface later as a storage error.) This runs on the validation copy, so
    /// the script's failure here never means that real storage failed.
    fn validate(&self) -> Result<()> {
        self.integrity_check()?;
        schema::check_columns(self)?;
        self.create_schema()
    }

    /// Opens `path` of `store` with the contract's tables and indexes. A new database (no main
    /// file, or an empty one, and no write-ahead log holding pages) starts from the empty
    /// database [`crate::sql::image`] writes, in WAL mode: the engine reads a schema instead of
    /// planning and running the schema script, which was most of a cold start. Any other file
    /// is opened by [`Db::open`] (checked) and gets the tables it lacks.
    pub fn open_with_schema(store: Arc<dyn BackingStore>, path: &str) -> Result<Db> {
        if Self::is_new(store.as_ref(), path)? {
            let file = store
                .open(path, true)
                .map_err(DbError::Io)?
                .ok_or_else(|| DbError::Io(format!("{path}: could not be created")))?;
            file.write_at(0, &empty_database()?).map_err(DbError::Io)?;
            file.sync().map_err(DbError::Io)?;
            return Self::open_unchecked(store, path, false);
        }
        let db = Self::open(store, path)?;
        db.create_schema()?;
        Ok(db)
    }

    /// Whether `path` holds no database yet: its main file is missing or empty and no log
    /// beside it holds pages (after a crash before the first checkpoint, the log holds them all).
    fn is_new(store: &dyn BackingStore, path: &str) -> Result<bool> {
        for name in [path.to_owned(), format!("{path}-wal")] {
            if let Some(f) = store.open(&name, false).map_err(DbError::Io)? {
                if f.size().map_err(DbError::Io)? > 0 {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The contract's tables and indexes, where missing.
    pub fn create_schema(&self) -> Result<()> {
        for ddl in schema::SCHEMA {
            self.exec_once(ddl)?;
        }
        Ok(())
    }

    /// `PRAGMA integrity_check`; anything but a single "ok" row -> Corrupt.
    pub fn integrity_check(&self) -> Result<()> {
        let rows = self
            .query("PRAGMA integrity_check", &[])
            .map_err(|e| match e {
                DbError::Corrupt(m) => DbError::Corrupt(m),
                other => DbError::Corrupt(format!("integrity_check failed: {other}")),
            })?;
        let first = rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.to_text())
            .unwrap_or("")
            .to_owned();
        if rows.len() == 1 && first == "ok" {
            Ok(())
        } else {
            Err(DbError::Corrupt(format!("integrity_check: {first}")))
        }
    }

    /// Opens `path` without the file checks; `touch` reads the schema once, so a damaged
    /// `sqlite_schema` page fails here rather than later (pointless for a fresh database).
    fn open_unchecked(store: Arc<dyn BackingStore>, path: &str, touch: bool) -> Result<Db> {
        let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed);
        let io = Arc::new(EngineIo::new(store, seed));
        let dyn_io: Arc<dyn IO> = io.clone();
        let file = dyn_io.open_file(path, OpenFlags::Create, false)?;
        let opts = OpenOptions::new(Arc::new(SqliteDialect))
            .flags(OpenFlags::Create)
            .storage(Arc::new(DatabaseFile::new(file)));
        let mut state = OpenDbAsyncState::new();
        // `do_open_async` never touches the engine's process-wide registry of databases.
        let db = loop {
            match Database::do_open_async(&mut state, dyn_io.clone(), path, &opts)? {
                IOResult::Done(db) => break db,
                IOResult::IO(c) => c.wait(io.as_ref())?,
            }
        };
        let conn = db.connect()?;
        conn.set_temp_store(turso_core::TempStore::Memory);
        let this = Db {
            statements: Mutex::new(HashMap::new()),
            io,
            _db: db,
            conn,
            path: path.to_owned(),
        };
        if touch {
            this.query("SELECT count(*) FROM sqlite_schema", &[])?;
        }
        Ok(this)
    }

    /// Runs `sql` with `params` on its cached statement (prepared on first use), returning the
    /// rows and the number of rows changed. The statement is reset after every run, so it holds
    /// no cursor or read transaction between calls; one that failed is dropped, not reused. A
    /// statement the engine reports stale (the schema changed under it) is prepared again once.
    fn run_cached(
        &self,
        sql: &str,
        params: &[SqlRef<'_>],
        on_row: &mut EngineRowFn<'_>,
    ) -> Result<i64> {
        let mut cache = self
            .statements
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut retried = false;
        loop {
            let mut stmt = match cache.remove(sql) {
                Some(stmt) => stmt,
                None => self.conn.prepare(sql)?,
            };
            let result = bind(&mut stmt, params).and_then(|()| run(&self.io, &mut stmt, on_row));
            let changes = stmt.n_change();
            let reset = stmt.reset();
            match (result, reset) {
                (Ok(()), Ok(())) => {
                    cache.insert(sql.to_owned(), stmt);
                    return Ok(changes);
                }
                (Err(DbError::Stale(_)), _) if !retried => retried = true,
                (Err(e), _) => return Err(e),
                (Ok(_), Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Runs one statement (positional `?` parameters), ignoring rows; returns rows changed.
    pub fn exec(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<i64> {
        self.run_cached(sql, params, &mut |_| Ok(()))
    }

    /// Runs a statement without parameters and without caching it (DDL).
    fn exec_once(&self, sql: &str) -> Result<()> {
        self.conn.execute(sql)?;
        Ok(())
    }

    /// Runs a query and returns its rows.
    pub fn query(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<Vec<Vec<Value>>> {
        let mut rows = Vec::new();
        self.run_cached(sql, params, &mut |row| {
            rows.push(row.iter().map(|v| (*v).clone()).collect());
            Ok(())
        })?;
        Ok(rows)
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        !self.conn.get_auto_commit()
    }

    /// `BEGIN; f; COMMIT` — or `ROLLBACK` if `f` (or `COMMIT`) fails, so a failed operation
    /// changes nothing.
    ///
    /// Plain (deferred) `BEGIN`, not `BEGIN IMMEDIATE`: in turso_core 0.8.3 that also opens the
    /// TEMP database on an IO whose clock calls `Instant::now()`, which traps in wasm. With one
    /// connection per database, deferred is equivalent.
    pub fn transaction<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.exec("BEGIN", &[])?;
        match f(self).and_then(|v| self.exec("COMMIT", &[]).map(|_| v)) {
            Ok(v) => Ok(v),
            Err(e) => {
                if self.in_transaction() {
                    // The original error is what the caller needs; a failed rollback of an
                    // in-memory transaction leaves the engine to discard it on close.
                    let _ = self.exec("ROLLBACK", &[]);
                }
                Err(e)
            }
        }
    }

    /// Checkpoints the WAL into the main file (`TRUNCATE`), so the main file is complete.
    pub fn checkpoint(&self) -> Result<()> {
        if self.in_transaction() {
            return Err(DbError::Engine("checkpoint inside a transaction".into()));
        }
        self.conn.checkpoint(CheckpointMode::Truncate {
            upper_bound_inclusive: None,
        })?;
        Ok(())
    }

    /// One self-contained SQLite file image: the WAL checkpointed in, then the main file.
    pub fn export_bytes(&self) -> Result<Vec<u8>> {
        self.checkpoint()?;
        let main = self
            .io
            .store
            .open(&self.path, false)
            .map_err(DbError::Io)?
            .ok_or_else(|| DbError::Engine("main file missing".into()))?;
        let bytes = read_all(main.as_ref()).map_err(DbError::Io)?;
        validate_image(&bytes)?;
        Ok(bytes)
    }

    /// Closes the connection (checkpointing what it can).
    pub fn close(&self) -> Result<()> {
        self.statements
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        self.conn.close()?;
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Closing checkpoints what it can; an error here has nowhere to go, and every
        // committed transaction is already in the WAL. Cached statements go first.
        if let Ok(mut statements) = self.statements.lock() {
            statements.clear();
        }
        let _ = self.conn.close();
    }
}

// ---------------------------------------------------------------------------------------------
// The core's connection
// ---------------------------------------------------------------------------------------------

impl SqlConnection for Db {
    fn execute(&self, sql: &str, params: &[SqlRef<'_>]) -> crate::Result<u64> {
        let changed = self.exec(sql, params)?;
        Ok(u64::try_from(changed).unwrap_or(0))
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[SqlRef<'_>],
        on_row: &mut RowFn<'_>,
    ) -> crate::Result<()> {
        // The caller's error travels through the engine's loop untouched.
        let mut failed: Option<StateError> = None;
        let result = self.run_cached(sql, params, &mut |row| {
            let values: Vec<SqlRef<'_>> = row.iter().map(|v| core_value(v)).collect();
            on_row(&values).map_err(|e| {
                let message = e.message().to_owned();
                failed = Some(e);
                DbError::Engine(message)
            })
        });
        match (result, failed) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }

    fn transaction(&self, body: &mut dyn FnMut() -> crate::Result<()>) -> crate::Result<()> {
        let mut failed: Option<StateError> = None;
        let result = Db::transaction(self, |_| {
            body().map_err(|e| {
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

    fn export_bytes(&self) -> crate::Result<Vec<u8>> {
        Ok(Db::export_bytes(self)?)
    }

    fn close(&self) -> crate::Result<()> {
        self.checkpoint()?;
        Ok(Db::close(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::backing::MemoryFile;

    fn mem_io() -> (Arc<MemoryStore>, EngineIo) {
        let store = Arc::new(MemoryStore::new());
        let io = EngineIo::new(store.clone(), 7);
        (store, io)
    }

    /// A fresh database image with the contract's tables.
    fn image() -> Vec<u8> {
        let db = Db::open(Arc::new(MemoryStore::new()), "img.db").unwrap();
        db.create_schema().unwrap();
        db.export_bytes().unwrap()
    }

    #[test]
    fn db_error_display_names_each_kind() {
        let cases = [
            (DbError::Corrupt("a".into()), "CORRUPT_DATABASE: a"),
            (DbError::SchemaMismatch("b".into()), "SCHEMA_MISMATCH: b"),
            (DbError::Constraint("c".into()), "CONSTRAINT: c"),
            (DbError::Engine("d".into()), "ENGINE: d"),
            (DbError::Io("e".into()), "IO: e"),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn limbo_errors_map_to_db_errors() {
        assert!(matches!(
            DbError::from(LimboError::Corrupt("x".into())),
            DbError::Corrupt(m) if m.contains('x')
        ));
        assert!(matches!(
            DbError::from(LimboError::NotADB),
            DbError::Corrupt(_)
        ));
        let short = CompletionError::ShortRead {
            page_idx: 3,
            expected: 4096,
            actual: 10,
        };
        assert!(matches!(
            DbError::from(LimboError::CompletionError(short)),
            DbError::Corrupt(m) if m.contains("short read")
        ));
        assert!(matches!(
            DbError::from(LimboError::CompletionError(
                CompletionError::DecryptionError { page_idx: 1 }
            )),
            DbError::Corrupt(_)
        ));
        assert!(matches!(
            DbError::from(LimboError::Constraint("UNIQUE".into())),
            DbError::Constraint(m) if m.contains("UNIQUE")
        ));
        assert!(matches!(
            DbError::from(LimboError::ForeignKeyConstraint("fk".into())),
            DbError::Constraint(_)
        ));
        assert!(matches!(
            DbError::from(Box::new(LimboError::InternalError("boom".into()))),
            DbError::Engine(m) if m.contains("boom")
        ));
        assert!(matches!(
            DbError::from(LimboError::CompletionError(CompletionError::Aborted)),
            DbError::Engine(_)
        ));
    }

    #[test]
    fn clock_advances_one_millisecond_per_call() {
        let (_, io) = mem_io();
        let a = io.current_time_monotonic();
        let b = io.current_time_monotonic();
        assert!(b > a);
        assert_eq!(b, MonotonicInstant::from_nanos(1_000_000));
        let w = io.current_time_wall_clock();
        assert_eq!(w.secs, 0);
        assert_eq!(w.micros, 2_000);
        // 1000 calls later the wall clock has passed one second.
        for _ in 0..1000 {
            io.current_time_monotonic();
        }
        assert_eq!(io.current_time_wall_clock().secs, 1);
    }

    #[test]
    fn randomness_is_seeded_and_fills_every_byte() {
        let (_, a) = mem_io();
        let (_, b) = mem_io();
        let (x, y) = (a.generate_random_number(), b.generate_random_number());
        assert_eq!(x, y, "same seed, same sequence");
        assert_ne!(a.generate_random_number(), x, "the sequence moves on");
        let c = EngineIo::new(Arc::new(MemoryStore::new()), 8);
        assert_ne!(
            c.generate_random_number(),
            x,
            "another seed, another sequence"
        );

        // 13 bytes: one full chunk of 8 and a partial one of 5.
        let mut buf = [0u8; 13];
        a.fill_bytes(&mut buf);
        assert!(buf[8..].iter().any(|b| *b != 0), "the tail chunk is filled");
        let mut again = [0u8; 13];
        a.fill_bytes(&mut again);
        assert_ne!(buf, again);
    }

    #[test]
    fn file_ids_remove_and_no_op_hooks() {
        let (store, io) = mem_io();
        assert_eq!(io.file_id("a.db").unwrap(), io.file_id("a.db").unwrap());
        assert_ne!(io.file_id("a.db").unwrap(), io.file_id("b.db").unwrap());
        io.step().unwrap();
        io.yield_now();
        io.sleep(std::time::Duration::from_secs(3600)); // returns at once
        store.put("x.db", vec![1, 2, 3]);
        io.remove_file("x.db").unwrap();
        assert!(store.contents("x.db").is_none());
        io.remove_file("x.db").unwrap(); // missing: still Ok
    }

    #[test]
    fn open_file_without_create_of_a_missing_file_is_not_found() {
        let (store, io) = mem_io();
        let err = match io.open_file("missing.db", OpenFlags::empty(), false) {
            Err(e) => e,
            Ok(_) => panic!("opened a missing file"),
        };
        assert!(matches!(
            err,
            LimboError::CompletionError(CompletionError::IOError(std::io::ErrorKind::NotFound, _))
        ));
        assert!(store.contents("missing.db").is_none(), "nothing created");
        let f = io.open_file("new.db", OpenFlags::Create, false).unwrap();
        assert_eq!(f.size().unwrap(), 0);
        assert_eq!(store.contents("new.db"), Some(Vec::new()));
    }

    #[test]
    fn pending_completions_are_errors_not_hangs() {
        let (_, io) = mem_io();
        let pending = Completion::new_write(|_| {});
        let e = io.wait_for_completion(pending.clone()).unwrap_err();
        assert!(e.to_string().contains("still pending"), "{e}");
        let done = Completion::new_write(|_| {});
        done.complete(0);
        io.drain_completions(std::slice::from_ref(&done)).unwrap();
        let e = io
            .drain_completions(&[done.clone(), pending.clone()])
            .unwrap_err();
        assert!(e.to_string().contains("still pending"), "{e}");
        io.wait_for_completion(done).unwrap();
        let failed = Completion::new_write(|_| {});
        failed.abort();
        let e = io.wait_for_completion(failed).unwrap_err();
        assert!(matches!(
            e,
            LimboError::CompletionError(CompletionError::Aborted)
        ));
    }

    /// The contract's tables in WAL mode, written by the real SQLite and never checkpointed:
    /// (main file, log, the same database checkpointed). SQLite keeps the header's page count
    /// valid (change counter = version-valid-for).
    fn contract_wal(rows: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        super::super::wal::tests::sqlite_wal_with(&schema::SCHEMA, rows, |conn, k| {
            conn.execute(
                "INSERT INTO snapshots VALUES (?1, ?2, 1, ?3, 0, '2025-01-01T00:00:00+00:00')",
                (
                    format!("t{k}"),
                    format!("s{k}"),
                    format!("{{\"f\":\"{}\"}}", "x".repeat(300)),
                ),
            )
            .unwrap();
        })
    }

    /// A checkpoint killed after it wrote page 1 (with the new page count) and before the pages
    /// past the old end: the main file alone is shorter than its header says, the log still
    /// holds the rest, and the file opens with every row (SQLite reads it so too). The crash
    /// test met this once the engine's own files carried a valid page count.
    #[test]
    fn a_checkpoint_cut_after_page_1_opens_with_every_row() {
        let (main, wal, checkpointed) = contract_wal(100);
        assert!(checkpointed.len() > main.len(), "the log holds new pages");
        let mut torn = main.clone();
        torn[..4096].copy_from_slice(&checkpointed[..4096]);
        assert_eq!(torn[24..28], torn[92..96], "SQLite's page count is valid");
        assert!(
            validate_image(&torn).is_err(),
            "the main file alone is short"
        );
        let store = Arc::new(MemoryStore::new());
        store.put("t.db", torn);
        store.put("t.db-wal", wal);
        let db = Db::open(store, "t.db").unwrap();
        let rows = db.query("SELECT count(*) FROM snapshots", &[]).unwrap();
        assert_eq!(rows[0][0].as_int(), Some(100));
    }

    #[test]
    fn a_new_database_has_the_engines_header_numbers() {
        let bytes = empty_database().unwrap();
        assert_eq!(&bytes[18..20], &[2, 2]);
        assert_ne!(bytes[24..28], bytes[92..96]);
        validate_image(&bytes).unwrap();
    }

    #[test]
    fn a_cut_log_keeps_its_blocks_and_shows_only_the_cut() {
        let mem = Arc::new(MemoryFile::new(vec![7u8; 100]));
        let f = EngineFile {
            file: mem.clone(),
            log: Some(Mutex::new(None)),
        };
        // The length a read reports.
        let read = |pos: u64, len: usize| {
            let got = Arc::new(Mutex::new(-1));
            let seen = got.clone();
            let c = Completion::new_read(Arc::new(Buffer::new(vec![0; len])), move |r| {
                *seen.lock().unwrap() = r.map(|(_, n)| n).unwrap_or(-2);
                None
            });
            assert!(f.pread(pos, c).unwrap().finished());
            let n = *got.lock().unwrap();
            n
        };
        let truncated = || Completion::new_trunc(|_| {});
        assert!(f.truncate(32, truncated()).unwrap().succeeded());
        assert_eq!(f.size().unwrap(), 32, "the engine sees the cut");
        assert_eq!(mem.contents().len(), 100, "the file keeps its blocks");
        assert_eq!(read(32, 8), 0, "reading past the cut is a short read");
        assert_eq!(read(24, 16), 8);
        assert_eq!(read(0, 16), 16);
        // A write moves the visible end; once it passes the file's end, the cut is gone.
        let write = |pos: u64, bytes: &[u8]| {
            let buf = Arc::new(Buffer::new(bytes.to_vec()));
            assert!(f
                .pwrite(pos, buf, Completion::new_write(|_| {}))
                .unwrap()
                .succeeded());
        };
        write(32, &[1; 10]);
        assert_eq!(f.size().unwrap(), 42);
        assert_eq!(mem.contents().len(), 100);
        write(95, &[2; 10]);
        assert_eq!(f.size().unwrap(), 105);
        assert_eq!(f.cut(), None);
        // A cut at or past the end, and a cut to nothing, are made on the file.
        assert!(f.truncate(50, truncated()).unwrap().succeeded());
        assert_eq!((f.size().unwrap(), mem.contents().len()), (50, 105));
        assert!(f.truncate(0, truncated()).unwrap().succeeded());
        assert_eq!((f.size().unwrap(), mem.contents().len()), (0, 0));
        assert_eq!(f.cut(), None);
    }

    #[test]
    fn engine_file_reads_writes_and_hooks() {
        let mem = Arc::new(MemoryFile::new(b"0123456789".to_vec()));
        let f = EngineFile {
            file: mem.clone(),
            log: None,
        };
        f.lock_file(true).unwrap();
        f.unlock_file().unwrap();
        assert!(!f.has_hole(0, 10).unwrap());
        f.punch_hole(0, 4).unwrap();
        assert_eq!(mem.contents(), b"0123456789", "punch_hole changes nothing");

        // pwritev writes each buffer after the previous one.
        let bufs = vec![
            Arc::new(Buffer::new(b"ab".to_vec())),
            Arc::new(Buffer::new(b"cde".to_vec())),
        ];
        let c = f.pwritev(8, bufs, Completion::new_write(|_| {})).unwrap();
        assert!(c.succeeded());
        assert_eq!(mem.contents(), b"01234567abcde");
        assert_eq!(f.size().unwrap(), 13);

        let c = f.truncate(4, Completion::new_trunc(|_| {})).unwrap();
        assert!(c.finished());
        assert_eq!(mem.contents(), b"0123");
        let c = f
            .sync(
                Completion::new_sync(|_| {}),
                turso_core::io::FileSyncType::Fsync,
            )
            .unwrap();
        assert!(c.succeeded());

        // A read past the end is short, not an error.
        let buf = Arc::new(Buffer::new(vec![9u8; 8]));
        let got = Arc::new(std::sync::Mutex::new(None));
        let seen = got.clone();
        let c = Completion::new_read(buf, move |r| {
            *seen.lock().unwrap() = r.ok().map(|(_, n)| n);
            None
        });
        assert!(f.pread(2, c).unwrap().succeeded());
        assert_eq!(*got.lock().unwrap(), Some(2));
    }

    /// A file whose every operation fails.
    struct Broken;

    impl BackingFile for Broken {
        fn read_at(&self, _: u64, _: &mut [u8]) -> std::result::Result<usize, String> {
            Err("disk gone".into())
        }
        fn write_at(&self, _: u64, _: &[u8]) -> std::result::Result<(), String> {
            Err("disk gone".into())
        }
        fn size(&self) -> std::result::Result<u64, String> {
            Err("disk gone".into())
        }
        fn truncate(&self, _: u64) -> std::result::Result<(), String> {
            Err("disk gone".into())
        }
        fn sync(&self) -> std::result::Result<(), String> {
            Err("disk gone".into())
        }
    }

    struct BrokenStore;

    impl BackingStore for BrokenStore {
        fn open(
            &self,
            _: &str,
            _: bool,
        ) -> std::result::Result<Option<Arc<dyn BackingFile>>, String> {
            Err("no store".into())
        }
        fn remove(&self, _: &str) -> std::result::Result<(), String> {
            Err("no store".into())
        }
    }

    #[test]
    fn backing_failures_become_engine_errors_naming_the_operation() {
        let f = EngineFile {
            file: Arc::new(Broken),
            log: None,
        };
        let msg = |r: turso_core::Result<Completion>| match r {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a failing file succeeded"),
        };
        let read = Completion::new_read(Arc::new(Buffer::new(vec![0; 4])), |_| None);
        assert!(msg(f.pread(0, read)).contains("read: disk gone"));
        let data = Arc::new(Buffer::new(vec![1; 4]));
        assert!(
            msg(f.pwrite(0, data.clone(), Completion::new_write(|_| {})))
                .contains("write: disk gone")
        );
        assert!(msg(f.pwritev(0, vec![data], Completion::new_write(|_| {})))
            .contains("write: disk gone"));
        assert!(msg(f.sync(
            Completion::new_sync(|_| {}),
            turso_core::io::FileSyncType::Fsync
        ))
        .contains("sync: disk gone"));
        assert!(msg(f.truncate(0, Completion::new_trunc(|_| {}))).contains("truncate: disk gone"));
        assert!(f
            .size()
            .unwrap_err()
            .to_string()
            .contains("size: disk gone"));

        let io = EngineIo::new(Arc::new(BrokenStore), 1);
        let e = match io.open_file("a.db", OpenFlags::Create, false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("opened through a failing store"),
        };
        assert!(e.contains("open: no store"), "{e}");
        assert!(io
            .remove_file("a.db")
            .unwrap_err()
            .to_string()
            .contains("remove: no store"));
        assert_eq!(
            Db::open(Arc::new(BrokenStore), "a.db").err(),
            Some(DbError::Io("no store".into()))
        );
    }

    #[test]
    fn open_of_a_missing_file_creates_a_fresh_database() {
        let store = Arc::new(MemoryStore::new());
        let db = Db::open(store.clone(), "fresh.db").unwrap();
        db.create_schema().unwrap();
        assert!(store.contents("fresh.db").is_some());
        schema::check_columns(&db).unwrap();
        db.integrity_check().unwrap();
    }

    #[test]
    fn checkpoint_inside_a_transaction_is_refused() {
        let db = Db::open(Arc::new(MemoryStore::new()), "t.db").unwrap();
        db.create_schema().unwrap();
        db.exec("BEGIN", &[]).unwrap();
        assert!(db.in_transaction());
        assert_eq!(
            db.checkpoint(),
            Err(DbError::Engine("checkpoint inside a transaction".into()))
        );
        assert!(matches!(db.export_bytes(), Err(DbError::Engine(_))));
        db.exec("ROLLBACK", &[]).unwrap();
        assert!(db.checkpoint().is_ok());
    }

    fn corrupt_msg(b: &[u8]) -> String {
        match validate_image(b) {
            Err(DbError::Corrupt(m)) => m,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn validate_image_rejects_each_bad_header_field() {
        let good = image();
        assert_eq!(validate_image(&good).unwrap(), 4096);
        assert_eq!(corrupt_msg(&[]), "empty file");
        assert!(corrupt_msg(&good[..100]).contains("too short"));
        let with = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        assert!(corrupt_msg(&with(0, b"SQLite format 4")).contains("bad magic"));
        assert!(corrupt_msg(&with(16, &[0x03, 0x00])).contains("page size"));
        assert!(corrupt_msg(&with(18, &[3])).contains("file format version"));
        assert!(corrupt_msg(&with(19, &[0])).contains("file format version"));
        assert!(corrupt_msg(&with(16, &[2, 0, 1, 1, 33])).contains("reserved space"));
        assert_eq!(validate_image(&with(16, &[2, 0, 1, 1, 32])).unwrap(), 512);
        assert!(corrupt_msg(&with(21, &[65])).contains("payload fractions"));
        assert!(corrupt_msg(&good[..good.len() - 1]).contains("multiple of the page size"));
        assert!(corrupt_msg(&with(44, &[0, 0, 0, 5])).contains("schema format"));
        assert!(corrupt_msg(&with(56, &[0, 0, 0, 2])).contains("UTF-16"));
        // The header's page count only counts when it is valid for this change counter.
        let mut b = with(24, &[0, 0, 0, 9, 0, 0, 1, 0]);
        b[92..96].copy_from_slice(&[0, 0, 0, 9]);
        assert!(corrupt_msg(&b).contains("truncated"));
        b[92..96].copy_from_slice(&[0xff; 4]);
        assert_eq!(validate_image(&b).unwrap(), 4096);
    }

    #[test]
    fn page_size_one_means_65536() {
        let mut b = vec![0u8; 65536];
        b[..16].copy_from_slice(b"SQLite format 3\0");
        b[16..18].copy_from_slice(&[0, 1]);
        b[18] = 1;
        b[19] = 1;
        b[21..24].copy_from_slice(&[64, 32, 32]);
        assert_eq!(validate_image(&b).unwrap(), 65536);
        assert!(corrupt_msg(&b[..32768]).contains("multiple of the page size"));
    }

    #[test]
    fn refused_turns_engine_complaints_into_corrupt() {
        assert_eq!(
            refused(DbError::Engine("x".into())),
            DbError::Corrupt("x".into())
        );
        assert_eq!(
            refused(DbError::Constraint("y".into())),
            DbError::Corrupt("y".into())
        );
        assert_eq!(refused(DbError::Io("z".into())), DbError::Io("z".into()));
    }
}
