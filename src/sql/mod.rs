//! The SQL stores over a connection of the core's own.
//!
//! [`SqliteStateDb`](crate::SqliteStateDb) keeps snapshots and usage events in the Python
//! reference's two tables ([`schema`]). Everything it does — the statements, validation,
//! canonical JSON, versioning, metering queries, transactions — goes through
//! [`SqlConnection`], a small synchronous interface with the core's own value types. Two
//! implementations exist:
//!
//! * the embedded engine (`turso_core`, feature `sqlite`, in `src/sqlite/engine.rs`), over file
//!   images in memory, native files, Node's `fs` or the browser's OPFS;
//! * a **host's** SQLite, whose calls go synchronously to the host: a Cloudflare Durable
//!   Object's `ctx.storage.sql` in the wasm bindings, or any SQLite a Rust program already has
//!   (the tests use `rusqlite`).
//!
//! A connection is used by one store at a time (the store holds it behind a lock), so its
//! methods take `&self` and need no locking of their own.

pub mod image;
pub mod schema;
pub(crate) mod store;

use crate::error::{Result, StateError};

/// One value bound to a statement or read from a row, borrowed: nothing is copied on the way
/// between the store and the connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SqlRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A value the store keeps after the row it came from is gone.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl<'a> SqlRef<'a> {
    /// The text, if this is a TEXT value.
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            SqlRef::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an INTEGER value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            SqlRef::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// An owned copy.
    pub fn to_owned_value(&self) -> SqlValue {
        match *self {
            SqlRef::Null => SqlValue::Null,
            SqlRef::Integer(i) => SqlValue::Integer(i),
            SqlRef::Real(f) => SqlValue::Real(f),
            SqlRef::Text(s) => SqlValue::Text(s.to_owned()),
            SqlRef::Blob(b) => SqlValue::Blob(b.to_vec()),
        }
    }
}

impl SqlValue {
    /// The value, borrowed.
    pub fn as_ref(&self) -> SqlRef<'_> {
        match self {
            SqlValue::Null => SqlRef::Null,
            SqlValue::Integer(i) => SqlRef::Integer(*i),
            SqlValue::Real(f) => SqlRef::Real(*f),
            SqlValue::Text(s) => SqlRef::Text(s),
            SqlValue::Blob(b) => SqlRef::Blob(b),
        }
    }
}

/// Hands each row of a query to the store, borrowed from the connection; an error stops the
/// query and is returned by it as it is.
pub type RowFn<'a> = dyn FnMut(&[SqlRef<'_>]) -> Result<()> + 'a;

/// A synchronous SQLite connection: what the SQL stores need of a database, and no more.
///
/// Errors are [`StateError`]s: a connection reports a damaged file as `CORRUPT_DATABASE` and
/// anything else its engine or storage refuses as `STORAGE_IO` (with the engine's words).
pub trait SqlConnection: Send {
    /// Runs one statement with positional `?` parameters, ignoring any rows; returns the
    /// number of rows it inserted, updated or deleted.
    fn execute(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<u64>;

    /// Runs one query with positional `?` parameters, handing each row to `on_row` in order.
    fn query_each(&self, sql: &str, params: &[SqlRef<'_>], on_row: &mut RowFn<'_>) -> Result<()>;

    /// Runs `body` atomically: everything it wrote is committed when it returns `Ok`, and
    /// nothing when it (or the commit) fails. Never nested.
    fn transaction(&self, body: &mut dyn FnMut() -> Result<()>) -> Result<()>;

    /// The largest TEXT value one row may hold, if the host limits it (a Durable Object: 2 MB).
    /// Larger snapshot data is then stored in chunks (`schema::SNAPSHOT_CHUNKS`) and
    /// reassembled on read.
    fn max_value_bytes(&self) -> Option<usize> {
        None
    }

    /// One self-contained SQLite file image of the database, if this connection can make one.
    fn export_bytes(&self) -> Result<Vec<u8>> {
        Err(StateError::StorageIo(
            "this database cannot be exported as a file image by its connection".into(),
        ))
    }

    /// Makes everything durable and releases the connection; later calls are not made.
    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Runs a query and returns its rows, owned.
pub fn query(
    conn: &dyn SqlConnection,
    sql: &str,
    params: &[SqlRef<'_>],
) -> Result<Vec<Vec<SqlValue>>> {
    let mut rows = Vec::new();
    conn.query_each(sql, params, &mut |row| {
        rows.push(row.iter().map(SqlRef::to_owned_value).collect());
        Ok(())
    })?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_both_ways() {
        let owned = [
            SqlValue::Null,
            SqlValue::Integer(-3),
            SqlValue::Real(1.5),
            SqlValue::Text("t".into()),
            SqlValue::Blob(vec![1, 2]),
        ];
        for v in &owned {
            assert_eq!(&v.as_ref().to_owned_value(), v);
        }
        assert_eq!(SqlRef::Text("x").as_text(), Some("x"));
        assert_eq!(SqlRef::Integer(4).as_text(), None);
        assert_eq!(SqlRef::Integer(4).as_int(), Some(4));
        assert_eq!(SqlRef::Text("4").as_int(), None);
    }
}
