//! `MemorySnapshotStore` for JavaScript.

use asap_state::Guarded;
use wasm_bindgen::prelude::*;

use crate::runtime;
use crate::snapshot_methods::snapshot_store_class;

/// Versioned snapshots of tasks' state, held in this instance's memory.
#[wasm_bindgen(js_name = MemorySnapshotStore, skip_typescript)]
pub struct MemorySnapshotStore {
    pub(crate) inner: Guarded<asap_state::MemorySnapshotStore>,
}

#[wasm_bindgen(js_class = MemorySnapshotStore)]
impl MemorySnapshotStore {
    /// An empty store. (On an instance stopped by a panic, its methods throw `ENGINE_FAILED`.)
    #[wasm_bindgen(constructor)]
    pub fn new() -> MemorySnapshotStore {
        MemorySnapshotStore {
            inner: Guarded::always_open(asap_state::MemorySnapshotStore::with_runtime(
                runtime::host(),
            )),
        }
    }
}

impl Default for MemorySnapshotStore {
    fn default() -> Self {
        Self::new()
    }
}

snapshot_store_class!(MemorySnapshotStore);
