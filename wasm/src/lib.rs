//! WebAssembly bindings of `asap-state`: the only code of the project that knows JavaScript.
//!
//! - One file per exported class: `memory_snapshot_store.rs`, `memory_metering_store.rs`,
//!   `sqlite_snapshot_store.rs`, `sqlite_metering_store.rs`, `sqlite_db.rs`,
//!   `durable_object_db.rs`. A store class is
//!   a struct holding a core store wrapped in `asap_state::Guarded` (the closed check) plus one
//!   line, `snapshot_store_class!(Name)` or `metering_store_class!(Name)`, which writes its
//!   JavaScript methods (`snapshot_methods.rs`, `metering_methods.rs`).
//! - Free functions: `diff.rs` (`diffSnapshots`, `diffJson`), `image.rs` (`mergeStateImages`), `envelope.rs`
//!   (`handleStateEnvelope`, `handleAsapRequest`), `factory.rs` (`createSnapshotStore`,
//!   `createMeteringStore`).
//! - Every error crosses as a real `StateError`, and a panic stops the instance with
//!   `ENGINE_FAILED` (see `error.rs`); `convert.rs` turns JavaScript values into JSON strictly.
//!
//! With the `host` feature (the `asap-state/durable-object` entry) the SQL stores run on a
//! host's SQLite (`host_sql.rs`: a Durable Object's `ctx.storage`); with `sqlite` (the package's
//! full entry) the embedded engine's `SqliteStateDb` comes too; with neither (the
//! `asap-state/memory` entry) only the in-memory stores are.

#[cfg(target_arch = "wasm32")]
mod alloc;
mod convert;
mod diff;
#[cfg(feature = "host")]
mod durable_object_db;
mod envelope;
mod error;
mod factory;
#[cfg(feature = "host")]
mod host_sql;
#[cfg(feature = "host")]
mod image;
#[cfg(feature = "sqlite")]
mod js_file;
mod memory_metering_store;
mod memory_snapshot_store;
mod metering_methods;
mod node_fs;
#[cfg(feature = "sqlite")]
mod opfs;
mod runtime;
mod snapshot_methods;
#[cfg(feature = "sqlite")]
mod sqlite_db;
#[cfg(feature = "host")]
mod sqlite_metering_store;
#[cfg(feature = "host")]
mod sqlite_snapshot_store;

pub use diff::{diff_json_js, diff_snapshots_js};
#[cfg(feature = "host")]
pub use durable_object_db::DurableObjectStateDb;
pub use envelope::{handle_asap_request_js, handle_state_envelope_js};
pub use factory::{create_metering_store, create_snapshot_store};
#[cfg(feature = "host")]
pub use image::merge_state_images;
pub use memory_metering_store::MemoryMeteringStore;
pub use memory_snapshot_store::MemorySnapshotStore;
#[cfg(feature = "sqlite")]
pub use sqlite_db::SqliteStateDb;
#[cfg(feature = "host")]
pub use sqlite_metering_store::SqliteMeteringStore;
#[cfg(feature = "host")]
pub use sqlite_snapshot_store::SqliteSnapshotStore;
