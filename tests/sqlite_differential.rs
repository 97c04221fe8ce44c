//! Differential tests: the SQLite backend must be observably identical to the in-memory backend.
//!
//! * A proptest state machine applies random sequences of every store operation (and
//!   "export_bytes, then reopen from the bytes" / "... from a file" steps) to a
//!   `MemorySnapshotStore` + `MemoryMeteringStore` pair and to a `SqliteStateDb`, both on identical
//!   `ManualClock` / `SequentialIds` runtimes, and requires identical results: equal `Ok` values,
//!   or errors with the same code.
//! * The Python reference's 500 recorded snapshot operations (`ops.json`) replay on the SQLite
//!   backend with every answer matching (as `tests/ops_replay.rs` does for the memory backend).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

mod ops_support;
mod sqlite_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asap_state::{
    BucketSize, ExportFilter, ExportFormat, ManualClock, MemoryMeteringStore, MemorySnapshotStore,
    MeteringStore, PrunePolicy, QueryOptions, Runtime, SaveOptions, SequentialIds, SeriesOptions,
    SnapshotStore, SqliteStateDb, StateError, StateSnapshotInput, Timestamp, UsageEventInput,
    UsageMetrics, Window, MAX_SAFE_INTEGER,
};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sqlite_support::{ts, TempDir};

// ---------------------------------------------------------------------------------------------
// The operations
// ---------------------------------------------------------------------------------------------

/// Task ids: plain, unicode, quotes, and an empty one (invalid to save, matches nothing).
const TASKS: [&str; 6] = [
    "task_a",
    "task_b",
    "задача-✓",
    "t'quote\"",
    "",
    "nul\u{0}task",
];
/// Agent ids (the empty one is invalid to record).
const AGENTS: [&str; 5] = ["agent_0", "agent_1", "агент", "", "a\u{0}b"];
const CONSUMERS: [&str; 3] = ["c1", "consumer:ü", ""];
const PERIODS: [&str; 3] = ["all", "day", "ключ"];

const HOUR: i64 = 3_600_000_000;

fn base() -> i64 {
    ts("2026-03-01T00:00:00Z").as_micros()
}

/// The `data` objects saves choose from: nested values, unicode, every JSON number form,
/// control characters, deep nesting.
fn data(i: usize) -> Map<String, Value> {
    let mut deep = json!({"leaf": true});
    for level in 0..24 {
        deep = json!({ format!("l{level}"): [deep] });
    }
    let v = match i {
        0 => json!({}),
        1 => json!({"a": 1}),
        2 => json!({"step": 2, "nested": {"deep": [1, {"x": null}], "more": {"y": [true, false]}}}),
        3 => json!({"結果": "значение", "emoji😀": "🙂", "": ""}),
        4 => {
            json!({"f": 0.1, "g": -1.25, "h": 3e-05, "i": 1e300, "j": -0.0, "k": 5e-324, "l": 1.0})
        }
        5 => json!({"big": u64::MAX, "neg": i64::MIN, "unsafe": MAX_SAFE_INTEGER + 2}),
        6 => json!({"s": "quote\" back\\ nl\n tab\t nul\u{0} del\u{7f} bom\u{feff} <script>"}),
        7 => deep,
        8 => json!({"arr": [true, false, null, [], {}], "z": 1, "a": 2, "m": 3}),
        _ => json!({"n": i}),
    };
    v.as_object().cloned().unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Save {
        task: usize,
        id: Option<u8>,
        version: Option<u64>,
        expected: Option<u64>,
        data: usize,
        checkpoint: bool,
        created_at: Option<i64>,
    },
    Get {
        task: usize,
        version: Option<u64>,
    },
    GetById {
        task: usize,
        id: u8,
    },
    ListVersions {
        task: usize,
    },
    Delete {
        task: usize,
        version: Option<u64>,
    },
    Prune {
        task: usize,
        keep_last: Option<u64>,
        older_than: Option<i64>,
        keep_checkpoints: bool,
    },
    ListTasks,
    Record {
        id: Option<u8>,
        task: usize,
        agent: usize,
        consumer: usize,
        metrics: [u64; 4],
        at: Option<i64>,
    },
    Query {
        agent: usize,
        start: i64,
        end: i64,
        limit: Option<u64>,
        offset: u64,
    },
    Aggregate {
        agent: usize,
        period: usize,
        start: Option<i64>,
        end: Option<i64>,
    },
    Series {
        agent: usize,
        day: bool,
        start: i64,
        end: i64,
    },
    Agents,
    Export {
        json: bool,
        agent: Option<usize>,
        start: Option<i64>,
        end: Option<i64>,
    },
    /// Moves both clocks forward.
    Advance(i64),
    /// `export_bytes`, close, `open_bytes` of the image.
    ReopenFromBytes,
    /// `export_bytes`, close, write the image to a file, `open_path` it.
    ReopenFromFile,
}

