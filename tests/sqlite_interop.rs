//! SQLite file interop (CONTRACT.md §6): files move between this library, the Python reference
//! (asap-protocol 2.5.10) and the `sqlite3` CLI, in both directions.
//!
//! * (a) the reference's own files (`state-wal.db`, `state-rollback.db`) answer every question of
//!   its `expected.json` exactly, opened from bytes and from a file;
//! * (b) files written here pass the real `sqlite3`'s `PRAGMA integrity_check` and have exactly
//!   the contract's tables, columns and indexes; a file left open (no `close`) is recovered by
//!   `sqlite3` from its `-wal`;
//! * (c) files written by `sqlite3` (rollback journal, WAL, and rows still in the `-wal`) read
//!   correctly here;
//! * (d) with `ASAP_PYTHON` set to a Python that has `asap-protocol==2.5.10`, the reference
//!   reads files written here (`tests/interop/read_with_reference.py`) and we read files it
//!   writes (`tests/interop/write_with_reference.py`), with identical answers. Without
//!   `ASAP_PYTHON` those tests print `skipped: set ASAP_PYTHON ...` and pass; the Makefile sets it.
//!
//! The fixtures in `tests/fixtures/python-ref-2.5.10/` are never opened as databases: they are read as bytes, or copied
//! into a temporary directory first, and their bytes are checked unchanged afterwards.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod sqlite_support;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Command;

use asap_state::{
    BucketSize, ExportFilter, ExportFormat, MeteringStore, QueryOptions, SaveOptions,
    SeriesOptions, SnapshotStore, SqliteStateDb, StateSnapshotInput, Timestamp, UsageEvent,
    UsageEventInput, UsageMetrics, Window,
};
use serde_json::{json, Map, Value};
use sqlite_support::{
    code, copy_fixture, digest, file_digest, fixture_path, journal_bytes, read_fixture, runtime,
    sqlite3, sqlite3_lines, ts, TempDir, CONTRACT_SCHEMA, EVENT_COLUMNS, SNAPSHOT_COLUMNS,
};

/// A task id that is in none of the files.
const MISSING_TASK: &str = "task_missing_0000000000000000";

// ---------------------------------------------------------------------------------------------
// Comparing a database with a document of expected answers (the shape of expected.json)
// ---------------------------------------------------------------------------------------------

/// An event as the reference prints it: the reference's `UsageEvent` has no `id`, so ours is
/// compared without it.
fn event_without_id(e: &UsageEvent) -> Value {
    let mut v = serde_json::to_value(e).unwrap();
    v.as_object_mut().unwrap().remove("id");
    v
}

/// The events (without ids) that `meter` answers to one query of the reference's spec
/// (`agent_id`, `start`, `end`, optional `limit` and `offset`).
fn query_events(meter: &dyn MeteringStore, q: &Value) -> Vec<Value> {
    let options = QueryOptions {
        limit: q.get("limit").map(|l| l.as_u64().unwrap()),
        offset: q.get("offset").map_or(0, |o| o.as_u64().unwrap()),
    };
    let start = ts(q["start"].as_str().unwrap());
    let end = ts(q["end"].as_str().unwrap());
    let agent = q["agent_id"].as_str().unwrap();
    let events = meter.query(agent, start, end, options).unwrap();
    // The JSON text answer (the SQLite store writes it from the rows where they are held).
    assert_eq!(
        meter.query_json(agent, start, end, options).unwrap(),
        asap_state::UsageEvent::list_json(&events),
        "query_json {q}"
    );
    events.iter().map(event_without_id).collect()
}

/// Counts answers and keeps the mismatches.
#[derive(Default)]
struct Tally {
    label: String,
    answers: usize,
    matched: usize,
    queries: usize,
    events: usize,
    events_matched: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn new(label: impl Into<String>) -> Self {
        Tally {
            label: label.into(),
            ..Tally::default()
        }
    }

    fn check(&mut self, what: impl Display, got: &Value, want: &Value) {
        self.answers += 1;
        if got == want {
            self.matched += 1;
        } else {
            self.mismatches
                .push(format!("{what}:\n   got  {got}\n   want {want}"));
        }
    }

