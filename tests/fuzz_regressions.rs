//! Regression tests of the fuzzing (`fuzz/`, `cargo fuzz`): every crasher the fuzzers found,
//! and every input of the committed corpus, replayed through exactly the harness code the fuzz
//! targets run (the test kit's `harness`, `testkit/src/harness.rs`), on stable, as a normal
//! `cargo test`.
//!
//! * Crashers live in `tests/fuzz_regressions/<target>/` (one file each, named after the
//!   finding); each also has a named test here saying what it found.
//! * The corpus lives in `fuzz/corpus/<target>/` (minimized with `cargo fuzz cmin`).
//! * `cargo test --test fuzz_regressions -- --ignored write_seed_corpus` rewrites the seed
//!   images of `fuzz/corpus/open_bytes/` (databases written by this crate, plus copies of the
//!   Python reference's files), as `fuzz/README.md` describes.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod sqlite_support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use asap_state_testkit::harness;

use asap_state::{
    MeteringStore, SaveOptions, SnapshotStore, SqliteStateDb, StateSnapshotInput, Timestamp,
    UsageEventInput, UsageMetrics,
};
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of a directory, sorted (none if it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Runs `harness` on every file of `dir`; fails naming each input that panicked.
fn replay_dir(dir: &Path, harness: fn(&[u8])) -> usize {
    let inputs = files(dir);
    let mut failed = Vec::new();
    for path in &inputs {
        let bytes = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| harness(&bytes))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "these inputs fail: {failed:#?}");
    inputs.len()
}

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 4] = [
    ("open_bytes", harness::open_bytes),
    ("decode_json", harness::decode_json),
    ("ops_differential", harness::ops_differential),
    ("read_image", harness::read_image),
];

#[test]
fn every_crasher_passes() {
    let mut total = 0;
    for (name, run) in TARGETS {
        total += replay_dir(&root().join("tests/fuzz_regressions").join(name), run);
    }
    println!("{total} crashers replayed");
}

#[test]
fn the_committed_corpus_passes() {
    for (name, run) in TARGETS {
        let n = replay_dir(&root().join("fuzz/corpus").join(name), run);
        println!("{name}: {n} corpus inputs");
        assert!(n > 0, "fuzz/corpus/{name} is empty");
    }
}

// ---------------------------------------------------------------------------------------------
// The harnesses themselves: they do see what they claim to check
// ---------------------------------------------------------------------------------------------

#[test]
fn the_harnesses_accept_valid_and_invalid_input() {
    // Opens, reads, exports, reopens, writes.
    let db = fresh_db();
    let data = json!({"a": 1}).as_object().cloned().unwrap();
    db.snapshots()
        .save(StateSnapshotInput::new("t", data), SaveOptions::default())
        .unwrap();
    harness::open_bytes(&db.export_bytes().unwrap());
    harness::open_bytes(b"");
    harness::open_bytes(b"SQLite format 3\0 and then nothing");

    for text in [
        &b"{\"task_id\": \"t\", \"data\": {\"x\": [1, 2.5, null]}}"[..],
        b"\"2025-02-08T09:00:00-03:00\"",
        b"{\"keepLast\": 2, \"olderThan\": 1700000000000}",
        b"[1, {\"a\": \"b\"}, 1.0]",
        b"not json",
        b"\xff\xfe",
    ] {
        harness::decode_json(text);
    }

    harness::ops_differential(&[]);
    harness::ops_differential(&[7; 300]);
    harness::ops_differential(&(0..=255).collect::<Vec<u8>>());
}

#[test]
fn the_diff_check_catches_a_wrong_patch() {
    // json_eq is what the diff check relies on: key order and 1 vs 1.0 are not differences,
    // anything else is.
    assert!(harness::json_eq(
        &json!({"a": 1, "b": [1.0]}),
        &json!({"b": [1], "a": 1.0})
    ));
    assert!(!harness::json_eq(&json!({"a": 1}), &json!({"a": 1.5})));
    assert!(!harness::json_eq(&json!([1, 2]), &json!([2, 1])));
    assert!(!harness::json_eq(
        &json!(9_007_199_254_740_993u64),
        &json!(9_007_199_254_740_992.0)
    ));
}

