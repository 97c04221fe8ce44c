//! `SqliteMeteringStore` for JavaScript: the metering store of one `SqliteStateDb` handle.

use asap_state::Guarded;
use wasm_bindgen::prelude::*;

use crate::metering_methods::metering_store_class;

/// The metering store of a `SqliteStateDb` (table `usage_events`); `CLOSED` once its handle is
/// closed.
#[wasm_bindgen(js_name = SqliteMeteringStore, skip_typescript)]
pub struct SqliteMeteringStore {
    pub(crate) inner: Guarded<asap_state::SqliteMeteringStore>,
}

metering_store_class!(SqliteMeteringStore);