/// Instants (µs since the epoch): half-hour steps over a day with a few sub-second offsets (so
/// ties happen), and now and then the extremes of the range.
fn instant() -> impl Strategy<Value = i64> {
    let b = base();
    prop_oneof![
        12 => (0i64..48, 0usize..3)
            .prop_map(move |(h, f)| b + h * HOUR / 2 + [0, 1, 500_000][f]),
        1 => Just(Timestamp::MIN.as_micros()),
        1 => Just(Timestamp::MAX.as_micros()),
    ]
}

fn version() -> impl Strategy<Value = u64> {
    prop_oneof![
        10 => 1u64..7,
        1 => Just(0u64),
        1 => Just(MAX_SAFE_INTEGER),
        1 => Just(MAX_SAFE_INTEGER + 1),
    ]
}

fn metric() -> impl Strategy<Value = u64> {
    prop_oneof![
        20 => 0u64..5000,
        1 => Just(MAX_SAFE_INTEGER),
        1 => Just(MAX_SAFE_INTEGER + 1),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let task = 0..TASKS.len();
    let agent = 0..AGENTS.len();
    prop_oneof![
        8 => (
            task.clone(),
            proptest::option::weighted(0.3, 0u8..3),
            proptest::option::weighted(0.5, version()),
            proptest::option::weighted(0.25, 0u64..6),
            0usize..10,
            any::<bool>(),
            proptest::option::weighted(0.7, instant()),
        )
            .prop_map(|(task, id, version, expected, data, checkpoint, created_at)| Op::Save {
                task,
                id,
                version,
                expected,
                data,
                checkpoint,
                created_at,
            }),
        3 => (task.clone(), proptest::option::of(version()))
            .prop_map(|(task, version)| Op::Get { task, version }),
        1 => (task.clone(), 0u8..3).prop_map(|(task, id)| Op::GetById { task, id }),
        1 => task.clone().prop_map(|task| Op::ListVersions { task }),
        2 => (task.clone(), proptest::option::weighted(0.7, version()))
            .prop_map(|(task, version)| Op::Delete { task, version }),
        2 => (
            task,
            proptest::option::of(0u64..4),
            proptest::option::of(instant()),
            any::<bool>(),
        )
            .prop_map(|(task, keep_last, older_than, keep_checkpoints)| Op::Prune {
                task,
                keep_last,
                older_than,
                keep_checkpoints,
            }),
        1 => Just(Op::ListTasks),
        8 => (
            proptest::option::weighted(0.3, 0u8..4),
            0..TASKS.len(),
            agent.clone(),
            0..CONSUMERS.len(),
            [metric(), metric(), metric(), metric()],
            proptest::option::weighted(0.8, instant()),
        )
            .prop_map(|(id, task, agent, consumer, metrics, at)| Op::Record {
                id,
                task,
                agent,
                consumer,
                metrics,
                at,
            }),
        4 => (
            agent.clone(),
            instant(),
            instant(),
            proptest::option::weighted(
                0.4,
                prop_oneof![4 => 0u64..5, 1 => Just(MAX_SAFE_INTEGER), 1 => Just(u64::MAX)]
            ),
            prop_oneof![4 => 0u64..4, 1 => Just(MAX_SAFE_INTEGER)],
        )
            .prop_map(|(agent, start, end, limit, offset)| Op::Query {
                agent,
                start,
                end,
                limit,
                offset,
            }),
        2 => (
            agent.clone(),
            0..PERIODS.len(),
            proptest::option::of(instant()),
            proptest::option::of(instant()),
        )
            .prop_map(|(agent, period, start, end)| Op::Aggregate {
                agent,
                period,
                start,
                end,
            }),
        2 => (agent.clone(), any::<bool>(), instant(), instant())
            .prop_map(|(agent, day, start, end)| Op::Series {
                agent,
                day,
                start,
                end,
            }),
        1 => Just(Op::Agents),
        2 => (
            any::<bool>(),
            proptest::option::of(agent),
            proptest::option::of(instant()),
            proptest::option::of(instant()),
        )
            .prop_map(|(json, agent, start, end)| Op::Export {
                json,
                agent,
                start,
                end,
            }),
        1 => (0i64..2 * HOUR).prop_map(Op::Advance),
        1 => Just(Op::ReopenFromBytes),
        1 => Just(Op::ReopenFromFile),
    ]
}

// ---------------------------------------------------------------------------------------------
// The two backends side by side
// ---------------------------------------------------------------------------------------------

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).unwrap()
}

