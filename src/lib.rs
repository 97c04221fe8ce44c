//! # asap-state
//!
//! Agent state for the edge and the browser: versioned snapshots of each task's state (so
//! another agent can take over after a crash) and usage metering (tokens, time, API calls),
//! with the semantics of the ASAP protocol's Python reference (`asap.state`).
//!
//! This crate is the pure core: models and their validation, the [`SnapshotStore`] and
//! [`MeteringStore`] traits, the in-memory backend, the difference between two versions
//! ([`diff_snapshots`], [`diff_json`]), and [`StateError`] with stable codes. It has no
//! JavaScript in it; the `asap-state-wasm` crate binds it for the npm package.
//!
//! ```
//! use asap_state::{MemorySnapshotStore, SaveOptions, SnapshotStore, StateSnapshotInput};
//! use serde_json::json;
//!
//! let store = MemorySnapshotStore::new();
//! let data = json!({"step": 1}).as_object().cloned().unwrap_or_default();
//! let saved = store.save(StateSnapshotInput::new("task-1", data), SaveOptions::default())?;
//! assert_eq!(saved.version, 1);
//!
//! // Optimistic concurrency: a writer that read version 1 may save; a stale one may not.
//! let data = json!({"step": 2}).as_object().cloned().unwrap_or_default();
//! store.save(StateSnapshotInput::new("task-1", data.clone()), SaveOptions::expect(1))?;
//! let stale = store.save(StateSnapshotInput::new("task-1", data), SaveOptions::expect(1));
//! assert_eq!(stale.unwrap_err().code(), "VERSION_CONFLICT");
//! assert_eq!(store.list_versions("task-1")?, vec![1, 2]);
//! # Ok::<(), asap_state::StateError>(())
//! ```

mod config;
mod diff;
mod error;
mod export;
mod json;
mod memory;
mod model;
mod options;
mod runtime;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
mod timestamp;

pub use config::{BackendConfig, ASAP_STORAGE_BACKEND_ENV, ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH};
pub use diff::{diff_json, diff_snapshots, Change, ChangeOp, PathSegment, SnapshotDiff};
pub use error::{Result, StateError, ERROR_CODES};
pub use export::CSV_HEADER;
pub use json::{describe, ErrFn, MAX_DATA_BYTES, MAX_DEPTH, MAX_ID_BYTES, MAX_SAFE_INTEGER};
pub use memory::{MemoryMeteringStore, MemorySnapshotStore};
pub use model::{
    StateSnapshot, StateSnapshotInput, TaskSummary, Totals, UsageAggregate, UsageBucket,
    UsageEvent, UsageEventInput, UsageMetrics,
};
pub use options::{
    string_arg, version_arg, ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions,
    SeriesOptions, Window,
};
#[cfg(not(target_arch = "wasm32"))]
pub use runtime::RandomIds;
pub use runtime::{
    ulid_from, Clock, IdGenerator, ManualClock, Runtime, SequentialIds, SystemClock,
};
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use sqlite::{create_metering_store, create_snapshot_store};
#[cfg(feature = "sqlite")]
pub use sqlite::{
    create_metering_store_with, create_snapshot_store_with, SqliteMeteringStore,
    SqliteSnapshotStore, SqliteStateDb,
};
pub use store::{MeteringStore, SnapshotStore};
pub use timestamp::{BucketSize, Timestamp};
