//! The SQLite-file backend: real SQLite files (the Python reference's tables) written and read
//! by a pure-Rust SQL engine, in memory as a file image or in files of a host.

mod backing;
mod check;
mod engine;
mod store;

#[cfg(not(target_arch = "wasm32"))]
pub use backing::FsStore;
pub use backing::{read_all, BackingFile, BackingStore, MemoryFile, MemoryStore};
pub use store::{SqliteMeteringStore, SqliteSnapshotStore, SqliteStateDb};

use crate::config::BackendConfig;
use crate::error::Result;
use crate::memory::{MemoryMeteringStore, MemorySnapshotStore};
use crate::runtime::Runtime;
use crate::store::{MeteringStore, SnapshotStore};

/// The snapshot store the environment selects, like the reference's `create_snapshot_store()`:
/// `ASAP_STORAGE_BACKEND` = `memory` (default) or `sqlite` (at `ASAP_STORAGE_PATH`, default
/// `asap_state.db`); anything else is `UNKNOWN_BACKEND` with the reference's message. Stores
/// created on one path share one database.
///
/// ```
/// # std::env::remove_var("ASAP_STORAGE_BACKEND");
/// let store = asap_state::create_snapshot_store()?;
/// assert!(store.list_tasks()?.is_empty());
/// # Ok::<(), asap_state::StateError>(())
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub fn create_snapshot_store() -> Result<Box<dyn SnapshotStore + Send + Sync>> {
    create_snapshot_store_with(BackendConfig::from_env()?, Runtime::default())
}

/// The metering store the environment selects (see [`create_snapshot_store`]).
#[cfg(not(target_arch = "wasm32"))]
pub fn create_metering_store() -> Result<Box<dyn MeteringStore + Send + Sync>> {
    create_metering_store_with(BackendConfig::from_env()?, Runtime::default())
}

/// The snapshot store of a configuration, on a runtime of the caller's.
pub fn create_snapshot_store_with(
    config: BackendConfig,
    runtime: Runtime,
) -> Result<Box<dyn SnapshotStore + Send + Sync>> {
    Ok(match config {
        BackendConfig::Memory => Box::new(MemorySnapshotStore::with_runtime(runtime)),
        BackendConfig::Sqlite { path } => Box::new(open_config_path(&path, runtime)?.snapshots()),
    })
}

/// The metering store of a configuration, on a runtime of the caller's.
pub fn create_metering_store_with(
    config: BackendConfig,
    runtime: Runtime,
) -> Result<Box<dyn MeteringStore + Send + Sync>> {
    Ok(match config {
        BackendConfig::Memory => Box::new(MemoryMeteringStore::with_runtime(runtime)),
        BackendConfig::Sqlite { path } => Box::new(open_config_path(&path, runtime)?.metering()),
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn open_config_path(path: &str, runtime: Runtime) -> Result<SqliteStateDb> {
    SqliteStateDb::open_path(path, runtime)
}

/// Without a filesystem, each call gets a fresh in-memory image (the wasm bindings share
/// images by path themselves).
#[cfg(target_arch = "wasm32")]
fn open_config_path(_path: &str, runtime: Runtime) -> Result<SqliteStateDb> {
    SqliteStateDb::open_in_memory(runtime)
}
