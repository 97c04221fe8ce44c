//! The schema, in one place: each table is written once, as a list of columns, and its DDL,
//! column lists, `INSERT` statements and the check of an existing file's columns are all made
//! from that list at compile time.
//!
//! The DDL is the Python reference's (asap-protocol 2.5.10, `_SNAPSHOTS_DDL` and
//! `_USAGE_EVENTS_DDL` in `asap/state/stores/sqlite.py`) to the byte, so a file or a Durable
//! Object written here holds exactly the reference's tables.

use super::{query, SqlConnection, SqlRef};
use crate::error::{Result, StateError};

/// `", ?"`, once per column after the first (a placeholder list's tail).
macro_rules! placeholder {
    ($col:ident) => {
        ", ?"
    };
}

/// Defines a table as a macro of its own, `$mac!(…)`, whose arms expand to string literals
/// (so they compose with `concat!` into `const` statements):
/// `name`, `columns` (`"a, b, c"`), `placeholders` (`"?, ?, ?"`), `ddl`, and `names` (an array).
macro_rules! table {
    ($mac:ident = $name:ident ($first:ident $first_decl:literal $(, $col:ident $decl:literal)* $(; $constraint:literal)?)) => {
        macro_rules! $mac {
            (name) => { stringify!($name) };
            (columns) => { concat!(stringify!($first) $(, ", ", stringify!($col))*) };
            (placeholders) => { concat!("?" $(, placeholder!($col))*) };
            (names) => { [stringify!($first) $(, stringify!($col))*] };
            (ddl) => {
                concat!(
                    "CREATE TABLE IF NOT EXISTS ", stringify!($name), " (\n    ",
                    stringify!($first), " ", $first_decl
                    $(, ",\n    ", stringify!($col), " ", $decl)*
                    $(, ",\n    ", $constraint)?,
                    "\n)"
                )
            };
        }
    };
}

table!(snapshots = snapshots(
    task_id "TEXT NOT NULL",
    id "TEXT NOT NULL",
    version "INTEGER NOT NULL",
    data "TEXT NOT NULL",
    checkpoint "INTEGER NOT NULL",
    created_at "TEXT NOT NULL";
    "PRIMARY KEY (task_id, version)"
));

table!(usage_events = usage_events(
    id "TEXT PRIMARY KEY",
    task_id "TEXT NOT NULL",
    agent_id "TEXT NOT NULL",
    consumer_id "TEXT NOT NULL",
    metrics "TEXT NOT NULL",
    timestamp "TEXT NOT NULL"
));

// Not the reference's: where a host limits the size of one value (a Durable Object: 2 MB), a
// snapshot's `data` above it lives here in pieces, in order, and its `snapshots.data` is empty
// (which no snapshot's data ever is: it is a JSON object). Only such hosts get this table.
table!(snapshot_chunks = asap_snapshot_chunks(
    task_id "TEXT NOT NULL",
    version "INTEGER NOT NULL",
    seq "INTEGER NOT NULL",
    chunk "TEXT NOT NULL";
    "PRIMARY KEY (task_id, version, seq)"
));

/// A table of the contract: its name and its columns, in order.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

pub const SNAPSHOTS: Table = Table {
    name: snapshots!(name),
    columns: &snapshots!(names),
};

pub const USAGE_EVENTS: Table = Table {
    name: usage_events!(name),
    columns: &usage_events!(names),
};

/// The contract's tables (the reference's).
pub const TABLES: [&Table; 2] = [&SNAPSHOTS, &USAGE_EVENTS];

/// The reference's DDL, one statement each, in the order it runs them.
pub const SCHEMA: [&str; 4] = [
    snapshots!(ddl),
    usage_events!(ddl),
    "CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp\nON usage_events (agent_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp\nON usage_events (consumer_id, timestamp)",
];

/// The chunk table's DDL (hosts with a value size limit only).
pub const CHUNKS_DDL: &str = snapshot_chunks!(ddl);

pub const SNAPSHOT_COLUMNS: &str = snapshots!(columns);
pub const EVENT_COLUMNS: &str = usage_events!(columns);

// ------------------------------------------------------------------------------ statements

/// A save with an explicit `version` (an upsert on `(task_id, version)`).
pub const INSERT_SNAPSHOT: &str = concat!(
    "INSERT OR REPLACE INTO snapshots (",
    snapshots!(columns),
    ") VALUES (",
    snapshots!(placeholders),
    ")"
);
/// A save whose version the store chose (the latest + 1, so no row has it): a plain `INSERT`.
/// The engine journals the pages an `OR REPLACE` touches in case it aborts halfway (SQLite's
/// statement journal: a `REPLACE` may delete before it inserts); a one-row `INSERT` needs none.
pub const INSERT_NEW_SNAPSHOT: &str = concat!(
    "INSERT INTO snapshots (",
    snapshots!(columns),
    ") VALUES (",
    snapshots!(placeholders),
    ")"
);
pub const INSERT_EVENT: &str = concat!(
    "INSERT INTO usage_events (",
    usage_events!(columns),
    ") VALUES (",
    usage_events!(placeholders),
    ")"
);
pub const INSERT_CHUNK: &str = concat!(
    "INSERT INTO asap_snapshot_chunks (",
    snapshot_chunks!(columns),
    ") VALUES (",
    snapshot_chunks!(placeholders),
    ")"
);

