#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.
//! Edges of the SQLite backend seen from outside: the backing stores (missing files, short
//! reads, removal), rows another writer (`sqlite3`) left that do not fit the contract, stores
//! opened on a host's file store, and calls after close.

mod sqlite_support;

use std::sync::Arc;

use asap_state::sqlite::{read_all, BackingFile, BackingStore, FsStore, MemoryFile, MemoryStore};
use asap_state::{
    BucketSize, ExportFilter, ExportFormat, MeteringStore, PrunePolicy, QueryOptions, SaveOptions,
    SeriesOptions, SnapshotStore, SqliteStateDb, StateSnapshotInput, UsageEventInput, Window,
};
use serde_json::json;
use sqlite_support::{code, runtime, sqlite3, ts, TempDir, CONTRACT_SCHEMA};

const CORRUPT: &str = "CORRUPT_DATABASE";

// ------------------------------------------------------------------------------ backing stores

#[test]
fn memory_store_open_missing_put_contents_remove() {
    let store = MemoryStore::new();
    assert!(store.open("a.db", false).unwrap().is_none());
    assert!(
        store.contents("a.db").is_none(),
        "a failed open creates nothing"
    );
    let f = store.open("a.db", true).unwrap().unwrap();
    assert_eq!(store.contents("a.db"), Some(Vec::new()));
    f.write_at(4, b"xy").unwrap();
    assert_eq!(store.contents("a.db").unwrap(), [0, 0, 0, 0, b'x', b'y']);
    // Opening again (create or not) gives the same file.
    let again = store.open("a.db", false).unwrap().unwrap();
    assert_eq!(again.size().unwrap(), 6);
    store.remove("a.db").unwrap();
    assert!(store.contents("a.db").is_none());
    assert!(store.open("a.db", false).unwrap().is_none());
    store.remove("a.db").unwrap(); // removing a missing file is fine
    store.put("b.db", b"bytes".to_vec());
    assert_eq!(store.contents("b.db").unwrap(), b"bytes");
}

#[test]
fn memory_file_reads_past_the_end_are_short_and_truncate_resizes() {
    let f = MemoryFile::new(b"hello".to_vec());
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(3, &mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"lo");
    assert_eq!(f.read_at(5, &mut buf).unwrap(), 0);
    assert_eq!(f.read_at(u64::MAX, &mut buf).unwrap(), 0);
    f.truncate(2).unwrap();
    assert_eq!(f.contents(), b"he");
    f.truncate(4).unwrap();
    assert_eq!(f.contents(), [b'h', b'e', 0, 0]);
    f.sync().unwrap();
    assert_eq!(read_all(&f).unwrap(), [b'h', b'e', 0, 0]);
}

/// A file that claims more bytes than it can deliver (a file shrinking while it is read).
struct Shrinking;

impl BackingFile for Shrinking {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
        if pos >= 4 {
            return Ok(0);
        }
        let n = buf.len().min(4 - pos as usize).min(3);
        buf[..n].fill(7);
        Ok(n)
    }
    fn write_at(&self, _: u64, _: &[u8]) -> Result<(), String> {
        Err("read-only".into())
    }
    fn size(&self) -> Result<u64, String> {
        Ok(100)
    }
    fn truncate(&self, _: u64) -> Result<(), String> {
        Err("read-only".into())
    }
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn read_all_stops_at_the_real_end_and_keeps_partial_reads() {
    // Two reads (3 + 1 bytes), then 0: the result is the 4 bytes that exist, not 100.
    assert_eq!(read_all(&Shrinking).unwrap(), [7, 7, 7, 7]);
}

#[test]
fn fs_store_missing_files_short_reads_and_removal() {
    let dir = TempDir::new("edges-fs");
    let path = dir.join("f.db");
    let p = path.to_str().unwrap();
    let store = FsStore;
    assert!(store.open(p, false).unwrap().is_none());
    assert!(!path.exists(), "open without create creates nothing");

    let f = store.open(p, true).unwrap().unwrap();
    assert!(path.exists());
    f.write_at(0, b"0123456789").unwrap();
    f.sync().unwrap();
    assert_eq!(f.size().unwrap(), 10);
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(6, &mut buf).unwrap(), 4, "short read at EOF");
    assert_eq!(&buf[..4], b"6789");
    assert_eq!(f.read_at(10, &mut buf).unwrap(), 0);
    assert_eq!(read_all(f.as_ref()).unwrap(), b"0123456789");
    f.truncate(3).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"012");

    store.remove(p).unwrap();
    assert!(!path.exists());
    store.remove(p).unwrap(); // missing: Ok

    // Errors other than "not found" name the path.
    let nested = dir.join("no-such-dir/x.db");
    let e = match store.open(nested.to_str().unwrap(), true) {
        Err(e) => e,
        Ok(_) => panic!("created a file in a missing directory"),
    };
    assert!(e.contains("no-such-dir/x.db"), "{e}");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("keep"), b"k").unwrap();
    let e = store.remove(sub.to_str().unwrap()).unwrap_err();
    assert!(e.contains("sub"), "{e}");
    assert!(sub.join("keep").exists());
}

