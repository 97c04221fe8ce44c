//! `createSnapshotStore` / `createMeteringStore`: the backend chosen by the environment, like
//! the reference's `create_snapshot_store()`.

use asap_state::{
    BackendConfig, StateError, ASAP_STORAGE_BACKEND_ENV, ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH,
};
use js_sys::Promise;
use wasm_bindgen::prelude::*;

use crate::convert::{get, message};
use crate::error::{to_js, JsResult};
use crate::node_fs::process_env;

/// Reads `ASAP_STORAGE_BACKEND` / `ASAP_STORAGE_PATH` from `env` (default `process.env`
/// where it exists, else `{}`). A variable that is set must be a string: a number, an array or a
/// getter that throws is an error naming it, never silently the default (which would put the
/// data somewhere the caller did not ask for, or nowhere durable).
fn config(env: &JsValue) -> JsResult<BackendConfig> {
    let env = if env.is_undefined() {
        process_env()
    } else {
        env.clone()
    };
    if env.is_undefined() || env.is_null() {
        return BackendConfig::from_vars(|_| None).map_err(to_js);
    }
    if !env.is_object() {
        return Err(to_js(StateError::InvalidArgument(
            "env must be an object of strings".into(),
        )));
    }
    let read = |k: &str| -> JsResult<Option<String>> {
        let v = get(&env, &JsValue::from_str(k)).map_err(|e| {
            to_js(StateError::InvalidArgument(format!(
                "env.{k}: reading it threw: {}",
                message(&e)
            )))
        })?;
        if v.is_undefined() {
            return Ok(None);
        }
        match v.as_string() {
            Some(text) => Ok(Some(text)),
            None => Err(to_js(StateError::InvalidArgument(format!(
                "env.{k} must be a string, got {}",
                if v.is_null() {
                    "null".to_string()
                } else {
                    v.js_typeof().as_string().unwrap_or_default()
                }
            )))),
        }
    };
    let backend = read(ASAP_STORAGE_BACKEND_ENV)?;
    let path = read(ASAP_STORAGE_PATH_ENV)?;
    let config = BackendConfig::from_vars(|k| match k {
        ASAP_STORAGE_BACKEND_ENV => backend.clone(),
        ASAP_STORAGE_PATH_ENV => path.clone(),
        _ => None,
    })
    .map_err(to_js)?;
    // The path only matters to the sqlite backend (the reference ignores it for memory too).
    if let BackendConfig::Sqlite { path } = &config {
        if path.trim().is_empty() {
            return Err(to_js(StateError::InvalidArgument(format!(
                "env.{ASAP_STORAGE_PATH_ENV} must not be empty (unset it for the default {DEFAULT_DB_PATH:?})"
            ))));
        }
    }
    Ok(config)
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
            let (db, key) = crate::sqlite_db::open_path(&path, crate::sqlite_db::NoFiles::Fail)?;
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
    if let Err(e) = crate::error::alive() {
        return Promise::reject(&e);
    }
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
