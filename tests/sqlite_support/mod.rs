//! Helpers shared by the SQLite interop, bad-file and differential tests: locating the Python
//! reference's fixtures, temporary directories, byte fingerprints, and running the real
//! `sqlite3` CLI.
//!
//! The fixtures under `tests/fixtures/python-ref-2.5.10/` are read-only data: tests read their bytes or work on copies in
//! a temporary directory, never on the fixture paths themselves.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use asap_state::{ManualClock, Runtime, SequentialIds, StateError, Timestamp};

/// The folder of the Python reference's files, in the repository (see its README.md).
pub const FIXTURE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/python-ref-2.5.10"
);

/// The path of a reference fixture (to read, never to open as a database).
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(FIXTURE_DIR).join(name)
}

/// The bytes of a reference fixture.
pub fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("cannot read the reference fixture {} ({e})", path.display()))
}

/// A fingerprint of some bytes: their length and 64-bit FNV-1a hash. Equal fingerprints before
/// and after an operation mean the bytes were not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub len: usize,
    pub fnv1a: u64,
}

pub fn digest(bytes: &[u8]) -> Digest {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Digest {
        len: bytes.len(),
        fnv1a: h,
    }
}

pub fn file_digest(path: &Path) -> Digest {
    digest(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// A fresh directory under the system temp dir, removed (with everything in it) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "asap-state-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A copy of a reference fixture in `dir` (the only way the tests open a fixture as a file).
pub fn copy_fixture(name: &str, dir: &TempDir) -> PathBuf {
    let to = dir.join(name);
    std::fs::write(&to, read_fixture(name)).unwrap();
    to
}

/// A deterministic runtime: a clock stopped at 2026-04-01T00:00:00Z and sequential ids.
pub fn runtime() -> Runtime {
    let clock = ManualClock::new(ts("2026-04-01T00:00:00Z"));
    Runtime::new(clock, SequentialIds::new())
}

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text, "test").unwrap()
}

/// The error code of a result, or `"ok"`.
pub fn code<T>(r: &Result<T, StateError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// The `sqlite3` CLI: `$SQLITE3` when set, else `/usr/bin/sqlite3`.
pub fn sqlite3_bin() -> PathBuf {
    let bin = match std::env::var_os("SQLITE3") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/usr/bin/sqlite3"),
    };
    assert!(
        bin.exists(),
        "these tests need the sqlite3 CLI at {} (apt-get install sqlite3, or set SQLITE3=/path/to/sqlite3)",
        bin.display()
    );
    bin
}

/// Runs `sqlite3 -batch -bail <db>` with `sql` on stdin; returns (success, stdout, stderr).
pub fn sqlite3_raw(db: &Path, sql: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(sqlite3_bin())
        .arg("-batch")
        .arg("-bail")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs SQL with the `sqlite3` CLI and returns its output; panics if it fails.
pub fn sqlite3(db: &Path, sql: &str) -> String {
    let (ok, out, err) = sqlite3_raw(db, sql);
    assert!(
        ok,
        "sqlite3 {} failed: {err}\nSQL:\n{sql}\nstdout:\n{out}",
        db.display()
    );
    out
}

/// The output lines of a `sqlite3` query.
pub fn sqlite3_lines(db: &Path, sql: &str) -> Vec<String> {
    sqlite3(db, sql).lines().map(str::to_owned).collect()
}

/// The contract's schema (CONTRACT.md §6) exactly as the reference creates it: the DDL of
/// asap-protocol 2.5.10 (`_SNAPSHOTS_DDL`, `_USAGE_EVENTS_DDL` in `asap/state/stores/sqlite.py`),
/// verbatim. The tests' own copy, apart from the engine's `SCHEMA_SQL`: the sqlite3 CLI writes
/// "another writer's" files with it, and the engine's files are checked against the contract.
pub const CONTRACT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
);
CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    metrics TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp
ON usage_events (agent_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp
ON usage_events (consumer_id, timestamp);
";

/// The column names of the two tables, in order, as the reference lists them (its
/// `_SNAPSHOT_COLS`, and the order of its `usage_events` DDL).
pub const SNAPSHOT_COLUMNS: &str = "task_id, id, version, data, checkpoint, created_at";
pub const EVENT_COLUMNS: &str = "id, task_id, agent_id, consumer_id, metrics, timestamp";

/// Bytes 18-19 of a SQLite header: (1, 1) rollback journal, (2, 2) WAL.
pub fn journal_bytes(image: &[u8]) -> (u8, u8) {
    (image[18], image[19])
}
