//! The SQLite file writer (`asap_state::sql::image`, no SQL engine): what a host's database
//! (a Durable Object) exports. Every image is checked by real SQLite (`rusqlite`, bundled):
//! `PRAGMA integrity_check` is `ok`, the schema is the reference's, every row reads back as
//! written — and by the embedded engine, which opens it with its own full checks and gives the
//! same answers as the stores it was exported from.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod host_support;
mod sqlite_support;

use asap_state::sql::image::{
    merge_images, merge_images_prefixed, read_image, write_image, ImageRows,
};
use asap_state::{
    MeteringStore, SaveOptions, SnapshotStore, SqlValue, SqliteStateDb, StateSnapshotInput,
    UsageEventInput, UsageMetrics,
};
use host_support::HostSqlite;
use proptest::prelude::*;
use serde_json::{json, Value};
use sqlite_support::{runtime, ts, TempDir, CONTRACT_SCHEMA};

fn t(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn i(n: i64) -> SqlValue {
    SqlValue::Integer(n)
}

/// Opens `image` with real SQLite (from a file: it is a rollback-journal file, as written).
fn open(dir: &TempDir, image: &[u8]) -> rusqlite::Connection {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.path().join(format!(
        "image-{}.db",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&path, image).unwrap();
    rusqlite::Connection::open(&path).unwrap()
}

fn integrity(conn: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = conn.prepare("PRAGMA integrity_check").unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn value(v: rusqlite::types::ValueRef<'_>) -> SqlValue {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(n) => SqlValue::Integer(n),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(s) => SqlValue::Text(String::from_utf8(s.to_vec()).unwrap()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<SqlValue>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        out.push((0..n).map(|c| value(r.get_ref(c).unwrap())).collect());
    }
    out
}

/// Real SQLite accepts the image and reads back exactly `expected`, through the tables and
/// through each index.
fn check(dir: &TempDir, expected: &ImageRows) -> Vec<u8> {
    let image = write_image(expected).unwrap();
    assert_eq!(image.len() % 4096, 0);
    assert_eq!(
        &read_image(&image).unwrap(),
        expected,
        "the reader reads back what was written"
    );
    let conn = open(dir, &image);
    assert_eq!(integrity(&conn), vec!["ok".to_owned()]);
    assert_eq!(
        rows(&conn, "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots ORDER BY rowid"),
        expected.snapshots
    );
    assert_eq!(
        rows(&conn, "SELECT id, task_id, agent_id, consumer_id, metrics, timestamp FROM usage_events ORDER BY rowid"),
        expected.usage_events
    );
    // Lookups through each index find each row (every row of a small image, about 300 of a
    // large one).
    let step = |n: usize| (n / 300).max(1);
    for row in expected
        .snapshots
        .iter()
        .step_by(step(expected.snapshots.len()))
    {
        let (SqlValue::Text(task), SqlValue::Integer(version)) = (&row[0], &row[2]) else {
            continue;
        };
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM snapshots INDEXED BY sqlite_autoindex_snapshots_1 WHERE task_id = ? AND version = ?",
                rusqlite::params![task, version],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "({task:?}, {version}) through the primary key");
    }
    for row in expected
        .usage_events
        .iter()
        .step_by(step(expected.usage_events.len()))
    {
        let SqlValue::Text(agent) = &row[2] else {
            continue;
        };
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM usage_events INDEXED BY idx_usage_agent_timestamp WHERE agent_id = ?",
                [agent],
                |r| r.get(0),
            )
            .unwrap();
        let want = expected
            .usage_events
            .iter()
            .filter(|r| r[2] == row[2])
            .count();
        assert_eq!(n as usize, want);
    }
    image
}

fn snapshot_row(task: &str, version: i64, data: &str) -> Vec<SqlValue> {
    vec![
        t(task),
        t(&format!("snap_{task}_{version}")),
        i(version),
        t(data),
        i(version % 2),
        t("2026-03-01T10:00:00+00:00"),
    ]
}

