//! `SqliteStateDb` for JavaScript: one SQLite file holding both stores.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use asap_state::{Guarded, OpenFlag, StateError};
use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::error::{alive, js, to_js, JsResult};
use crate::node_fs::{fs_available, fs_lock, fs_resolve, fs_unlock, NodeFsStore};
use crate::opfs::{self, opfs_available, opfs_close, opfs_open, OpfsStore};
use crate::runtime;
use crate::sqlite_metering_store::SqliteMeteringStore;
use crate::sqlite_snapshot_store::SqliteSnapshotStore;

const ARG: fn(String) -> StateError = StateError::InvalidArgument;

/// A database opened on a path, shared by every open of that path in this instance.
struct Entry {
    db: asap_state::SqliteStateDb,
    handles: usize,
    /// What to let go of when the last handle closes.
    release: Release,
}

/// The exclusive hold on a database's files.
enum Release {
    /// An image in memory: nothing.
    Nothing,
    /// Node: the cross-process lock file's descriptor.
    NodeLock(f64),
    /// OPFS: the sync access handles of the main file and the WAL.
    Opfs(f64, f64),
}

thread_local! {
    static OPEN: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
}

fn registry<T>(f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> JsResult<T> {
    OPEN.with(|open| match open.try_borrow_mut() {
        Ok(mut map) => Ok(f(&mut map)),
        Err(_) => Err(to_js(StateError::StorageIo(
            "the database registry is busy (re-entrant call)".into(),
        ))),
    })
}

/// Joins the database already open under `key`, if any.
fn join(key: &str) -> JsResult<Option<asap_state::SqliteStateDb>> {
    registry(|map| {
        map.get_mut(key).map(|entry| {
            entry.handles = entry.handles.saturating_add(1);
            entry.db.clone()
        })
    })
}

/// Records a database just opened under `key`, with its first handle.
fn register(
    db: asap_state::SqliteStateDb,
    key: String,
    release: Release,
) -> JsResult<(asap_state::SqliteStateDb, String)> {
    let entry = Entry {
        db: db.clone(),
        handles: 1,
        release,
    };
    registry(|map| map.insert(key.clone(), entry))?;
    Ok((db, key))
}

/// Opens (or joins) the OPFS database at `path` (browsers, in a dedicated worker).
pub(crate) async fn open_opfs(path: String) -> JsResult<(asap_state::SqliteStateDb, String)> {
    let key = format!("opfs:{path}");
    if let Some(db) = join(&key)? {
        return Ok((db, key));
    }
    let io = |e: JsValue| {
        to_js(StateError::StorageIo(format!(
            "OPFS {path}: {}",
            crate::convert::message(&e)
        )))
    };
    let ids = wasm_bindgen_futures::JsFuture::from(opfs_open(&path))
        .await
        .map_err(io)?;
    if ids.is_null() {
        return Err(to_js(StateError::DatabaseLocked(format!(
            "OPFS file {path} is open in another tab or worker"
        ))));
    }
    let ids = js_sys::Array::from(&ids);
    let (Some(main), Some(wal)) = (ids.get(0).as_f64(), ids.get(1).as_f64()) else {
        return Err(to_js(StateError::StorageIo(format!(
            "OPFS {path}: no file handles"
        ))));
    };
    let store = Arc::new(OpfsStore { main, wal });
    let db = match asap_state::SqliteStateDb::open_store(store, opfs::MAIN, runtime::host()) {
        Ok(db) => db,
        Err(e) => {
            opfs_close(main);
            opfs_close(wal);
            return Err(to_js(e));
        }
    };
    // Another open of the same path may have finished while this one awaited.
    if let Some(db) = join(&key)? {
        opfs_close(main);
        opfs_close(wal);
        return Ok((db, key));
    }
    register(db, key, Release::Opfs(main, wal))
}

/// Whether `{ path }` opens an OPFS file here (a browser worker without Node's `fs`).
pub(crate) fn uses_opfs() -> bool {
    !fs_available() && opfs_available()
}

/// What `{ path }` does where there are no files (no Node `fs`, no OPFS sync access: a browser
/// page's main thread, workerd): nothing, unless the caller asked for an image in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoFiles {
    /// Fail with a `STORAGE_IO` error that says why and what to do instead.
    Fail,
    /// `fallback: "memory"`: an image in this instance's memory, shared under the path's name.
    Memory,
}