    /// Prints the summary line and fails on any mismatch.
    fn finish(&self) {
        let events = if self.queries > 0 {
            format!(
                " ({} queries, {}/{} events matched)",
                self.queries, self.events_matched, self.events
            )
        } else {
            String::new()
        };
        println!(
            "{}: {}/{} answers matched{events}",
            self.label, self.matched, self.answers
        );
        assert!(
            self.mismatches.is_empty(),
            "{}: {} mismatches, the first ones:\n{}",
            self.label,
            self.mismatches.len(),
            self.mismatches
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(self.matched, self.answers);
        assert_eq!(self.events_matched, self.events);
    }
}

/// Asks `db` every question of `doc` (`tasks`, `queries`, `aggregates`, `missing`) and compares
/// the answers as JSON values.
///
/// Timestamps are compared as text, without normalisation: the reference prints
/// `datetime.isoformat()` of a UTC datetime (`2026-03-01T01:44:00.123456+00:00`, the fraction
/// only when non-zero, 6 digits), which is exactly the form this library returns (CONTRACT.md
/// §5); every timestamp in expected.json is in that form (checked in
/// `expected_json_timestamps_are_in_the_reference_form`).
fn check_doc(db: &SqliteStateDb, doc: &Value, missing_task: &str, tally: &mut Tally) {
    let snaps = db.snapshots();
    let meter = db.metering();
    for (task, want) in doc["tasks"].as_object().unwrap() {
        let versions = snaps.list_versions(task).unwrap();
        tally.check(
            format!("tasks[{task}].versions"),
            &json!(versions),
            &want["versions"],
        );
        let latest = snaps.get(task, None).unwrap();
        tally.check(
            format!("tasks[{task}].latest"),
            &serde_json::to_value(latest).unwrap(),
            &want["latest"],
        );
        let each = want["each"].as_object().unwrap();
        assert_eq!(
            each.len(),
            want["versions"].as_array().unwrap().len(),
            "{task}: one `each` entry per version"
        );
        for (v, snapshot) in each {
            let got = snaps.get(task, Some(v.parse().unwrap())).unwrap();
            tally.check(
                format!("tasks[{task}].each[{v}]"),
                &serde_json::to_value(got).unwrap(),
                snapshot,
            );
        }
    }
    for (i, q) in doc["queries"].as_array().unwrap().iter().enumerate() {
        let agent = q["agent_id"].as_str().unwrap();
        let got = query_events(&meter, q);
        let want = q["events"].as_array().unwrap();
        tally.queries += 1;
        tally.events += want.len().max(got.len());
        for (j, w) in want.iter().enumerate() {
            match got.get(j) {
                Some(g) if g == w => tally.events_matched += 1,
                Some(g) => tally.mismatches.push(format!(
                    "queries[{i}] ({agent}) event {j}:\n   got  {g}\n   want {w}"
                )),
                None => tally.mismatches.push(format!(
                    "queries[{i}] ({agent}) event {j} missing: want {w}"
                )),
            }
        }
        for extra in got.iter().skip(want.len()) {
            tally
                .mismatches
                .push(format!("queries[{i}] ({agent}) extra event {extra}"));
        }
        tally.check(
            format!("queries[{i}] ({agent}, {} events)", want.len()),
            &Value::Array(got),
            &q["events"],
        );
    }
    for (agent, want) in doc["aggregates"].as_object().unwrap() {
        let period = want["period"].as_str().unwrap();
        let got = meter.aggregate(agent, period, Window::default()).unwrap();
        tally.check(
            format!("aggregates[{agent}]"),
            &serde_json::to_value(got).unwrap(),
            want,
        );
    }
    if let Some(missing) = doc
        .get("missing")
        .filter(|m| !m.as_object().unwrap().is_empty())
    {
        tally.check(
            "missing.get",
            &serde_json::to_value(snaps.get(missing_task, None).unwrap()).unwrap(),
            &missing["get"],
        );
        tally.check(
            "missing.versions",
            &json!(snaps.list_versions(missing_task).unwrap()),
            &missing["versions"],
        );
    }
}

/// `list_tasks()` as `doc` implies it: per task the version count, latest version, its
/// `created_at`, and the number of checkpoints, ordered by task id.
fn check_list_tasks_against_doc(db: &SqliteStateDb, doc: &Value, tally: &mut Tally) {
    let mut derived = BTreeMap::new();
    for (task, want) in doc["tasks"].as_object().unwrap() {
        let each = want["each"].as_object().unwrap();
        derived.insert(
            task.clone(),
            json!({
                "task_id": task,
                "versions": each.len(),
                "latest_version": want["latest"]["version"],
                "latest_created_at": want["latest"]["created_at"],
                "checkpoints": each.values().filter(|s| s["checkpoint"] == json!(true)).count(),
            }),
        );
    }
    let got = serde_json::to_value(db.snapshots().list_tasks().unwrap()).unwrap();
    tally.check(
        "list_tasks (derived)",
        &got,
        &Value::Array(derived.into_values().collect()),
    );
}

/// How many answers and events [`check_doc`] compares for `doc`.
fn doc_counts(doc: &Value) -> (usize, usize) {
    let tasks: usize = doc["tasks"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| 2 + t["each"].as_object().unwrap().len())
        .sum();
    let queries = doc["queries"].as_array().unwrap();
    let events = queries
        .iter()
        .map(|q| q["events"].as_array().unwrap().len())
        .sum();
    let missing = if doc
        .get("missing")
        .is_some_and(|m| !m.as_object().unwrap().is_empty())
    {
        2
    } else {
        0
    };
    (
        tasks + queries.len() + doc["aggregates"].as_object().unwrap().len() + missing,
        events,
    )
}

fn expected_json() -> Value {
    serde_json::from_slice(&read_fixture("expected.json")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (a) the reference's files
// ---------------------------------------------------------------------------------------------

#[test]
fn expected_json_timestamps_are_in_the_reference_form() {
    // Justifies comparing timestamps as text: every timestamp in expected.json is already what
    // Timestamp's Display prints (UTC, "+00:00", 6-digit fraction only when non-zero).
    let expected = expected_json();
    let mut seen = 0;
    let mut visit = |text: &str| {
        assert_eq!(ts(text).to_string(), text, "timestamp {text:?}");
        seen += 1;
    };
    for task in expected["tasks"].as_object().unwrap().values() {
        visit(task["latest"]["created_at"].as_str().unwrap());
        for s in task["each"].as_object().unwrap().values() {
            visit(s["created_at"].as_str().unwrap());
        }
    }
    for q in expected["queries"].as_array().unwrap() {
        for e in q["events"].as_array().unwrap() {
            assert!(e.get("id").is_none(), "reference events have no id");
            visit(e["timestamp"].as_str().unwrap());
        }
    }
    println!("expected.json: {seen} timestamps, all in the reference's printed form");
    assert_eq!(seen, 197);
    // 6 tasks (6 versions lists + 6 latest + 26 versions), 8 queries, 3 aggregates, 2 missing;
    // 165 events in the queries.
    assert_eq!(doc_counts(&expected), (51, 165));
}

/// Cross-checks that are not in expected.json, against the `sqlite3` CLI reading `pristine`
/// (a copy of the same fixture): agents, every agent's aggregate computed with the reference's
/// own SQL, and the ids and order of all events.
fn check_against_sqlite3(db: &SqliteStateDb, pristine: &Path, tally: &mut Tally) {
    let meter = db.metering();
    let agents = sqlite3_lines(
        pristine,
        "SELECT DISTINCT agent_id FROM usage_events ORDER BY agent_id;",
    );
    tally.check(
        "agents() vs sqlite3",
        &json!(meter.agents().unwrap()),
        &json!(agents),
    );
    for agent in &agents {
        // The reference's _AGGREGATE_SQL.
        let row = sqlite3(
            pristine,
            &format!(
                "SELECT SUM(CAST(json_extract(metrics, '$.tokens_in') AS INTEGER) + CAST(json_extract(metrics, '$.tokens_out') AS INTEGER)), \
                 SUM(CAST(json_extract(metrics, '$.duration_ms') AS INTEGER)), COUNT(*), \
                 SUM(CAST(json_extract(metrics, '$.api_calls') AS INTEGER)) FROM usage_events WHERE agent_id = '{agent}';"
            ),
        );
        let n: Vec<u64> = row.trim().split('|').map(|x| x.parse().unwrap()).collect();
        let got = meter.aggregate(agent, "all", Window::default()).unwrap();
        tally.check(
            format!("aggregate({agent}) vs sqlite3"),
            &json!([
                got.total_tokens,
                got.total_duration,
                got.total_tasks,
                got.total_api_calls
            ]),
            &json!(n),
        );
    }
    let ids = sqlite3_lines(
        pristine,
        "SELECT id FROM usage_events ORDER BY timestamp, rowid;",
    );
    let exported: Vec<Value> = serde_json::from_str(
        &meter
            .export(ExportFormat::Json, &ExportFilter::default())
            .unwrap(),
    )
    .unwrap();
    let exported_ids: Vec<&str> = exported.iter().map(|e| e["id"].as_str().unwrap()).collect();
    tally.check(
        format!("export ids/order vs sqlite3 ({} events)", ids.len()),
        &json!(exported_ids),
        &json!(ids),
    );
}

/// Every answer of expected.json (and `list_tasks`, and the rows sqlite3 reads from the
/// `pristine` copy) from `db`, which is then closed; the number of matched answers.
fn check_reference_db(
    db: SqliteStateDb,
    label: String,
    expected: &Value,
    pristine: &Path,
) -> usize {
    let mut tally = Tally::new(label);
    check_doc(&db, expected, MISSING_TASK, &mut tally);
    check_list_tasks_against_doc(&db, expected, &mut tally);
    check_against_sqlite3(&db, pristine, &mut tally);
    tally.finish();
    db.close().unwrap();
    tally.matched
}

/// Every answer of expected.json from `bytes` (an image of the reference's file), opened with
/// `open_bytes` and with `open_path` on a copy; the input is unchanged afterwards.
fn image_answers(label: &str, bytes: &[u8]) -> usize {
    let expected = expected_json();
    let bytes_before = digest(bytes);
    // The sqlite3 oracle reads its own pristine copy.
    let pristine_dir = TempDir::new("interop-ref-pristine");
    let pristine = pristine_dir.join("pristine.db");
    std::fs::write(&pristine, bytes).unwrap();
    let mut matched = 0;

    // From bytes.
    let db = SqliteStateDb::open_bytes(bytes, runtime()).unwrap();
    matched += check_reference_db(db, format!("{label} via open_bytes"), &expected, &pristine);
    assert_eq!(digest(bytes), bytes_before, "open_bytes changed its input");

    // From a file (a copy).
    let dir = TempDir::new("interop-ref");
    let copy = dir.join("copy.db");
    std::fs::write(&copy, bytes).unwrap();
    let db = SqliteStateDb::open_path(&copy, runtime()).unwrap();
    let via = format!("{label} via open_path (copy)");
    matched += check_reference_db(db, via, &expected, &pristine);
    // Reading changed nothing a reader can see: sqlite3 finds the copy intact and identical in
    // content to the pristine one.
    let dump = |p: &Path| sqlite3(p, ".dump");
    assert_eq!(sqlite3(&copy, "PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(
        dump(&copy),
        dump(&pristine),
        "{label}: content changed by reading"
    );
    let after = std::fs::read(&copy).unwrap();
    let differing: Vec<usize> = (0..after.len().max(bytes.len()))
        .filter(|&i| after.get(i) != bytes.get(i))
        .collect();
    println!(
        "{label}: the copy after open_path + reads + close: {} bytes, {} differ from the input (offsets {:?}...), header bytes 18-19 {:?} -> {:?}",
        after.len(),
        differing.len(),
        &differing[..differing.len().min(8)],
        journal_bytes(bytes),
        journal_bytes(&after),
    );
    // And reopening the closed copy gives the same answers again.
    let db = SqliteStateDb::open_path(&copy, runtime()).unwrap();
    let mut tally = Tally::new(format!("{label} via open_path after close + reopen"));
    check_doc(&db, &expected, MISSING_TASK, &mut tally);
    tally.finish();
    assert_eq!((tally.answers, tally.events), doc_counts(&expected));
    matched += tally.matched;
    db.close().unwrap();
    matched
}

/// The reference's file as it is, and converted to rollback-journal mode by sqlite3 (on a copy).
fn reference_file_answers(name: &str) {
    let fixture_before = file_digest(&fixture_path(name));
    let bytes = read_fixture(name);
    let header = journal_bytes(&bytes);
    println!(
        "{name}: header bytes 18-19 = {header:?} ({})",
        match header {
            (1, 1) => "rollback journal",
            (2, 2) => "WAL",
            _ => "?",
        }
    );
    let mut matched = image_answers(name, &bytes);

    let dir = TempDir::new("interop-ref-rollback");
    let copy = copy_fixture(name, &dir);
    sqlite3(&copy, "PRAGMA journal_mode=DELETE;");
    let rollback = std::fs::read(&copy).unwrap();
    assert_eq!(journal_bytes(&rollback), (1, 1));
    matched += image_answers(
        &format!("{name} switched to rollback journal by sqlite3"),
        &rollback,
    );

    assert_eq!(
        file_digest(&fixture_path(name)),
        fixture_before,
        "the fixture {name} changed"
    );
    println!("{name}: {matched} answers matched in total");
}

#[test]
fn reference_wal_file_answers_like_expected_json() {
    reference_file_answers("state-wal.db");
}

#[test]
fn reference_rollback_file_answers_like_expected_json() {
    // README: bytes 18-19 = 1 (rollback journal). The copy in tests/fixtures/ may have been switched
    // back to WAL by a client that opened it in place (the reference sets journal_mode=WAL);
    // the header is printed, and the sqlite3-converted rollback form is tested either way.
    reference_file_answers("state-rollback.db");
}

// ---------------------------------------------------------------------------------------------
// (b) files written here, checked by sqlite3
// ---------------------------------------------------------------------------------------------

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Fills a database with snapshots and events (unicode, nested data, checkpoints, a replaced
/// and a deleted version, three agents, microsecond timestamps, two events at the same instant).
/// Returns (snapshots stored, events stored).
fn populate(db: &SqliteStateDb) -> (usize, usize) {
    let snaps = db.snapshots();
    let meter = db.metering();
    let t0 = ts("2026-05-01T10:00:00.000001Z");
    let at = |minutes: i64, micros: i64| {
        Timestamp::from_micros(t0.as_micros() + minutes * 60_000_000 + micros).unwrap()
    };
    let save = |task: &str, version: Option<u64>, data: Value, checkpoint: bool, when| {
        let mut input = StateSnapshotInput::new(task, obj(data))
            .checkpoint(checkpoint)
            .created_at(when);
        input.version = version;
        snaps.save(input, SaveOptions::default()).unwrap()
    };
    save(
        "task_rs_1",
        None,
        json!({"step": 1, "notes": "first"}),
        false,
        at(0, 0),
    );
    save(
        "task_rs_1",
        None,
        json!({"step": 2, "draft": true}),
        true,
        at(1, 250_000),
    );
    // Replace version 2 (upsert).
    save(
        "task_rs_1",
        Some(2),
        json!({"step": 2, "final": {"ok": true, "n": [1, 2, 3]}}),
        true,
        at(2, 7),
    );
    save(
        "task_rs_1",
        None,
        json!({"step": 3, "ratio": 0.1, "tiny": 3e-05, "neg": -1.25, "big": 1e300, "one": 1.0}),
        false,
        at(3, 999_999),
    );
    save("task_rs_1", None, json!({"step": 4}), false, at(4, 0));
    assert!(snaps.delete("task_rs_1", Some(4)).unwrap());
    save(
        "задача-✓",
        Some(1),
        json!({
            "結果": [4, 7, 1, 7],
            "ключ": {"emoji😀": "🙂", "quote\"d": "line\nbreak\ttab\u{0}nul", "nested": {"a": {"b": {"c": null}}}},
            "ints": [0, -1, 9_007_199_254_740_993u64, i64::MIN, u64::MAX],
            "empty": {}, "list": [], "": "empty key", "html": "<script>alert(1)</script>"
        }),
        true,
        at(5, 1),
    );
    save(
        "задача-✓",
        Some(5),
        json!({"sparse": "version 5 after 1"}),
        false,
        at(6, 2),
    );
    save(
        "task with spaces & 'quotes'",
        None,
        json!({"deep": [[[[[[{"x": [1, [2, [3]]]}]]]]]]}),
        true,
        at(7, 3),
    );
    let agents = ["agent_a", "agent_b", "агент-c"];
    let consumers = ["c1", "consumer:ü", "c3"];
    let instant = |i: i64| at(7 * i, (i * 104_729) % 1_000_000);
    for i in 0..36i64 {
        // Event 10 gets the same instant as event 7 (both agent_b): a tie.
        let when = instant(if i == 10 { 7 } else { i });
        meter
            .record(
                UsageEventInput::new(
                    ["task_rs_1", "задача-✓", "task with spaces & 'quotes'"][(i % 3) as usize],
                    agents[(i % 3) as usize],
                    consumers[((i / 3) % 3) as usize],
                )
                .id(format!("evt_rs_{i:03}"))
                .metrics(UsageMetrics {
                    tokens_in: ((i * 37) % 500) as u64,
                    tokens_out: ((i * 91) % 300) as u64,
                    duration_ms: (i * 1000 + 7) as u64,
                    api_calls: (i % 4) as u64,
                })
                .timestamp(when),
            )
            .unwrap();
    }
    (6, 36)
}

/// What `db` answers, in the shape of expected.json, for the questions in `spec` (the same
/// questions read_with_reference.py asks).
fn answers_doc(db: &SqliteStateDb, spec: &Value) -> Value {
    let snaps = db.snapshots();
    let meter = db.metering();
    let mut tasks = Map::new();
    for task in spec["tasks"].as_array().unwrap() {
        let task = task.as_str().unwrap();
        let versions = snaps.list_versions(task).unwrap();
        let each: Map<String, Value> = versions
            .iter()
            .map(|v| {
                (
                    v.to_string(),
                    serde_json::to_value(snaps.get(task, Some(*v)).unwrap()).unwrap(),
                )
            })
            .collect();
        tasks.insert(
            task.to_owned(),
            json!({
                "versions": versions,
                "latest": snaps.get(task, None).unwrap(),
                "each": each,
            }),
        );
    }
    let mut queries = Vec::new();
    for q in spec["queries"].as_array().unwrap() {
        let events = query_events(&meter, q);
        let mut q = q.clone();
        q["events"] = Value::Array(events);
        queries.push(q);
    }
    let mut aggregates = Map::new();
    for a in spec["aggregates"].as_array().unwrap() {
        let agent = a["agent_id"].as_str().unwrap();
        let agg = meter
            .aggregate(agent, a["period"].as_str().unwrap(), Window::default())
            .unwrap();
        aggregates.insert(agent.to_owned(), serde_json::to_value(agg).unwrap());
    }
    let missing = spec["missing_task"].as_str().unwrap();
    json!({
        "tasks": tasks,
        "queries": queries,
        "aggregates": aggregates,
        "missing": {
            "get": snaps.get(missing, None).unwrap(),
            "versions": snaps.list_versions(missing).unwrap(),
        },
    })
}

/// The questions asked about a [`populate`]d database.
fn populate_spec() -> Value {
    let t0 = "2026-05-01T10:00:00.000001+00:00";
    json!({
        "tasks": ["task_rs_1", "задача-✓", "task with spaces & 'quotes'"],
        "queries": [
            {"agent_id": "agent_a", "start": "2026-04-30T00:00:00+00:00", "end": "2026-05-03T00:00:00+00:00"},
            {"agent_id": "agent_b", "start": t0, "end": "2026-05-03T00:00:00+00:00"},
            // Inclusive bounds exactly on events 5 and 20 (agent "агент-c").
            {"agent_id": "агент-c", "start": "2026-05-01T10:35:00.523646+00:00", "end": "2026-05-01T12:20:00.094581+00:00"},
            {"agent_id": "agent_a", "start": t0, "end": "2026-05-03T00:00:00+00:00", "limit": 3, "offset": 2},
            {"agent_id": "agent_b", "start": t0, "end": "2026-05-03T00:00:00+00:00", "offset": 4},
            {"agent_id": "agent_a", "start": "2026-06-01T00:00:00+00:00", "end": "2026-06-02T00:00:00+00:00"},
            {"agent_id": "nobody", "start": "2026-04-30T00:00:00+00:00", "end": "2026-05-03T00:00:00+00:00"},
        ],
        "aggregates": [
            {"agent_id": "agent_a", "period": "all"},
            {"agent_id": "agent_b", "period": "all"},
            {"agent_id": "агент-c", "period": "all"},
            {"agent_id": "nobody", "period": "all"},
        ],
        "missing_task": MISSING_TASK,
    })
}

/// Checks a file written here with the `sqlite3` CLI: integrity, tables, columns, indexes,
/// counts, and the stored text of every row against what `db_answers` returns.
fn check_with_sqlite3(path: &Path, answers: &SqliteStateDb, counts: (usize, usize)) {
    assert_eq!(sqlite3(path, "PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(
        sqlite3(path, "SELECT count(*) FROM snapshots;").trim(),
        counts.0.to_string()
    );
    assert_eq!(
        sqlite3(path, "SELECT count(*) FROM usage_events;").trim(),
        counts.1.to_string()
    );
    // PRAGMA table_info rows: cid|name|type|notnull|dflt_value|pk
    let columns = |table: &str| -> Vec<Vec<String>> {
        sqlite3_lines(path, &format!("PRAGMA table_info({table});"))
            .iter()
            .map(|l| l.split('|').map(str::to_owned).collect())
            .collect()
    };
    let snap_cols = columns("snapshots");
    let names: Vec<&str> = snap_cols.iter().map(|c| c[1].as_str()).collect();
    assert_eq!(names.join(", "), SNAPSHOT_COLUMNS);
    assert_eq!(
        snap_cols
            .iter()
            .map(|c| (c[2].as_str(), c[3].as_str(), c[5].as_str()))
            .collect::<Vec<_>>(),
        [
            ("TEXT", "1", "1"),
            ("TEXT", "1", "0"),
            ("INTEGER", "1", "2"),
            ("TEXT", "1", "0"),
            ("INTEGER", "1", "0"),
            ("TEXT", "1", "0")
        ],
        "snapshots column types / NOT NULL / PRIMARY KEY (task_id, version)"
    );
    let event_cols = columns("usage_events");
    let names: Vec<&str> = event_cols.iter().map(|c| c[1].as_str()).collect();
    assert_eq!(names.join(", "), EVENT_COLUMNS);
    assert_eq!(event_cols[0][5], "1", "usage_events.id is the primary key");
    let indexes = sqlite3_lines(
        path,
        "SELECT name || ':' || tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name;",
    );
    assert_eq!(
        indexes,
        [
            "idx_usage_agent_timestamp:usage_events",
            "idx_usage_consumer_timestamp:usage_events"
        ]
    );
    for (index, cols) in [
        ("idx_usage_agent_timestamp", "agent_id,timestamp"),
        ("idx_usage_consumer_timestamp", "consumer_id,timestamp"),
    ] {
        let got = sqlite3_lines(path, &format!("PRAGMA index_info({index});"))
            .iter()
            .map(|l| l.rsplit('|').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(got, cols, "{index} columns");
    }
    // The stored text, as sqlite3 reads it, is what the library returns.
    let rows: Vec<Value> = serde_json::from_str(&sqlite3(
        path,
        ".mode json\nSELECT task_id, id, version, data, checkpoint, created_at FROM snapshots ORDER BY task_id, version;",
    ))
    .unwrap();
    assert_eq!(rows.len(), counts.0);
    let snaps = answers.snapshots();
    for row in &rows {
        let task = row["task_id"].as_str().unwrap();
        let version = row["version"].as_u64().unwrap();
        let ours = snaps.get(task, Some(version)).unwrap().unwrap();
        let data: Value = serde_json::from_str(row["data"].as_str().unwrap()).unwrap();
        assert_eq!(
            data,
            Value::Object(ours.data.clone()),
            "{task} v{version} data"
        );
        assert_eq!(row["id"], json!(ours.id));
        assert_eq!(row["checkpoint"], json!(u8::from(ours.checkpoint)));
        assert_eq!(row["created_at"], json!(ours.created_at.to_string()));
    }
    let rows: Vec<Value> = serde_json::from_str(&sqlite3(
        path,
        ".mode json\nSELECT id, task_id, agent_id, consumer_id, metrics, timestamp FROM usage_events ORDER BY timestamp, rowid;",
    ))
    .unwrap();
    let exported: Vec<Value> = serde_json::from_str(
        &answers
            .metering()
            .export(ExportFormat::Json, &ExportFilter::default())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), counts.1);
    assert_eq!(exported.len(), counts.1);
    for (row, ours) in rows.iter().zip(&exported) {
        for field in ["id", "task_id", "agent_id", "consumer_id", "timestamp"] {
            assert_eq!(row[field], ours[field], "usage_events.{field}");
        }
        // metrics: the JSON text {"tokens_in":..,"tokens_out":..,"duration_ms":..,"api_calls":..}
        let m = &ours["metrics"];
        assert_eq!(
            row["metrics"].as_str().unwrap(),
            format!(
                "{{\"tokens_in\":{},\"tokens_out\":{},\"duration_ms\":{},\"api_calls\":{}}}",
                m["tokens_in"], m["tokens_out"], m["duration_ms"], m["api_calls"]
            )
        );
    }
}

#[test]
fn export_bytes_image_passes_sqlite3_checks() {
    let db = SqliteStateDb::open_in_memory(runtime()).unwrap();
    let counts = populate(&db);
    let image = db.export_bytes().unwrap();
    assert_eq!(&image[..16], b"SQLite format 3\0");
    let dir = TempDir::new("interop-image");
    let path = dir.join("image.db");
    std::fs::write(&path, &image).unwrap();
    check_with_sqlite3(&path, &db, counts);
    // The image is self-contained: sqlite3 needed no -wal (it may leave none behind either way).
    println!(
        "export_bytes image: {} bytes, header bytes 18-19 = {:?}, sqlite3 integrity_check ok, {} snapshots / {} events",
        image.len(),
        journal_bytes(&image),
        counts.0,
        counts.1
    );
    // The same image reopened from bytes answers the same.
    let again = SqliteStateDb::open_bytes(&image, runtime()).unwrap();
    let spec = populate_spec();
    assert_eq!(answers_doc(&again, &spec), answers_doc(&db, &spec));
}

/// `state.db` in a new temp dir, opened by path and populated: the dir, the path, the open
/// database, its row counts, the spec of the populated data and the answers to it.
fn populated_file(
    label: &str,
) -> (
    TempDir,
    PathBuf,
    SqliteStateDb,
    (usize, usize),
    Value,
    Value,
) {
    let dir = TempDir::new(label);
    let path = dir.join("state.db");
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    let counts = populate(&db);
    let spec = populate_spec();
    let answers = answers_doc(&db, &spec);
    (dir, path, db, counts, spec, answers)
}

/// Copies `files` of `dir` into a new temp dir.
fn copy_files(dir: &TempDir, files: &[String], label: &str) -> TempDir {
    let copy = TempDir::new(label);
    for f in files {
        std::fs::copy(dir.join(f), copy.join(f)).unwrap();
    }
    copy
}

#[test]
fn file_written_through_open_path_then_closed_passes_sqlite3_checks() {
    let (dir, path, db, counts, spec, before_close) = populated_file("interop-file");
    db.close().unwrap();
    assert_eq!(
        code(&db.snapshots().list_versions("task_rs_1")),
        "CLOSED",
        "calls after close fail with CLOSED"
    );
    // close() checkpoints: the main file alone (copied without any -wal) holds everything.
    let main_only = TempDir::new("interop-file-main");
    let copy = main_only.join("state.db");
    std::fs::copy(&path, &copy).unwrap();
    let reference = SqliteStateDb::open_bytes(&std::fs::read(&path).unwrap(), runtime()).unwrap();
    assert_eq!(answers_doc(&reference, &spec), before_close);
    check_with_sqlite3(&copy, &reference, counts);
    // And the file in place (with whatever -wal is left) too.
    check_with_sqlite3(&path, &reference, counts);
    println!(
        "open_path file after close: files {:?}, sqlite3 integrity_check ok",
        dir.files()
    );
}

#[test]
fn file_left_open_is_recovered_by_sqlite3_from_its_wal() {
    // A process that dies without close(): the committed transactions are in `<path>-wal`,
    // which the real sqlite3 must be able to recover (the engine's WAL is SQLite's format).
    let (dir, _, db, counts, spec, answers) = populated_file("interop-crash");
    db.export_bytes().unwrap(); // checkpoints what is there so far
    db.snapshots()
        .save(
            StateSnapshotInput::new("after_checkpoint", obj(json!({"only": "in the wal"}))),
            SaveOptions::default(),
        )
        .unwrap();
    std::mem::forget(db); // no close, no checkpoint, no drop
    let files = dir.files();
    let wal_len = std::fs::metadata(dir.join("state.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("left open: files {files:?}, -wal {wal_len} bytes");
    assert!(wal_len > 0, "the last transaction is in the -wal");
    // Recover on a copy of both files.
    let copy_dir = copy_files(&dir, &files, "interop-crash-copy");
    let copy = copy_dir.join("state.db");
    assert_eq!(sqlite3(&copy, "PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(
        sqlite3_lines(
            &copy,
            "SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events; SELECT data FROM snapshots WHERE task_id = 'after_checkpoint';"
        ),
        [
            (counts.0 + 1).to_string(),
            counts.1.to_string(),
            r#"{"only":"in the wal"}"#.to_owned()
        ]
    );
    // And this library recovers it too.
    let copy_dir2 = copy_files(&dir, &files, "interop-crash-copy2");
    let reopened = SqliteStateDb::open_path(copy_dir2.join("state.db"), runtime()).unwrap();
    assert_eq!(answers_doc(&reopened, &spec), answers);
    assert_eq!(
        reopened
            .snapshots()
            .list_versions("after_checkpoint")
            .unwrap(),
        [1]
    );
}

// ---------------------------------------------------------------------------------------------
// (c) files written by sqlite3
// ---------------------------------------------------------------------------------------------

const CLI_ROWS_1: &str = r#"
INSERT INTO snapshots VALUES ('task_cli', 'snap_cli_1', 1, '{"step": 1, "結果": [1, 2]}', 0, '2026-02-03T04:05:06+00:00');
INSERT INTO snapshots VALUES ('task_cli', 'snap_cli_2', 2, '{"nested": {"a": [1, {"b": null}]}, "f": 0.5, "big": 9007199254740993}', 1, '2026-02-03T04:05:07.250000+00:00');
INSERT INTO usage_events VALUES ('evt_cli_1', 'task_cli', 'agent_x', 'c1', '{"tokens_in":10,"tokens_out":5,"duration_ms":100,"api_calls":1}', '2026-02-03T04:00:00+00:00');
INSERT INTO usage_events VALUES ('evt_cli_2', 'task_cli', 'agent_x', 'c2', '{"tokens_in": 1, "tokens_out": 2, "duration_ms": 3, "api_calls": 4}', '2026-02-03T04:30:00.500000+00:00');
"#;

const CLI_ROWS_2: &str = r#"
INSERT INTO snapshots VALUES ('task_cli', 'snap_cli_3', 3, '{}', 0, '2026-02-03T04:05:08Z');
INSERT INTO snapshots VALUES ('задача', 'snap_cli_4', 7, '{"k": "v", "ключ": "значение"}', 1, '2026-02-03T06:05:09+02:00');
INSERT INTO snapshots VALUES ('задача', 'snap_cli_5', 9, '{"k": "w"}', 0, '2026-02-03T04:05:10');
INSERT INTO usage_events VALUES ('evt_cli_3', 'task_cli', 'agent_x', 'c1', '{"tokens_in":7}', '2026-02-03T05:00:00+00:00');
INSERT INTO usage_events VALUES ('evt_cli_4', 'задача', 'агент', 'c1', '{"tokens_in":0,"tokens_out":0,"duration_ms":0,"api_calls":0}', '2026-02-03T04:15:00+00:00');
"#;

/// What a database holding `CLI_ROWS_1` (and `CLI_ROWS_2` when `all`) answers. `Z`, `+02:00`
/// and offset-less `created_at` text read as the same instant in UTC (CONTRACT.md §5); metrics
/// fields missing from the JSON read as 0.
fn check_cli_rows(db: &SqliteStateDb, all: bool, label: &str) {
    let snaps = db.snapshots();
    let meter = db.metering();
    let mut tally = Tally::new(label);
    let snap = |id: &str, task: &str, v: u64, data: Value, cp: bool, at: &str| json!({"id": id, "task_id": task, "version": v, "data": data, "checkpoint": cp, "created_at": at});
    let s1 = snap(
        "snap_cli_1",
        "task_cli",
        1,
        json!({"step": 1, "結果": [1, 2]}),
        false,
        "2026-02-03T04:05:06+00:00",
    );
    let s2 = snap(
        "snap_cli_2",
        "task_cli",
        2,
        json!({"nested": {"a": [1, {"b": null}]}, "f": 0.5, "big": 9_007_199_254_740_993u64}),
        true,
        "2026-02-03T04:05:07.250000+00:00",
    );
    let s3 = snap(
        "snap_cli_3",
        "task_cli",
        3,
        json!({}),
        false,
        "2026-02-03T04:05:08+00:00",
    );
    let s4 = snap(
        "snap_cli_4",
        "задача",
        7,
        json!({"k": "v", "ключ": "значение"}),
        true,
        "2026-02-03T04:05:09+00:00",
    );
    let s5 = snap(
        "snap_cli_5",
        "задача",
        9,
        json!({"k": "w"}),
        false,
        "2026-02-03T04:05:10+00:00",
    );
    let value = |x: &dyn erased::Ser| x.value();
    let get = |t: &str, v: Option<u64>| serde_json::to_value(snaps.get(t, v).unwrap()).unwrap();
    tally.check("get(task_cli, 1)", &get("task_cli", Some(1)), &s1);
    tally.check("get(task_cli, 2)", &get("task_cli", Some(2)), &s2);
    let event = |id: &str, task: &str, agent: &str, consumer: &str, m: [u64; 4], at: &str| {
        json!({"id": id, "task_id": task, "agent_id": agent, "consumer_id": consumer,
               "metrics": {"tokens_in": m[0], "tokens_out": m[1], "duration_ms": m[2], "api_calls": m[3]},
               "timestamp": at})
    };
    let e1 = event(
        "evt_cli_1",
        "task_cli",
        "agent_x",
        "c1",
        [10, 5, 100, 1],
        "2026-02-03T04:00:00+00:00",
    );
    let e2 = event(
        "evt_cli_2",
        "task_cli",
        "agent_x",
        "c2",
        [1, 2, 3, 4],
        "2026-02-03T04:30:00.500000+00:00",
    );
    let e3 = event(
        "evt_cli_3",
        "task_cli",
        "agent_x",
        "c1",
        [7, 0, 0, 0],
        "2026-02-03T05:00:00+00:00",
    );
    let e4 = event(
        "evt_cli_4",
        "задача",
        "агент",
        "c1",
        [0, 0, 0, 0],
        "2026-02-03T04:15:00+00:00",
    );
    let query = |agent: &str, a: &str, b: &str| {
        let events = meter.query(agent, ts(a), ts(b), QueryOptions::default());
        let text = meter.query_json(agent, ts(a), ts(b), QueryOptions::default());
        assert_eq!(
            text.unwrap(),
            asap_state::UsageEvent::list_json(events.as_ref().unwrap()),
            "{label}: query_json({agent})"
        );
        value(&events)
    };
    let summary = |task: &str, versions: u64, latest: u64, at: &str, cps: u64| json!({"task_id": task, "versions": versions, "latest_version": latest, "latest_created_at": at, "checkpoints": cps});
    if all {
        tally.check("get(task_cli)", &get("task_cli", None), &s3);
        tally.check("get(task_cli, 3)", &get("task_cli", Some(3)), &s3);
        tally.check("get(задача, 7)", &get("задача", Some(7)), &s4);
        tally.check("get(задача)", &get("задача", None), &s5);
        tally.check(
            "list_versions(задача)",
            &json!(snaps.list_versions("задача").unwrap()),
            &json!([7, 9]),
        );
        tally.check(
            "list_tasks",
            &value(&snaps.list_tasks()),
            &json!([
                summary("task_cli", 3, 3, "2026-02-03T04:05:08+00:00", 1),
                summary("задача", 2, 9, "2026-02-03T04:05:10+00:00", 1),
            ]),
        );
        tally.check(
            "query(agent_x)",
            &query("agent_x", "2026-02-03T04:00:00Z", "2026-02-03T05:00:00Z"),
            &json!([e1, e2, e3]),
        );
        tally.check(
            "query(агент)",
            &query("агент", "2026-02-03T00:00:00Z", "2026-02-04T00:00:00Z"),
            &json!([e4]),
        );
        tally.check(
            "aggregate(agent_x)",
            &value(&meter.aggregate("agent_x", "all", Window::default())),
            &json!({"agent_id": "agent_x", "period": "all", "total_tokens": 25, "total_duration": 103, "total_tasks": 3, "total_api_calls": 5}),
        );
        tally.check(
            "series(agent_x, hour)",
            &value(&meter.series(
                "agent_x",
                SeriesOptions {
                    bucket: BucketSize::Hour,
                    start: ts("2026-02-03T00:00:00Z"),
                    end: ts("2026-02-03T06:00:00Z"),
                },
            )),
            &json!([
                {"start": "2026-02-03T04:00:00+00:00", "total_tokens": 18, "total_duration": 103, "total_tasks": 2, "total_api_calls": 5},
                {"start": "2026-02-03T05:00:00+00:00", "total_tokens": 7, "total_duration": 0, "total_tasks": 1, "total_api_calls": 0},
            ]),
        );
        tally.check(
            "agents",
            &value(&meter.agents()),
            &json!(["agent_x", "агент"]),
        );
    } else {
        tally.check("get(task_cli)", &get("task_cli", None), &s2);
        tally.check("get(задача)", &get("задача", None), &Value::Null);
        tally.check(
            "list_tasks",
            &value(&snaps.list_tasks()),
            &json!([summary(
                "task_cli",
                2,
                2,
                "2026-02-03T04:05:07.250000+00:00",
                1
            )]),
        );
        tally.check(
            "query(agent_x)",
            &query("agent_x", "2026-02-03T04:00:00Z", "2026-02-03T05:00:00Z"),
            &json!([e1, e2]),
        );
        tally.check("agents", &value(&meter.agents()), &json!(["agent_x"]));
    }
    tally.finish();
}

/// Serialises any `Result<impl Serialize>` the stores return, for comparisons.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for Result<T, asap_state::StateError> {
        fn value(&self) -> serde_json::Value {
            match self {
                Ok(v) => serde_json::to_value(v).unwrap(),
                Err(e) => serde_json::json!({"error": e.code(), "message": e.message()}),
            }
        }
    }
}

/// Writes through `open_path` into a file sqlite3 made, closes, and checks sqlite3 sees it all.
fn write_then_check_with_sqlite3(path: &Path, snapshots: usize, events: usize) {
    let db = SqliteStateDb::open_path(path, runtime()).unwrap();
    db.snapshots()
        .save(
            StateSnapshotInput::new("task_cli", obj(json!({"written": "by asap-state"}))),
            SaveOptions::expect(3),
        )
        .unwrap();
    db.metering()
        .record(UsageEventInput::new("task_cli", "agent_x", "c9").id("evt_rs_1"))
        .unwrap();
    db.close().unwrap();
    assert_eq!(sqlite3(path, "PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(
        sqlite3_lines(
            path,
            "SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events; SELECT data FROM snapshots WHERE task_id = 'task_cli' AND version = 4;"
        ),
        [
            (snapshots + 1).to_string(),
            (events + 1).to_string(),
            r#"{"written":"by asap-state"}"#.to_owned()
        ]
    );
}

#[test]
fn files_written_by_sqlite3_read_correctly() {
    for (mode, pragma, journal) in [
        ("rollback", "PRAGMA journal_mode=DELETE;", (1, 1)),
        ("wal", "PRAGMA journal_mode=WAL;", (2, 2)),
    ] {
        let dir = TempDir::new("interop-cli");
        let path = dir.join("cli.db");
        sqlite3(
            &path,
            &format!("{pragma}\n{CONTRACT_SCHEMA}\n{CLI_ROWS_1}\n{CLI_ROWS_2}"),
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(journal_bytes(&bytes), journal, "{mode}");
        let before = digest(&bytes);
        let db = SqliteStateDb::open_bytes(&bytes, runtime()).unwrap();
        check_cli_rows(&db, true, &format!("sqlite3 {mode} file via open_bytes"));
        assert_eq!(digest(&bytes), before);
        let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
        check_cli_rows(&db, true, &format!("sqlite3 {mode} file via open_path"));
        db.close().unwrap();
        write_then_check_with_sqlite3(&path, 5, 4);
    }
}

#[test]
fn sqlite3_wal_file_with_rows_only_in_the_wal_reads_correctly() {
    let dir = TempDir::new("interop-cli-wal");
    let path = dir.join("cli.db");
    // Session 1: schema + first rows, checkpointed when sqlite3 exits.
    sqlite3(
        &path,
        &format!("PRAGMA journal_mode=WAL;\n{CONTRACT_SCHEMA}\n{CLI_ROWS_1}"),
    );
    // Session 2: more rows that stay in cli.db-wal (no checkpoint on close).
    sqlite3(
        &path,
        &format!(".dbconfig no_ckpt_on_close on\n{CLI_ROWS_2}"),
    );
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0,
        "sqlite3 left rows in {} ({:?})",
        wal.display(),
        dir.files()
    );
    // The main file alone (bytes) holds only session 1.
    let main = std::fs::read(&path).unwrap();
    let db = SqliteStateDb::open_bytes(&main, runtime()).unwrap();
    check_cli_rows(&db, false, "sqlite3 WAL main file alone via open_bytes");
    // The file with its -wal holds everything.
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    check_cli_rows(&db, true, "sqlite3 WAL file + -wal via open_path");
    db.close().unwrap();
    write_then_check_with_sqlite3(&path, 5, 4);
}

// ---------------------------------------------------------------------------------------------
// (d) the Python reference
// ---------------------------------------------------------------------------------------------

/// `$ASAP_PYTHON`: a Python with `asap-protocol==2.5.10` installed; `None` (and a printed
/// "skipped" line) when unset.
fn python(test: &str) -> Option<PathBuf> {
    match std::env::var_os("ASAP_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            println!(
                "{test}: skipped: set ASAP_PYTHON to a python with asap-protocol==2.5.10 installed \
                 (e.g. python3 -m venv /tmp/pyref && /tmp/pyref/bin/pip install --ignore-requires-python \
                 asap-protocol==2.5.10; ASAP_PYTHON=/tmp/pyref/bin/python); the Makefile sets it"
            );
            None
        }
    }
}

fn interop_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Runs a script of tests/interop with the reference's Python and parses its JSON output.
fn run_python(python: &Path, script: &str, args: &[&Path]) -> Value {
    let out = Command::new(python)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(interop_script(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The reference reads `file` (a copy: it switches the file to WAL mode) and must answer `spec`
/// exactly as `ours` does.
fn reference_reads(python: &Path, file: &Path, spec: &Value, ours: &SqliteStateDb, label: &str) {
    let dir = TempDir::new("interop-py-read");
    let copy = dir.join("for-python.db");
    std::fs::copy(file, &copy).unwrap();
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec).unwrap()).unwrap();
    let theirs = run_python(python, "read_with_reference.py", &[&copy, &spec_path]);
    let mut tally = Tally::new(label);
    check_doc(
        ours,
        &theirs,
        spec["missing_task"].as_str().unwrap(),
        &mut tally,
    );
    tally.finish();
    assert_eq!((tally.answers, tally.events), doc_counts(&theirs));
    assert!(
        tally.answers >= 25 && tally.events >= 41,
        "{label}: too few answers compared"
    );
}

#[test]
fn python_reference_reads_files_written_here() {
    let Some(python) = python("python_reference_reads_files_written_here") else {
        return;
    };
    let spec = populate_spec();
    let dir = TempDir::new("interop-py-ours");

    // A file written through open_path and closed.
    let path = dir.join("ours.db");
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    populate(&db);
    db.close().unwrap();
    let ours = SqliteStateDb::open_bytes(&std::fs::read(&path).unwrap(), runtime()).unwrap();
    reference_reads(
        &python,
        &path,
        &spec,
        &ours,
        "reference reading a file written through open_path",
    );

    // An export_bytes image.
    let db = SqliteStateDb::open_in_memory(runtime()).unwrap();
    populate(&db);
    let image = dir.join("image.db");
    std::fs::write(&image, db.export_bytes().unwrap()).unwrap();
    reference_reads(
        &python,
        &image,
        &spec,
        &db,
        "reference reading an export_bytes image",
    );
}

#[test]
fn files_written_by_the_python_reference_read_here() {
    let Some(python) = python("files_written_by_the_python_reference_read_here") else {
        return;
    };
    let dir = TempDir::new("interop-py-theirs");
    let path = dir.join("python.db");
    let theirs = run_python(&python, "write_with_reference.py", &[&path]);
    assert_eq!(theirs["recorded_events"], json!(36));
    let bytes = std::fs::read(&path).unwrap();
    let before = digest(&bytes);
    assert_eq!(
        journal_bytes(&bytes),
        (2, 2),
        "the reference writes WAL mode"
    );
    let missing = "task_not_there";

    let db = SqliteStateDb::open_bytes(&bytes, runtime()).unwrap();
    let mut tally = Tally::new("python-written file via open_bytes");
    check_doc(&db, &theirs, missing, &mut tally);
    check_list_tasks_against_doc(&db, &theirs, &mut tally);
    tally.finish();
    assert_eq!(digest(&bytes), before);
    assert_eq!(tally.answers, 27);

    let copy_dir = TempDir::new("interop-py-theirs-copy");
    let copy = copy_dir.join("python.db");
    std::fs::copy(&path, &copy).unwrap();
    let db = SqliteStateDb::open_path(&copy, runtime()).unwrap();
    let mut tally = Tally::new("python-written file via open_path (copy)");
    check_doc(&db, &theirs, missing, &mut tally);
    check_list_tasks_against_doc(&db, &theirs, &mut tally);
    tally.finish();

    // Round trip: add to the reference's file here, close, and the reference reads it all back.
    db.snapshots()
        .save(
            StateSnapshotInput::new("task_py_1", obj(json!({"step": 4, "by": "asap-state"}))),
            SaveOptions::expect(3),
        )
        .unwrap();
    db.metering()
        .record(
            UsageEventInput::new("task_py_1", "agent_a", "c1")
                .timestamp(ts("2026-05-04T03:02:01.654321Z"))
                .metrics(UsageMetrics {
                    tokens_in: 1,
                    tokens_out: 2,
                    duration_ms: 3,
                    api_calls: 4,
                }),
        )
        .unwrap();
    db.close().unwrap();
    let spec = json!({
        "tasks": ["task_py_1", "задача-✓", "task_py_offset"],
        "queries": theirs["queries"].as_array().unwrap().iter().map(|q| {
            let mut q = q.clone();
            q.as_object_mut().unwrap().remove("events");
            q
        }).collect::<Vec<_>>(),
        "aggregates": theirs["aggregates"].as_object().unwrap().values().map(|a| json!({"agent_id": a["agent_id"], "period": a["period"]})).collect::<Vec<_>>(),
        "missing_task": missing,
    });
    let ours = SqliteStateDb::open_path(&copy, runtime()).unwrap();
    assert_eq!(
        ours.snapshots().list_versions("task_py_1").unwrap(),
        [1, 2, 3, 4]
    );
    reference_reads(
        &python,
        &copy,
        &spec,
        &ours,
        "reference reading its file after asap-state wrote to it",
    );
}
