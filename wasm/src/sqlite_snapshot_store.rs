//! `SqliteSnapshotStore` for JavaScript: the snapshot store of one `SqliteStateDb` handle.

use asap_state::Guarded;
use wasm_bindgen::prelude::*;

use crate::snapshot_methods::snapshot_store_class;

/// The snapshot store of a `SqliteStateDb` (table `snapshots`); `CLOSED` once its handle is
/// closed.
#[wasm_bindgen(js_name = SqliteSnapshotStore, skip_typescript)]
pub struct SqliteSnapshotStore {
    pub(crate) inner: Guarded<asap_state::SqliteSnapshotStore>,
}

snapshot_store_class!(SqliteSnapshotStore);