/// Opens (or joins) the database at `path`: a real file where Node's `fs` exists; elsewhere
/// (no files) as `no_files` says.
pub(crate) fn open_path(
    path: &str,
    no_files: NoFiles,
) -> JsResult<(asap_state::SqliteStateDb, String)> {
    if path.is_empty() {
        return Err(to_js(ARG("options.path must be a non-empty string".into())));
    }
    if !fs_available() && no_files == NoFiles::Fail {
        return Err(to_js(StateError::StorageIo(format!(
            "{path}: there is no file storage here (no Node fs, and no OPFS sync access: a browser \
             page's main thread or a Worker), so a path would silently keep nothing. Open it in a \
             dedicated Web Worker (OPFS), or open an in-memory image with {{ bytes }} or no \
             options and keep exportBytes(), or pass {{ path, fallback: \"memory\" }} to accept an \
             image that is gone with this page"
        ))));
    }
    let key = if fs_available() {
        fs_resolve(path).map_err(|e| {
            to_js(StateError::StorageIo(format!(
                "{path}: {}",
                crate::convert::message(&e)
            )))
        })?
    } else {
        format!("memory:{path}")
    };
    if let Some(db) = join(&key)? {
        return Ok((db, key));
    }
    let (db, lock) = if fs_available() {
        let io = |e: JsValue| {
            to_js(StateError::StorageIo(format!(
                "{path}: {}",
                crate::convert::message(&e)
            )))
        };
        let fd = fs_lock(&key).map_err(io)?;
        if fd < 0.0 {
            return Err(to_js(StateError::DatabaseLocked(format!(
                "{path} is open in another process (lock file {key}.lock)"
            ))));
        }
        match asap_state::SqliteStateDb::open_store(Arc::new(NodeFsStore), &key, runtime::host()) {
            Ok(db) => (db, Some(fd)),
            Err(e) => {
                // Opening failed: release the lock and leave the file as it was.
                let _ = fs_unlock(&key, fd);
                return Err(to_js(e));
            }
        }
    } else {
        (
            js(asap_state::SqliteStateDb::open_in_memory(runtime::host()))?,
            None,
        )
    };
    register(db, key, lock.map_or(Release::Nothing, Release::NodeLock))
}

/// Drops one handle of `key`; the last one takes the entry out (to be closed and unlocked).
fn release(key: &str) -> JsResult<Option<Entry>> {
    registry(|map| {
        let last = match map.get_mut(key) {
            Some(entry) => {
                entry.handles = entry.handles.saturating_sub(1);
                entry.handles == 0
            }
            None => false,
        };
        if last {
            map.remove(key)
        } else {
            None
        }
    })
}

/// One SQLite database holding snapshots and usage events, in the Python reference's tables.
#[wasm_bindgen(js_name = SqliteStateDb, skip_typescript)]
pub struct SqliteStateDb {
    db: asap_state::SqliteStateDb,
    key: Option<String>,
    open: OpenFlag,
    snapshots: JsValue,
    metering: JsValue,
}

impl SqliteStateDb {
    pub(crate) fn wrap(db: asap_state::SqliteStateDb, key: Option<String>) -> SqliteStateDb {
        let open = OpenFlag::new();
        let snapshots = SqliteSnapshotStore {
            inner: Guarded::new(db.snapshots(), open.clone()),
        };
        let metering = SqliteMeteringStore {
            inner: Guarded::new(db.metering(), open.clone()),
        };
        SqliteStateDb {
            db,
            key,
            open,
            snapshots: snapshots.into(),
            metering: metering.into(),
        }
    }

