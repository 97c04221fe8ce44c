//! A host's SQLite as the core's [`SqlConnection`]: every call goes synchronously to a JS
//! object (`wasm/js/host-sql.js`), a Durable Object's `ctx.storage` in practice. The object
//! stays on the JS side; the connection holds its number.

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
    fn host_exec(id: u32, sql: &str, params: Array) -> std::result::Result<Array, JsValue>;
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

/// A value of a row, owned on the Rust side (the row is borrowed from these).
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// The largest integer a JS number holds exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

#[allow(clippy::cast_possible_truncation)]
fn cell(v: JsValue) -> Cell {
    if let Some(s) = v.as_string() {
        Cell::Text(s)
    } else if let Some(f) = v.as_f64() {
        // SQLite's INTEGER and REAL both arrive as numbers; an integral one within the exact
        // range is read as the INTEGER it was stored as (the stores' columns are INTEGER).
        if f.fract() == 0.0 && f.abs() <= MAX_EXACT {
            Cell::Integer(f as i64)
        } else {
            Cell::Real(f)
        }
    } else if v.is_instance_of::<js_sys::ArrayBuffer>() {
        Cell::Blob(Uint8Array::new(&v).to_vec())
    } else {
        Cell::Null
    }
}

impl Cell {
    fn as_ref(&self) -> SqlRef<'_> {
        match self {
            Cell::Null => SqlRef::Null,
            Cell::Integer(i) => SqlRef::Integer(*i),
            Cell::Real(f) => SqlRef::Real(*f),
            Cell::Text(s) => SqlRef::Text(s),
            Cell::Blob(b) => SqlRef::Blob(b),
        }
    }
}

impl HostConnection {
    /// Runs a statement: its rows and the number of rows it wrote.
    fn run(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<(Array, f64)> {
        let args: Array = params.iter().map(js_param).collect();
        let out = host_exec(self.id, sql, args).map_err(|e| storage_error(&e))?;
        let rows = Array::from(&out.get(0));
        let written = out.get(1).as_f64().unwrap_or(0.0);
        Ok((rows, written))
    }
}

impl SqlConnection for HostConnection {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn execute(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<u64> {
        // `rowsWritten` counts index entries too: it is 0 exactly when nothing changed, which
        // is all the stores ask of it.
        let (_, written) = self.run(sql, params)?;
        Ok(written.max(0.0) as u64)
    }

    fn query_each(&self, sql: &str, params: &[SqlRef<'_>], on_row: &mut RowFn<'_>) -> Result<()> {
        let (rows, _) = self.run(sql, params)?;
        for row in rows.iter() {
            let cells: Vec<Cell> = Array::from(&row).iter().map(cell).collect();
            let values: Vec<SqlRef<'_>> = cells.iter().map(Cell::as_ref).collect();
            on_row(&values)?;
        }
        Ok(())
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
