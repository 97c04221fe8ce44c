//! A host's SQLite as the core's [`SqlConnection`]: every call goes synchronously to a JS
//! object (`wasm/js/host-sql.js`), a Durable Object's `ctx.storage` in practice. The object
//! stays on the JS side; the connection holds its number.

use std::cell::RefCell;
use std::collections::HashMap;

use asap_state::sql::RowFn;
use asap_state::{Result, SqlConnection, SqlRef, StateError};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::convert::message;

#[wasm_bindgen(module = "/js/host-sql.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = hostRegister)]
    pub fn host_register(storage: &JsValue) -> std::result::Result<u32, JsValue>;
    #[wasm_bindgen(js_name = hostRelease)]
    fn host_release(id: u32);
    #[wasm_bindgen(catch, js_name = hostExec)]
    fn host_exec(id: u32, sql: &JsValue, params: Array) -> std::result::Result<f64, JsValue>;
    #[wasm_bindgen(catch, js_name = hostQuery)]
    fn host_query(id: u32, sql: &JsValue, params: Array) -> std::result::Result<Vec<f64>, JsValue>;
    #[wasm_bindgen(js_name = hostQueryTextInto)]
    fn host_query_text_into(buf: &mut [u8], from: u32) -> u32;
    #[wasm_bindgen(js_name = hostQueryBlob)]
    fn host_query_blob(i: u32) -> Vec<u8>;
    #[wasm_bindgen(catch, js_name = hostTransaction)]
    fn host_transaction(
        id: u32,
        body: &mut dyn FnMut() -> bool,
    ) -> std::result::Result<bool, JsValue>;
}

/// A Durable Object refuses a row or value above 2 MB: data above 1 MiB goes in chunks.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The connection to one registered storage.
pub struct HostConnection {
    id: u32,
}

impl HostConnection {
    /// Registers `storage`; an object without `sql.exec` and `transactionSync` is refused.
    pub fn new(storage: &JsValue) -> Result<Self> {
        let id = host_register(storage).map_err(|e| StateError::InvalidArgument(message(&e)))?;
        Ok(HostConnection { id })
    }
}

impl Drop for HostConnection {
    fn drop(&mut self) {
        host_release(self.id);
    }
}

fn storage_error(e: &JsValue) -> StateError {
    StateError::StorageIo(format!("Durable Object storage: {}", message(e)))
}

/// Integers the stores bind are below 2^53: exact as JS numbers.
#[allow(clippy::cast_precision_loss)]
fn js_param(v: &SqlRef<'_>) -> JsValue {
    match *v {
        SqlRef::Null => JsValue::NULL,
        SqlRef::Integer(i) => JsValue::from_f64(i as f64),
        SqlRef::Real(f) => JsValue::from_f64(f),
        SqlRef::Text(s) => JsValue::from_str(s),
        SqlRef::Blob(b) => Uint8Array::from(b).buffer().into(),
    }
}

/// The largest integer a JS number holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

/// A number from the host: SQLite's INTEGER and REAL both arrive as JS numbers; an integral one
/// within the exact range is read as the INTEGER it was stored as (the stores' columns are
/// INTEGER).
#[allow(clippy::cast_possible_truncation)]
fn number(f: f64) -> SqlRef<'static> {
    if f.fract() == 0.0 && f.abs() <= MAX_EXACT {
        SqlRef::Integer(f as i64)
    } else {
        SqlRef::Real(f)
    }
}

/// The next `units` UTF-16 code units of `text` (the length JS gave a TEXT value), and the
/// rest; `None` if `text` does not have them whole.
fn split_utf16(text: &str, units: usize) -> Option<(&str, &str)> {
    if text.as_bytes().get(..units).is_some_and(<[u8]>::is_ascii) {
        // ASCII: one byte per code unit.
        return Some(text.split_at(units));
    }
    let mut seen = 0;
    for (at, c) in text.char_indices() {
        if seen == units {
            return Some(text.split_at(at));
        }
        seen = seen.saturating_add(c.len_utf16());
    }
    (seen == units).then_some((text, ""))
}