    /// `options.path` when `options` is exactly `{ path: <non-empty string> }`, with at most
    /// `fallback: "memory"` beside it (OPFS is a file: the fallback is not needed); everything
    /// else goes through `open_sync`, which validates it.
    fn opfs_path(options: &JsValue) -> Option<String> {
        if !options.is_object() {
            return None;
        }
        let keys = Reflect::own_keys(options).ok()?;
        for key in keys.iter() {
            match key.as_string().as_deref() {
                Some("path") => {}
                Some("fallback") => {
                    let fallback = Reflect::get(options, &key).ok()?;
                    if fallback.as_string().as_deref() != Some("memory") {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        Reflect::get(options, &JsValue::from_str("path"))
            .ok()?
            .as_string()
            .filter(|p| !p.is_empty())
    }

    fn open_sync(options: &JsValue) -> JsResult<SqliteStateDb> {
        if options.is_undefined() || options.is_null() {
            return Ok(Self::wrap(
                js(asap_state::SqliteStateDb::open_in_memory(runtime::host()))?,
                None,
            ));
        }
        // A revoked proxy throws from Array.isArray: that is not a usable options object either.
        if !options.is_object() || crate::convert::is_array(options).unwrap_or(true) {
            return Err(to_js(ARG(format!(
                "options must be an object such as {{ path }} or {{ bytes }}, got {}",
                options.js_typeof().as_string().unwrap_or_default()
            ))));
        }
        let keys = Reflect::own_keys(options).map_err(|e| {
            to_js(ARG(format!(
                "options: reading it threw: {}",
                crate::convert::message(&e)
            )))
        })?;
        for key in keys.iter() {
            let name = key.as_string().unwrap_or_default();
            if name != "path" && name != "bytes" && name != "fallback" {
                return Err(to_js(ARG(format!(
                    "options: unknown field {name:?} (allowed: path, bytes, fallback)"
                ))));
            }
        }
        let get = |k: &str| {
            Reflect::get(options, &JsValue::from_str(k)).map_err(|e| {
                to_js(ARG(format!(
                    "options.{k}: reading it threw: {}",
                    crate::convert::message(&e)
                )))
            })
        };
        let path = get("path")?;
        let bytes = get("bytes")?;
        let fallback = get("fallback")?;
        let no_files = if fallback.is_undefined() {
            NoFiles::Fail
        } else if fallback.as_string().as_deref() == Some("memory") {
            if path.is_undefined() {
                return Err(to_js(ARG(
                    "options.fallback goes with options.path (what to do where there are no files)"
                        .into(),
                )));
            }
            NoFiles::Memory
        } else {
            return Err(to_js(ARG(
                "options.fallback must be \"memory\" (an in-memory image where there are no files)"
                    .into(),
            )));
        };
        match (path.is_undefined(), bytes.is_undefined()) {
            (false, false) => Err(to_js(ARG(
                "options: give either path or bytes, not both".into()
            ))),
            (true, true) => Ok(Self::wrap(
                js(asap_state::SqliteStateDb::open_in_memory(runtime::host()))?,
                None,
            )),
            (false, true) => {
                let path = path
                    .as_string()
                    .ok_or_else(|| to_js(ARG("options.path must be a string".into())))?;
                let (db, key) = open_path(&path, no_files)?;
                Ok(Self::wrap(db, Some(key)))
            }
            (true, false) => {
                let data = if bytes.is_instance_of::<Uint8Array>() {
                    Uint8Array::from(bytes).to_vec()
                } else if bytes.is_instance_of::<js_sys::ArrayBuffer>() {
                    Uint8Array::new(&bytes).to_vec()
                } else {
                    return Err(to_js(ARG(
                        "options.bytes must be a Uint8Array or an ArrayBuffer".into(),
                    )));
                };
                Ok(Self::wrap(
                    js(asap_state::SqliteStateDb::open_bytes_vec(
                        data,
                        runtime::host(),
                    ))?,
                    None,
                ))
            }
        }
    }
}

#[wasm_bindgen(js_class = SqliteStateDb)]
impl SqliteStateDb {
    /// Opens a database: a fresh image (no options), an existing file image (`{ bytes }`), or a
    /// file (`{ path }`: a real file in Node, shared by every open of the same path).
    pub fn open(options: JsValue) -> Promise {
        if let Err(e) = alive() {
            return Promise::reject(&e);
        }
        if uses_opfs() {
            if let Some(path) = Self::opfs_path(&options) {
                return wasm_bindgen_futures::future_to_promise(async move {
                    let (db, key) = open_opfs(path).await?;
                    Ok(JsValue::from(Self::wrap(db, Some(key))))
                });
            }
        }
        match Self::open_sync(&options) {
            Ok(db) => Promise::resolve(&JsValue::from(db)),
            Err(e) => Promise::reject(&e),
        }
    }

    /// The snapshot store of this database.
    #[wasm_bindgen(getter)]
    pub fn snapshots(&self) -> JsValue {
        self.snapshots.clone()
    }

    /// The metering store of this database.
    #[wasm_bindgen(getter)]
    pub fn metering(&self) -> JsValue {
        self.metering.clone()
    }

    /// A complete SQLite file image (the WAL checkpointed in).
    #[wasm_bindgen(js_name = exportBytes)]
    pub fn export_bytes(&self) -> JsResult<Vec<u8>> {
        alive()?;
        js(self.open.check())?;
        js(self.db.export_bytes())
    }

    /// Closes this handle; later calls on it and its stores throw `CLOSED`. The database
    /// itself closes (checkpointed) when its last handle closes.
    pub fn close(&self) -> JsResult<()> {
        alive()?;
        if !self.open.close() {
            return Ok(());
        }
        match &self.key {
            None => js(self.db.close()),
            Some(key) => match release(key)? {
                Some(entry) => {
                    let closed = js(entry.db.close());
                    match entry.release {
                        Release::Nothing => {}
                        Release::NodeLock(fd) => fs_unlock(key, fd).map_err(|e| {
                            to_js(StateError::StorageIo(format!(
                                "{key}.lock: {}",
                                crate::convert::message(&e)
                            )))
                        })?,
                        Release::Opfs(main, wal) => {
                            opfs_close(main);
                            opfs_close(wal);
                        }
                    }
                    closed
                }
                None => Ok(()),
            },
        }
    }
}

/// The core's `copy_state` between two databases of this instance: what the package's
/// `copyState` (JavaScript, so that it works across instances) is tested against, store for
/// store and byte for byte (`tests/js/envelope.test.mjs`). Not part of the package's API (no
/// entry exports it).
#[wasm_bindgen(js_name = __asapStateCoreCopy, skip_typescript)]
pub fn core_copy(from: &SqliteStateDb, to: &SqliteStateDb) -> JsResult<Vec<f64>> {
    alive()?;
    let (from_snapshots, from_metering) = (
        Guarded::new(from.db.snapshots(), from.open.clone()),
        Guarded::new(from.db.metering(), from.open.clone()),
    );
    let (to_snapshots, to_metering) = (
        Guarded::new(to.db.snapshots(), to.open.clone()),
        Guarded::new(to.db.metering(), to.open.clone()),
    );
    let report = js(asap_state::copy_state(
        (Some(&from_snapshots), Some(&from_metering)),
        (Some(&to_snapshots), Some(&to_metering)),
    ))?;
    // Counts below 2^53: exact as doubles.
    #[allow(clippy::cast_precision_loss)]
    Ok(vec![report.snapshots as f64, report.events as f64])
}
