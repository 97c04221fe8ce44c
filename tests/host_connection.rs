//! `SqliteStateDb::open_connection`: the stores on a host's own SQLite (what a Durable Object's
//! storage is), natively over `rusqlite` with its bundled SQLite. The contract suite runs on
//! this path in `tests/sqlite_contract.rs`; these are the parts only a host has: the
//! reference's DDL in the host's own database, data above the host's value limit in chunks, the
//! checks of tables that are already there, and the same answers as the embedded engine.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod host_support;
mod sqlite_support;

use asap_state::{
    MeteringStore, SaveOptions, SnapshotStore, SqliteStateDb, StateSnapshotInput, UsageEventInput,
};
use host_support::HostSqlite;
use serde_json::{json, Map, Value};
use sqlite_support::{runtime, TempDir, CONTRACT_SCHEMA};

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn input(task: &str, data: Value) -> StateSnapshotInput {
    StateSnapshotInput {
        task_id: task.into(),
        data: object(data),
        ..Default::default()
    }
}

/// The `sqlite_schema` rows (type, name, table, SQL) of a database file, in order.
fn schema_rows(conn: &rusqlite::Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn the_host_holds_the_reference_tables_with_the_reference_ddl() {
    let dir = TempDir::new("host-ddl");
    let ours = dir.path().join("ours.db");
    let db =
        SqliteStateDb::open_connection(Box::new(HostSqlite::file(&ours, None)), runtime()).unwrap();
    db.snapshots()
        .save(input("t", json!({"a": 1})), SaveOptions::default())
        .unwrap();
    db.close().unwrap();

    // The reference's DDL, verbatim, run by SQLite itself.
    let reference = rusqlite::Connection::open_in_memory().unwrap();
    reference.execute_batch(CONTRACT_SCHEMA).unwrap();
    let ours = rusqlite::Connection::open(&ours).unwrap();
    assert_eq!(schema_rows(&ours), schema_rows(&reference));
    assert_eq!(
        schema_rows(&ours).len(),
        6,
        "2 tables, 2 indexes, 2 automatic indexes"
    );
}

#[test]
fn data_above_the_hosts_limit_is_stored_in_chunks_and_read_back_whole() {
    let dir = TempDir::new("host-chunks");
    let path = dir.path().join("chunks.db");
    // The host refuses any value above 1,100 bytes; the store is told 100.
    let db =
        SqliteStateDb::open_connection(Box::new(HostSqlite::file(&path, Some(100))), runtime())
            .unwrap();
    let snapshots = db.snapshots();
    // 10,000 characters of 1 to 4 bytes each: chunks must end on characters.
    let text: String = "aé€😀".repeat(2_500);
    let big = json!({ "text": text, "n": 1 });
    let saved = snapshots
        .save(input("t", big.clone()), SaveOptions::default())
        .unwrap();
    let small = snapshots
        .save(input("t", json!({"n": 2})), SaveOptions::default())
        .unwrap();
    assert_eq!((saved.version, small.version), (1, 2));
    assert_eq!(
        Value::Object(snapshots.get("t", Some(1)).unwrap().unwrap().data),
        big
    );
    assert_eq!(
        Value::Object(snapshots.get_by_id("t", &saved.id).unwrap().unwrap().data),
        big
    );
    let json_text = snapshots.get_json("t", Some(1)).unwrap().unwrap();
    let parsed: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(parsed["data"], big);
    let by_id: Value =
        serde_json::from_str(&snapshots.get_by_id_json("t", &saved.id).unwrap().unwrap()).unwrap();
    assert_eq!(by_id, parsed);
    // The latest, not chunked, is read where the connection holds its row.
    let latest: Value =
        serde_json::from_str(&snapshots.get_json("t", None).unwrap().unwrap()).unwrap();
    assert_eq!(latest["data"], json!({"n": 2}));
    assert_eq!(latest, serde_json::to_value(&small).unwrap());

    let host = rusqlite::Connection::open(&path).unwrap();
    let stored: (String, i64) = host
        .query_row(
            "SELECT data, (SELECT COUNT(*) FROM asap_snapshot_chunks WHERE task_id = 't' AND version = 1) FROM snapshots WHERE task_id = 't' AND version = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        stored.0, "",
        "the row of a chunked snapshot holds no data itself"
    );
    let data_len = serde_json::to_string(&big).unwrap().len();
    assert!(
        stored.1 as usize >= data_len / 100,
        "{} chunks for {data_len} bytes",
        stored.1
    );
    let small_row: String = host
        .query_row("SELECT data FROM snapshots WHERE version = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        small_row, r#"{"n":2}"#,
        "data below the limit stays in its row"
    );

    // Replacing a chunked version with a small one drops its chunks; deleting drops the rest.
    let replaced = StateSnapshotInput {
        version: Some(1),
        ..input("t", json!({"n": 1}))
    };
    snapshots.save(replaced, SaveOptions::default()).unwrap();
    let chunks = |host: &rusqlite::Connection| -> i64 {
        host.query_row("SELECT COUNT(*) FROM asap_snapshot_chunks", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(chunks(&host), 0);
    snapshots
        .save(input("t", big.clone()), SaveOptions::default())
        .unwrap();
    snapshots
        .save(input("u", big.clone()), SaveOptions::default())
        .unwrap();
    assert!(chunks(&host) > 0);
    assert!(snapshots.delete("t", Some(3)).unwrap());
    assert!(snapshots.delete("u", None).unwrap());
    assert_eq!(chunks(&host), 0, "delete takes the chunks with the rows");
    let pruned = snapshots
        .save(input("t", big.clone()), SaveOptions::default())
        .unwrap();
    snapshots
        .save(input("t", json!({"n": 5})), SaveOptions::default())
        .unwrap();
    let policy = asap_state::PrunePolicy {
        keep_last: Some(1),
        ..Default::default()
    };
    assert_eq!(snapshots.prune("t", policy).unwrap(), 3);
    assert_eq!(chunks(&host), 0, "prune takes the chunks with the rows");
    assert!(snapshots.get("t", Some(pruned.version)).unwrap().is_none());
}

#[test]
fn a_write_the_host_refuses_changes_nothing() {
    // The store is told no limit, but the host refuses values above 1,100 bytes: the save
    // fails inside its transaction and leaves nothing behind.
    struct Refusing(HostSqlite);
    impl asap_state::SqlConnection for Refusing {
        fn execute(&self, sql: &str, params: &[asap_state::SqlRef<'_>]) -> asap_state::Result<u64> {
            if params
                .iter()
                .any(|p| matches!(p, asap_state::SqlRef::Text(t) if t.len() > 1100))
            {
                return Err(asap_state::StateError::StorageIo("value too large".into()));
            }
            self.0.execute(sql, params)
        }
        fn query_each(
            &self,
            sql: &str,
            params: &[asap_state::SqlRef<'_>],
            on_row: &mut asap_state::sql::RowFn<'_>,
        ) -> asap_state::Result<()> {
            self.0.query_each(sql, params, on_row)
        }
        fn transaction(
            &self,
            body: &mut dyn FnMut() -> asap_state::Result<()>,
        ) -> asap_state::Result<()> {
            self.0.transaction(body)
        }
    }
    let db =
        SqliteStateDb::open_connection(Box::new(Refusing(HostSqlite::in_memory(None))), runtime())
            .unwrap();
    let snapshots = db.snapshots();
    snapshots
        .save(input("t", json!({"n": 1})), SaveOptions::default())
        .unwrap();
    let err = snapshots
        .save(
            input("t", json!({"big": "x".repeat(5_000)})),
            SaveOptions::default(),
        )
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        ("STORAGE_IO", "value too large")
    );
    assert_eq!(snapshots.list_versions("t").unwrap(), vec![1]);
    // The record of a usage event is one transaction too.
    let event = db
        .metering()
        .record(UsageEventInput {
            task_id: "t".into(),
            agent_id: "a".into(),
            consumer_id: "c".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(db.metering().agents().unwrap(), vec!["a".to_owned()]);
    assert!(!event.id.is_empty());
}

#[test]
fn tables_already_there_are_checked() {
    // Another application's database, without our tables: refused, and nothing is created.
    let host = rusqlite::Connection::open_in_memory().unwrap();
    host.execute_batch("CREATE TABLE notes (body TEXT)")
        .unwrap();
    let err = SqliteStateDb::open_connection(Box::new(HostSqlite::wrap(host, None)), runtime())
        .unwrap_err();
    assert_eq!(err.code(), "SCHEMA_MISMATCH");
    assert!(err.message().contains("notes"), "{}", err.message());

    // Our table with other columns: refused, naming them.
    let host = rusqlite::Connection::open_in_memory().unwrap();
    host.execute_batch("CREATE TABLE snapshots (task_id TEXT, body TEXT)")
        .unwrap();
    let err = SqliteStateDb::open_connection(Box::new(HostSqlite::wrap(host, None)), runtime())
        .unwrap_err();
    assert_eq!(err.code(), "SCHEMA_MISMATCH");
    assert!(err.message().contains("body"), "{}", err.message());

    // A Durable Object's own `_cf_` tables are the host's: not another application's.
    let dir = TempDir::new("host-cf");
    let path = dir.path().join("cf.db");
    let host = rusqlite::Connection::open(&path).unwrap();
    host.execute_batch("CREATE TABLE _cf_KV (key TEXT PRIMARY KEY, value BLOB)")
        .unwrap();
    let db =
        SqliteStateDb::open_connection(Box::new(HostSqlite::wrap(host, None)), runtime()).unwrap();
    assert!(db.is_host() && !db.is_image());
    db.snapshots()
        .save(input("t", json!({})), SaveOptions::default())
        .unwrap();
    // Reopening finds its own tables and uses them.
    db.close().unwrap();
    let again =
        SqliteStateDb::open_connection(Box::new(HostSqlite::file(&path, None)), runtime()).unwrap();
    assert_eq!(again.snapshots().list_versions("t").unwrap(), vec![1]);
}

#[test]
fn a_host_database_is_a_reference_file_the_engine_opens_with_the_same_answers() {
    let dir = TempDir::new("host-engine");
    let path = dir.path().join("host.db");
    let host =
        SqliteStateDb::open_connection(Box::new(HostSqlite::file(&path, None)), runtime()).unwrap();
    for (task, n) in [("a", 1), ("a", 2), ("b", 3)] {
        host.snapshots()
            .save(
                input(task, json!({ "n": n, "s": "é" })),
                SaveOptions {
                    expected_version: None,
                },
            )
            .unwrap();
    }
    host.metering()
        .record(UsageEventInput {
            task_id: "a".into(),
            agent_id: "agent".into(),
            consumer_id: "c".into(),
            ..Default::default()
        })
        .unwrap();
    let engine = SqliteStateDb::open_bytes(&std::fs::read(&path).unwrap(), runtime()).unwrap();
    for task in ["a", "b"] {
        for version in [None, Some(1), Some(2)] {
            assert_eq!(
                host.snapshots().get_json(task, version).unwrap(),
                engine.snapshots().get_json(task, version).unwrap()
            );
        }
    }
    assert_eq!(
        host.snapshots().list_tasks().unwrap(),
        engine.snapshots().list_tasks().unwrap()
    );
    let filter = asap_state::ExportFilter::default();
    assert_eq!(
        host.metering()
            .export(asap_state::ExportFormat::Json, &filter)
            .unwrap(),
        engine
            .metering()
            .export(asap_state::ExportFormat::Json, &filter)
            .unwrap()
    );
    // A host has no file to hand out: its export is written from its rows, and reads back the
    // same (tests/sqlite_image.rs checks such files with real SQLite).
    let exported = SqliteStateDb::open_bytes(&host.export_bytes().unwrap(), runtime()).unwrap();
    assert_eq!(
        exported.snapshots().list_tasks().unwrap(),
        host.snapshots().list_tasks().unwrap()
    );
    host.close().unwrap();
    assert_eq!(
        host.snapshots().get("a", None).unwrap_err().code(),
        "CLOSED"
    );
}
