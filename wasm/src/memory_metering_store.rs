//! `MemoryMeteringStore` for JavaScript.

use asap_state::Guarded;
use wasm_bindgen::prelude::*;

use crate::metering_methods::metering_store_class;
use crate::runtime;

/// Usage events of agents, held in this instance's memory.
#[wasm_bindgen(js_name = MemoryMeteringStore, skip_typescript)]
pub struct MemoryMeteringStore {
    pub(crate) inner: Guarded<asap_state::MemoryMeteringStore>,
}

#[wasm_bindgen(js_class = MemoryMeteringStore)]
impl MemoryMeteringStore {
    /// An empty store. (On an instance stopped by a panic, its methods throw `ENGINE_FAILED`.)
    #[wasm_bindgen(constructor)]
    pub fn new() -> MemoryMeteringStore {
        MemoryMeteringStore {
            inner: Guarded::always_open(asap_state::MemoryMeteringStore::with_runtime(
                runtime::host(),
            )),
        }
    }
}

impl Default for MemoryMeteringStore {
    fn default() -> Self {
        Self::new()
    }
}

metering_store_class!(MemoryMeteringStore);
