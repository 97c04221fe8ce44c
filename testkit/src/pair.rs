//! The memory stores and a SQLite database side by side, on identical deterministic runtimes:
//! every operation applied to both must answer the same (`Ok` values as JSON, errors by code).

use std::path::PathBuf;
use std::sync::Arc;

use asap_state::{
    BucketSize, ExportFilter, ExportFormat, ManualClock, MemoryMeteringStore, MemorySnapshotStore,
    MeteringStore, PrunePolicy, QueryOptions, Runtime, SaveOptions, SeriesOptions, SnapshotStore,
    SqliteStateDb, StateError, StateSnapshotInput, Timestamp, UsageEventInput, UsageMetrics,
    Window,
};
use serde_json::{json, Map, Value};

use crate::model::{Instant, Op};
use crate::{answer, runtime, Answer};

/// A timestamp `micros` after the epoch (the earliest one if out of range).
pub fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).unwrap_or(Timestamp::MIN)
}

/// The window between two optional instants.
pub fn window(start: Option<Instant>, end: Option<Instant>) -> Window {
    Window {
        start: start.map(|i| at(i.0)),
        end: end.map(|i| at(i.0)),
    }
}

/// The memory stores (one runtime for both, as the database has one for both: the id
/// sequences then advance identically) and a SQLite database, with their clocks.
pub struct Pair {
    pub snaps: MemorySnapshotStore,
    pub meter: MemoryMeteringStore,
    mem_clock: Arc<ManualClock>,
    pub db: SqliteStateDb,
    db_runtime: Runtime,
    db_clock: Arc<ManualClock>,
    /// Where every other [`Op::Reopen`] writes the image, if anywhere.
    dir: Option<PathBuf>,
    reopens: usize,
}

impl Pair {
    /// A pair whose SQLite database is an in-memory image; [`Op::Reopen`] reopens it from its
    /// exported bytes.
    pub fn new() -> Self {
        let (mem_rt, mem_clock) = runtime();
        let (db_runtime, db_clock) = runtime();
        let db = SqliteStateDb::open_in_memory(db_runtime.clone())
            .unwrap_or_else(|e| panic!("open_in_memory: {e:?}"));
        Pair {
            snaps: MemorySnapshotStore::with_runtime(mem_rt.clone()),
            meter: MemoryMeteringStore::with_runtime(mem_rt),
            mem_clock,
            db,
            db_runtime,
            db_clock,
            dir: None,
            reopens: 0,
        }
    }

    /// As [`Pair::new`], but [`Op::Reopen`] alternates: from the exported bytes (the first
    /// time), then written to a new file in `dir` and opened by path, and so on.
    pub fn with_files(dir: impl Into<PathBuf>) -> Self {
        Pair {
            dir: Some(dir.into()),
            ..Pair::new()
        }
    }

    /// `export_bytes`, close, and open the image again (see [`Pair::with_files`]).
    pub fn reopen(&mut self) -> Result<(), String> {
        self.reopens += 1;
        let file = match &self.dir {
            Some(dir) if self.reopens.is_multiple_of(2) => {
                Some(dir.join(format!("state-{}.db", self.reopens)))
            }
            _ => None,
        };
        self.reopen_via(file)
    }

    /// `export_bytes`, close, and `open_bytes` of the image.
    pub fn reopen_from_bytes(&mut self) -> Result<(), String> {
        self.reopen_via(None)
    }

    fn reopen_via(&mut self, file: Option<PathBuf>) -> Result<(), String> {
        let image = self
            .db
            .export_bytes()
            .map_err(|e| format!("export_bytes failed: {e:?}"))?;
        self.db
            .close()
            .map_err(|e| format!("close failed: {e:?}"))?;
        let reopened = match file {
            Some(path) => {
                std::fs::write(&path, &image)
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                SqliteStateDb::open_path(&path, self.db_runtime.clone())
            }
            None => SqliteStateDb::open_bytes(&image, self.db_runtime.clone()),
        };
        self.db = reopened.map_err(|e| format!("reopening the exported image failed: {e:?}"))?;
        Ok(())
    }
}

impl Default for Pair {
    fn default() -> Self {
        Pair::new()
    }
}

