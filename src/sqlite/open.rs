//! Opening a [`SqliteStateDb`] on the embedded engine: an image in memory, an existing file
//! image, the files of a host store, or a native file.

use std::sync::Arc;

use super::backing::{BackingStore, MemoryStore};
use super::engine::Db;
use crate::error::{Result, StateError};
use crate::runtime::Runtime;
use crate::sql::store::Backing;
use crate::SqliteStateDb;

/// The name of the main file inside a database's own in-memory store.
const IMAGE_PATH: &str = "state.db";

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

/// The databases this process has open by path, so every open of one file shares one database.
#[cfg(not(target_arch = "wasm32"))]
static OPEN_FILES: std::sync::Mutex<
    Vec<(
        std::path::PathBuf,
        std::sync::Weak<crate::sql::store::Shared>,
    )>,
> = std::sync::Mutex::new(Vec::new());

impl SqliteStateDb {
    /// A fresh, empty database image in memory.
    pub fn open_in_memory(runtime: Runtime) -> Result<Self> {
        Self::open_image(None, runtime)
    }

    /// An existing SQLite file image (rollback-journal or WAL mode). The bytes are copied;
    /// they are never modified. Not a SQLite database, truncated or damaged:
    /// `CORRUPT_DATABASE`; other columns or another application's tables: `SCHEMA_MISMATCH`.
    pub fn open_bytes(bytes: &[u8], runtime: Runtime) -> Result<Self> {
        Self::open_bytes_vec(bytes.to_vec(), runtime)
    }

    /// [`SqliteStateDb::open_bytes`] on bytes it keeps as the database's image instead of
    /// copying them (a 50 MiB image is then in memory once, not three times while it opens).
    pub fn open_bytes_vec(bytes: Vec<u8>, runtime: Runtime) -> Result<Self> {
        if bytes.is_empty() {
            return Err(StateError::CorruptDatabase(
                "not a readable SQLite database: the file is empty (0 bytes)".into(),
            ));
        }
        Self::open_image(Some(bytes), runtime)
    }

    fn open_image(bytes: Option<Vec<u8>>, runtime: Runtime) -> Result<Self> {
        let store = Arc::new(MemoryStore::new());
        let db = match bytes {
            Some(bytes) => Db::open_image(store, IMAGE_PATH, bytes)?,
            None => open_db(store, IMAGE_PATH)?,
        };
        Ok(Self::wrap(Box::new(db), runtime, Backing::Image, None))
    }

    /// The database `path` of a host's file store (a missing file is created).
    pub fn open_store(store: Arc<dyn BackingStore>, path: &str, runtime: Runtime) -> Result<Self> {
        let db = open_db(store, path)?;
        Ok(Self::wrap(Box::new(db), runtime, Backing::Files, None))
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
            let this = SqliteStateDb { shared };
            if !this.is_closed() {
                return Ok(this);
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
        let db = open_db(Arc::new(super::backing::FsStore), text)?;
        let this = Self::wrap(Box::new(db), runtime, Backing::Files, None);
        if let Ok(mut lock) = this.shared.lock.lock() {
            *lock = Some(lock_file);
        }
        open.push((key, Arc::downgrade(&this.shared)));
        Ok(this)
    }
}

/// Opens (and checks) the database, then creates the contract's tables where missing.
fn open_db(store: Arc<dyn BackingStore>, path: &str) -> Result<Db> {
    Ok(Db::open_with_schema(store, path)?)
}
