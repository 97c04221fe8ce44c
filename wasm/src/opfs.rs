//! The browser's Origin Private File System (sync access handles, dedicated workers) as a
//! backing store: `<path>` and `<path>-wal`, held exclusively while the database is open.

use std::sync::Arc;

use asap_state::sqlite::{BackingFile, BackingStore};
use wasm_bindgen::prelude::*;

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

fn text(e: JsValue) -> String {
    js_sys::Reflect::get(&e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

#[allow(clippy::cast_precision_loss)]
fn num(n: u64) -> f64 {
    n as f64
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn count(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    }
}

/// One open sync access handle, by its id in the JS module.
struct OpfsFile {
    id: f64,
}

impl BackingFile for OpfsFile {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
        let n = opfs_read(self.id, buf, num(pos)).map_err(text)?;
        Ok(usize::try_from(count(n)).unwrap_or(0).min(buf.len()))
    }

    fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String> {
        opfs_write(self.id, data, num(pos)).map_err(text)
    }

    fn size(&self) -> Result<u64, String> {
        opfs_size(self.id).map(count).map_err(text)
    }

    fn truncate(&self, len: u64) -> Result<(), String> {
        opfs_truncate(self.id, num(len)).map_err(text)
    }

    fn sync(&self) -> Result<(), String> {
        opfs_flush(self.id).map_err(text)
    }
}

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
        let file: Arc<dyn BackingFile> = Arc::new(OpfsFile { id });
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