/// The rows of one query, as `hostQuery` described them after its two header numbers
/// (`wasm/js/host-sql.js`), handed to `on_row` one at a time, each value borrowed from `text`
/// or `blobs`.
fn each_row(rows: &[f64], text: &str, blobs: &[Vec<u8>], on_row: &mut RowFn<'_>) -> Result<()> {
    let bad =
        || StateError::StorageIo("Durable Object storage: a query's rows did not decode".into());
    let mut nums = rows.iter().copied();
    let mut rest = text;
    let mut row: Vec<SqlRef<'_>> = Vec::new();
    while let Some(n) = nums.next() {
        row.clear();
        let mut left = n;
        while left > 0.0 {
            let (kind, v) = (nums.next().ok_or_else(bad)?, nums.next().ok_or_else(bad)?);
            row.push(match kind {
                0.0 => SqlRef::Null,
                1.0 => number(v),
                2.0 => {
                    let units = number(v).as_int().and_then(|u| usize::try_from(u).ok());
                    let (value, after) =
                        units.and_then(|u| split_utf16(rest, u)).ok_or_else(bad)?;
                    rest = after;
                    SqlRef::Text(value)
                }
                3.0 => {
                    let i = number(v).as_int().and_then(|i| usize::try_from(i).ok());
                    SqlRef::Blob(i.and_then(|i| blobs.get(i)).ok_or_else(bad)?)
                }
                _ => return Err(bad()),
            });
            left -= 1.0;
        }
        on_row(&row)?;
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The UTF-16 length of UTF-8 `bytes`: one unit per character, two for those beyond U+FFFF.
fn utf16_units(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|b| match b {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        })
        .sum()
}

/// The last query's joined TEXT values, `units` UTF-16 units, written by the host straight into
/// this memory as UTF-8.
fn query_text(units: usize) -> Result<String> {
    let bad =
        || StateError::StorageIo("Durable Object storage: a query's text did not decode".into());
    let mut buf = Vec::new();
    let (mut filled, mut done) = (0usize, 0usize);
    // One byte per unit first (ASCII fills it exactly), then room for three.
    let mut per_unit = 1;
    while done < units {
        let need = units
            .saturating_sub(done)
            .saturating_mul(per_unit)
            .max(4)
            .saturating_add(filled);
        if buf.len() < need {
            // Room that cannot be had is an error, not an abort of the instance.
            buf.try_reserve(need.saturating_sub(buf.len()))
                .map_err(|_| {
                    StateError::StorageIo(format!("no memory for a query's {units} units of text"))
                })?;
            buf.resize(need, 0);
        }
        let from = u32::try_from(done).map_err(|_| bad())?;
        let written = buf
            .get_mut(filled..)
            .map(|room| host_query_text_into(room, from) as usize)
            .ok_or_else(bad)?;
        let chunk = filled
            .checked_add(written)
            .and_then(|end| buf.get(filled..end))
            .ok_or_else(bad)?;
        let read = utf16_units(chunk);
        // With room for every character left, a call reads something.
        if read == 0 && per_unit == 3 {
            return Err(bad());
        }
        per_unit = 3;
        filled = filled.saturating_add(written);
        done = done.saturating_add(read);
    }
    buf.truncate(filled);
    String::from_utf8(buf).map_err(|_| bad())
}

thread_local! {
    /// The JS strings of the statements run so far (the stores run a few dozen texts, over and
    /// over): a statement's text crosses to JS once, not on every call.
    static SQL_TEXTS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// At most this many statement texts are kept.
const SQL_TEXTS_KEPT: usize = 256;

/// `sql` as a JS string.
fn sql_js(sql: &str) -> JsValue {
    SQL_TEXTS.with(|texts| {
        let Ok(mut texts) = texts.try_borrow_mut() else {
            return JsValue::from_str(sql);
        };
        if let Some(v) = texts.get(sql) {
            return v.clone();
        }
        let v = JsValue::from_str(sql);
        if texts.len() < SQL_TEXTS_KEPT {
            texts.insert(sql.to_owned(), v.clone());
        }
        v
    })
}

fn js_params(params: &[SqlRef<'_>]) -> Array {
    params.iter().map(js_param).collect()
}

impl SqlConnection for HostConnection {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn execute(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<u64> {
        // `rowsWritten` counts index entries too: it is 0 exactly when nothing changed, which
        // is all the stores ask of it.
        let written =
            host_exec(self.id, &sql_js(sql), js_params(params)).map_err(|e| storage_error(&e))?;
        Ok(written.max(0.0) as u64)
    }

    fn query_each(&self, sql: &str, params: &[SqlRef<'_>], on_row: &mut RowFn<'_>) -> Result<()> {
        let shape =
            host_query(self.id, &sql_js(sql), js_params(params)).map_err(|e| storage_error(&e))?;
        let bad =
            || StateError::StorageIo("Durable Object storage: a query's shape is wrong".into());
        let count = |n: Option<&f64>| {
            n.and_then(|n| number(*n).as_int())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(bad)
        };
        let blobs: Vec<Vec<u8>> = (0..count(shape.first())?).map(host_query_blob).collect();
        let text = query_text(count(shape.get(1))? as usize)?;
        each_row(shape.get(2..).unwrap_or_default(), &text, &blobs, on_row)
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        let mut failed: Option<StateError> = None;
        let committed = host_transaction(self.id, &mut || match body() {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })
        .map_err(|e| storage_error(&e))?;
        match (committed, failed) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(e),
            (false, None) => Err(StateError::StorageIo(
                "Durable Object storage: the transaction was rolled back".into(),
            )),
        }
    }

    fn max_value_bytes(&self) -> Option<usize> {
        Some(CHUNK_BYTES)
    }
}