#[test]
fn the_differential_compares_answers() {
    // A hand-written sequence through every operation, so the comparison is known to run.
    use harness::{Data, Instant, Name, Num, Op, SnapId};
    let t = || Name("task_a".into());
    let a = || Name("agent_0".into());
    let base = Timestamp::parse("2026-03-01T00:00:00Z", "t")
        .unwrap()
        .as_micros();
    let data = |v: serde_json::Value| Data(v.as_object().cloned().unwrap());
    let ops = vec![
        Op::Save {
            task: t(),
            id: Some(SnapId("snap_dup_0".into())),
            version: None,
            expected: Some(Num(0)),
            data: data(json!({"step": 1, "f": 0.5})),
            checkpoint: true,
            created_at: Some(Instant(base)),
        },
        Op::Save {
            task: t(),
            id: None,
            version: Some(Num(5)),
            expected: Some(Num(9)),
            data: data(json!({})),
            checkpoint: false,
            created_at: None,
        },
        Op::Get {
            task: t(),
            version: None,
        },
        Op::GetById {
            task: t(),
            id: SnapId("snap_dup_0".into()),
        },
        Op::ListVersions { task: t() },
        Op::Record {
            id: None,
            task: t(),
            agent: a(),
            consumer: Name("c".into()),
            metrics: [Num(1), Num(2), Num(3), Num(4)],
            at: Some(Instant(base)),
        },
        Op::Advance(3600),
        Op::Reopen,
        Op::Query {
            agent: a(),
            start: Instant(base),
            end: Instant(base + 3_600_000_000),
            limit: None,
            offset: Num(0),
        },
        Op::Aggregate {
            agent: a(),
            period: Name("all".into()),
            start: None,
            end: None,
        },
        Op::Series {
            agent: a(),
            day: true,
            start: Instant(base),
            end: Instant(base + 86_400_000_000),
        },
        Op::Agents,
        Op::Export {
            json: false,
            agent: None,
            start: None,
            end: None,
        },
        Op::Prune {
            task: t(),
            keep_last: Some(Num(1)),
            older_than: None,
            keep_checkpoints: false,
        },
        Op::ListTasks,
        Op::Delete {
            task: t(),
            version: None,
        },
    ];
    harness::run_ops(&ops);
}

// ---------------------------------------------------------------------------------------------
// Seeds of the open_bytes corpus
// ---------------------------------------------------------------------------------------------

/// Small images written by this crate: empty, snapshots only, events only, both, after deletes
/// (free pages), a row with overflow pages.
fn seed_images() -> Vec<(&'static str, Vec<u8>)> {
    let (rt, _) = harness::runtime();
    let fresh = || SqliteStateDb::open_in_memory(rt.clone()).unwrap();
    let obj = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let mut out = Vec::new();

    out.push(("seed-empty.db", fresh().export_bytes().unwrap()));

    let db = fresh();
    let s = db.snapshots();
    for v in 1..=3u64 {
        s.save(
            StateSnapshotInput::new("task-1", obj(json!({"step": v, "f": 0.5, "s": "ü"})))
                .checkpoint(v == 2),
            SaveOptions::default(),
        )
        .unwrap();
    }
    s.save(
        StateSnapshotInput::new("task-2", obj(json!({}))),
        SaveOptions::default(),
    )
    .unwrap();
    out.push(("seed-snapshots.db", db.export_bytes().unwrap()));

    let db = fresh();
    let m = db.metering();
    for (i, agent) in ["agent-a", "agent-b", "agent-a"].iter().enumerate() {
        m.record(
            UsageEventInput::new("task-1", *agent, "consumer").metrics(UsageMetrics {
                tokens_in: 10 * i as u64,
                tokens_out: 1,
                duration_ms: 5,
                api_calls: 1,
            }),
        )
        .unwrap();
    }
    out.push(("seed-events.db", db.export_bytes().unwrap()));

    let db = fresh();
    db.snapshots()
        .save(
            StateSnapshotInput::new("t", obj(json!({"big": "x".repeat(10_000)}))),
            SaveOptions::default(),
        )
        .unwrap();
    db.metering()
        .record(UsageEventInput::new("t", "a", "c"))
        .unwrap();
    out.push(("seed-overflow.db", db.export_bytes().unwrap()));

    let db = fresh();
    for i in 0..40 {
        db.snapshots()
            .save(
                StateSnapshotInput::new(format!("task-{i}"), obj(json!({"pad": "y".repeat(300)}))),
                SaveOptions::default(),
            )
            .unwrap();
    }
    for i in 0..30 {
        db.snapshots().delete(&format!("task-{i}"), None).unwrap();
    }
    out.push(("seed-freelist.db", db.export_bytes().unwrap()));
    out
}