fn new_runtime() -> (Runtime, Arc<ManualClock>) {
    let clock = ManualClock::new(at(base()));
    (Runtime::new(clock.clone(), SequentialIds::new()), clock)
}

struct Pair {
    snaps: MemorySnapshotStore,
    meter: MemoryMeteringStore,
    mem_clock: Arc<ManualClock>,
    db: SqliteStateDb,
    db_runtime: Runtime,
    db_clock: Arc<ManualClock>,
    dir: TempDir,
    files: usize,
}

impl Pair {
    fn new() -> Self {
        let (mem_rt, mem_clock) = new_runtime();
        let (db_runtime, db_clock) = new_runtime();
        Pair {
            // One runtime for both memory stores, as the SQLite database has one for both: the
            // id sequences then advance identically.
            snaps: MemorySnapshotStore::with_runtime(mem_rt.clone()),
            meter: MemoryMeteringStore::with_runtime(mem_rt),
            mem_clock,
            db: SqliteStateDb::open_in_memory(db_runtime.clone()).unwrap(),
            db_runtime,
            db_clock,
            dir: TempDir::new("differential"),
            files: 0,
        }
    }

    fn reopen(&mut self, from_file: bool) -> Result<(), TestCaseError> {
        let image = self.db.export_bytes();
        prop_assert!(image.is_ok(), "export_bytes failed: {:?}", image.err());
        let image = image.unwrap();
        self.db.close().unwrap();
        let reopened = if from_file {
            self.files += 1;
            let path = self.dir.join(&format!("state-{}.db", self.files));
            std::fs::write(&path, &image).unwrap();
            SqliteStateDb::open_path(&path, self.db_runtime.clone())
        } else {
            SqliteStateDb::open_bytes(&image, self.db_runtime.clone())
        };
        prop_assert!(
            reopened.is_ok(),
            "reopening the exported image failed: {:?}",
            reopened.err()
        );
        self.db = reopened.unwrap();
        Ok(())
    }
}

/// An answer: the `Ok` value as JSON, or the error code.
fn out<T: Serialize>(r: Result<T, StateError>) -> Result<Value, &'static str> {
    r.map(|v| serde_json::to_value(v).unwrap())
        .map_err(|e| e.code())
}

fn window(start: Option<i64>, end: Option<i64>) -> Window {
    Window {
        start: start.map(at),
        end: end.map(at),
    }
}