// ------------------------------------------------------------------------------ host stores

#[test]
fn open_store_creates_a_missing_file_and_reopens_it() {
    let store = Arc::new(MemoryStore::new());
    let db = SqliteStateDb::open_store(store.clone(), "host.db", runtime()).unwrap();
    assert!(!db.is_image());
    assert!(
        store.contents("host.db").is_some(),
        "the main file was created"
    );
    let s = db.snapshots();
    s.save(
        StateSnapshotInput::new("t", json!({"n": 1}).as_object().cloned().unwrap()),
        SaveOptions::default(),
    )
    .unwrap();
    assert!(s.database().is_image() == db.is_image());
    db.close().unwrap();
    let image = store.contents("host.db").unwrap();
    assert_eq!(&image[..16], b"SQLite format 3\0");

    let again = SqliteStateDb::open_store(store, "host.db", runtime()).unwrap();
    let got = again.snapshots().get("t", None).unwrap().unwrap();
    assert_eq!(got.data["n"], 1);
    // The stores' database() is the database they came from.
    again.metering().database().close().unwrap();
    assert!(again.is_closed());
}

#[cfg(unix)]
#[test]
fn a_non_utf8_path_is_an_invalid_argument() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("edges-utf8");
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad-\xff-name.db"));
    let r = SqliteStateDb::open_path(&path, runtime());
    assert_eq!(code(&r), "INVALID_ARGUMENT");
    assert!(r.unwrap_err().message().contains("not valid UTF-8"));
}

// ------------------------------------------------------------------------------ rows that do not fit

/// A database written by `sqlite3` with the contract's tables and `rows` (SQL), as bytes.
fn written_by_sqlite3(rows: &str) -> Vec<u8> {
    let dir = TempDir::new("edges-rows");
    let path = dir.join("rows.db");
    sqlite3(&path, &format!("{CONTRACT_SCHEMA}\n{rows}"));
    std::fs::read(&path).unwrap()
}

fn open_rows(rows: &str) -> SqliteStateDb {
    SqliteStateDb::open_bytes(&written_by_sqlite3(rows), runtime()).unwrap()
}

fn corrupt_mentions<T: std::fmt::Debug>(r: asap_state::Result<T>, needle: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.code(), CORRUPT, "{e:?}");
            assert!(
                e.message().contains(needle),
                "{:?} lacks {needle:?}",
                e.message()
            );
        }
        Ok(v) => panic!("expected {CORRUPT} mentioning {needle:?}, got {v:?}"),
    }
}

const AT: &str = "2026-04-01T00:00:00Z";

fn snapshot_row(version: &str, data: &str) -> String {
    format!("INSERT INTO snapshots VALUES ('t', 'snap_1', {version}, {data}, 0, '{AT}');")
}

#[test]
fn snapshot_rows_with_a_negative_version_are_corrupt() {
    let db = open_rows(&snapshot_row("-3", "'{}'"));
    let s = db.snapshots();
    corrupt_mentions(s.get("t", None), "snapshots.version is negative (-3)");
    corrupt_mentions(
        s.get("t", Some(1)).map(|_| ()).and(s.list_versions("t")),
        "negative",
    );
    corrupt_mentions(s.get_by_id("t", "snap_1"), "negative");
    corrupt_mentions(s.list_tasks(), "negative");
    corrupt_mentions(
        s.prune(
            "t",
            PrunePolicy {
                keep_last: Some(1),
                ..PrunePolicy::default()
            },
        ),
        "negative",
    );
    // Saving needs the latest version, which is unreadable: refused, nothing written.
    corrupt_mentions(
        s.save(
            StateSnapshotInput::new("t", serde_json::Map::new()),
            SaveOptions::default(),
        ),
        "negative",
    );
    assert_eq!(code(&s.get("other", None)), "ok", "other tasks still read");
}