/// Applies `op` to both backends and returns both answers (`None` for steps without one; an
/// error if a reopen failed).
pub fn apply(pair: &mut Pair, op: &Op) -> Result<Option<(Answer, Answer)>, String> {
    let db_snaps = pair.db.snapshots();
    let db_meter = pair.db.metering();
    macro_rules! both {
        (|$s:ident, $m:ident| $call:expr) => {{
            let mem = {
                let $s: &dyn SnapshotStore = &pair.snaps;
                let $m: &dyn MeteringStore = &pair.meter;
                let _ = (&$s, &$m);
                answer($call)
            };
            let sql = {
                let $s: &dyn SnapshotStore = &db_snaps;
                let $m: &dyn MeteringStore = &db_meter;
                let _ = (&$s, &$m);
                answer($call)
            };
            Some((mem, sql))
        }};
    }
    Ok(match op {
        Op::Save {
            task,
            id,
            version,
            expected,
            data,
            checkpoint,
            created_at,
        } => {
            let mut input = StateSnapshotInput::new(task.0.clone(), data.0.clone());
            input.checkpoint = *checkpoint;
            input.version = version.map(|v| v.0);
            input.id = id.as_ref().map(|i| i.0.clone());
            input.created_at = created_at.map(|i| at(i.0));
            let options = SaveOptions {
                expected_version: expected.map(|v| v.0),
            };
            both!(|s, _m| s.save(input.clone(), options))
        }
        Op::Get { task, version } => both!(|s, _m| s.get(&task.0, version.map(|v| v.0))),
        Op::GetById { task, id } => both!(|s, _m| s.get_by_id(&task.0, &id.0)),
        Op::ListVersions { task } => both!(|s, _m| s.list_versions(&task.0)),
        Op::Delete { task, version } => both!(|s, _m| s.delete(&task.0, version.map(|v| v.0))),
        Op::Prune {
            task,
            keep_last,
            older_than,
            keep_checkpoints,
        } => {
            let policy = PrunePolicy {
                keep_last: keep_last.map(|k| k.0),
                older_than: older_than.map(|i| at(i.0)),
                keep_checkpoints: *keep_checkpoints,
            };
            both!(|s, _m| s.prune(&task.0, policy))
        }
        Op::ListTasks => both!(|s, _m| s.list_tasks()),
        Op::Record {
            id,
            task,
            agent,
            consumer,
            metrics,
            at: when,
        } => {
            let [a, b, c, d] = *metrics;
            let mut input =
                UsageEventInput::new(task.0.clone(), agent.0.clone(), consumer.0.clone()).metrics(
                    UsageMetrics {
                        tokens_in: a.0,
                        tokens_out: b.0,
                        duration_ms: c.0,
                        api_calls: d.0,
                    },
                );
            input.id = id.as_ref().map(|i| i.0.replace("snap", "evt"));
            input.timestamp = when.map(|i| at(i.0));
            both!(|_s, m| m.record(input.clone()))
        }
        Op::Query {
            agent,
            start,
            end,
            limit,
            offset,
        } => {
            let options = QueryOptions {
                limit: limit.map(|l| l.0),
                offset: offset.0,
            };
            both!(|_s, m| m.query(&agent.0, at(start.0), at(end.0), options))
        }
        Op::Aggregate {
            agent,
            period,
            start,
            end,
        } => both!(|_s, m| m.aggregate(&agent.0, &period.0, window(*start, *end))),
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
                start: at(start.0),
                end: at(end.0),
            };
            both!(|_s, m| m.series(&agent.0, options))
        }
        Op::Agents => both!(|_s, m| m.agents()),
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
                agent_id: agent.as_ref().map(|a| a.0.clone()),
                window: window(*start, *end),
            };
            both!(|_s, m| m.export(format, &filter))
        }
        Op::Advance(seconds) => {
            let micros = i64::from(*seconds) * 1_000_000;
            pair.mem_clock.advance(micros);
            pair.db_clock.advance(micros);
            None
        }
        Op::Reopen => {
            pair.reopen()?;
            None
        }
    })
}

/// An answer as one JSON value (an error as `{"error": code}`).
pub fn shown(a: Answer) -> Value {
    a.unwrap_or_else(|code| json!({ "error": code }))
}

/// Everything observable at once: the tasks, every version of every task, all events, the
/// agents.
pub fn full_state(snaps: &dyn SnapshotStore, meter: &dyn MeteringStore) -> Value {
    let tasks = snaps.list_tasks().unwrap_or_else(|e| panic!("{e:?}"));
    let mut versions = Map::new();
    for t in &tasks {
        let listed = snaps
            .list_versions(&t.task_id)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let each: Vec<Answer> = listed
            .iter()
            .map(|v| answer(snaps.get(&t.task_id, Some(*v))))
            .collect();
        versions.insert(
            t.task_id.clone(),
            json!({"versions": listed, "each": each.into_iter().map(shown).collect::<Vec<_>>()}),
        );
    }
    let all = ExportFilter::default();
    json!({
        "tasks": shown(answer(Ok::<_, StateError>(tasks))),
        "versions": versions,
        "events": shown(answer(meter.export(ExportFormat::Json, &all))),
        "csv": shown(answer(meter.export(ExportFormat::Csv, &all))),
        "agents": shown(answer(meter.agents())),
    })
}

/// What a differential run compared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Steps where both answered `Ok` with equal values.
    pub ok: usize,
    /// Steps where both failed with the same code.
    pub errors: usize,
    /// export_bytes + reopen steps (including the final one).
    pub reopens: usize,
}

/// Runs `ops` on `pair`: every answer must be equal (`Ok` values as JSON, errors by code), and
/// so must the final state, also after one more export_bytes + open_bytes. The error says
/// where they first differed.
pub fn run(pair: &mut Pair, ops: &[Op]) -> Result<Counts, String> {
    let mut counts = Counts::default();
    for (i, op) in ops.iter().enumerate() {
        match apply(pair, op).map_err(|e| format!("step {i}: {op:?}: {e}"))? {
            Some((mem, sql)) if mem != sql => {
                return Err(format!(
                    "step {i}: {op:?}\nmemory: {mem:?}\nsqlite: {sql:?}"
                ))
            }
            Some((Ok(_), _)) => counts.ok += 1,
            Some((Err(_), _)) => counts.errors += 1,
            None if matches!(op, Op::Reopen) => counts.reopens += 1,
            None => {}
        }
    }
    let mem = full_state(&pair.snaps, &pair.meter);
    let sql = full_state(&pair.db.snapshots(), &pair.db.metering());
    if mem != sql {
        return Err(format!(
            "the final state differs\nmemory: {mem}\nsqlite: {sql}"
        ));
    }
    // And the final image, reopened, holds the same.
    pair.reopen_from_bytes()?;
    counts.reopens += 1;
    let sql = full_state(&pair.db.snapshots(), &pair.db.metering());
    if mem != sql {
        return Err(format!(
            "the final state differs after export_bytes + open_bytes\nmemory: {mem}\nsqlite: {sql}"
        ));
    }
    Ok(counts)
}
