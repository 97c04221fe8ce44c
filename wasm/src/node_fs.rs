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
    use wasm_bindgen::JsValue;

    use super::*;

    fn text(e: JsValue) -> String {
        js_sys::Reflect::get(&e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    }

    /// Offsets and lengths of files stay far below 2^53, so they are exact as JS numbers.
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

    /// An open file descriptor.
    struct NodeFile {
        fd: f64,
    }

    impl BackingFile for NodeFile {
        fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
            let n = fs_read(self.fd, buf, num(pos)).map_err(text)?;
            Ok(usize::try_from(count(n)).unwrap_or(0).min(buf.len()))
        }

        fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String> {
            fs_write(self.fd, data, num(pos)).map_err(text)
        }

        fn size(&self) -> Result<u64, String> {
            fs_size(self.fd).map(count).map_err(text)
        }

        fn truncate(&self, len: u64) -> Result<(), String> {
            fs_truncate(self.fd, num(len)).map_err(text)
        }

        fn sync(&self) -> Result<(), String> {
            fs_sync(self.fd).map_err(text)
        }
    }

    impl Drop for NodeFile {
        fn drop(&mut self) {
            // Nothing to report a close failure to; the data was synced on commit.
            let _ = fs_close(self.fd);
        }
    }

    /// Node's filesystem.
    pub struct NodeFsStore;

    impl BackingStore for NodeFsStore {
        fn open(&self, path: &str, create: bool) -> Result<Option<Arc<dyn BackingFile>>, String> {
            let fd = fs_open(path, create).map_err(text)?;
            if fd < 0.0 {
                return Ok(None);
            }
            let file: Arc<dyn BackingFile> = Arc::new(NodeFile { fd });
            Ok(Some(file))
        }

        fn remove(&self, path: &str) -> Result<(), String> {
            fs_remove(path).map_err(text)
        }
    }
}
#[cfg(feature = "sqlite")]
pub use files::NodeFsStore;