fn event_row(n: usize, agent: &str) -> Vec<SqlValue> {
    vec![
        t(&format!("evt_{n:06}")),
        t("task"),
        t(agent),
        t(&format!("consumer-{}", n % 7)),
        t(r#"{"tokens_in":1,"tokens_out":2,"duration_ms":3,"api_calls":4}"#),
        t(&format!("2026-03-01T{:02}:00:00+00:00", n % 24)),
    ]
}

#[test]
fn the_schema_is_the_references() {
    let dir = TempDir::new("image-schema");
    let image = check(&dir, &ImageRows::default());
    assert_eq!(
        image.len(),
        7 * 4096,
        "page 1 and one empty root page per b-tree"
    );
    let ours = open(&dir, &image);
    let reference = rusqlite::Connection::open_in_memory().unwrap();
    reference.execute_batch(CONTRACT_SCHEMA).unwrap();
    let schema = "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid";
    assert_eq!(rows(&ours, schema), rows(&reference, schema));
}

#[test]
fn one_row_each_and_values_of_every_width() {
    let dir = TempDir::new("image-small");
    let mut snapshots = Vec::new();
    for (k, version) in [
        1i64,
        127,
        128,
        32_767,
        32_768,
        8_388_607,
        8_388_608,
        2_147_483_648,
        140_737_488_355_328,
        9_007_199_254_740_991,
    ]
    .into_iter()
    .enumerate()
    {
        snapshots.push(snapshot_row(&format!("t{k}"), version, r#"{"a":1}"#));
    }
    snapshots.push(snapshot_row(
        "ünï©ødé 漢字 \u{1F600}",
        1,
        r#"{"é":"\u0000"}"#,
    ));
    check(
        &dir,
        &ImageRows {
            snapshots,
            usage_events: vec![event_row(1, "agent")],
        },
    );
}

#[test]
fn many_rows_make_deep_trees_and_large_data_overflows() {
    let dir = TempDir::new("image-large");
    // 20,000 events: index b-trees three levels deep. 400 snapshots of 20 KB and one of 5 MB:
    // overflow chains of every length.
    let usage_events: Vec<_> = (0..20_000)
        .map(|n| event_row(n, &format!("agent-{:03}", (n * 7919) % 501)))
        .collect();
    let mut snapshots: Vec<_> = (0..400)
        .map(|n| {
            snapshot_row(
                &format!("task-{}", n % 37),
                n + 1,
                &format!(r#"{{"pad":"{}"}}"#, "x".repeat(20_000 + n as usize)),
            )
        })
        .collect();
    snapshots.push(snapshot_row(
        "big",
        1,
        &format!(r#"{{"text":"{}"}}"#, "é".repeat(2_500_000)),
    ));
    // Sizes just around the local-payload limits of table leaves and index pages.
    for (n, len) in [990usize, 1000, 1010, 4040, 4050, 4060, 4070, 4100]
        .into_iter()
        .enumerate()
    {
        snapshots.push(snapshot_row(&"k".repeat(len), n as i64 + 1, "{}"));
    }
    check(
        &dir,
        &ImageRows {
            snapshots,
            usage_events,
        },
    );
}

#[test]
fn rows_that_break_the_tables_are_refused() {
    let short = ImageRows {
        snapshots: vec![vec![t("a")]],
        usage_events: vec![],
    };
    assert_eq!(write_image(&short).unwrap_err().code(), "INVALID_ARGUMENT");
    let twice = ImageRows {
        snapshots: vec![snapshot_row("a", 1, "{}"), snapshot_row("a", 1, "{}")],
        usage_events: vec![],
    };
    let err = write_image(&twice).unwrap_err();
    assert!(err.message().contains("primary key"), "{}", err.message());
}

fn input(task: &str, data: Value) -> StateSnapshotInput {
    let Value::Object(data) = data else { panic!() };
    StateSnapshotInput {
        task_id: task.into(),
        data,
        ..Default::default()
    }
}

#[test]
fn a_host_database_exports_a_file_the_engine_reads_with_the_same_answers() {
    let dir = TempDir::new("image-host");
    // Chunks of 1 KiB: the 300 KB snapshot is reassembled for the export.
    let host =
        SqliteStateDb::open_connection(Box::new(HostSqlite::in_memory(Some(1024))), runtime())
            .unwrap();
    for n in 0..30 {
        host.snapshots()
            .save(
                input(
                    &format!("task-{}", n % 4),
                    json!({ "n": n, "s": "é\u{1F600}" }),
                ),
                SaveOptions::default(),
            )
            .unwrap();
    }
    host.snapshots()
        .save(
            input("big", json!({ "text": "z".repeat(300_000) })),
            SaveOptions::default(),
        )
        .unwrap();
    for n in 0..50u64 {
        host.metering()
            .record(UsageEventInput {
                task_id: "task-1".into(),
                agent_id: format!("agent-{}", n % 3),
                consumer_id: "c".into(),
                metrics: UsageMetrics {
                    tokens_in: n,
                    ..Default::default()
                },
                timestamp: Some(ts("2026-03-01T10:00:00Z")),
                ..Default::default()
            })
            .unwrap();
    }
    let image = host.export_bytes().unwrap();
    let conn = open(&dir, &image);
    assert_eq!(integrity(&conn), vec!["ok".to_owned()]);
    let tables: Vec<Vec<SqlValue>> = rows(
        &conn,
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
    );
    assert_eq!(
        tables,
        vec![vec![t("snapshots")], vec![t("usage_events")]],
        "no chunk table in the export"
    );
    let engine = SqliteStateDb::open_bytes(&image, runtime()).unwrap();
    assert_eq!(
        engine.snapshots().list_tasks().unwrap(),
        host.snapshots().list_tasks().unwrap()
    );
    for task in ["task-0", "task-1", "task-2", "task-3", "big"] {
        for v in host.snapshots().list_versions(task).unwrap() {
            assert_eq!(
                engine.snapshots().get_json(task, Some(v)).unwrap(),
                host.snapshots().get_json(task, Some(v)).unwrap()
            );
        }
    }
    let all = asap_state::ExportFilter::default();
    // Ties (one timestamp for all 50) keep their recording order.
    assert_eq!(
        engine
            .metering()
            .export(asap_state::ExportFormat::Csv, &all)
            .unwrap(),
        host.metering()
            .export(asap_state::ExportFormat::Csv, &all)
            .unwrap()
    );
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,12}",
        "\\PC{0,40}",
        (0usize..6000).prop_map(|n| "q".repeat(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any rows: real SQLite accepts the image and reads every row back.
    #[test]
    fn any_rows_make_a_valid_file(
        snaps in prop::collection::btree_map((arb_text(), 1i64..1_000_000), (arb_text(), arb_text()), 0..120),
        events in prop::collection::btree_map("[a-z0-9_]{1,30}", (arb_text(), arb_text(), arb_text()), 0..300),
    ) {
        let dir = TempDir::new("image-prop");
        let snapshots = snaps
            .into_iter()
            .map(|((task, version), (id, data))| vec![t(&task), t(&id), i(version), t(&data), i(version % 2), t("2026-01-01T00:00:00+00:00")])
            .collect();
        let usage_events = events
            .into_iter()
            .map(|(id, (agent, consumer, stamp))| vec![t(&id), t("task"), t(&agent), t(&consumer), t("{}"), t(&stamp)])
            .collect();
        check(&dir, &ImageRows { snapshots, usage_events });
    }
}

fn rows_of(conn: &rusqlite::Connection, table: &str) -> Vec<Vec<SqlValue>> {
    let columns = if table == "snapshots" {
        "task_id, id, version, data, checkpoint, created_at"
    } else {
        "id, task_id, agent_id, consumer_id, metrics, timestamp"
    };
    rows(
        conn,
        &format!("SELECT {columns} FROM {table} ORDER BY rowid"),
    )
}

#[test]
fn the_reader_reads_the_references_files_and_the_engines_as_sqlite_does() {
    let dir = TempDir::new("image-read");
    for name in ["state-wal.db", "state-rollback.db"] {
        // Through real SQLite first: the WAL checkpointed in, rollback-journal mode.
        let path = dir.path().join(name);
        std::fs::write(&path, sqlite_support::read_fixture(name)).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=DELETE;").unwrap();
        let rows = read_image(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(rows.snapshots, rows_of(&conn, "snapshots"), "{name}");
        assert_eq!(rows.usage_events, rows_of(&conn, "usage_events"), "{name}");
        assert!(
            !rows.snapshots.is_empty() && !rows.usage_events.is_empty(),
            "{name}"
        );
    }
    // The engine's own export, read back, is what the engine holds.
    let engine = SqliteStateDb::open_in_memory(runtime()).unwrap();
    engine
        .snapshots()
        .save(input("t", json!({"a": [1, 2]})), SaveOptions::default())
        .unwrap();
    let rows = read_image(&engine.export_bytes().unwrap()).unwrap();
    assert_eq!(rows.snapshots.len(), 1);
    assert_eq!(rows.snapshots[0][3], t(r#"{"a":[1,2]}"#));
}

#[test]
fn damaged_images_are_errors_not_a_panic() {
    let rows = ImageRows {
        snapshots: (0..50)
            .map(|n| snapshot_row("t", n + 1, &"d".repeat(5000)))
            .collect(),
        usage_events: (0..200).map(|n| event_row(n, "a")).collect(),
    };
    let image = write_image(&rows).unwrap();
    // Every 97th byte flipped, one at a time: an error or rows, never a panic (a flipped text
    // byte may still read). Every truncation at a page boundary: an error.
    for at in (0..image.len()).step_by(97) {
        let mut bad = image.clone();
        bad[at] ^= 0xff;
        let _ = read_image(&bad);
    }
    for pages in 0..image.len() / 4096 {
        assert!(read_image(&image[..pages * 4096]).is_err(), "{pages} pages");
    }
    assert_eq!(
        read_image(b"not a database").unwrap_err().code(),
        "CORRUPT_DATABASE"
    );
}

#[test]
fn merged_images_hold_every_row_once() {
    let dir = TempDir::new("image-merge");
    let a = ImageRows {
        snapshots: vec![
            snapshot_row("a", 1, "{}"),
            snapshot_row("a", 2, r#"{"x":1}"#),
        ],
        usage_events: vec![event_row(1, "agent")],
    };
    let b = ImageRows {
        snapshots: vec![snapshot_row("b", 1, &"y".repeat(10_000))],
        usage_events: vec![event_row(2, "agent"), event_row(3, "other")],
    };
    let (ia, ib) = (write_image(&a).unwrap(), write_image(&b).unwrap());
    let merged = merge_images(&[&ia, &ib]).unwrap();
    let expected = ImageRows {
        snapshots: [a.snapshots.clone(), b.snapshots.clone()].concat(),
        usage_events: [a.usage_events.clone(), b.usage_events.clone()].concat(),
    };
    assert_eq!(check(&dir, &expected), merged);
    // The same task in two images: refused.
    assert_eq!(
        merge_images(&[&ia, &ia]).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn prefixed_images_of_two_owners_merge_without_colliding() {
    let dir = TempDir::new("image-merge-prefixed");
    let rows = |event: usize| ImageRows {
        snapshots: vec![snapshot_row("task", 1, r#"{"x":1}"#)],
        usage_events: vec![event_row(event, "agent")],
    };
    let (a, b) = (rows(1), rows(2));
    let (ia, ib) = (write_image(&a).unwrap(), write_image(&b).unwrap());
    // Unprefixed, the two owners' "task" collide; with a prefix each, both are kept.
    assert_eq!(
        merge_images(&[&ia, &ib]).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let merged = merge_images_prefixed(&[(&ia, "alice/"), (&ib, "bob%2F/")]).unwrap();
    let renamed = |mut r: ImageRows, prefix: &str| {
        for row in r.snapshots.iter_mut() {
            row[0] = t(&format!("{prefix}task"));
        }
        for row in r.usage_events.iter_mut() {
            row[1] = t(&format!("{prefix}task"));
        }
        r
    };
    let (a, b) = (renamed(a, "alice/"), renamed(b, "bob%2F/"));
    let expected = ImageRows {
        snapshots: [a.snapshots, b.snapshots].concat(),
        usage_events: [a.usage_events, b.usage_events].concat(),
    };
    assert_eq!(check(&dir, &expected), merged);
    // An empty prefix is no prefix.
    assert_eq!(
        merge_images_prefixed(&[(&ia, "")]).unwrap(),
        merge_images(&[&ia]).unwrap()
    );
}