#[test]
fn the_seed_images_open() {
    for (name, image) in seed_images() {
        let (rt, _) = harness::runtime();
        assert!(
            SqliteStateDb::open_bytes(&image, rt).is_ok(),
            "{name} does not open"
        );
        harness::open_bytes(&image);
    }
}

/// Images written by the engine-free writer (`asap_state::sql::image`): empty, a few rows, rows
/// with overflow pages, and enough rows for interior pages in every b-tree.
fn seed_written_images() -> Vec<(&'static str, Vec<u8>)> {
    use asap_state::sql::image::{write_image, ImageRows};
    use asap_state::SqlValue::{Integer, Text};
    let snapshot = |task: String, version: i64, data: String| {
        vec![
            Text(task),
            Text(format!("snap_{version}")),
            Integer(version),
            Text(data),
            Integer(version % 2),
            Text("2026-01-01T00:00:00+00:00".into()),
        ]
    };
    let event = |n: usize| {
        vec![
            Text(format!("evt_{n}")),
            Text("t".into()),
            Text(format!("agent-{}", n % 3)),
            Text("c".into()),
            Text("{}".into()),
            Text(format!("2026-01-01T00:00:{:02}+00:00", n % 60)),
        ]
    };
    let small = ImageRows {
        snapshots: (1..=3)
            .map(|v| snapshot("t".into(), v, format!(r#"{{"v":{v}}}"#)))
            .collect(),
        usage_events: (0..3).map(event).collect(),
    };
    let overflow = ImageRows {
        snapshots: vec![snapshot(
            "big".into(),
            1,
            format!(r#"{{"x":"{}"}}"#, "x".repeat(9000)),
        )],
        usage_events: vec![],
    };
    let deep = ImageRows {
        snapshots: (0..300)
            .map(|n| snapshot(format!("task-{n}"), 1, "{}".into()))
            .collect(),
        usage_events: (0..600).map(event).collect(),
    };
    vec![
        (
            "written-empty.db",
            write_image(&ImageRows::default()).unwrap(),
        ),
        ("written-small.db", write_image(&small).unwrap()),
        ("written-overflow.db", write_image(&overflow).unwrap()),
        ("written-deep.db", write_image(&deep).unwrap()),
    ]
}

#[test]
fn the_written_seed_images_read_back() {
    for (name, image) in seed_written_images() {
        assert!(asap_state::sql::image::read_image(&image).is_ok(), "{name}");
        harness::read_image(&image);
    }
}

/// Writes the seeds of `fuzz/corpus/read_image/`: images of the engine-free writer, this
/// crate's engine images and copies of the Python reference's two files.
#[test]
#[ignore = "writes fuzz/corpus/read_image/; run by hand when the seeds change"]
fn write_read_image_seed_corpus() {
    let dir = root().join("fuzz/corpus/read_image");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, image) in seed_written_images().into_iter().chain(seed_images()) {
        std::fs::write(dir.join(name), image).unwrap();
    }
    for name in ["state-wal.db", "state-rollback.db"] {
        let bytes = sqlite_support::read_fixture(name);
        std::fs::write(dir.join(format!("python-ref-{name}")), bytes).unwrap();
    }
}

/// Writes the seeds of `fuzz/corpus/open_bytes/`: this crate's images and copies of the Python
/// reference's two files (the fixtures are read, never opened in place).
#[test]
#[ignore = "writes fuzz/corpus/open_bytes/; run by hand when the seeds change"]
fn write_seed_corpus() {
    let dir = root().join("fuzz/corpus/open_bytes");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, image) in seed_images() {
        std::fs::write(dir.join(name), image).unwrap();
    }
    for name in ["state-wal.db", "state-rollback.db"] {
        let bytes = sqlite_support::read_fixture(name);
        std::fs::write(dir.join(format!("python-ref-{name}")), bytes).unwrap();
    }
}

#[test]
fn read_image_finding_1_a_null_in_a_not_null_column_is_refused_by_both_sides() {
    use asap_state::sql::image::{read_image, write_image, ImageRows};
    // A row whose record is shorter than its table (columns missing = NULL) read back: refused
    // as damage; such rows are never written either.
    let bytes = crasher("read_image", "null-in-a-not-null-column.db");
    assert_eq!(read_image(&bytes).unwrap_err().code(), "CORRUPT_DATABASE");
    harness::read_image(&bytes);
    let rows = ImageRows {
        snapshots: vec![],
        usage_events: vec![vec![
            asap_state::SqlValue::Text("evt".into()),
            asap_state::SqlValue::Null,
            asap_state::SqlValue::Text("a".into()),
            asap_state::SqlValue::Text("c".into()),
            asap_state::SqlValue::Text("{}".into()),
            asap_state::SqlValue::Text("2026-01-01T00:00:00+00:00".into()),
        ]],
    };
    let err = write_image(&rows).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.message().contains("NULL"), "{}", err.message());
}

// ---------------------------------------------------------------------------------------------
// The findings, one test each
// ---------------------------------------------------------------------------------------------

fn crasher(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        root()
            .join("tests/fuzz_regressions")
            .join(target)
            .join(name),
    )
    .unwrap()
}

