//! The browser's Origin Private File System (sync access handles, dedicated workers) as a
//! backing store: `<path>` and `<path>-wal`, held exclusively while the database is open.

use std::sync::Arc;

use asap_state::sqlite::{BackingFile, BackingStore};
use wasm_bindgen::prelude::*;

use crate::js_file::{FileOps, JsFile};

#[wasm_bindgen(module = "/js/opfs.js")]
extern "C" {
    #[wasm_bindgen(js_name = opfsAvailable)]
    pub fn opfs_available() -> bool;
    #[wasm_bindgen(js_name = opfsOpen)]
    pub fn opfs_open(path: &str) -> js_sys::Promise;
    #[wasm_bindgen(catch, js_name = opfsRead)]
    fn opfs_read(id: f64, buf: &mut [u8], pos: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = opfsWrite)]
    fn opfs_write(id: f64, buf: &[u8], pos: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = opfsSize)]
    fn opfs_size(id: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = opfsTruncate)]
    fn opfs_truncate(id: f64, len: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = opfsFlush)]
    fn opfs_flush(id: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = opfsClose)]
    pub fn opfs_close(id: f64);
}

static OPFS_FILE: FileOps = FileOps {
    read: opfs_read,
    write: opfs_write,
    size: opfs_size,
    truncate: opfs_truncate,
    sync: opfs_flush,
    // The handles belong to the open database and are closed with it.
    close: None,
};

/// The two files of one database, under the engine's names [`MAIN`] and `MAIN-wal`.
pub struct OpfsStore {
    pub main: f64,
    pub wal: f64,
}

/// The engine's name of the main file in an [`OpfsStore`].
pub const MAIN: &str = "opfs.db";

impl BackingStore for OpfsStore {
    fn open(&self, path: &str, _create: bool) -> Result<Option<Arc<dyn BackingFile>>, String> {
        let id = if path == MAIN {
            self.main
        } else if path.strip_prefix(MAIN) == Some("-wal") {
            self.wal
        } else {
            return Err(format!("an OPFS database has no file {path:?}"));
        };
        let file: Arc<dyn BackingFile> = Arc::new(JsFile {
            handle: id,
            ops: &OPFS_FILE,
        });
        Ok(Some(file))
    }

    fn remove(&self, path: &str) -> Result<(), String> {
        // The handles stay open for the database's lifetime: removing is emptying.
        match self.open(path, false)? {
            Some(f) => f.truncate(0),
            None => Ok(()),
        }
    }
}