/// Applies `op` to both backends; returns both answers (`None` for steps without one).
fn apply(pair: &mut Pair, op: &Op) -> Result<Option<(AnswerPair, &'static str)>, TestCaseError> {
    let db_snaps = pair.db.snapshots();
    let db_meter = pair.db.metering();
    macro_rules! both {
        ($what:expr, |$s:ident, $m:ident| $call:expr) => {{
            let mem = {
                let $s = &pair.snaps;
                let $m = &pair.meter;
                let _ = ($s, $m);
                out($call)
            };
            let sql = {
                let $s = &db_snaps;
                let $m = &db_meter;
                let _ = ($s, $m);
                out($call)
            };
            Some(((mem, sql), $what))
        }};
    }
    Ok(match op {
        Op::Save {
            task,
            id,
            version,
            expected,
            data: d,
            checkpoint,
            created_at,
        } => {
            let mut input = StateSnapshotInput::new(TASKS[*task], data(*d)).checkpoint(*checkpoint);
            input.version = *version;
            input.id = id.map(|n| format!("snap_dup_{n}"));
            input.created_at = created_at.map(at);
            let options = SaveOptions {
                expected_version: *expected,
            };
            both!("save", |s, _m| s.save(input.clone(), options))
        }
        Op::Get { task, version } => both!("get", |s, _m| s.get(TASKS[*task], *version)),
        Op::GetById { task, id } => both!("get_by_id", |s, _m| s
            .get_by_id(TASKS[*task], &format!("snap_dup_{id}"))),
        Op::ListVersions { task } => {
            both!("list_versions", |s, _m| s.list_versions(TASKS[*task]))
        }
        Op::Delete { task, version } => both!("delete", |s, _m| s.delete(TASKS[*task], *version)),
        Op::Prune {
            task,
            keep_last,
            older_than,
            keep_checkpoints,
        } => {
            let policy = PrunePolicy {
                keep_last: *keep_last,
                older_than: older_than.map(at),
                keep_checkpoints: *keep_checkpoints,
            };
            both!("prune", |s, _m| s.prune(TASKS[*task], policy))
        }
        Op::ListTasks => both!("list_tasks", |s, _m| s.list_tasks()),
        Op::Record {
            id,
            task,
            agent,
            consumer,
            metrics,
            at: when,
        } => {
            let mut input =
                UsageEventInput::new(TASKS[*task], AGENTS[*agent], CONSUMERS[*consumer]).metrics(
                    UsageMetrics {
                        tokens_in: metrics[0],
                        tokens_out: metrics[1],
                        duration_ms: metrics[2],
                        api_calls: metrics[3],
                    },
                );
            input.id = id.map(|n| format!("evt_dup_{n}"));
            input.timestamp = when.map(at);
            both!("record", |_s, m| m.record(input.clone()))
        }
        Op::Query {
            agent,
            start,
            end,
            limit,
            offset,
        } => {
            let options = QueryOptions {
                limit: *limit,
                offset: *offset,
            };
            both!("query", |_s, m| m.query(
                AGENTS[*agent],
                at(*start),
                at(*end),
                options
            ))
        }
        Op::Aggregate {
            agent,
            period,
            start,
            end,
        } => both!("aggregate", |_s, m| m.aggregate(
            AGENTS[*agent],
            PERIODS[*period],
            window(*start, *end)
        )),
        Op::Series {
            agent,
            day,
            start,
            end,
        } => {
            let options = SeriesOptions {
                bucket: if *day {
                    BucketSize::Day
                } else {
                    BucketSize::Hour
                },
                start: at(*start),
                end: at(*end),
            };
            both!("series", |_s, m| m.series(AGENTS[*agent], options))
        }
        Op::Agents => both!("agents", |_s, m| m.agents()),
        Op::Export {
            json,
            agent,
            start,
            end,
        } => {
            let format = if *json {
                ExportFormat::Json
            } else {
                ExportFormat::Csv
            };
            let filter = ExportFilter {
                agent_id: agent.map(|a| AGENTS[a].to_owned()),
                window: window(*start, *end),
            };
            both!("export", |_s, m| m.export(format, &filter))
        }
        Op::Advance(micros) => {
            pair.mem_clock.advance(*micros);
            pair.db_clock.advance(*micros);
            None
        }
        Op::ReopenFromBytes => {
            pair.reopen(false)?;
            None
        }
        Op::ReopenFromFile => {
            pair.reopen(true)?;
            None
        }
    })
}

type AnswerPair = (Result<Value, &'static str>, Result<Value, &'static str>);

/// Everything observable at once: tasks, every version of every task, all events, agents.
fn full_state(snaps: &dyn SnapshotStore, meter: &dyn MeteringStore) -> Value {
    let mut versions = Map::new();
    for task in TASKS {
        let listed = snaps.list_versions(task).unwrap();
        let each: Vec<Value> = listed
            .iter()
            .map(|v| serde_json::to_value(snaps.get(task, Some(*v)).unwrap()).unwrap())
            .collect();
        versions.insert(task.to_owned(), json!({"versions": listed, "each": each}));
    }
    json!({
        "tasks": snaps.list_tasks().unwrap(),
        "versions": versions,
        "events": meter.export(ExportFormat::Json, &ExportFilter::default()).unwrap(),
        "csv": meter.export(ExportFormat::Csv, &ExportFilter::default()).unwrap(),
        "agents": meter.agents().unwrap(),
    })
}

/// What a run compared.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Steps where both answered `Ok` with equal values.
    ok: usize,
    /// Steps where both failed with the same code.
    errors: usize,
    /// export_bytes + reopen steps (including the final one).
    reopens: usize,
}

