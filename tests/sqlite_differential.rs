//! Differential tests: the SQLite backend must be observably identical to the in-memory backend.
//!
//! * A proptest state machine applies random sequences of every store operation (and
//!   "export_bytes, then reopen from the bytes" / "... from a file" steps) to a
//!   `MemorySnapshotStore` + `MemoryMeteringStore` pair and to a `SqliteStateDb`, both on identical
//!   `ManualClock` / `SequentialIds` runtimes, and requires identical results: equal `Ok` values,
//!   or errors with the same code. The operations, the pair and the comparison are the test kit's
//!   (`testkit/`: `model::Op`, `strategy::op`, `pair::run`), the same the fuzz target runs.
//! * The Python reference's 500 recorded snapshot operations (`ops.json`) replay on the SQLite
//!   backend with every answer matching (as `tests/ops_replay.rs` does for the memory backend).

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod ops_support;
mod sqlite_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use asap_state::{MemorySnapshotStore, SnapshotStore, SqliteStateDb, Timestamp, MAX_SAFE_INTEGER};
use asap_state_testkit::model::{Instant, Name, Num, Op, SnapId};
use asap_state_testkit::pair::{self, Counts, Pair};
use asap_state_testkit::strategy::{self, AGENTS, CONSUMERS, PERIODS, TASKS};
use asap_state_testkit::{runtime, BASE_MICROS, HOUR};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::Value;
use sqlite_support::TempDir;

/// Runs `ops` on a fresh pair whose reopens alternate between bytes and files.
fn run(ops: &[Op]) -> Result<Counts, String> {
    let dir = TempDir::new("differential");
    pair::run(&mut Pair::with_files(dir.path()), ops)
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
    let result = runner.run(&proptest::collection::vec(strategy::op(), 1..40), |ops| {
        let counts = run(&ops).map_err(TestCaseError::fail)?;
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

// The fixed sequence's operations, by index into the strategy's pools.
fn task(i: usize) -> Name {
    Name(TASKS[i].to_owned())
}

fn agent(i: usize) -> Name {
    Name(AGENTS[i].to_owned())
}

fn dup(n: u8) -> SnapId {
    SnapId(format!("snap_dup_{n}"))
}

fn at(micros: i64) -> Instant {
    Instant(micros)
}

#[allow(clippy::too_many_arguments)]
fn save(
    t: usize,
    id: Option<u8>,
    version: Option<u64>,
    expected: Option<u64>,
    data: usize,
    checkpoint: bool,
    created_at: Option<i64>,
) -> Op {
    Op::Save {
        task: task(t),
        id: id.map(dup),
        version: version.map(Num),
        expected: expected.map(Num),
        data: strategy::data(data),
        checkpoint,
        created_at: created_at.map(at),
    }
}

fn record(
    id: Option<u8>,
    t: usize,
    a: usize,
    consumer: usize,
    metrics: [u64; 4],
    when: Option<i64>,
) -> Op {
    Op::Record {
        id: id.map(dup),
        task: task(t),
        agent: agent(a),
        consumer: Name(CONSUMERS[consumer].to_owned()),
        metrics: metrics.map(Num),
        at: when.map(at),
    }
}

fn query(a: usize, start: i64, end: i64, limit: Option<u64>, offset: u64) -> Op {
    Op::Query {
        agent: agent(a),
        start: at(start),
        end: at(end),
        limit: limit.map(Num),
        offset: Num(offset),
    }
}

#[test]
fn a_fixed_sequence_covers_every_operation() {
    // A deterministic run through every kind of step, including errors, ties and both reopen
    // kinds (the pair's reopens alternate: bytes, file, bytes), so the differential does not
    // depend on what the random cases happen to draw.
    let b = BASE_MICROS;
    let min = Timestamp::MIN.as_micros();
    let ops = vec![
        save(0, None, None, Some(0), 2, true, Some(b)),
        save(0, Some(1), None, Some(1), 4, false, None),
        save(0, Some(1), Some(5), None, 5, false, Some(b + HOUR)),
        save(0, None, None, Some(1), 1, false, None),
        save(2, None, Some(MAX_SAFE_INTEGER), None, 6, true, None),
        save(2, None, None, None, 7, false, None),
        save(4, None, None, None, 0, false, None),
        save(3, None, Some(0), None, 3, false, None),
        save(3, None, Some(2), None, 8, false, Some(min)),
        Op::GetById {
            task: task(0),
            id: dup(1),
        },
        Op::Get {
            task: task(0),
            version: None,
        },
        Op::Get {
            task: task(0),
            version: Some(Num(2)),
        },
        Op::ListVersions { task: task(0) },
        Op::ListTasks,
        Op::Prune {
            task: task(0),
            keep_last: None,
            older_than: None,
            keep_checkpoints: false,
        },
        Op::Prune {
            task: task(0),
            keep_last: Some(Num(1)),
            older_than: None,
            keep_checkpoints: true,
        },
        record(Some(0), 0, 0, 0, [1, 2, 3, 4], Some(b)),
        record(Some(0), 1, 1, 1, [9, 9, 9, 9], Some(b + HOUR)),
        record(None, 0, 0, 1, [5, 6, 7, 8], Some(b)),
        record(None, 2, 2, 0, [MAX_SAFE_INTEGER, 0, 0, 0], None),
        record(None, 2, 3, 0, [0; 4], None),
        record(None, 2, 1, 2, [0; 4], None),
        record(None, 2, 1, 0, [MAX_SAFE_INTEGER + 1, 0, 0, 0], None),
        Op::Advance(3600),
        record(None, 2, 0, 0, [1, 1, 1, 1], None),
        Op::Reopen, // from the bytes
        query(0, b, b + 2 * HOUR, None, 0),
        query(0, b, b + 2 * HOUR, Some(1), 1),
        query(0, b + HOUR, b, None, 0),
        Op::Aggregate {
            agent: agent(0),
            period: Name(PERIODS[2].to_owned()),
            start: None,
            end: None,
        },
        Op::Aggregate {
            agent: agent(2),
            period: Name(PERIODS[0].to_owned()),
            start: Some(at(b)),
            end: Some(at(b)),
        },
        Op::Series {
            agent: agent(0),
            day: false,
            start: at(b),
            end: at(b + 3 * HOUR),
        },
        Op::Series {
            agent: agent(0),
            day: true,
            start: at(b),
            end: at(b),
        },
        Op::Reopen, // from a file
        Op::Agents,
        Op::Export {
            json: true,
            agent: None,
            start: None,
            end: None,
        },
        Op::Export {
            json: false,
            agent: Some(agent(0)),
            start: Some(at(b)),
            end: None,
        },
        Op::Delete {
            task: task(0),
            version: Some(Num(5)),
        },
        Op::Delete {
            task: task(0),
            version: Some(Num(5)),
        },
        Op::Delete {
            task: task(2),
            version: None,
        },
        Op::ListTasks,
        Op::Reopen, // from the bytes
    ];
    let counts = run(&ops).unwrap_or_else(|e| panic!("{e}"));
    println!("fixed sequence: {counts:?}");
    assert_eq!(counts.reopens, 4, "three reopens and the final one");
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
    let (rt, _) = runtime();
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
