//! # asap-state
//!
//! Agent state for the edge and the browser: versioned snapshots of each task's state (so
//! another agent can take over after a crash) and usage metering (tokens, time, API calls),
//! with the semantics of the ASAP protocol's Python reference (`asap.state`).
//!
//! This crate is the pure core: models and their validation, the [`SnapshotStore`] and
//! [`MeteringStore`] traits, the in-memory backend, the difference between two versions
//! ([`diff_snapshots`], [`diff_json`]), ASAP state messages answered from a store
//! ([`handle_state_envelope`], [`handle_asap_request`]), copies between stores
//! ([`copy_snapshots`], [`copy_usage`]), and [`StateError`] with stable codes. It has no
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
//!
//! Usage metering, and the same stores on a SQLite image that `sqlite3` and the Python
//! reference open as-is (feature `sqlite`, on by default):
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! use asap_state::{
//!     BucketSize, MeteringStore, Runtime, SaveOptions, SeriesOptions, SnapshotStore,
//!     SqliteStateDb, StateSnapshotInput, Timestamp, UsageEventInput, UsageMetrics, Window,
//! };
//! use serde_json::json;
//!
//! let db = SqliteStateDb::open_in_memory(Runtime::default())?;
//! let data = json!({"plan": ["search", "write"]}).as_object().cloned().unwrap_or_default();
//! let input = StateSnapshotInput::new("task-1", data).checkpoint(true);
//! db.snapshots().save(input, SaveOptions::default())?;
//!
//! let at = Timestamp::parse("2026-03-01T10:15:00Z", "timestamp")?;
//! let metrics = UsageMetrics { tokens_in: 120, tokens_out: 40, duration_ms: 900, api_calls: 2 };
//! let event = UsageEventInput::new("task-1", "agent-a", "me").metrics(metrics).timestamp(at);
//! db.metering().record(event)?;
//! let total = db.metering().aggregate("agent-a", "all", Window::default())?;
//! assert_eq!((total.total_tokens, total.total_api_calls), (160, 2));
//! let day = SeriesOptions {
//!     bucket: BucketSize::Hour,
//!     start: Timestamp::parse("2026-03-01T00:00:00Z", "start")?,
//!     end: Timestamp::parse("2026-03-02T00:00:00Z", "end")?,
//! };
//! assert_eq!(db.metering().series("agent-a", day)?.len(), 1);
//!
//! // One self-contained SQLite file, ready to store anywhere and open again.
//! let image = db.export_bytes()?;
//! let again = SqliteStateDb::open_bytes(&image, Runtime::default())?;
//! assert_eq!(again.snapshots().list_versions("task-1")?, vec![1]);
//! # }
//! # Ok::<(), asap_state::StateError>(())
//! ```
//!
//! Guides (in the repository): `docs/state-management.md` (backends, persistence, moving state)
//! and `docs/best-practices/agent-failover-migration.md` (handover, failover, migration).

// Unit tests may unwrap, index and panic; the library itself is linted without this (the
// non-test build of every clippy run in `make lint`).
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::panic
    )
)]

/// Helpers for the language bindings (the `asap-state-wasm` crate) and the fuzz harness:
/// reading call arguments from JSON values with the library's error messages. Not part of the
/// library's API, and not covered by its version number.
#[doc(hidden)]
pub mod binding {
    pub use crate::envelope::json_object;
    pub use crate::json::{describe, ErrFn};
    pub use crate::options::{string_arg, version_arg};
}
mod compact;
mod config;
mod copy;
mod diff;
mod envelope;
mod error;
mod export;
mod guarded;
mod json;
mod memory;
mod model;
mod options;
mod runtime;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
mod timestamp;
mod versioning;

#[cfg(not(target_arch = "wasm32"))]
pub use config::{create_metering_store, create_snapshot_store};
pub use config::{
    create_metering_store_with, create_snapshot_store_with, BackendConfig,
    ASAP_STORAGE_BACKEND_ENV, ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH,
};
pub use copy::{copy_snapshots, copy_state, copy_usage, CopyReport};
pub use diff::{diff_json, diff_snapshots, Change, ChangeOp, PathSegment, SnapshotDiff};
pub use envelope::{
    check_agent_urn, handle_asap_request, handle_asap_request_str, handle_state_envelope,
    parse_asap_request, parse_envelope, Envelope, RpcError, ASAP_METHOD, ENVELOPE_FIELDS,
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, MAX_URN_LENGTH, METHOD_NOT_FOUND, PARSE_ERROR,
    STATE_PAYLOAD_TYPES,
};
pub use error::{Result, StateError, ERROR_CODES};
pub use export::CSV_HEADER;
pub use guarded::{Guarded, OpenFlag};
pub use json::{MAX_DATA_BYTES, MAX_DEPTH, MAX_ID_BYTES, MAX_SAFE_INTEGER};
pub use memory::{MemoryMeteringStore, MemorySnapshotStore};
pub use model::{
    DataText, StateSnapshot, StateSnapshotInput, TaskSummary, Totals, UsageAggregate, UsageBucket,
    UsageEvent, UsageEventInput, UsageMetrics,
};
pub use options::{
    ExportFilter, ExportFormat, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, Window,
};
#[cfg(not(target_arch = "wasm32"))]
pub use runtime::RandomIds;
pub use runtime::{
    prefixed_ulid, ulid_from, Clock, IdGenerator, ManualClock, Runtime, SequentialIds, SystemClock,
};
pub use sql::store::{SqliteMeteringStore, SqliteSnapshotStore, SqliteStateDb};
pub use sql::{SqlConnection, SqlRef, SqlValue};
pub use store::{MeteringStore, SnapshotStore};
pub use timestamp::{BucketSize, Timestamp};