pub const GET_VERSION: &str = concat!(
    "SELECT ",
    snapshots!(columns),
    " FROM snapshots WHERE task_id = ? AND version = ?"
);
pub const GET_LATEST: &str = concat!(
    "SELECT ",
    snapshots!(columns),
    " FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1"
);
pub const GET_BY_ID: &str = concat!(
    "SELECT ",
    snapshots!(columns),
    " FROM snapshots WHERE task_id = ? AND id = ? ORDER BY version DESC LIMIT 1"
);
pub const LATEST_VERSION: &str =
    "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1";
pub const LIST_VERSIONS: &str = "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version";
pub const DELETE_VERSION: &str = "DELETE FROM snapshots WHERE task_id = ? AND version = ?";
pub const DELETE_TASK: &str = "DELETE FROM snapshots WHERE task_id = ?";
pub const LIST_TASKS: &str = "SELECT task_id, COUNT(*), MAX(version), SUM(checkpoint != 0), \
    (SELECT s2.created_at FROM snapshots s2 WHERE s2.task_id = s.task_id ORDER BY s2.version DESC LIMIT 1) \
    FROM snapshots s GROUP BY task_id ORDER BY task_id";
pub const PRUNE_CANDIDATES: &str =
    "SELECT version, checkpoint, created_at FROM snapshots WHERE task_id = ? ORDER BY version";

pub const GET_CHUNKS: &str =
    "SELECT chunk FROM asap_snapshot_chunks WHERE task_id = ? AND version = ? ORDER BY seq";
pub const DELETE_CHUNKS_VERSION: &str =
    "DELETE FROM asap_snapshot_chunks WHERE task_id = ? AND version = ?";
pub const DELETE_CHUNKS_TASK: &str = "DELETE FROM asap_snapshot_chunks WHERE task_id = ?";

/// Every row, in the order stored (an export).
pub const ALL_SNAPSHOTS: &str = concat!(
    "SELECT ",
    snapshots!(columns),
    " FROM snapshots ORDER BY rowid"
);
pub const ALL_EVENTS: &str = concat!(
    "SELECT ",
    usage_events!(columns),
    " FROM usage_events ORDER BY rowid"
);

pub const GET_EVENT: &str = concat!(
    "SELECT ",
    usage_events!(columns),
    " FROM usage_events WHERE id = ?"
);
pub const EVENT_EXISTS: &str = "SELECT 1 FROM usage_events WHERE id = ?";
pub const AGENTS: &str = "SELECT DISTINCT agent_id FROM usage_events ORDER BY agent_id";

/// Creates the contract's tables and indexes where they are missing (and the chunk table when
/// `chunks`), one statement at a time.
pub fn create(conn: &dyn SqlConnection, chunks: bool) -> Result<()> {
    for ddl in SCHEMA {
        conn.execute(ddl, &[])?;
    }
    if chunks {
        conn.execute(CHUNKS_DDL, &[])?;
    }
    Ok(())
}

/// Existing contract tables must have exactly the contract's columns (missing tables are fine:
/// [`create`] makes them). A database holding other tables but none of ours is some other
/// application's file: refused rather than written into (`SCHEMA_MISMATCH`).
pub fn check_columns(conn: &dyn SqlConnection) -> Result<()> {
    let text = |v: &SqlRef<'_>| v.as_text().map(str::to_owned);
    let mut tables: Vec<String> = Vec::new();
    conn.query_each(
        // (A Durable Object's own `_cf_` tables are the host's, not another application's.)
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND substr(name, 1, 4) != '_cf_' ORDER BY name",
        &[],
        &mut |row| {
            tables.extend(row.first().and_then(text));
            Ok(())
        },
    )?;
    let ours = |t: &String| TABLES.iter().any(|table| table.name == t);
    if !tables.is_empty() && !tables.iter().any(ours) {
        return Err(StateError::SchemaMismatch(format!(
            "not an asap-state database: it has the tables {tables:?} but neither snapshots nor usage_events"
        )));
    }
    for table in TABLES {
        // (The names are this module's constants, not input.)
        let names: Vec<String> = query(conn, &format!("PRAGMA table_info({})", table.name), &[])?
            .iter()
            .filter_map(|r| r.get(1).and_then(|v| text(&v.as_ref())))
            .collect();
        if names.is_empty() {
            continue;
        }
        // Columns are addressed by name (here and in the reference), so their order is free.
        let mut have: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut want: Vec<&str> = table.columns.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        if have != want {
            return Err(StateError::SchemaMismatch(format!(
                "table {} has columns {names:?}, expected {:?}",
                table.name, table.columns
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_made_from_the_column_lists() {
        assert_eq!(
            SNAPSHOT_COLUMNS,
            "task_id, id, version, data, checkpoint, created_at"
        );
        assert_eq!(
            EVENT_COLUMNS,
            "id, task_id, agent_id, consumer_id, metrics, timestamp"
        );
        assert_eq!(
            INSERT_SNAPSHOT,
            "INSERT OR REPLACE INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        );
        assert_eq!(
            INSERT_NEW_SNAPSHOT,
            "INSERT INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        );
        assert_eq!(
            INSERT_CHUNK,
            "INSERT INTO asap_snapshot_chunks (task_id, version, seq, chunk) VALUES (?, ?, ?, ?)"
        );
        assert_eq!(SNAPSHOTS.columns.len(), 6);
        assert_eq!(USAGE_EVENTS.columns[5], "timestamp");
        assert!(SCHEMA[0]
            .starts_with("CREATE TABLE IF NOT EXISTS snapshots (\n    task_id TEXT NOT NULL,\n"));
        assert!(SCHEMA[0].ends_with(",\n    PRIMARY KEY (task_id, version)\n)"));
        assert!(SCHEMA[1].ends_with("    timestamp TEXT NOT NULL\n)"));
    }
}