#[test]
fn snapshot_rows_whose_data_is_not_a_json_object_are_corrupt() {
    for data in ["'not json'", "'[1, 2]'", "'42'"] {
        let db = open_rows(&snapshot_row("1", data));
        let s = db.snapshots();
        corrupt_mentions(s.get("t", None), "data is not a JSON object");
        corrupt_mentions(s.get("t", Some(1)), "data is not a JSON object");
        corrupt_mentions(s.get_by_id("t", "snap_1"), "data is not a JSON object");
        corrupt_mentions(s.get_by_id_json("t", "snap_1"), "data is not a JSON object");
        corrupt_mentions(s.get_json("t", None), "data is not a JSON object");
        corrupt_mentions(s.get_json("t", Some(1)), "data is not a JSON object");
        // Listing versions does not read data.
        assert_eq!(s.list_versions("t").unwrap(), [1]);
    }
}

/// `get_json` (what JavaScript reads) answers what serialising `get` answers for rows that
/// other writers leave: whitespace, Python's `-0.0`, data larger than a save accepts, nesting
/// as deep as reading accepts, and `NaN`, which no JSON reader accepts.
#[test]
fn get_json_reads_rows_as_get_does() {
    let deep = format!("{}1{}", "[".repeat(128), "]".repeat(128));
    let big = format!("{{\"s\": \"{}\"}}", "x".repeat(asap_state::MAX_DATA_BYTES));
    for data in [
        "{ \"a\" : [1, 2.50, -0.0, -0, 1E2], \"b\": {\"c\": \"\\u00e9\"} }".to_owned(),
        format!("{{\"deep\": {deep}}}"),
        big,
    ] {
        let db = open_rows(&snapshot_row("1", &format!("'{data}'")));
        let s = db.snapshots();
        let got = s.get("t", None).unwrap().unwrap();
        let text = s.get_json("t", Some(1)).unwrap().unwrap();
        assert_eq!(
            text,
            serde_json::to_string(&got).unwrap(),
            "{}",
            &data[..40.min(data.len())]
        );
        assert_eq!(s.get_by_id_json("t", &got.id).unwrap().unwrap(), text);
    }
    let db = open_rows(&snapshot_row("1", "'{\"a\": NaN}'"));
    corrupt_mentions(
        db.snapshots().get_json("t", None),
        "data is not a JSON object",
    );
}

#[test]
fn snapshot_columns_of_the_wrong_type_are_corrupt() {
    let db = open_rows(&snapshot_row("'v1'", "'{}'"));
    corrupt_mentions(
        db.snapshots().list_versions("t"),
        "snapshots.version is not an integer",
    );
    let db = open_rows(&snapshot_row("1", "X'7b7d'"));
    corrupt_mentions(db.snapshots().get("t", None), "snapshots.data is not text");
    let db = open_rows("INSERT INTO snapshots VALUES ('t', 'snap_1', 1, '{}', 0, X'00');");
    corrupt_mentions(
        db.snapshots().list_tasks(),
        "snapshots.created_at is not text",
    );
}

fn event_row(id: &str, agent: &str, metrics: &str, at: &str) -> String {
    format!("INSERT INTO usage_events VALUES ('{id}', 't', {agent}, 'c', {metrics}, '{at}');")
}

fn assert_every_event_read_is_corrupt(db: &SqliteStateDb, needle: &str) {
    let m = db.metering();
    let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
    corrupt_mentions(m.query("a", start, end, QueryOptions::default()), needle);
    corrupt_mentions(
        m.query_json("a", start, end, QueryOptions::default()),
        needle,
    );
    corrupt_mentions(m.aggregate("a", "all", Window::default()), needle);
    corrupt_mentions(
        m.series(
            "a",
            SeriesOptions {
                bucket: BucketSize::Day,
                start,
                end,
            },
        ),
        needle,
    );
    corrupt_mentions(
        m.export(ExportFormat::Json, &ExportFilter::default()),
        needle,
    );
    corrupt_mentions(
        m.export(ExportFormat::Csv, &ExportFilter::default()),
        needle,
    );
    let mut again = UsageEventInput::new("t", "a", "c");
    again.id = Some("e1".into());
    corrupt_mentions(m.record(again), needle);
}

