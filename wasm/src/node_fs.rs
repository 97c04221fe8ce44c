//! Node's `fs` as a backing store for the SQLite engine: real files, written as it commits.

#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/node-fs.js")]
extern "C" {
    #[wasm_bindgen(js_name = fsAvailable)]
    pub fn fs_available() -> bool;
    #[wasm_bindgen(catch, js_name = fsResolve)]
    pub fn fs_resolve(path: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = fsOpen)]
    fn fs_open(path: &str, create: bool) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = fsRead)]
    fn fs_read(fd: f64, buf: &mut [u8], pos: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = fsWrite)]
    fn fs_write(fd: f64, buf: &[u8], pos: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = fsSize)]
    fn fs_size(fd: f64) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = fsTruncate)]
    fn fs_truncate(fd: f64, len: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = fsSync)]
    fn fs_sync(fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = fsClose)]
    fn fs_close(fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = fsRemove)]
    fn fs_remove(path: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch, js_name = fsLock)]
    pub fn fs_lock(path: &str) -> Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = fsUnlock)]
    pub fn fs_unlock(path: &str, fd: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(js_name = processEnv)]
    pub fn process_env() -> JsValue;
}

#[cfg(feature = "sqlite")]
mod files {
    use std::sync::Arc;

    use asap_state::sqlite::{BackingFile, BackingStore};

    use super::*;
    use crate::js_file::{message, FileOps, JsFile};

    static NODE_FILE: FileOps = FileOps {
        read: fs_read,
        write: fs_write,
        size: fs_size,
        truncate: fs_truncate,
        sync: fs_sync,
        close: Some(fs_close),
    };

    /// Node's filesystem.
    pub struct NodeFsStore;

    impl BackingStore for NodeFsStore {
        fn open(&self, path: &str, create: bool) -> Result<Option<Arc<dyn BackingFile>>, String> {
            let fd = fs_open(path, create).map_err(message)?;
            if fd < 0.0 {
                return Ok(None);
            }
            let file: Arc<dyn BackingFile> = Arc::new(JsFile {
                handle: fd,
                ops: &NODE_FILE,
            });
            Ok(Some(file))
        }

        fn remove(&self, path: &str) -> Result<(), String> {
            fs_remove(path).map_err(message)
        }
    }
}
#[cfg(feature = "sqlite")]
pub use files::NodeFsStore;
