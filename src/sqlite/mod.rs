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