/// Replays an ops_differential crasher through the harness.
fn replay_ops_crasher(name: &str) {
    harness::ops_differential(&crasher("ops_differential", name));
}

/// An empty in-memory database on the harness's runtime.
fn fresh_db() -> SqliteStateDb {
    SqliteStateDb::open_in_memory(harness::runtime().0).unwrap()
}

/// open_bytes finding 1: an image of this crate whose `sqlite_schema` row for
/// `idx_usage_consumer_timestamp` has a damaged `name` ("idx_usage_consurem_timestamp") while its
/// SQL still names the real index. Integrity check and column check passed, then the schema
/// script (`CREATE INDEX IF NOT EXISTS ...`) failed in the engine and `open_bytes` answered
/// `STORAGE_IO` ("SQL engine: Parse error: index ... already exists") instead of
/// `CORRUPT_DATABASE`. (`sqlite3` calls the file "malformed database schema".)
#[test]
fn finding_1_a_schema_row_renamed_under_its_sql_is_corrupt_not_storage_io() {
    let bytes = crasher("open_bytes", "index-name-differs-from-its-sql.db");
    let (rt, _) = harness::runtime();
    let err = SqliteStateDb::open_bytes(&bytes, rt.clone()).unwrap_err();
    assert_eq!(err.code(), "CORRUPT_DATABASE", "{err:?}");
    assert!(err.message().contains("already exists"), "{err:?}");

    // The same file by path: refused the same way, and left exactly as it was.
    let dir = sqlite_support::TempDir::new("fuzz-finding-1");
    let path = dir.join("damaged.db");
    std::fs::write(&path, &bytes).unwrap();
    let err = SqliteStateDb::open_path(&path, rt).unwrap_err();
    assert_eq!(err.code(), "CORRUPT_DATABASE", "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(!dir.join("damaged.db-wal").exists());

    harness::open_bytes(&bytes);
}

/// open_bytes finding 2: the Python reference's `state-wal.db` with one byte changed in
/// `sqlite_schema`: the serial type of `idx_usage_consumer_timestamp`'s `sql` goes from TEXT to
/// BLOB (0x81 0x31 → 0x81 0x30). The engine (turso_core 0.8.3) reads a non-text `sql` as "no
/// SQL", takes the row for an automatic index, finds no constraint for it and PANICS
/// ("all automatic indexes parsed from sqlite_schema should have been consumed") — a trap that
/// would kill a wasm instance. `sqlite3` reads the damaged schema without complaint, so only
/// our pre-engine check stands in the way: it now requires `sql` to be TEXT, or NULL for an
/// automatic index only, and each table's automatic indexes to match its SQL.
#[test]
fn finding_2_a_schema_sql_that_is_not_text_is_corrupt_not_a_panic() {
    let bytes = crasher("open_bytes", "index-sql-damaged-to-a-blob.db");
    let (rt, _) = harness::runtime();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        SqliteStateDb::open_bytes(&bytes, rt.clone()).map(|_| ())
    }));
    let err = outcome.expect("open_bytes panicked").unwrap_err();
    assert_eq!(err.code(), "CORRUPT_DATABASE", "{err:?}");
    assert!(
        err.message().contains("sqlite_schema.sql is not text"),
        "{err:?}"
    );
    harness::open_bytes(&bytes);
}

