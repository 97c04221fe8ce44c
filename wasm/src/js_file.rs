//! A backing file whose operations are JavaScript functions on a numeric handle (a Node file
//! descriptor, an OPFS sync access handle's id): the one implementation both hosts share.

use asap_state::sqlite::BackingFile;
use wasm_bindgen::JsValue;

/// The JavaScript operations of one kind of file.
pub struct FileOps {
    pub read: fn(f64, &mut [u8], f64) -> Result<f64, JsValue>,
    pub write: fn(f64, &[u8], f64) -> Result<(), JsValue>,
    pub size: fn(f64) -> Result<f64, JsValue>,
    pub truncate: fn(f64, f64) -> Result<(), JsValue>,
    pub sync: fn(f64) -> Result<(), JsValue>,
    /// Called when the file is dropped, if the file owns its handle.
    pub close: Option<fn(f64) -> Result<(), JsValue>>,
}

/// One open file.
pub struct JsFile {
    pub handle: f64,
    pub ops: &'static FileOps,
}

fn text(e: JsValue) -> String {
    crate::convert::message(&e)
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

impl BackingFile for JsFile {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
        let n = (self.ops.read)(self.handle, buf, num(pos)).map_err(text)?;
        Ok(usize::try_from(count(n)).unwrap_or(0).min(buf.len()))
    }

    fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String> {
        (self.ops.write)(self.handle, data, num(pos)).map_err(text)
    }

    /// One call into JavaScript (one system call in Node) for a commit's frames.
    fn write_parts_at(&self, pos: u64, parts: &[&[u8]]) -> Result<(), String> {
        asap_state::sqlite::write_joined(self, pos, parts)
    }

    fn size(&self) -> Result<u64, String> {
        (self.ops.size)(self.handle).map(count).map_err(text)
    }

    fn truncate(&self, len: u64) -> Result<(), String> {
        (self.ops.truncate)(self.handle, num(len)).map_err(text)
    }

    fn sync(&self) -> Result<(), String> {
        (self.ops.sync)(self.handle).map_err(text)
    }
}

impl Drop for JsFile {
    fn drop(&mut self) {
        if let Some(close) = self.ops.close {
            // Nothing to report a close failure to; the data was synced on commit.
            let _ = close(self.handle);
        }
    }
}

/// The message of a JavaScript error, for store errors.
pub fn message(e: JsValue) -> String {
    text(e)
}