#[test]
fn usage_rows_whose_metrics_do_not_fit_are_corrupt() {
    let cases = [
        ("'not json'", "usage_events.metrics"),
        ("'[1]'", "not a JSON object"),
        (
            "'{\"tokens_in\": -1}'",
            "tokens_in is not a non-negative integer",
        ),
        (
            "'{\"api_calls\": 2.5}'",
            "api_calls is not a non-negative integer",
        ),
        (
            "'{\"duration_ms\": \"5\"}'",
            "duration_ms is not a non-negative integer",
        ),
        ("X'7b7d'", "usage_events.metrics is not text"),
    ];
    for (metrics, needle) in cases {
        let db = open_rows(&event_row("e1", "'a'", metrics, AT));
        assert_every_event_read_is_corrupt(&db, needle);
        // Listing agents does not read metrics.
        assert_eq!(db.metering().agents().unwrap(), ["a"]);
    }
}

#[test]
fn usage_rows_with_non_text_columns_are_corrupt() {
    let db = open_rows(&event_row("e1", "'a'", "'{}'", AT).replace(", 't',", ", X'01',"));
    corrupt_mentions(
        db.metering()
            .export(ExportFormat::Json, &ExportFilter::default()),
        "usage_events.task_id is not text",
    );
    // A row bad in two columns: a query and its JSON text name the same one.
    let db = open_rows(&event_row("e1", "'a'", "'not json'", AT).replace(", 't',", ", X'01',"));
    let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
    let m = db.metering();
    let needle = "usage_events.task_id is not text";
    corrupt_mentions(m.query("a", start, end, QueryOptions::default()), needle);
    corrupt_mentions(
        m.query_json("a", start, end, QueryOptions::default()),
        needle,
    );
    let db = open_rows(&event_row("e1", "X'61'", "'{}'", AT));
    corrupt_mentions(db.metering().agents(), "usage_events.agent_id is not text");
    // A timestamp inside the queried window as text, but not a valid instant. Aggregates only
    // read metrics; every read that returns or buckets the event is refused.
    let db = open_rows(&event_row("e1", "'a'", "'{}'", "2026-13-45T99:00:00Z"));
    let m = db.metering();
    let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
    corrupt_mentions(
        m.query("a", start, end, QueryOptions::default()),
        "timestamp",
    );
    let series = SeriesOptions {
        bucket: BucketSize::Hour,
        start,
        end,
    };
    corrupt_mentions(m.series("a", series), "timestamp");
    corrupt_mentions(
        m.export(ExportFormat::Csv, &ExportFilter::default()),
        "timestamp",
    );
    assert_eq!(
        m.aggregate("a", "p", Window::default())
            .unwrap()
            .total_tasks,
        1
    );
}

#[test]
fn well_formed_rows_from_sqlite3_read_back() {
    let db = open_rows(&format!(
        "{}{}",
        snapshot_row("2", "'{\"k\": [1, 2]}'"),
        event_row("e1", "'a'", "'{\"tokens_in\": 2, \"tokens_out\": 3}'", AT)
    ));
    let snap = db.snapshots().get("t", None).unwrap().unwrap();
    assert_eq!((snap.version, snap.data["k"].clone()), (2, json!([1, 2])));
    let agg = db
        .metering()
        .aggregate("a", "all", Window::default())
        .unwrap();
    assert_eq!((agg.total_tokens, agg.total_tasks), (5, 1));
}

// ------------------------------------------------------------------------------ closed

#[test]
fn every_store_call_after_close_is_closed() {
    let db = SqliteStateDb::open_in_memory(runtime()).unwrap();
    let (s, m) = (db.snapshots(), db.metering());
    db.close().unwrap();
    let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
    let codes = [
        code(&s.get("t", None)),
        code(&s.get_by_id("t", "x")),
        code(&s.list_versions("t")),
        code(&s.delete("t", None)),
        code(&s.prune(
            "t",
            PrunePolicy {
                keep_last: Some(1),
                ..PrunePolicy::default()
            },
        )),
        code(&m.record(UsageEventInput::new("t", "a", "c"))),
        code(&m.query("a", start, end, QueryOptions::default())),
        code(&m.aggregate("a", "p", Window::default())),
        code(&m.series(
            "a",
            SeriesOptions {
                bucket: BucketSize::Hour,
                start,
                end,
            },
        )),
        code(&m.export(ExportFormat::Csv, &ExportFilter::default())),
    ];
    assert!(codes.iter().all(|c| *c == "CLOSED"), "{codes:?}");
}