/// Variants of finding 2 the fuzzer did not need to find: every way a schema row can leave the
/// engine's automatic-index bookkeeping inconsistent, built from the reference's file by
/// same-length text edits (so every page stays well-formed), is refused with
/// `CORRUPT_DATABASE` naming the problem — and never panics.
#[test]
fn finding_2_variants_automatic_indexes_that_do_not_match_their_table() {
    let original = sqlite_support::read_fixture("state-rollback.db");
    let edit = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len());
        let mut b = original.clone();
        let at = b
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from:?} is not in the file"));
        b[at..at + to.len()].copy_from_slice(to.as_bytes());
        b
    };
    let cases = [
        // usage_events' PRIMARY KEY commented out: its automatic index is left over.
        (
            edit("id TEXT PRIMARY KEY,", "id TEXT --IMARY KEY,"),
            "automatic indexes, its SQL implies 0",
        ),
        // The automatic index of snapshots moved to a table that does not exist.
        (
            edit(
                "sqlite_autoindex_snapshots_1snapshots",
                "sqlite_autoindex_snapshots_1snapshotz",
            ),
            "automatic index for a missing table",
        ),
        // A second PRIMARY KEY on usage_events.
        (
            edit(
                "task_id TEXT NOT NULL,\n    agent_id",
                "task_id TEXT PRIMARY KEY,\n agent_id",
            ),
            "more than one primary key",
        ),
    ];
    for (bytes, needle) in cases {
        let (rt, _) = harness::runtime();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            SqliteStateDb::open_bytes(&bytes, rt).map(|_| ())
        }));
        let err = outcome.expect("open_bytes panicked").unwrap_err();
        assert_eq!(err.code(), "CORRUPT_DATABASE", "{needle}: {err:?}");
        assert!(err.message().contains(needle), "{needle}: {err:?}");
        harness::open_bytes(&bytes);
    }
}