fn run(ops: &[Op]) -> Result<Counts, TestCaseError> {
    let mut counts = Counts {
        reopens: 1 + ops
            .iter()
            .filter(|op| matches!(op, Op::ReopenFromBytes | Op::ReopenFromFile))
            .count(),
        ..Counts::default()
    };
    let mut pair = Pair::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(((mem, sql), what)) = apply(&mut pair, op)? {
            prop_assert_eq!(
                &mem,
                &sql,
                "step {} ({}): {:?}\nmemory: {:?}\nsqlite: {:?}",
                i,
                what,
                op,
                &mem,
                &sql
            );
            if mem.is_ok() {
                counts.ok += 1;
            } else {
                counts.errors += 1;
            }
        }
    }
    let mem = full_state(&pair.snaps, &pair.meter);
    let sql = full_state(&pair.db.snapshots(), &pair.db.metering());
    prop_assert_eq!(&mem, &sql, "final state differs");
    // And the final image, reopened, holds the same.
    pair.reopen(false)?;
    let sql = full_state(&pair.db.snapshots(), &pair.db.metering());
    prop_assert_eq!(
        &mem,
        &sql,
        "final state differs after export_bytes + open_bytes"
    );
    Ok(counts)
}

#[test]
fn sqlite_backend_matches_the_memory_backend() {
    let config = ProptestConfig {
        cases: 64,
        // No proptest-regressions files in the source tree; a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let cases = AtomicUsize::new(0);
    let steps = AtomicUsize::new(0);
    let totals = Mutex::new(Counts::default());
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        let counts = run(&ops)?;
        // Only passing cases count (a failing one is shrunk and reported).
        cases.fetch_add(1, Ordering::Relaxed);
        steps.fetch_add(ops.len(), Ordering::Relaxed);
        let mut t = totals.lock().unwrap();
        t.ok += counts.ok;
        t.errors += counts.errors;
        t.reopens += counts.reopens;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let t = *totals.lock().unwrap();
    let (ok, err, reopens) = (t.ok, t.errors, t.reopens);
    println!(
        "differential: {} cases, {} steps: {ok} equal Ok answers, {err} equal error codes, {reopens} reopens (incl. one per case at the end)",
        cases.load(Ordering::Relaxed),
        steps.load(Ordering::Relaxed),
    );
    assert!(cases.load(Ordering::Relaxed) >= 64);
    assert!(
        ok > 500 && err > 50 && reopens > 64,
        "too little was exercised"
    );
}

#[test]
fn a_fixed_sequence_covers_every_operation() {
    // A deterministic run through every kind of step, including errors, ties and both reopen
    // kinds, so the differential does not depend on what the random cases happen to draw.
    let b = base();
    let mut ops = vec![
        Op::Save {
            task: 0,
            id: None,
            version: None,
            expected: Some(0),
            data: 2,
            checkpoint: true,
            created_at: Some(b),
        },
        Op::Save {
            task: 0,
            id: Some(1),
            version: None,
            expected: Some(1),
            data: 4,
            checkpoint: false,
            created_at: None,
        },
        Op::Save {
            task: 0,
            id: Some(1),
            version: Some(5),
            expected: None,
            data: 5,
            checkpoint: false,
            created_at: Some(b + HOUR),
        },
        Op::Save {
            task: 0,
            id: None,
            version: None,
            expected: Some(1),
            data: 1,
            checkpoint: false,
            created_at: None,
        },
        Op::Save {
            task: 2,
            id: None,
            version: Some(MAX_SAFE_INTEGER),
            expected: None,
            data: 6,
            checkpoint: true,
            created_at: None,
        },
        Op::Save {
            task: 2,
            id: None,
            version: None,
            expected: None,
            data: 7,
            checkpoint: false,
            created_at: None,
        },
        Op::Save {
            task: 4,
            id: None,
            version: None,
            expected: None,
            data: 0,
            checkpoint: false,
            created_at: None,
        },
        Op::Save {
            task: 3,
            id: None,
            version: Some(0),
            expected: None,
            data: 3,
            checkpoint: false,
            created_at: None,
        },
        Op::Save {
            task: 3,
            id: None,
            version: Some(2),
            expected: None,
            data: 8,
            checkpoint: false,
            created_at: Some(Timestamp::MIN.as_micros()),
        },
        Op::GetById { task: 0, id: 1 },
        Op::Get {
            task: 0,
            version: None,
        },
        Op::Get {
            task: 0,
            version: Some(2),
        },
        Op::ListVersions { task: 0 },
        Op::ListTasks,
        Op::Prune {
            task: 0,
            keep_last: None,
            older_than: None,
            keep_checkpoints: false,
        },
        Op::Prune {
            task: 0,
            keep_last: Some(1),
            older_than: None,
            keep_checkpoints: true,
        },
        Op::Record {
            id: Some(0),
            task: 0,
            agent: 0,
            consumer: 0,
            metrics: [1, 2, 3, 4],
            at: Some(b),
        },
        Op::Record {
            id: Some(0),
            task: 1,
            agent: 1,
            consumer: 1,
            metrics: [9, 9, 9, 9],
            at: Some(b + HOUR),
        },
        Op::Record {
            id: None,
            task: 0,
            agent: 0,
            consumer: 1,
            metrics: [5, 6, 7, 8],
            at: Some(b),
        },
        Op::Record {
            id: None,
            task: 2,
            agent: 2,
            consumer: 0,
            metrics: [MAX_SAFE_INTEGER, 0, 0, 0],
            at: None,
        },
        Op::Record {
            id: None,
            task: 2,
            agent: 3,
            consumer: 0,
            metrics: [0; 4],
            at: None,
        },
        Op::Record {
            id: None,
            task: 2,
            agent: 1,
            consumer: 2,
            metrics: [0; 4],
            at: None,
        },
        Op::Record {
            id: None,
            task: 2,
            agent: 1,
            consumer: 0,
            metrics: [MAX_SAFE_INTEGER + 1, 0, 0, 0],
            at: None,
        },
        Op::Advance(HOUR),
        Op::Record {
            id: None,
            task: 2,
            agent: 0,
            consumer: 0,
            metrics: [1, 1, 1, 1],
            at: None,
        },
        Op::ReopenFromBytes,
        Op::Query {
            agent: 0,
            start: b,
            end: b + 2 * HOUR,
            limit: None,
            offset: 0,
        },
        Op::Query {
            agent: 0,
            start: b,
            end: b + 2 * HOUR,
            limit: Some(1),
            offset: 1,
        },
        Op::Query {
            agent: 0,
            start: b + HOUR,
            end: b,
            limit: None,
            offset: 0,
        },
        Op::Aggregate {
            agent: 0,
            period: 2,
            start: None,
            end: None,
        },
        Op::Aggregate {
            agent: 2,
            period: 0,
            start: Some(b),
            end: Some(b),
        },
        Op::Series {
            agent: 0,
            day: false,
            start: b,
            end: b + 3 * HOUR,
        },
        Op::Series {
            agent: 0,
            day: true,
            start: b,
            end: b,
        },
        Op::ReopenFromFile,
        Op::Agents,
        Op::Export {
            json: true,
            agent: None,
            start: None,
            end: None,
        },
        Op::Export {
            json: false,
            agent: Some(0),
            start: Some(b),
            end: None,
        },
        Op::Delete {
            task: 0,
            version: Some(5),
        },
        Op::Delete {
            task: 0,
            version: Some(5),
        },
        Op::Delete {
            task: 2,
            version: None,
        },
        Op::ListTasks,
    ];
    ops.push(Op::ReopenFromBytes);
    let counts = run(&ops).unwrap();
    println!("fixed sequence: {counts:?}");
    assert!(
        counts.errors >= 5,
        "the fixed sequence includes errors: {counts:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// ops.json on the SQLite backend
// ---------------------------------------------------------------------------------------------

fn replay(label: &str, db: &SqliteStateDb) -> Value {
    ops_support::replay(label, &db.snapshots());
    serde_json::to_value(db.snapshots().list_tasks().unwrap()).unwrap()
}

#[test]
fn ops_json_replay_on_the_sqlite_backend_matches_the_reference() {
    let (rt, _) = new_runtime();
    let image = SqliteStateDb::open_in_memory(rt.clone()).unwrap();
    let tasks = replay("a SQLite image", &image);

    let dir = TempDir::new("differential-ops");
    let file = SqliteStateDb::open_path(dir.join("ops.db"), rt.clone()).unwrap();
    assert_eq!(replay("a SQLite file", &file), tasks);
    file.close().unwrap();

    // The final state survives export_bytes / close, and equals the memory backend's.
    let reopened = SqliteStateDb::open_bytes(&image.export_bytes().unwrap(), rt.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(reopened.snapshots().list_tasks().unwrap()).unwrap(),
        tasks
    );
    let from_file = SqliteStateDb::open_path(dir.join("ops.db"), rt).unwrap();
    assert_eq!(
        serde_json::to_value(from_file.snapshots().list_tasks().unwrap()).unwrap(),
        tasks
    );
    let memory = MemorySnapshotStore::new();
    ops_support::replay("the memory backend", &memory);
    assert_eq!(
        serde_json::to_value(memory.list_tasks().unwrap()).unwrap(),
        tasks
    );
}
