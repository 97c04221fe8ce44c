//! `createSnapshotStore` / `createMeteringStore`: the backend chosen by the environment, like
//! the reference's `create_snapshot_store()`.

use asap_state::{BackendConfig, StateError};
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::{to_js, JsResult};
use crate::node_fs::process_env;

/// Reads `ASAP_STORAGE_BACKEND` / `ASAP_STORAGE_PATH` from `env` (default `process.env`
/// where it exists, else `{}`).
fn config(env: &JsValue) -> JsResult<BackendConfig> {
    let env = if env.is_undefined() {
        process_env()
    } else {
        env.clone()
    };
    if !env.is_undefined() && !env.is_null() && !env.is_object() {
        return Err(to_js(StateError::InvalidArgument(
            "env must be an object of strings".into(),
        )));
    }
    let var = |k: &str| -> Option<String> {
        if env.is_undefined() || env.is_null() {
            return None;
        }
        Reflect::get(&env, &JsValue::from_str(k)).ok()?.as_string()
    };
    BackendConfig::from_vars(var).map_err(to_js)
}

enum Which {
    Snapshots,
    Metering,
}

fn create(env: &JsValue, which: Which) -> JsResult<JsValue> {
    match config(env)? {
        BackendConfig::Memory => Ok(match which {
            Which::Snapshots => crate::MemorySnapshotStore::new().into(),
            Which::Metering => crate::MemoryMeteringStore::new().into(),
        }),
        #[cfg(feature = "sqlite")]
        BackendConfig::Sqlite { path } => {
            let (db, key) = crate::sqlite_db::open_path(&path)?;
            let handle = crate::sqlite_db::SqliteStateDb::wrap(db, Some(key));
            Ok(match which {
                Which::Snapshots => handle.snapshots(),
                Which::Metering => handle.metering(),
            })
        }
        #[cfg(not(feature = "sqlite"))]
        BackendConfig::Sqlite { .. } => Err(to_js(StateError::StorageIo(
            "the sqlite backend is not part of \"asap-state/memory\"; import \"asap-state\" for it"
                .into(),
        ))),
    }
}

fn promise(result: JsResult<JsValue>) -> Promise {
    match result {
        Ok(v) => Promise::resolve(&v),
        Err(e) => Promise::reject(&e),
    }
}

/// The snapshot store `ASAP_STORAGE_BACKEND` selects (`memory` by default, or `sqlite` at
/// `ASAP_STORAGE_PATH`).
#[wasm_bindgen(js_name = createSnapshotStore, skip_typescript)]
pub fn create_snapshot_store(env: JsValue) -> Promise {
    opfs_or(&env, Which::Snapshots)
}

/// The metering store `ASAP_STORAGE_BACKEND` selects. Two stores created on the same path
/// share one database.
#[wasm_bindgen(js_name = createMeteringStore, skip_typescript)]
pub fn create_metering_store(env: JsValue) -> Promise {
    opfs_or(&env, Which::Metering)
}

/// In a browser worker with OPFS, `sqlite` opens an OPFS file (asynchronously); elsewhere the
/// store is made synchronously.
fn opfs_or(env: &JsValue, which: Which) -> Promise {
    #[cfg(feature = "sqlite")]
    if crate::sqlite_db::uses_opfs() {
        if let Ok(BackendConfig::Sqlite { path }) = config(env) {
            return wasm_bindgen_futures::future_to_promise(async move {
                let (db, key) = crate::sqlite_db::open_opfs(path).await?;
                let handle = crate::sqlite_db::SqliteStateDb::wrap(db, Some(key));
                Ok(match which {
                    Which::Snapshots => handle.snapshots(),
                    Which::Metering => handle.metering(),
                })
            });
        }
    }
    promise(create(env, which))
}