/// ops_differential finding 3: `data` nested exactly as deep as the stores accept
/// (`MAX_DEPTH` = 128 levels below a key) was saved by both backends, but the SQLite backend
/// could not read it back: `get` answered `CORRUPT_DATABASE` ("recursion limit exceeded")
/// where the memory backend returned the snapshot. The stored text is one level deeper than the
/// value (the `data` object itself), and serde_json's parser stops at 127 nested containers.
#[test]
fn finding_3_data_at_the_depth_limit_reads_back_from_sqlite() {
    replay_ops_crasher("data-nested-at-the-depth-limit.bin");

    let db = fresh_db();
    let s = db.snapshots();
    let nest = |levels: usize, inner: serde_json::Value| (1..levels).fold(inner, |v, _| json!([v]));
    let cases = [
        ("scalar at level 128", nest(128, json!(1))),
        ("empty array at level 128", nest(128, json!([]))),
        ("empty object at level 127", nest(127, json!({}))),
        (
            "an object per level",
            (1..128).fold(json!("leaf"), |v, i| json!({ format!("k{i}"): v })),
        ),
    ];
    for (i, (what, value)) in cases.into_iter().enumerate() {
        let task = format!("deep-{i}");
        let data = json!({ "deep": value }).as_object().cloned().unwrap();
        let saved = s
            .save(StateSnapshotInput::new(&task, data), SaveOptions::default())
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let read = s
            .get(&task, None)
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(read, Some(saved), "{what}");
    }
    // Reopened from its image, too.
    let (rt, _) = harness::runtime();
    let again = SqliteStateDb::open_bytes(&db.export_bytes().unwrap(), rt).unwrap();
    assert_eq!(again.snapshots().list_tasks().unwrap().len(), 4);
    assert!(again.snapshots().get("deep-0", None).unwrap().is_some());

    // One level more is refused on save, by both backends alike.
    let data = json!({ "deep": nest(129, json!(1)) })
        .as_object()
        .cloned()
        .unwrap();
    let err = s
        .save(
            StateSnapshotInput::new("too-deep", data),
            SaveOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "TOO_LARGE");
}

/// ops_differential finding 4: an event recorded with the id `evt_000002`, then one recorded
/// without an id when the store's id generator (here `SequentialIds`) hands out that same id.
/// The memory backend stored a second event with the taken id (two events, one id — `by_id`
/// then found only the newer), the SQLite backend failed with `STORAGE_IO` (the primary key).
/// Now both skip generated ids that are already stored: the event gets the next free one and
/// is stored, as a record without an id always is.
#[test]
fn finding_4_a_generated_event_id_that_is_taken_is_skipped() {
    replay_ops_crasher("generated-event-id-already-taken.bin");

    let db = fresh_db();
    let (rt, _) = harness::runtime();
    let memory = asap_state::MemoryMeteringStore::with_runtime(rt);
    let sqlite = db.metering();
    for store in [&memory as &dyn MeteringStore, &sqlite] {
        // The caller takes the ids the generator will give next.
        for id in ["evt_000001", "evt_000002"] {
            store
                .record(UsageEventInput::new("t", "a", "c").id(id))
                .unwrap();
        }
        let generated = store.record(UsageEventInput::new("t", "a", "c")).unwrap();
        assert_eq!(generated.id, "evt_000003");
        let all = store
            .query("a", Timestamp::MIN, Timestamp::MAX, Default::default())
            .unwrap();
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["evt_000001", "evt_000002", "evt_000003"]);
        // A retry with an id stays idempotent.
        let again = store
            .record(UsageEventInput::new("other", "a", "c").id("evt_000002"))
            .unwrap();
        assert_eq!(again.task_id, "t");
    }

    // A generator that only ever gives a taken id: an error after a bounded number of tries,
    // never a loop without end, never a second event with that id.
    struct Stuck;
    impl asap_state::IdGenerator for Stuck {
        fn new_id(&self, prefix: &str, _now: Timestamp) -> String {
            format!("{prefix}same")
        }
    }
    let (clock_rt, _) = harness::runtime();
    let rt = asap_state::Runtime::new(clock_rt.clock, std::sync::Arc::new(Stuck));
    let db = SqliteStateDb::open_in_memory(rt.clone()).unwrap();
    let memory = asap_state::MemoryMeteringStore::with_runtime(rt);
    let sqlite = db.metering();
    for store in [&memory as &dyn MeteringStore, &sqlite] {
        assert_eq!(
            store
                .record(UsageEventInput::new("t", "a", "c"))
                .unwrap()
                .id,
            "evt_same"
        );
        let err = store
            .record(UsageEventInput::new("t", "a", "c"))
            .unwrap_err();
        assert_eq!(err.code(), "STORAGE_IO");
        assert!(err.message().contains("1024 event ids"), "{err:?}");
        assert_eq!(store.agents().unwrap(), ["a"]);
        let all = store
            .query("a", Timestamp::MIN, Timestamp::MAX, Default::default())
            .unwrap();
        assert_eq!(all.len(), 1);
    }
}
