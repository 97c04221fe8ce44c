//! The embedded engine: real SQLite files (the Python reference's tables) written and read by a
//! pure-Rust SQL engine, in memory as a file image or in files of a host. The stores' logic is
//! the engine-independent [`crate::sql`]; this module is one [`crate::SqlConnection`].

mod backing;
mod check;
mod engine;
mod open;
mod wal;

pub use crate::sql::store::{SqliteMeteringStore, SqliteSnapshotStore, SqliteStateDb};
#[cfg(not(target_arch = "wasm32"))]
pub use backing::FsStore;
pub use backing::{read_all, write_joined, BackingFile, BackingStore, MemoryFile, MemoryStore};
#[cfg(test)]
pub(crate) use engine::DbError;
