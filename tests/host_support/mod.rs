//! A host's SQLite connection, natively: `rusqlite` with its bundled SQLite (the same C SQLite a
//! Durable Object's storage runs) behind `asap_state::SqlConnection`, as the wasm bindings put
//! `ctx.storage.sql` behind it. Like a Durable Object, it can refuse values above a size (the
//! store is told a smaller one, to chunk its data by, as the bindings tell it 1 MiB where a
//! Durable Object refuses above 2 MB), and it refuses `BEGIN` and `SAVEPOINT` outside its own `transaction` (a Durable Object's `exec`
//! does), so the stores are shown never to send them.

#![allow(dead_code)] // Each test binary uses part of it.

use asap_state::{Result, SqlConnection, SqlRef, StateError};
use rusqlite::types::{Value, ValueRef};

pub struct HostSqlite {
    conn: rusqlite::Connection,
    /// What the store is told (it chunks data above it).
    max_value_bytes: Option<usize>,
    /// What this host refuses: any value above it.
    refuse_above: Option<usize>,
}

/// Ids are at most 1 KiB, and every other value but `data` is shorter: a host that refuses
/// values above this and tells the store a smaller limit sees all data above it chunked.
pub const REFUSE_ABOVE: usize = 1100;

impl HostSqlite {
    /// A fresh database in memory.
    pub fn in_memory(max_value_bytes: Option<usize>) -> Self {
        Self::wrap(
            rusqlite::Connection::open_in_memory().unwrap(),
            max_value_bytes,
        )
    }

    /// A database file.
    pub fn file(path: &std::path::Path, max_value_bytes: Option<usize>) -> Self {
        Self::wrap(rusqlite::Connection::open(path).unwrap(), max_value_bytes)
    }

    pub fn wrap(conn: rusqlite::Connection, max_value_bytes: Option<usize>) -> Self {
        HostSqlite {
            conn,
            max_value_bytes,
            refuse_above: max_value_bytes.map(|n| n.max(REFUSE_ABOVE)),
        }
    }
}

fn storage(e: rusqlite::Error) -> StateError {
    StateError::StorageIo(format!("host SQLite: {e}"))
}

fn host_value(v: &SqlRef<'_>) -> Value {
    match *v {
        SqlRef::Null => Value::Null,
        SqlRef::Integer(i) => Value::Integer(i),
        SqlRef::Real(f) => Value::Real(f),
        SqlRef::Text(s) => Value::Text(s.to_owned()),
        SqlRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn core_value(v: ValueRef<'_>) -> SqlRef<'_> {
    match v {
        ValueRef::Null => SqlRef::Null,
        ValueRef::Integer(i) => SqlRef::Integer(i),
        ValueRef::Real(f) => SqlRef::Real(f),
        ValueRef::Text(t) => SqlRef::Text(std::str::from_utf8(t).unwrap_or("\u{fffd}")),
        ValueRef::Blob(b) => SqlRef::Blob(b),
    }
}

impl HostSqlite {
    /// What a Durable Object's `exec` checks before it runs a statement.
    fn admit(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<()> {
        let head = sql.trim_start().to_ascii_uppercase();
        for refused in ["BEGIN", "SAVEPOINT", "COMMIT", "ROLLBACK", "RELEASE"] {
            if head.starts_with(refused) {
                return Err(StateError::StorageIo(format!(
                    "host SQLite: {refused} is not allowed; use transaction()"
                )));
            }
        }
        if params.len() > 100 {
            return Err(StateError::StorageIo(format!(
                "host SQLite: {} bound parameters, at most 100",
                params.len()
            )));
        }
        if let Some(limit) = self.refuse_above {
            for p in params {
                let len = match p {
                    SqlRef::Text(s) => s.len(),
                    SqlRef::Blob(b) => b.len(),
                    _ => 0,
                };
                if len > limit {
                    return Err(StateError::StorageIo(format!(
                        "host SQLite: a value of {len} bytes, at most {limit}"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl SqlConnection for HostSqlite {
    fn execute(&self, sql: &str, params: &[SqlRef<'_>]) -> Result<u64> {
        self.admit(sql, params)?;
        let mut stmt = self.conn.prepare_cached(sql).map_err(storage)?;
        let values: Vec<Value> = params.iter().map(host_value).collect();
        let changed = stmt
            .execute(rusqlite::params_from_iter(values))
            .map_err(storage)?;
        Ok(changed as u64)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[SqlRef<'_>],
        on_row: &mut asap_state::sql::RowFn<'_>,
    ) -> Result<()> {
        self.admit(sql, params)?;
        let mut stmt = self.conn.prepare_cached(sql).map_err(storage)?;
        let columns = stmt.column_count();
        let values: Vec<Value> = params.iter().map(host_value).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(core_value(row.get_ref(i).map_err(storage)?));
            }
            on_row(&values)?;
        }
        Ok(())
    }

    fn transaction(&self, body: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        // As `transactionSync(fn)`: a throw (an error) rolls everything back.
        self.conn.execute_batch("BEGIN").map_err(storage)?;
        match body().and_then(|()| self.conn.execute_batch("COMMIT").map_err(storage)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn max_value_bytes(&self) -> Option<usize> {
        self.max_value_bytes
    }
}
