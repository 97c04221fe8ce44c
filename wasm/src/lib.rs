//! WebAssembly bindings of `asap-state`: the only code of the project that knows JavaScript.
//! One file per exported class (and `diff.rs` for the diff functions, `envelope.rs` for the
//! ASAP state messages the snapshot stores answer); every error crosses as a
//! real `StateError` (see `error.rs`).
//! With the `sqlite` feature (the package's full entry) the SQLite backend is included; without
//! it (the `asap-state/memory` entry) only the in-memory stores are.

#[cfg(target_arch = "wasm32")]
mod alloc;
mod convert;
mod diff;
mod envelope;
mod error;
mod factory;
#[cfg(feature = "sqlite")]
mod js_file;
mod metering_store;
mod node_fs;
#[cfg(feature = "sqlite")]
mod opfs;
mod runtime;
mod snapshot_store;
#[cfg(feature = "sqlite")]
mod sqlite_db;
#[cfg(feature = "sqlite")]
mod sqlite_stores;

pub use diff::{diff_json_js, diff_snapshots_js};
pub use factory::{create_metering_store, create_snapshot_store};
pub use metering_store::MemoryMeteringStore;
pub use snapshot_store::MemorySnapshotStore;
#[cfg(feature = "sqlite")]
pub use sqlite_db::SqliteStateDb;
#[cfg(feature = "sqlite")]
pub use sqlite_stores::{SqliteMeteringStore, SqliteSnapshotStore};
