//! The backend-independent contract suite of `asap-state`.
//!
//! Every test is a generic function over a [`Factory`] that builds a fresh
//! `(snapshot store, metering store)` pair from a [`Runtime`]; [`contract_suite!`] instantiates
//! all of them as `#[test]`s for one backend:
//!
//! ```ignore
//! mod contract;
//! contract::contract_suite!(memory, |rt: Runtime| {
//!     (MemorySnapshotStore::with_runtime(rt.clone()), MemoryMeteringStore::with_runtime(rt))
//! });
//! ```
//!
//! The runtime uses a [`ManualClock`] (stopped at [`T0`]) and [`SequentialIds`], so every test is
//! deterministic. Nothing here may depend on a particular backend.
//!
//! Sources of the cases: the reference's `tests/state/test_snapshot.py` and `test_metering.py`
//! (python-reference.md §4.1 / §4.2; tests that poke private attributes or introspect Python
//! protocols are left out) and every addition of CONTRACT.md §2-§5.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use asap_state::{
    BucketSize, ExportFilter, ExportFormat, ManualClock, MeteringStore, PrunePolicy, QueryOptions,
    Runtime, SaveOptions, SequentialIds, SeriesOptions, SnapshotStore, StateError, StateSnapshot,
    StateSnapshotInput, TaskSummary, Timestamp, UsageAggregate, UsageBucket, UsageEvent,
    UsageEventInput, UsageMetrics, Window, CSV_HEADER, MAX_DATA_BYTES, MAX_ID_BYTES,
    MAX_SAFE_INTEGER,
};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Builds a fresh, empty pair of stores that use `runtime` for "now" and new ids.
pub trait Factory {
    /// The snapshot store.
    type Snapshots: SnapshotStore + Send + Sync + 'static;
    /// The metering store.
    type Metering: MeteringStore + Send + Sync + 'static;
    /// A fresh pair.
    fn make(&self, runtime: Runtime) -> (Self::Snapshots, Self::Metering);
}

impl<F, S, M> Factory for F
where
    F: Fn(Runtime) -> (S, M),
    S: SnapshotStore + Send + Sync + 'static,
    M: MeteringStore + Send + Sync + 'static,
{
    type Snapshots = S;
    type Metering = M;
    fn make(&self, runtime: Runtime) -> (S, M) {
        self(runtime)
    }
}

/// Where every test's clock starts.
pub const T0: &str = "2025-02-08T12:00:00Z";

/// A fresh pair of stores and the clock they read.
pub struct Ctx<F: Factory> {
    pub snaps: F::Snapshots,
    pub meter: F::Metering,
    pub clock: Arc<ManualClock>,
}

pub fn setup<F: Factory>(factory: &F) -> Ctx<F> {
    let clock = ManualClock::new(ts(T0));
    let runtime = Runtime::new(clock.clone(), SequentialIds::new());
    let (snaps, meter) = factory.make(runtime);
    Ctx {
        snaps,
        meter,
        clock,
    }
}

#[track_caller]
pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text, "test").unwrap()
}

#[track_caller]
pub fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn snap(task_id: &str, version: u64, data: Value) -> StateSnapshotInput {
    StateSnapshotInput::new(task_id, obj(data)).version(version)
}

pub fn metrics(tokens_in: u64, tokens_out: u64, duration_ms: u64, api_calls: u64) -> UsageMetrics {
    UsageMetrics {
        tokens_in,
        tokens_out,
        duration_ms,
        api_calls,
    }
}

pub fn event(agent_id: &str, at: &str, m: UsageMetrics) -> UsageEventInput {
    UsageEventInput::new("task_01", agent_id, "consumer_01")
        .metrics(m)
        .timestamp(ts(at))
}

#[track_caller]
pub fn save<S: SnapshotStore>(store: &S, input: StateSnapshotInput) -> StateSnapshot {
    store.save(input, SaveOptions::default()).unwrap()
}

#[track_caller]
pub fn record<M: MeteringStore>(store: &M, input: UsageEventInput) -> UsageEvent {
    store.record(input).unwrap()
}

#[track_caller]
pub fn get<S: SnapshotStore>(
    store: &S,
    task_id: &str,
    version: Option<u64>,
) -> Option<StateSnapshot> {
    store.get(task_id, version).unwrap()
}

#[track_caller]
pub fn versions<S: SnapshotStore>(store: &S, task_id: &str) -> Vec<u64> {
    store.list_versions(task_id).unwrap()
}

#[track_caller]
pub fn query_all<M: MeteringStore>(store: &M, agent_id: &str) -> Vec<UsageEvent> {
    store
        .query(
            agent_id,
            Timestamp::MIN,
            Timestamp::MAX,
            QueryOptions::default(),
        )
        .unwrap()
}

#[track_caller]
pub fn aggregate<M: MeteringStore>(store: &M, agent_id: &str, period: &str) -> UsageAggregate {
    store
        .aggregate(agent_id, period, Window::default())
        .unwrap()
}

/// Asserts `result` failed with `code` and returns the error.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, StateError>, code: &str) -> StateError {
    match result {
        Ok(value) => panic!("expected error {code}, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(err.code(), code, "unexpected error: {err}");
            err
        }
    }
}

/// Everything a snapshot store holds, for "nothing changed" checks.
pub fn snapshot_state<S: SnapshotStore>(store: &S) -> (Vec<TaskSummary>, Vec<StateSnapshot>) {
    let tasks = store.list_tasks().unwrap();
    let mut all = Vec::new();
    for task in &tasks {
        for v in versions(store, &task.task_id) {
            all.push(get(store, &task.task_id, Some(v)).unwrap());
        }
    }
    (tasks, all)
}

/// Everything a metering store holds, for "nothing changed" checks.
pub fn metering_state<M: MeteringStore>(store: &M) -> (Vec<String>, String) {
    (
        store.agents().unwrap(),
        store
            .export(ExportFormat::Json, &ExportFilter::default())
            .unwrap(),
    )
}

pub const SAMPLE_SNAPSHOT_ID: &str = "snap_01HX5K7R000000000000000000";
pub const SAMPLE_TASK_ID: &str = "task_01HX5K4N000000000000000000";

/// The reference's `sample_snapshot` fixture (created_at = the clock's now).
pub fn sample_snapshot() -> StateSnapshotInput {
    snap(
        SAMPLE_TASK_ID,
        1,
        json!({"status": "working", "progress": 50}),
    )
    .id(SAMPLE_SNAPSHOT_ID)
    .created_at(ts(T0))
}

/// The reference's `sample_event` fixture.
pub fn sample_event() -> UsageEventInput {
    UsageEventInput::new("task_01", "agent_01", "consumer_01")
        .metrics(metrics(10, 20, 100, 1))
        .timestamp(ts("2025-02-08T12:00:00Z"))
}

/// A tiny deterministic generator for the concurrency tests.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

// ---------------------------------------------------------------------------------------------
// The macro
// ---------------------------------------------------------------------------------------------

/// Instantiates the whole contract suite as `mod $name` for the backend `$factory` builds
/// (an expression callable as `Fn(Runtime) -> (impl SnapshotStore, impl MeteringStore)`).
macro_rules! contract_suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn factory(
                runtime: ::asap_state::Runtime,
            ) -> (
                impl ::asap_state::SnapshotStore + Send + Sync + 'static,
                impl ::asap_state::MeteringStore + Send + Sync + 'static,
            ) {
                ($factory)(runtime)
            }

            $crate::contract::contract_suite!(@tests factory;
                // §4.1 InMemorySnapshotStore (and the async variants' extra cases)
                save_snapshot_stores_correctly,
                get_latest_snapshot_returns_most_recent,
                get_specific_version_returns_correct_snapshot,
                list_versions_returns_all_versions_ascending,
                explicit_version_is_stored_as_given,
                get_nonexistent_task_returns_none,
                get_nonexistent_version_returns_none,
                list_versions_empty_for_nonexistent_task,
                multiple_tasks_isolation,
                get_latest_of_other_task_is_none,
                delete_specific_version,
                delete_specific_version_then_all,
                delete_all_versions,
                delete_unknown_task_returns_false,
                delete_nonexistent_version_returns_false,
                delete_latest_version_repoints_latest,
                delete_last_version_cleans_up_task,
                delete_preserves_other_tasks,
                duplicate_version_overwrites_silently,
                // §4.1 thread safety
                concurrent_saves_to_same_task,
                concurrent_saves_to_different_tasks,
                concurrent_read_write,
                concurrent_delete_operations,
                concurrent_mixed_operations,
                concurrent_auto_increment_assigns_distinct_versions,
                concurrent_expected_version_zero_admits_one_writer,
                // §4.2 metering
                record_and_query_returns_event,
                query_excludes_out_of_range,
                query_window_is_inclusive_on_both_ends,
                query_filters_by_agent_id,
                query_returns_sorted_by_timestamp,
                query_ties_keep_recording_order,
                query_pagination,
                query_pagination_edges,
                aggregate_sums_metrics,
                aggregate_echoes_period_label,
                aggregate_unknown_agent_is_zero,
                aggregate_with_window,
                query_empty_store_returns_empty_list,
                concurrent_record_and_query,
                // CONTRACT §3 snapshots
                auto_increment_versions,
                defaults_come_from_the_runtime,
                expected_version_checks,
                failed_save_changes_nothing,
                get_by_id_finds_highest_version,
                list_tasks_summaries,
                prune_keep_last,
                prune_older_than,
                prune_keep_checkpoints,
                prune_never_deletes_latest,
                prune_rejects_empty_policy,
                returned_snapshots_are_copies,
                json_answers_are_the_serialized_snapshots,
                // CONTRACT §3 metering
                record_is_idempotent_by_id,
                record_defaults_come_from_the_runtime,
                failed_record_changes_nothing,
                returned_events_are_copies,
                series_hour_buckets,
                series_day_buckets_in_utc,
                agents_sorted,
                export_json,
                export_csv,
                export_empty_store,
                // CONTRACT §2, §4, §5 validation and timestamps
                snapshot_from_json_accepts_valid_input,
                snapshot_from_json_rejections,
                snapshot_validate_rejections,
                event_from_json_rejections,
                option_parsers,
                timestamps_print_like_python_isoformat,
            );
        }
    };
    (@tests $factory:ident; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::contract::$test(&$factory);
            }
        )*
    };
}
pub(crate) use contract_suite;

// ---------------------------------------------------------------------------------------------
// §4.1 InMemorySnapshotStore
// ---------------------------------------------------------------------------------------------

/// `save_json` / `get_json` (what the JavaScript binding hands back) are byte for byte what
/// serialising `save` / `get` gives, including escapes in ids, nested data, deep values and
/// timestamps with and without microseconds; a refused `save_json` changes nothing.
pub fn json_answers_are_the_serialized_snapshots(f: &impl Factory) {
    let c = setup(f);
    let mut deep = json!("bottom");
    for _ in 0..127 {
        deep = json!([deep]);
    }
    let datas = [
        json!({}),
        json!({"a": 1, "b": [1.5, -2, null, true], "c": {"d": "quote \" \\ \n \u{1} é 😀"}}),
        json!({"deep": deep}),
        json!({"big": 9007199254740991u64, "neg": -9007199254740991i64, "tiny": 5e-324, "f": 0.1}),
    ];
    for (i, data) in datas.iter().enumerate() {
        let mut input = StateSnapshotInput::new("json \"task\" ü", obj(data.clone()));
        input.id = Some(format!("id \"{i}\" \\ ✓"));
        input.checkpoint = i % 2 == 0;
        if i == 1 {
            input.created_at = Some(ts("2025-02-08T12:00:00.123456+00:00"));
        }
        let text = c.snaps.save_json(input, SaveOptions::default()).unwrap();
        let version = u64::try_from(i + 1).unwrap();
        let got = get(&c.snaps, "json \"task\" ü", Some(version)).unwrap();
        assert_eq!(text, serde_json::to_string(&got).unwrap());
        let latest = c.snaps.get_json("json \"task\" ü", None).unwrap().unwrap();
        assert_eq!(latest, text);
        let again = c.snaps.get_json("json \"task\" ü", Some(version)).unwrap();
        assert_eq!(again.as_deref(), Some(text.as_str()));
    }
    assert_eq!(c.snaps.get_json("nobody", None).unwrap(), None);
    assert_eq!(c.snaps.get_json("json \"task\" ü", Some(99)).unwrap(), None);
    let conflict = c.snaps.save_json(
        StateSnapshotInput::new("json \"task\" ü", obj(json!({"x": 1}))),
        SaveOptions {
            expected_version: Some(1),
        },
    );
    assert_eq!(conflict.unwrap_err().code(), "VERSION_CONFLICT");
    assert_eq!(
        c.snaps.list_versions("json \"task\" ü").unwrap(),
        vec![1, 2, 3, 4]
    );
}

pub fn save_snapshot_stores_correctly(f: &impl Factory) {
    let c = setup(f);
    let saved = save(&c.snaps, sample_snapshot());
    let got = get(&c.snaps, SAMPLE_TASK_ID, Some(1)).unwrap();
    assert_eq!(got.id, SAMPLE_SNAPSHOT_ID);
    assert_eq!(got.task_id, SAMPLE_TASK_ID);
    assert_eq!(got.version, 1);
    assert_eq!(got.data, obj(json!({"status": "working", "progress": 50})));
    assert!(!got.checkpoint);
    assert_eq!(got.created_at, ts(T0));
    assert_eq!(got, saved, "save returns what get returns");
    // The snapshot round-trips under its own id too.
    assert_eq!(
        c.snaps
            .get_by_id(SAMPLE_TASK_ID, SAMPLE_SNAPSHOT_ID)
            .unwrap(),
        Some(saved)
    );
}

pub fn get_latest_snapshot_returns_most_recent(f: &impl Factory) {
    let c = setup(f);
    for v in [1, 3, 2] {
        save(&c.snaps, snap("t", v, json!({"step": v})));
    }
    let latest = get(&c.snaps, "t", None).unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(latest.data.get("step"), Some(&json!(3)));
}

pub fn get_specific_version_returns_correct_snapshot(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({"v": "one"})));
    save(&c.snaps, snap("t", 2, json!({"v": "two"})));
    let one = get(&c.snaps, "t", Some(1)).unwrap();
    let two = get(&c.snaps, "t", Some(2)).unwrap();
    assert_eq!((one.version, one.data.get("v")), (1, Some(&json!("one"))));
    assert_eq!((two.version, two.data.get("v")), (2, Some(&json!("two"))));
}

pub fn list_versions_returns_all_versions_ascending(f: &impl Factory) {
    let c = setup(f);
    for v in [1, 3, 2] {
        save(&c.snaps, snap("t", v, json!({})));
    }
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2, 3]);
    // Numeric, not textual, order.
    save(&c.snaps, snap("t", 10, json!({})));
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2, 3, 10]);
}

pub fn explicit_version_is_stored_as_given(f: &impl Factory) {
    let c = setup(f);
    let saved = save(&c.snaps, snap("t", 5, json!({"x": 1})));
    assert_eq!(saved.version, 5);
    assert_eq!(get(&c.snaps, "t", Some(5)).unwrap().version, 5);
    assert_eq!(get(&c.snaps, "t", None).unwrap().version, 5);
    assert_eq!(versions(&c.snaps, "t"), vec![5]);
}

pub fn get_nonexistent_task_returns_none(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, sample_snapshot());
    assert_eq!(get(&c.snaps, "task_nonexistent", None), None);
    assert_eq!(get(&c.snaps, "task_nonexistent", Some(1)), None);
    assert_eq!(get(&c.snaps, "", None), None);
}

pub fn get_nonexistent_version_returns_none(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, sample_snapshot());
    assert_eq!(get(&c.snaps, SAMPLE_TASK_ID, Some(999)), None);
    assert!(get(&c.snaps, SAMPLE_TASK_ID, Some(1)).is_some());
}

pub fn list_versions_empty_for_nonexistent_task(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, sample_snapshot());
    assert_eq!(versions(&c.snaps, "task_nonexistent"), Vec::<u64>::new());
}

pub fn multiple_tasks_isolation(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("task_a", 1, json!({"task": 1})));
    save(&c.snaps, snap("task_b", 1, json!({"task": 2})));
    assert_eq!(
        get(&c.snaps, "task_a", Some(1)).unwrap().data,
        obj(json!({"task": 1}))
    );
    assert_eq!(
        get(&c.snaps, "task_b", Some(1)).unwrap().data,
        obj(json!({"task": 2}))
    );
    assert_eq!(versions(&c.snaps, "task_a"), vec![1]);
    assert_eq!(versions(&c.snaps, "task_b"), vec![1]);
}

pub fn get_latest_of_other_task_is_none(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, sample_snapshot());
    assert_eq!(get(&c.snaps, "different_task", None), None);
}

pub fn delete_specific_version(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({"v": 1})));
    save(&c.snaps, snap("t", 2, json!({"v": 2})));
    assert!(c.snaps.delete("t", Some(1)).unwrap());
    assert_eq!(get(&c.snaps, "t", Some(1)), None);
    assert!(get(&c.snaps, "t", Some(2)).is_some());
    assert_eq!(get(&c.snaps, "t", None).unwrap().version, 2);
    assert_eq!(versions(&c.snaps, "t"), vec![2]);
}

pub fn delete_specific_version_then_all(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({})));
    save(&c.snaps, snap("t", 2, json!({})));
    assert!(c.snaps.delete("t", Some(1)).unwrap());
    assert_eq!(get(&c.snaps, "t", Some(1)), None);
    assert!(get(&c.snaps, "t", Some(2)).is_some());
    assert!(c.snaps.delete("t", None).unwrap());
    assert_eq!(versions(&c.snaps, "t"), Vec::<u64>::new());
    // Deleting again finds nothing.
    assert!(!c.snaps.delete("t", None).unwrap());
}

pub fn delete_all_versions(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({})));
    save(&c.snaps, snap("t", 2, json!({})));
    assert!(c.snaps.delete("t", None).unwrap());
    assert_eq!(get(&c.snaps, "t", None), None);
    assert_eq!(get(&c.snaps, "t", Some(1)), None);
    assert_eq!(get(&c.snaps, "t", Some(2)), None);
    assert_eq!(versions(&c.snaps, "t"), Vec::<u64>::new());
    assert_eq!(c.snaps.list_tasks().unwrap(), vec![]);
}

pub fn delete_unknown_task_returns_false(f: &impl Factory) {
    let c = setup(f);
    assert!(!c.snaps.delete("missing_task", None).unwrap());
    assert!(!c.snaps.delete("missing_task", Some(1)).unwrap());
    save(&c.snaps, sample_snapshot());
    assert!(!c.snaps.delete("missing_task", None).unwrap());
    assert!(get(&c.snaps, SAMPLE_TASK_ID, None).is_some());
}

pub fn delete_nonexistent_version_returns_false(f: &impl Factory) {
    let c = setup(f);
    let saved = save(&c.snaps, sample_snapshot());
    assert!(!c.snaps.delete(SAMPLE_TASK_ID, Some(999)).unwrap());
    assert_eq!(get(&c.snaps, SAMPLE_TASK_ID, Some(1)), Some(saved));
}

pub fn delete_latest_version_repoints_latest(f: &impl Factory) {
    let c = setup(f);
    for v in 1..=3 {
        save(&c.snaps, snap("t", v, json!({"v": v})));
    }
    assert_eq!(get(&c.snaps, "t", None).unwrap().version, 3);
    assert!(c.snaps.delete("t", Some(3)).unwrap());
    let latest = get(&c.snaps, "t", None).unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.data, obj(json!({"v": 2})));
    assert_eq!(get(&c.snaps, "t", Some(3)), None);
    assert!(get(&c.snaps, "t", Some(1)).is_some());
    assert!(get(&c.snaps, "t", Some(2)).is_some());
}

pub fn delete_last_version_cleans_up_task(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({})));
    assert!(c.snaps.delete("t", Some(1)).unwrap());
    assert_eq!(get(&c.snaps, "t", None), None);
    assert_eq!(versions(&c.snaps, "t"), Vec::<u64>::new());
    // The task is gone entirely (the reference probe: delete(t) afterwards is False).
    assert_eq!(c.snaps.list_tasks().unwrap(), vec![]);
    assert!(!c.snaps.delete("t", None).unwrap());
    // A new save starts the task afresh.
    assert_eq!(
        c.snaps
            .save(
                StateSnapshotInput::new("t", Map::new()),
                SaveOptions::expect(0)
            )
            .unwrap()
            .version,
        1
    );
}

pub fn delete_preserves_other_tasks(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("task1", 1, json!({"task": 1})));
    save(&c.snaps, snap("task2", 1, json!({"task": 2})));
    assert!(c.snaps.delete("task1", None).unwrap());
    assert_eq!(
        get(&c.snaps, "task2", None).unwrap().data.get("task"),
        Some(&json!(2))
    );
    assert_eq!(versions(&c.snaps, "task2"), vec![1]);
}

pub fn duplicate_version_overwrites_silently(f: &impl Factory) {
    // Reference probe: save v2(A), save v2(B), save v1(C) → get(t) = B, list_versions = [1, 2].
    let c = setup(f);
    save(&c.snaps, snap("t", 2, json!({"who": "A"})).id("snap_A"));
    let b = save(
        &c.snaps,
        snap("t", 2, json!({"who": "B"}))
            .id("snap_B")
            .checkpoint(true),
    );
    save(&c.snaps, snap("t", 1, json!({"who": "C"})).id("snap_C"));
    assert_eq!(get(&c.snaps, "t", None), Some(b));
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2]);
    assert_eq!(c.snaps.get_by_id("t", "snap_A").unwrap(), None);
    let summary = c.snaps.list_tasks().unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].versions, 2);
    assert_eq!(summary[0].checkpoints, 1);
}

// ---------------------------------------------------------------------------------------------
// §4.1 thread safety
// ---------------------------------------------------------------------------------------------

/// Runs `work(store, t)` for `t` in `0..n`, each on its own thread, all at once, and returns
/// the results in order of `t` (a panic in a thread fails the test).
fn on_threads<S, T>(store: &Arc<S>, n: u64, work: fn(&S, u64) -> T) -> Vec<T>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let store = Arc::clone(store);
            thread::spawn(move || work(&store, t))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

pub fn concurrent_saves_to_same_task(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    on_threads(&store, 10, |store, t| {
        for i in 0..10u64 {
            let v = t * 10 + i + 1;
            store
                .save(
                    snap("shared", v, json!({"thread": t, "i": i})),
                    SaveOptions::default(),
                )
                .map(|s| s.version)
                .unwrap();
        }
    });
    assert_eq!(versions(&*store, "shared"), (1..=100).collect::<Vec<u64>>());
    assert_eq!(get(&*store, "shared", None).unwrap().version, 100);
}

pub fn concurrent_saves_to_different_tasks(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    on_threads(&store, 20, |store, t| {
        for v in 1..=5u64 {
            save(store, snap(&format!("task_{t:02}"), v, json!({"t": t})));
        }
    });
    for t in 0..20u64 {
        let task = format!("task_{t:02}");
        assert_eq!(versions(&*store, &task), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            get(&*store, &task, None).unwrap().data,
            obj(json!({"t": t}))
        );
    }
    assert_eq!(store.list_tasks().unwrap().len(), 20);
}

pub fn concurrent_read_write(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    save(&*store, snap("rw", 1, json!({"v": 1})));
    let mut handles = Vec::new();
    for w in 0..5u64 {
        let store = Arc::clone(&store);
        handles.push(thread::spawn(move || {
            for i in 0..20u64 {
                save(&*store, snap("rw", 100 + w * 20 + i, json!({"w": w})));
            }
        }));
    }
    for _ in 0..10 {
        let store = Arc::clone(&store);
        handles.push(thread::spawn(move || {
            let mut last_len = 0;
            for _ in 0..50 {
                let latest = get(&*store, "rw", None).unwrap();
                assert!(latest.version >= 1);
                let listed = versions(&*store, "rw");
                assert!(listed.windows(2).all(|p| p[0] < p[1]), "{listed:?}");
                assert_eq!(listed.first(), Some(&1));
                assert!(listed.len() >= last_len, "versions only grow");
                last_len = listed.len();
                assert_eq!(get(&*store, "rw", Some(1)).unwrap().version, 1);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(versions(&*store, "rw").len(), 101);
    assert_eq!(get(&*store, "rw", None).unwrap().version, 199);
}

pub fn concurrent_delete_operations(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    for t in 0..10u64 {
        for v in 1..=5u64 {
            save(&*store, snap(&format!("del_{t}"), v, json!({})));
        }
    }
    on_threads(&store, 10, |store, t| {
        for v in 1..=5u64 {
            assert!(store.delete(&format!("del_{t}"), Some(v)).unwrap());
        }
    });
    for t in 0..10u64 {
        assert_eq!(versions(&*store, &format!("del_{t}")), Vec::<u64>::new());
    }
    assert_eq!(store.list_tasks().unwrap(), vec![]);
}

pub fn concurrent_mixed_operations(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    on_threads(&store, 20, |store, t| {
        let mut rng = Lcg(t + 1);
        for i in 0..50u64 {
            let task = format!("mixed_{}", rng.below(5));
            let v = rng.below(10) + 1;
            match rng.below(4) {
                0 => {
                    let saved = save(store, snap(&task, v, json!({"t": t, "i": i})));
                    assert_eq!(saved.version, v);
                }
                1 => {
                    if let Some(s) = get(store, &task, Some(v)) {
                        assert_eq!((s.task_id.as_str(), s.version), (task.as_str(), v));
                    }
                }
                2 => {
                    let listed = versions(store, &task);
                    assert!(listed.windows(2).all(|p| p[0] < p[1]), "{listed:?}");
                }
                _ => {
                    store.delete(&task, Some(v)).unwrap();
                }
            }
        }
    });
    for task in 0..5 {
        let task = format!("mixed_{task}");
        let listed = versions(&*store, &task);
        assert!(listed.windows(2).all(|p| p[0] < p[1]), "{listed:?}");
        assert_eq!(
            get(&*store, &task, None).map(|s| s.version),
            listed.last().copied()
        );
        for v in listed {
            assert_eq!(get(&*store, &task, Some(v)).unwrap().version, v);
        }
    }
}

pub fn concurrent_auto_increment_assigns_distinct_versions(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    let each = on_threads(&store, 8, |store, t| {
        (0..10)
            .map(|_| save(store, StateSnapshotInput::new("auto", obj(json!({"t": t})))).version)
            .collect::<Vec<u64>>()
    });
    let mut assigned = Vec::new();
    for got in each {
        assert!(
            got.windows(2).all(|p| p[0] < p[1]),
            "one writer's versions grow: {got:?}"
        );
        assigned.extend(got);
    }
    assigned.sort_unstable();
    assert_eq!(assigned, (1..=80).collect::<Vec<u64>>());
    assert_eq!(versions(&*store, "auto"), (1..=80).collect::<Vec<u64>>());
}

pub fn concurrent_expected_version_zero_admits_one_writer(f: &impl Factory) {
    let c = setup(f);
    let store = Arc::new(c.snaps);
    let results = on_threads(&store, 8, |store, t| {
        store.save(
            StateSnapshotInput::new("race", obj(json!({"winner": t}))),
            SaveOptions::expect(0),
        )
    });
    let winners: Vec<&StateSnapshot> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.code(), "VERSION_CONFLICT");
        }
    }
    assert_eq!(versions(&*store, "race"), vec![1]);
    assert_eq!(get(&*store, "race", None).as_ref(), Some(winners[0]));
}

// ---------------------------------------------------------------------------------------------
// §4.2 metering
// ---------------------------------------------------------------------------------------------

pub fn record_and_query_returns_event(f: &impl Factory) {
    let c = setup(f);
    let stored = record(&c.meter, sample_event());
    let got = c
        .meter
        .query(
            "agent_01",
            ts("2025-02-08T11:00:00Z"),
            ts("2025-02-08T14:00:00Z"),
            QueryOptions::default(),
        )
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].task_id, "task_01");
    assert_eq!(got[0].consumer_id, "consumer_01");
    assert_eq!(got[0].metrics.tokens_in, 10);
    assert_eq!(got[0].metrics.tokens_out, 20);
    assert_eq!(got[0].metrics, metrics(10, 20, 100, 1));
    assert_eq!(got[0].timestamp, ts("2025-02-08T12:00:00Z"));
    assert_eq!(got[0], stored);
}

pub fn query_excludes_out_of_range(f: &impl Factory) {
    let c = setup(f);
    record(&c.meter, sample_event());
    let got = c
        .meter
        .query(
            "agent_01",
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-02T00:00:00Z"),
            QueryOptions::default(),
        )
        .unwrap();
    assert_eq!(got, vec![]);
    // start > end is an empty window, not an error.
    let got = c
        .meter
        .query(
            "agent_01",
            ts("2025-02-08T13:00:00Z"),
            ts("2025-02-08T11:00:00Z"),
            QueryOptions::default(),
        )
        .unwrap();
    assert_eq!(got, vec![]);
}

pub fn query_window_is_inclusive_on_both_ends(f: &impl Factory) {
    let c = setup(f);
    let at = ts("2025-02-08T12:00:00Z");
    record(&c.meter, sample_event());
    let q = |s: Timestamp, e: Timestamp| {
        c.meter
            .query("agent_01", s, e, QueryOptions::default())
            .unwrap()
            .len()
    };
    let before = Timestamp::from_micros(at.as_micros() - 1).unwrap();
    let after = Timestamp::from_micros(at.as_micros() + 1).unwrap();
    assert_eq!(q(at, at), 1);
    assert_eq!(q(before, at), 1);
    assert_eq!(q(at, after), 1);
    assert_eq!(q(before, before), 0);
    assert_eq!(q(after, after), 0);
    // Bounds given in another offset mean the same instants.
    assert_eq!(
        q(
            ts("2025-02-08T14:00:00+02:00"),
            ts("2025-02-08T09:00:00-03:00")
        ),
        1
    );
}

pub fn query_filters_by_agent_id(f: &impl Factory) {
    let c = setup(f);
    record(&c.meter, sample_event());
    assert_eq!(query_all(&c.meter, "agent_01").len(), 1);
    assert_eq!(query_all(&c.meter, "other_agent").len(), 0);
    // Exact match, not a prefix or case-insensitive match.
    assert_eq!(query_all(&c.meter, "agent_0").len(), 0);
    assert_eq!(query_all(&c.meter, "AGENT_01").len(), 0);
}

pub fn query_returns_sorted_by_timestamp(f: &impl Factory) {
    let c = setup(f);
    let t2 = record(
        &c.meter,
        event("agent_01", "2025-02-08T12:00:00Z", metrics(2, 0, 0, 0)).id("evt_t2"),
    );
    let t1 = record(
        &c.meter,
        event("agent_01", "2025-02-08T11:00:00Z", metrics(1, 0, 0, 0)).id("evt_t1"),
    );
    // Same instant as t1+30min written with an offset: must sort by instant, not by text.
    let t15 = record(
        &c.meter,
        event("agent_01", "2025-02-08T08:30:00-03:00", metrics(3, 0, 0, 0)).id("evt_t15"),
    );
    assert_eq!(query_all(&c.meter, "agent_01"), vec![t1, t15, t2]);
}

pub fn query_ties_keep_recording_order(f: &impl Factory) {
    let c = setup(f);
    let at = "2025-02-08T12:00:00Z";
    // Ids deliberately not in recording order.
    let ids = ["evt_c", "evt_a", "evt_b", "evt_0"];
    let mut recorded = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        recorded.push(record(
            &c.meter,
            event("agent_01", at, metrics(i as u64, 0, 0, 0)).id(*id),
        ));
    }
    let earlier = record(
        &c.meter,
        event(
            "agent_01",
            "2025-02-08T11:59:59.999999Z",
            metrics(9, 0, 0, 0),
        )
        .id("evt_z"),
    );
    let mut expected = vec![earlier];
    expected.extend(recorded.iter().cloned());
    assert_eq!(query_all(&c.meter, "agent_01"), expected);
    // Paging keeps the same order.
    let page = c
        .meter
        .query(
            "agent_01",
            Timestamp::MIN,
            Timestamp::MAX,
            QueryOptions {
                limit: Some(2),
                offset: 2,
            },
        )
        .unwrap();
    assert_eq!(page, recorded[1..3].to_vec());
}

fn five_events<M: MeteringStore>(meter: &M) -> Vec<UsageEvent> {
    (0..5)
        .map(|i| {
            record(
                meter,
                event(
                    "agent_01",
                    &format!("2025-02-08T12:0{i}:00Z"),
                    metrics(i, 0, 0, 0),
                )
                .id(format!("evt_{i}")),
            )
        })
        .collect()
}

fn page<M: MeteringStore>(meter: &M, limit: Option<u64>, offset: u64) -> Vec<UsageEvent> {
    meter
        .query(
            "agent_01",
            ts("2025-02-08T12:00:00Z"),
            ts("2025-02-08T12:04:00Z"),
            QueryOptions { limit, offset },
        )
        .unwrap()
}

pub fn query_pagination(f: &impl Factory) {
    let c = setup(f);
    let all = five_events(&c.meter);
    assert_eq!(page(&c.meter, Some(2), 0), all[0..2].to_vec());
    assert_eq!(page(&c.meter, Some(2), 2), all[2..4].to_vec());
    assert_eq!(page(&c.meter, Some(2), 4), all[4..5].to_vec());
    assert_eq!(page(&c.meter, None, 0), all);
}

pub fn query_pagination_edges(f: &impl Factory) {
    let c = setup(f);
    let all = five_events(&c.meter);
    assert_eq!(page(&c.meter, Some(0), 0), vec![], "limit 0");
    assert_eq!(page(&c.meter, Some(2), 5), vec![], "offset at the end");
    assert_eq!(page(&c.meter, Some(2), 50), vec![], "offset past the end");
    assert_eq!(
        page(&c.meter, None, 3),
        all[3..].to_vec(),
        "offset without limit"
    );
    assert_eq!(
        page(&c.meter, Some(100), 1),
        all[1..].to_vec(),
        "limit past the end"
    );
    assert_eq!(page(&c.meter, None, u64::MAX), vec![]);
    assert_eq!(page(&c.meter, Some(MAX_SAFE_INTEGER), 0), all);
}

pub fn aggregate_sums_metrics(f: &impl Factory) {
    let c = setup(f);
    record(&c.meter, sample_event());
    record(
        &c.meter,
        event("agent_01", "2025-02-08T13:00:00Z", metrics(5, 5, 0, 2)),
    );
    record(
        &c.meter,
        event(
            "other_agent",
            "2025-02-08T13:00:00Z",
            metrics(1000, 1000, 1000, 1000),
        ),
    );
    let agg = aggregate(&c.meter, "agent_01", "day");
    assert_eq!(
        agg,
        UsageAggregate {
            agent_id: "agent_01".into(),
            period: "day".into(),
            total_tokens: 40,
            total_duration: 100,
            total_tasks: 2,
            total_api_calls: 3,
        }
    );
}

pub fn aggregate_echoes_period_label(f: &impl Factory) {
    let c = setup(f);
    record(&c.meter, sample_event());
    let agg = aggregate(&c.meter, "agent_01", "hour");
    assert_eq!(agg.period, "hour");
    assert_eq!(agg.total_tasks, 1);
    // The period is a label only: it does not restrict the sum.
    for label in ["whatever", "", "day", "minute"] {
        let agg = aggregate(&c.meter, "agent_01", label);
        assert_eq!(agg.period, label);
        assert_eq!((agg.total_tasks, agg.total_tokens), (1, 30));
    }
}

pub fn aggregate_unknown_agent_is_zero(f: &impl Factory) {
    let c = setup(f);
    let empty = aggregate(&c.meter, "agent_01", "day");
    let zero = UsageAggregate {
        agent_id: "agent_01".into(),
        period: "day".into(),
        total_tokens: 0,
        total_duration: 0,
        total_tasks: 0,
        total_api_calls: 0,
    };
    assert_eq!(empty, zero);
    record(&c.meter, sample_event());
    let other = aggregate(&c.meter, "nobody", "day");
    assert_eq!(
        other,
        UsageAggregate {
            agent_id: "nobody".into(),
            ..zero
        }
    );
}

pub fn aggregate_with_window(f: &impl Factory) {
    let c = setup(f);
    for (i, at) in [
        "2025-02-08T10:00:00Z",
        "2025-02-08T11:00:00Z",
        "2025-02-08T12:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let n = 10u64.pow(i as u32);
        record(&c.meter, event("a", at, metrics(n, n, n, n)));
    }
    let win = |start: Option<&str>, end: Option<&str>| {
        c.meter
            .aggregate(
                "a",
                "w",
                Window {
                    start: start.map(ts),
                    end: end.map(ts),
                },
            )
            .unwrap()
    };
    let all = win(None, None);
    assert_eq!(
        (
            all.total_tasks,
            all.total_tokens,
            all.total_duration,
            all.total_api_calls
        ),
        (3, 222, 111, 111)
    );
    let mid = win(Some("2025-02-08T11:00:00Z"), Some("2025-02-08T11:00:00Z"));
    assert_eq!(
        (mid.total_tasks, mid.total_tokens),
        (1, 20),
        "window ends are inclusive"
    );
    let from = win(Some("2025-02-08T10:00:00.000001Z"), None);
    assert_eq!((from.total_tasks, from.total_tokens), (2, 220));
    let until = win(None, Some("2025-02-08T11:59:59Z"));
    assert_eq!((until.total_tasks, until.total_tokens), (2, 22));
    let empty = win(Some("2025-02-09T00:00:00Z"), None);
    assert_eq!(empty.total_tasks, 0);
}

pub fn query_empty_store_returns_empty_list(f: &impl Factory) {
    let c = setup(f);
    assert_eq!(query_all(&c.meter, "agent_01"), vec![]);
    assert_eq!(c.meter.agents().unwrap(), Vec::<String>::new());
}

pub fn concurrent_record_and_query(f: &impl Factory) {
    let c = setup(f);
    let meter = Arc::new(c.meter);
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let meter = Arc::clone(&meter);
        writers.push(thread::spawn(move || {
            for i in 0..50u64 {
                let at =
                    Timestamp::from_micros(ts(T0).as_micros() + (i as i64) * 1_000_000).unwrap();
                meter
                    .record(
                        UsageEventInput::new("task", "agent_01", "consumer")
                            .metrics(metrics(1, 1, 1, 1))
                            .timestamp(at)
                            .id(format!("evt_{w}_{i}")),
                    )
                    .unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let meter = Arc::clone(&meter);
        readers.push(thread::spawn(move || {
            let mut seen = 0;
            for _ in 0..20 {
                let got = query_all(&*meter, "agent_01");
                assert!(got.windows(2).all(|p| p[0].timestamp <= p[1].timestamp));
                let agg = aggregate(&*meter, "agent_01", "day");
                assert!(agg.total_tasks >= seen, "totals never shrink");
                assert_eq!(agg.total_tokens, 2 * agg.total_tasks);
                seen = agg.total_tasks;
            }
        }));
    }
    for h in writers.into_iter().chain(readers) {
        h.join().unwrap();
    }
    let agg = aggregate(&*meter, "agent_01", "day");
    assert_eq!(agg.total_tasks, 100);
    assert_eq!(query_all(&*meter, "agent_01").len(), 100);
}

// ---------------------------------------------------------------------------------------------
// CONTRACT §3: snapshots beyond the reference
// ---------------------------------------------------------------------------------------------

fn auto(task_id: &str) -> StateSnapshotInput {
    StateSnapshotInput::new(task_id, Map::new())
}

pub fn auto_increment_versions(f: &impl Factory) {
    let c = setup(f);
    assert_eq!(save(&c.snaps, auto("t")).version, 1, "new task starts at 1");
    assert_eq!(save(&c.snaps, auto("t")).version, 2, "then latest + 1");
    assert_eq!(save(&c.snaps, auto("other")).version, 1, "per task");
    save(&c.snaps, snap("t", 10, json!({})));
    assert_eq!(
        save(&c.snaps, auto("t")).version,
        11,
        "latest + 1, not count + 1"
    );
    // Saving below the latest does not move it.
    save(&c.snaps, snap("t", 5, json!({})));
    assert_eq!(save(&c.snaps, auto("t")).version, 12);
    // After deleting the latest, the next is the new latest + 1.
    assert!(c.snaps.delete("t", Some(12)).unwrap());
    assert!(c.snaps.delete("t", Some(11)).unwrap());
    assert_eq!(save(&c.snaps, auto("t")).version, 11);
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2, 5, 10, 11]);
    assert!(c.snaps.delete("t", None).unwrap());
    assert_eq!(
        save(&c.snaps, auto("t")).version,
        1,
        "a deleted task starts again at 1"
    );
}

pub fn defaults_come_from_the_runtime(f: &impl Factory) {
    let c = setup(f);
    let a = save(&c.snaps, auto("t"));
    c.clock.set(ts("2025-02-08T12:00:01.25Z"));
    let b = save(&c.snaps, auto("t"));
    assert!(a.id.starts_with("snap_"), "{}", a.id);
    assert!(b.id.starts_with("snap_"), "{}", b.id);
    assert!(a.id.len() > "snap_".len());
    assert_ne!(a.id, b.id);
    assert!(!a.checkpoint);
    assert_eq!(a.data, Map::new());
    assert_eq!(a.created_at, ts(T0));
    assert_eq!(b.created_at.to_string(), "2025-02-08T12:00:01.250000+00:00");
    assert_eq!(get(&c.snaps, "t", Some(1)), Some(a.clone()));
    assert_eq!(get(&c.snaps, "t", Some(2)), Some(b.clone()));
    assert_eq!(c.snaps.get_by_id("t", &b.id).unwrap(), Some(b));
    // An explicit created_at wins over the clock.
    let explicit = save(
        &c.snaps,
        auto("t").created_at(ts("2020-01-01T00:00:00+05:00")),
    );
    assert_eq!(explicit.created_at.to_string(), "2019-12-31T19:00:00+00:00");
}

pub fn expected_version_checks(f: &impl Factory) {
    let c = setup(f);
    let first = c
        .snaps
        .save(auto("t").checkpoint(true), SaveOptions::expect(0))
        .unwrap();
    assert_eq!(first.version, 1, "expect(0) admits a new task");
    let before = snapshot_state(&c.snaps);

    let e = assert_code(
        c.snaps.save(auto("t"), SaveOptions::expect(0)),
        "VERSION_CONFLICT",
    );
    assert!(!e.message().is_empty());
    assert_eq!(
        snapshot_state(&c.snaps),
        before,
        "a failed save changes nothing"
    );

    let second = c.snaps.save(auto("t"), SaveOptions::expect(1)).unwrap();
    assert_eq!(second.version, 2);
    let before = snapshot_state(&c.snaps);
    // A stale writer.
    assert_code(
        c.snaps
            .save(snap("t", 3, json!({"stale": true})), SaveOptions::expect(1)),
        "VERSION_CONFLICT",
    );
    // An explicit version that would overwrite is still refused on a stale expectation.
    assert_code(
        c.snaps
            .save(snap("t", 2, json!({"stale": true})), SaveOptions::expect(1)),
        "VERSION_CONFLICT",
    );
    // Expecting a version ahead of the latest.
    assert_code(
        c.snaps.save(auto("t"), SaveOptions::expect(3)),
        "VERSION_CONFLICT",
    );
    assert_eq!(snapshot_state(&c.snaps), before);

    // A task that does not exist cannot be at version n > 0.
    assert_code(
        c.snaps.save(auto("missing"), SaveOptions::expect(5)),
        "VERSION_CONFLICT",
    );
    assert_eq!(versions(&c.snaps, "missing"), Vec::<u64>::new());
    assert_eq!(snapshot_state(&c.snaps), before);

    // A matching expectation with an explicit version.
    let seven = c
        .snaps
        .save(snap("t", 7, json!({})), SaveOptions::expect(2))
        .unwrap();
    assert_eq!(seven.version, 7);
    let three = c
        .snaps
        .save(snap("t", 3, json!({})), SaveOptions::expect(7))
        .unwrap();
    assert_eq!(three.version, 3);
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2, 3, 7]);
    assert_eq!(get(&c.snaps, "t", None).unwrap().version, 7);
    // No options: no check.
    assert_eq!(save(&c.snaps, auto("t")).version, 8);
}

pub fn failed_save_changes_nothing(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t", 1, json!({"a": 1})));
    save(&c.snaps, snap("t", 2, json!({"a": 2})).checkpoint(true));
    let before = snapshot_state(&c.snaps);

    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let bad: Vec<(StateSnapshotInput, &str)> = vec![
        (StateSnapshotInput::new("", Map::new()), "INVALID_SNAPSHOT"),
        (snap("t", 0, json!({})), "INVALID_SNAPSHOT"),
        (
            snap("t", MAX_SAFE_INTEGER + 1, json!({})),
            "INVALID_SNAPSHOT",
        ),
        (snap("t", 2, json!({})).id(""), "INVALID_SNAPSHOT"),
        (
            snap("t", 2, json!({})).id("x".repeat(MAX_ID_BYTES + 1)),
            "INVALID_SNAPSHOT",
        ),
        (
            StateSnapshotInput::new("t".repeat(MAX_ID_BYTES + 1), Map::new()),
            "INVALID_SNAPSHOT",
        ),
        (snap("t", 2, json!({ "deep": deep })), "TOO_LARGE"),
    ];
    for (input, code) in bad {
        assert_code(c.snaps.save(input, SaveOptions::default()), code);
        assert_eq!(snapshot_state(&c.snaps), before);
    }
    // Too large: the data alone is over the limit.
    let big = snap("t", 2, json!({ "blob": "x".repeat(MAX_DATA_BYTES) }));
    assert_code(c.snaps.save(big, SaveOptions::default()), "TOO_LARGE");
    assert_eq!(snapshot_state(&c.snaps), before);
    // Auto-increment cannot pass 2^53 - 1.
    save(&c.snaps, snap("max", MAX_SAFE_INTEGER, json!({})));
    let before = snapshot_state(&c.snaps);
    assert_code(
        c.snaps.save(auto("max"), SaveOptions::default()),
        "INVALID_SNAPSHOT",
    );
    assert_eq!(snapshot_state(&c.snaps), before);
    // The store is still usable.
    assert_eq!(save(&c.snaps, auto("t")).version, 3);
    assert_eq!(versions(&c.snaps, "t"), vec![1, 2, 3]);
}

pub fn get_by_id_finds_highest_version(f: &impl Factory) {
    let c = setup(f);
    save(&c.snaps, snap("t1", 1, json!({"n": 1})).id("snap_a"));
    save(&c.snaps, snap("t1", 2, json!({"n": 2})).id("snap_b"));
    save(&c.snaps, snap("t1", 3, json!({"n": 3})).id("snap_a"));
    save(&c.snaps, snap("t2", 1, json!({"n": 4})).id("snap_a"));
    let by_id = |task: &str, id: &str| c.snaps.get_by_id(task, id).unwrap().map(|s| s.version);
    assert_eq!(
        by_id("t1", "snap_a"),
        Some(3),
        "highest version sharing the id"
    );
    assert_eq!(by_id("t1", "snap_b"), Some(2));
    assert_eq!(by_id("t2", "snap_a"), Some(1));
    assert_eq!(by_id("t2", "snap_b"), None, "other task's id");
    assert_eq!(by_id("t3", "snap_a"), None, "unknown task");
    assert_eq!(by_id("t1", "snap_zzz"), None, "unknown id");
    let full = c.snaps.get_by_id("t2", "snap_a").unwrap().unwrap();
    assert_eq!(
        (full.task_id.as_str(), full.data),
        ("t2", obj(json!({"n": 4})))
    );
    assert!(c.snaps.delete("t1", Some(3)).unwrap());
    assert_eq!(by_id("t1", "snap_a"), Some(1));
}

pub fn list_tasks_summaries(f: &impl Factory) {
    let c = setup(f);
    assert_eq!(c.snaps.list_tasks().unwrap(), vec![]);
    let at = |d: &str| ts(&format!("2025-02-0{d}T00:00:00Z"));
    save(
        &c.snaps,
        snap("b", 1, json!({})).checkpoint(true).created_at(at("1")),
    );
    save(&c.snaps, snap("b", 2, json!({})).created_at(at("2")));
    // The highest version of "a" is older than its other version: latest_created_at is the
    // highest version's created_at.
    save(
        &c.snaps,
        snap("a", 3, json!({})).checkpoint(true).created_at(at("3")),
    );
    save(
        &c.snaps,
        snap("a", 1, json!({})).checkpoint(true).created_at(at("5")),
    );
    save(&c.snaps, snap("B", 1, json!({})).created_at(at("4")));
    save(&c.snaps, snap("a2", 7, json!({})).created_at(at("6")));
    let expected = vec![
        TaskSummary {
            task_id: "B".into(),
            versions: 1,
            latest_version: 1,
            latest_created_at: at("4"),
            checkpoints: 0,
        },
        TaskSummary {
            task_id: "a".into(),
            versions: 2,
            latest_version: 3,
            latest_created_at: at("3"),
            checkpoints: 2,
        },
        TaskSummary {
            task_id: "a2".into(),
            versions: 1,
            latest_version: 7,
            latest_created_at: at("6"),
            checkpoints: 0,
        },
        TaskSummary {
            task_id: "b".into(),
            versions: 2,
            latest_version: 2,
            latest_created_at: at("2"),
            checkpoints: 1,
        },
    ];
    assert_eq!(c.snaps.list_tasks().unwrap(), expected);
    assert_eq!(
        serde_json::to_value(&expected[1]).unwrap(),
        json!({"task_id": "a", "versions": 2, "latest_version": 3,
               "latest_created_at": "2025-02-03T00:00:00+00:00", "checkpoints": 2})
    );
    assert!(c.snaps.delete("a2", None).unwrap());
    assert!(c.snaps.delete("a", Some(3)).unwrap());
    let after = c.snaps.list_tasks().unwrap();
    let names: Vec<&str> = after.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(names, ["B", "a", "b"]);
    assert_eq!(
        (
            after[1].versions,
            after[1].latest_version,
            after[1].latest_created_at,
            after[1].checkpoints
        ),
        (1, 1, at("5"), 1)
    );
}

/// Task "p" with versions 1..=5 created on 2025-02-01..05; version 2 is a checkpoint.
fn prune_fixture<F: Factory>(f: &F) -> Ctx<F> {
    let c = setup(f);
    for v in 1..=5u64 {
        save(
            &c.snaps,
            snap("p", v, json!({"v": v}))
                .checkpoint(v == 2)
                .created_at(ts(&format!("2025-02-0{v}T00:00:00Z"))),
        );
    }
    save(
        &c.snaps,
        snap("other", 1, json!({})).created_at(ts("2000-01-01T00:00:00Z")),
    );
    c
}

fn prune_ok<S: SnapshotStore>(
    store: &S,
    keep_last: Option<u64>,
    older_than: Option<&str>,
    keep_checkpoints: bool,
) -> u64 {
    store
        .prune(
            "p",
            PrunePolicy {
                keep_last,
                older_than: older_than.map(ts),
                keep_checkpoints,
            },
        )
        .unwrap()
}

pub fn prune_keep_last(f: &impl Factory) {
    let c = prune_fixture(f);
    assert_eq!(prune_ok(&c.snaps, Some(2), None, false), 3);
    assert_eq!(versions(&c.snaps, "p"), vec![4, 5]);
    assert_eq!(get(&c.snaps, "p", None).unwrap().data, obj(json!({"v": 5})));
    assert_eq!(
        prune_ok(&c.snaps, Some(2), None, false),
        0,
        "nothing more to prune"
    );
    assert_eq!(
        versions(&c.snaps, "other"),
        vec![1],
        "other tasks untouched"
    );
    // keep_last larger than the count deletes nothing.
    let c = prune_fixture(f);
    assert_eq!(prune_ok(&c.snaps, Some(10), None, false), 0);
    assert_eq!(versions(&c.snaps, "p"), vec![1, 2, 3, 4, 5]);
    // Combined with older_than: deleted only if outside keep_last AND older.
    let c = prune_fixture(f);
    assert_eq!(
        prune_ok(&c.snaps, Some(2), Some("2025-02-02T12:00:00Z"), false),
        2
    );
    assert_eq!(versions(&c.snaps, "p"), vec![3, 4, 5]);
    // Auto-increment continues from the latest.
    assert_eq!(save(&c.snaps, auto("p")).version, 6);
}

pub fn prune_older_than(f: &impl Factory) {
    let c = prune_fixture(f);
    // Strictly older: version 3 (created exactly at the limit) stays.
    assert_eq!(
        prune_ok(&c.snaps, None, Some("2025-02-03T00:00:00Z"), false),
        2
    );
    assert_eq!(versions(&c.snaps, "p"), vec![3, 4, 5]);
    // The limit may be given in any offset.
    let c = prune_fixture(f);
    assert_eq!(
        prune_ok(&c.snaps, None, Some("2025-02-02T21:00:00-03:00"), false),
        2
    );
    assert_eq!(versions(&c.snaps, "p"), vec![3, 4, 5]);
    let c = prune_fixture(f);
    assert_eq!(
        prune_ok(&c.snaps, None, Some("2000-01-01T00:00:00Z"), false),
        0
    );
    assert_eq!(versions(&c.snaps, "p"), vec![1, 2, 3, 4, 5]);
}

pub fn prune_keep_checkpoints(f: &impl Factory) {
    let c = prune_fixture(f);
    assert_eq!(prune_ok(&c.snaps, Some(1), None, true), 3);
    assert_eq!(versions(&c.snaps, "p"), vec![2, 5]);
    assert!(get(&c.snaps, "p", Some(2)).unwrap().checkpoint);
    let c = prune_fixture(f);
    assert_eq!(
        prune_ok(&c.snaps, Some(1), None, false),
        4,
        "checkpoints go without the flag"
    );
    assert_eq!(versions(&c.snaps, "p"), vec![5]);
}

pub fn prune_never_deletes_latest(f: &impl Factory) {
    let c = prune_fixture(f);
    assert_eq!(
        prune_ok(&c.snaps, None, Some("2030-01-01T00:00:00Z"), false),
        4
    );
    assert_eq!(versions(&c.snaps, "p"), vec![5]);
    let c = prune_fixture(f);
    assert_eq!(prune_ok(&c.snaps, Some(0), None, false), 4);
    assert_eq!(versions(&c.snaps, "p"), vec![5]);
    assert_eq!(
        prune_ok(&c.snaps, Some(0), Some("2030-01-01T00:00:00Z"), false),
        0
    );
    assert_eq!(versions(&c.snaps, "p"), vec![5]);
    // A single-version task.
    assert_eq!(
        c.snaps
            .prune(
                "other",
                PrunePolicy {
                    keep_last: Some(0),
                    older_than: None,
                    keep_checkpoints: false
                }
            )
            .unwrap(),
        0
    );
    assert_eq!(versions(&c.snaps, "other"), vec![1]);
    // An unknown task prunes nothing.
    assert_eq!(
        c.snaps
            .prune(
                "missing",
                PrunePolicy {
                    keep_last: Some(0),
                    older_than: None,
                    keep_checkpoints: false
                }
            )
            .unwrap(),
        0
    );
}

pub fn prune_rejects_empty_policy(f: &impl Factory) {
    let c = prune_fixture(f);
    let before = snapshot_state(&c.snaps);
    for policy in [
        PrunePolicy::default(),
        PrunePolicy {
            keep_checkpoints: true,
            ..PrunePolicy::default()
        },
    ] {
        assert_code(c.snaps.prune("p", policy), "INVALID_ARGUMENT");
        assert_code(c.snaps.prune("missing", policy), "INVALID_ARGUMENT");
    }
    assert_code(
        c.snaps.prune(
            "p",
            PrunePolicy {
                keep_last: Some(MAX_SAFE_INTEGER + 1),
                older_than: None,
                keep_checkpoints: false,
            },
        ),
        "INVALID_ARGUMENT",
    );
    assert_eq!(snapshot_state(&c.snaps), before);
    assert_code(PrunePolicy::from_json(Some(&json!({}))), "INVALID_ARGUMENT");
    assert_code(PrunePolicy::from_json(None), "INVALID_ARGUMENT");
    assert_code(
        PrunePolicy::from_json(Some(&json!({"keepLast": -1}))),
        "INVALID_ARGUMENT",
    );
    assert_code(
        PrunePolicy::from_json(Some(&json!({"keepLast": 1, "bogus": 1}))),
        "INVALID_ARGUMENT",
    );
    assert_code(
        PrunePolicy::from_json(Some(&json!({"olderThan": "2025-02-01T00:00:00"}))),
        "INVALID_TIMESTAMP",
    );
    let parsed = PrunePolicy::from_json(Some(&json!({
        "keepLast": 2, "olderThan": "2025-02-03T00:00:00Z", "keepCheckpoints": true
    })))
    .unwrap();
    assert_eq!(
        parsed,
        PrunePolicy {
            keep_last: Some(2),
            older_than: Some(ts("2025-02-03T00:00:00Z")),
            keep_checkpoints: true
        }
    );
}

pub fn returned_snapshots_are_copies(f: &impl Factory) {
    let c = setup(f);
    let mut saved = save(
        &c.snaps,
        snap("t", 1, json!({"list": [1], "nested": {"k": "v"}})),
    );
    saved.data.insert("added".into(), json!(true));
    saved.version = 99;
    let mut got = get(&c.snaps, "t", None).unwrap();
    assert_eq!(got.data, obj(json!({"list": [1], "nested": {"k": "v"}})));
    if let Some(Value::Array(list)) = got.data.get_mut("list") {
        list.push(json!(2));
    }
    if let Some(Value::Object(nested)) = got.data.get_mut("nested") {
        nested.insert("k".into(), json!("changed"));
    }
    got.checkpoint = true;
    let mut by_id = c.snaps.get_by_id("t", &got.id).unwrap().unwrap();
    by_id.data.clear();
    let again = get(&c.snaps, "t", Some(1)).unwrap();
    assert_eq!(again.data, obj(json!({"list": [1], "nested": {"k": "v"}})));
    assert!(!again.checkpoint);
    assert_eq!(versions(&c.snaps, "t"), vec![1]);
}

// ---------------------------------------------------------------------------------------------
// CONTRACT §3: metering beyond the reference
// ---------------------------------------------------------------------------------------------

pub fn record_is_idempotent_by_id(f: &impl Factory) {
    let c = setup(f);
    let first = record(&c.meter, sample_event().id("evt_fixed"));
    assert_eq!(first.id, "evt_fixed");
    // A retry with the same id — even with different content — stores nothing.
    let retry = record(
        &c.meter,
        UsageEventInput::new("task_02", "agent_02", "consumer_02")
            .metrics(metrics(1, 1, 1, 1))
            .timestamp(ts("2025-03-01T00:00:00Z"))
            .id("evt_fixed"),
    );
    assert_eq!(retry, first, "the stored event is returned");
    let exact_retry = record(&c.meter, sample_event().id("evt_fixed"));
    assert_eq!(exact_retry, first);
    let agg = aggregate(&c.meter, "agent_01", "all");
    assert_eq!(
        (agg.total_tasks, agg.total_tokens, agg.total_api_calls),
        (1, 30, 1)
    );
    assert_eq!(aggregate(&c.meter, "agent_02", "all").total_tasks, 0);
    assert_eq!(query_all(&c.meter, "agent_01"), vec![first.clone()]);
    assert_eq!(c.meter.agents().unwrap(), vec!["agent_01".to_owned()]);
    // A different id is a different event.
    let second = record(&c.meter, sample_event().id("evt_other"));
    assert_eq!(query_all(&c.meter, "agent_01"), vec![first, second]);
}

pub fn record_defaults_come_from_the_runtime(f: &impl Factory) {
    let c = setup(f);
    c.clock.set(ts("2025-02-08T12:34:56.000789Z"));
    let a = record(&c.meter, UsageEventInput::new("t", "agent", "consumer"));
    let b = record(&c.meter, UsageEventInput::new("t", "agent", "consumer"));
    assert!(a.id.starts_with("evt_"), "{}", a.id);
    assert!(a.id.len() > "evt_".len());
    assert_ne!(a.id, b.id, "generated ids are distinct, so both are stored");
    assert_eq!(a.metrics, UsageMetrics::default());
    assert_eq!(a.timestamp.to_string(), "2025-02-08T12:34:56.000789+00:00");
    assert_eq!(query_all(&c.meter, "agent"), vec![a, b]);
}

pub fn failed_record_changes_nothing(f: &impl Factory) {
    let c = setup(f);
    record(&c.meter, sample_event().id("evt_ok"));
    let before = metering_state(&c.meter);
    let bad = [
        UsageEventInput::new("", "agent_01", "c"),
        UsageEventInput::new("t", "", "c"),
        UsageEventInput::new("t", "agent_01", ""),
        sample_event().id(""),
        sample_event().id("x".repeat(MAX_ID_BYTES + 1)),
        sample_event().metrics(metrics(MAX_SAFE_INTEGER + 1, 0, 0, 0)),
        sample_event().metrics(metrics(0, 0, 0, u64::MAX)),
    ];
    for input in bad {
        assert_code(c.meter.record(input), "INVALID_EVENT");
        assert_eq!(metering_state(&c.meter), before);
    }
    // Still usable.
    record(&c.meter, sample_event().id("evt_ok2"));
    assert_eq!(aggregate(&c.meter, "agent_01", "all").total_tasks, 2);
}

pub fn returned_events_are_copies(f: &impl Factory) {
    let c = setup(f);
    let mut stored = record(&c.meter, sample_event().id("evt_1"));
    stored.metrics.tokens_in = 1_000_000;
    stored.agent_id = "hijacked".into();
    let mut got = query_all(&c.meter, "agent_01");
    got[0].metrics.api_calls = 77;
    assert_eq!(
        query_all(&c.meter, "agent_01")[0].metrics,
        metrics(10, 20, 100, 1)
    );
    assert_eq!(c.meter.agents().unwrap(), vec!["agent_01".to_owned()]);
}

fn series<M: MeteringStore>(
    meter: &M,
    agent: &str,
    bucket: BucketSize,
    start: &str,
    end: &str,
) -> Vec<UsageBucket> {
    meter
        .series(
            agent,
            SeriesOptions {
                bucket,
                start: ts(start),
                end: ts(end),
            },
        )
        .unwrap()
}

fn bucket(start: &str, tokens: u64, duration: u64, tasks: u64, api_calls: u64) -> UsageBucket {
    UsageBucket {
        start: ts(start),
        total_tokens: tokens,
        total_duration: duration,
        total_tasks: tasks,
        total_api_calls: api_calls,
    }
}

pub fn series_hour_buckets(f: &impl Factory) {
    let c = setup(f);
    let hours = |agent, start, end| series(&c.meter, agent, BucketSize::Hour, start, end);
    let rec = |agent: &str, at: &str, m: UsageMetrics| record(&c.meter, event(agent, at, m));
    rec("a", "2025-02-08T12:30:00Z", metrics(100, 0, 0, 2)); // recorded out of order
    rec("a", "2025-02-08T09:59:59.999999Z", metrics(1000, 0, 0, 0)); // before start
    rec("a", "2025-02-08T10:00:00Z", metrics(1, 2, 3, 1)); // at start: included
    rec("a", "2025-02-08T10:59:59Z", metrics(10, 0, 5, 1));
    rec("a", "2025-02-08T12:59:59.999999Z", metrics(0, 7, 0, 0));
    rec("a", "2025-02-08T13:00:00Z", metrics(5000, 0, 0, 0)); // at end: excluded
    rec("b", "2025-02-08T11:30:00Z", metrics(7, 7, 7, 7)); // other agent
    let got = hours("a", "2025-02-08T10:00:00Z", "2025-02-08T13:00:00Z");
    assert_eq!(
        got,
        vec![
            bucket("2025-02-08T10:00:00Z", 13, 8, 2, 2),
            bucket("2025-02-08T12:00:00Z", 107, 0, 2, 2),
        ],
        "[start, end), only buckets holding events, ascending"
    );
    assert_eq!(got[0].start.to_string(), "2025-02-08T10:00:00+00:00");
    assert_eq!(
        serde_json::to_value(&got[1]).unwrap(),
        json!({"start": "2025-02-08T12:00:00+00:00", "total_tokens": 107, "total_duration": 0,
               "total_tasks": 2, "total_api_calls": 2})
    );
    // The bucket is the UTC hour holding the events, even when start is inside it.
    assert_eq!(
        hours("a", "2025-02-08T10:30:00Z", "2025-02-08T12:45:00Z"),
        vec![
            bucket("2025-02-08T10:00:00Z", 10, 5, 1, 1),
            bucket("2025-02-08T12:00:00Z", 100, 0, 1, 2),
        ]
    );
    assert_eq!(
        hours("b", "2025-02-08T00:00:00Z", "2025-02-09T00:00:00Z"),
        vec![bucket("2025-02-08T11:00:00Z", 14, 7, 1, 7)]
    );
    assert_eq!(
        hours("nobody", "2025-02-08T00:00:00Z", "2025-02-09T00:00:00Z"),
        vec![]
    );
    assert_eq!(
        hours("a", "2025-02-08T10:00:00Z", "2025-02-08T10:00:00Z"),
        vec![],
        "an empty window"
    );
}

pub fn series_day_buckets_in_utc(f: &impl Factory) {
    let c = setup(f);
    let hours = |agent, start, end| series(&c.meter, agent, BucketSize::Hour, start, end);
    let days = |agent, start, end| series(&c.meter, agent, BucketSize::Day, start, end);
    let rec = |at: &str, n: u64| record(&c.meter, event("a", at, metrics(n, 0, n, 1)));
    rec("2025-02-07T23:59:59Z", 1);
    rec("2025-02-08T00:00:00Z", 2);
    rec("2025-02-08T22:00:00-03:00", 4); // = 2025-02-09T01:00Z: the UTC day decides
    rec("2025-02-08T23:00:00+00:00", 8);
    rec("2025-02-10T05:00:00Z", 16); // after end
    rec("2025-02-06T23:59:59.999999Z", 32); // before start
    assert_eq!(
        days("a", "2025-02-07T00:00:00Z", "2025-02-10T00:00:00Z"),
        vec![
            bucket("2025-02-07T00:00:00Z", 1, 1, 1, 1),
            bucket("2025-02-08T00:00:00Z", 10, 10, 2, 2),
            bucket("2025-02-09T00:00:00Z", 4, 4, 1, 1),
        ]
    );
    // Hour buckets over the same events.
    assert_eq!(
        hours("a", "2025-02-08T00:00:00Z", "2025-02-09T02:00:00Z"),
        vec![
            bucket("2025-02-08T00:00:00Z", 2, 2, 1, 1),
            bucket("2025-02-08T23:00:00Z", 8, 8, 1, 1),
            bucket("2025-02-09T01:00:00Z", 4, 4, 1, 1),
        ]
    );
}

pub fn agents_sorted(f: &impl Factory) {
    let c = setup(f);
    assert_eq!(c.meter.agents().unwrap(), Vec::<String>::new());
    for agent in ["zeta", "alpha", "Beta", "alpha", "alpha2", "ä"] {
        record(&c.meter, event(agent, T0, metrics(1, 0, 0, 0)));
    }
    assert_eq!(
        c.meter.agents().unwrap(),
        ["Beta", "alpha", "alpha2", "zeta", "ä"]
    );
}

/// Three events: evt_1 (agent_b, 11:00, recorded second), evt_2 (agent_a, 12:00:00.5, with
/// CSV-hostile task and consumer ids, recorded first), evt_3 (agent_a, 13:00, newline in task).
fn export_fixture<M: MeteringStore>(meter: &M) {
    record(
        meter,
        UsageEventInput::new("t,1", "agent_a", "say \"hi\"")
            .metrics(metrics(1, 2, 3, 4))
            .timestamp(ts("2025-02-08T12:00:00.5Z"))
            .id("evt_2"),
    );
    record(
        meter,
        UsageEventInput::new("t2", "agent_b", "c")
            .timestamp(ts("2025-02-08T13:00:00+02:00"))
            .id("evt_1"),
    );
    record(
        meter,
        UsageEventInput::new("line\nbreak", "agent_a", "c")
            .metrics(metrics(5, 6, 7, 8))
            .timestamp(ts("2025-02-08T13:00:00Z"))
            .id("evt_3"),
    );
}

fn export_json_value<M: MeteringStore>(meter: &M, filter: &ExportFilter) -> Value {
    serde_json::from_str(&meter.export(ExportFormat::Json, filter).unwrap()).unwrap()
}

pub fn export_json(f: &impl Factory) {
    let c = setup(f);
    export_fixture(&c.meter);
    let e1 = json!({"id": "evt_1", "task_id": "t2", "agent_id": "agent_b", "consumer_id": "c",
        "metrics": {"tokens_in": 0, "tokens_out": 0, "duration_ms": 0, "api_calls": 0},
        "timestamp": "2025-02-08T11:00:00+00:00"});
    let e2 = json!({"id": "evt_2", "task_id": "t,1", "agent_id": "agent_a", "consumer_id": "say \"hi\"",
        "metrics": {"tokens_in": 1, "tokens_out": 2, "duration_ms": 3, "api_calls": 4},
        "timestamp": "2025-02-08T12:00:00.500000+00:00"});
    let e3 = json!({"id": "evt_3", "task_id": "line\nbreak", "agent_id": "agent_a", "consumer_id": "c",
        "metrics": {"tokens_in": 5, "tokens_out": 6, "duration_ms": 7, "api_calls": 8},
        "timestamp": "2025-02-08T13:00:00+00:00"});
    assert_eq!(
        export_json_value(&c.meter, &ExportFilter::default()),
        json!([e1.clone(), e2.clone(), e3.clone()]),
        "every event, ascending by time across agents"
    );
    // The exported objects are exactly the returned events' JSON.
    assert_eq!(
        serde_json::to_value(query_all(&c.meter, "agent_a")).unwrap(),
        json!([e2.clone(), e3.clone()])
    );
    let agent_a = ExportFilter {
        agent_id: Some("agent_a".into()),
        window: Window::default(),
    };
    assert_eq!(
        export_json_value(&c.meter, &agent_a),
        json!([e2.clone(), e3.clone()])
    );
    let window = ExportFilter {
        agent_id: None,
        window: Window {
            start: Some(ts("2025-02-08T12:00:00.5Z")),
            end: Some(ts("2025-02-08T13:00:00Z")),
        },
    };
    assert_eq!(
        export_json_value(&c.meter, &window),
        json!([e2.clone(), e3]),
        "inclusive window"
    );
    let both = ExportFilter {
        agent_id: Some("agent_a".into()),
        window: Window {
            start: None,
            end: Some(ts("2025-02-08T12:59:59Z")),
        },
    };
    assert_eq!(export_json_value(&c.meter, &both), json!([e2]));
    let nobody = ExportFilter {
        agent_id: Some("nobody".into()),
        window: Window::default(),
    };
    assert_eq!(export_json_value(&c.meter, &nobody), json!([]));
    let parsed = ExportFilter::from_json(Some(
        &json!({"agentId": "agent_a", "start": "2025-02-08T12:30:00Z"}),
    ))
    .unwrap();
    assert_eq!(
        export_json_value(&c.meter, &parsed)
            .as_array()
            .map(|a| a.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("evt_3")])
    );
}

pub fn export_csv(f: &impl Factory) {
    let c = setup(f);
    export_fixture(&c.meter);
    let header =
        "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp";
    assert_eq!(CSV_HEADER.join(","), header);
    let csv = c
        .meter
        .export(ExportFormat::Csv, &ExportFilter::default())
        .unwrap();
    let expected = format!(
        "{header}\r\n\
         evt_1,t2,agent_b,c,0,0,0,0,2025-02-08T11:00:00+00:00\r\n\
         evt_2,\"t,1\",agent_a,\"say \"\"hi\"\"\",1,2,3,4,2025-02-08T12:00:00.500000+00:00\r\n\
         evt_3,\"line\nbreak\",agent_a,c,5,6,7,8,2025-02-08T13:00:00+00:00\r\n"
    );
    assert_eq!(csv, expected);
    let only_b = c
        .meter
        .export(
            ExportFormat::Csv,
            &ExportFilter {
                agent_id: Some("agent_b".into()),
                window: Window::default(),
            },
        )
        .unwrap();
    assert_eq!(
        only_b,
        format!("{header}\r\nevt_1,t2,agent_b,c,0,0,0,0,2025-02-08T11:00:00+00:00\r\n")
    );
}

pub fn export_empty_store(f: &impl Factory) {
    let c = setup(f);
    let header =
        "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp";
    assert_eq!(
        c.meter
            .export(ExportFormat::Csv, &ExportFilter::default())
            .unwrap(),
        format!("{header}\r\n")
    );
    assert_eq!(
        export_json_value(&c.meter, &ExportFilter::default()),
        json!([])
    );
}

// ---------------------------------------------------------------------------------------------
// CONTRACT §2, §4, §5: validation and timestamps
// ---------------------------------------------------------------------------------------------

pub fn snapshot_from_json_accepts_valid_input(f: &impl Factory) {
    let c = setup(f);
    let input = StateSnapshotInput::from_json(&json!({
        "id": "s1", "task_id": "t1", "version": 3, "data": {"v": [1, {"x": null}], "f": 0.1},
        "checkpoint": true, "created_at": "2025-02-08T14:00:00.123456+02:00"
    }))
    .unwrap();
    assert_eq!(input.id.as_deref(), Some("s1"));
    assert_eq!(input.task_id, "t1");
    assert_eq!(input.version, Some(3));
    assert!(input.checkpoint);
    assert_eq!(input.created_at, Some(ts("2025-02-08T12:00:00.123456Z")));
    let saved = save(&c.snaps, input);
    assert_eq!(
        serde_json::to_value(&saved).unwrap(),
        json!({"id": "s1", "task_id": "t1", "version": 3, "data": {"v": [1, {"x": null}], "f": 0.1},
               "checkpoint": true, "created_at": "2025-02-08T12:00:00.123456+00:00"})
    );
    // Minimal input: everything else defaulted by the store.
    let minimal = StateSnapshotInput::from_json(&json!({"task_id": "t2", "data": {}})).unwrap();
    assert_eq!(minimal, StateSnapshotInput::new("t2", Map::new()));
    let saved = save(&c.snaps, minimal);
    assert_eq!(
        (saved.version, saved.checkpoint, saved.created_at),
        (1, false, ts(T0))
    );
    // Epoch milliseconds and the largest safe version are accepted.
    let ms = StateSnapshotInput::from_json(&json!({
        "task_id": "t3", "data": {}, "created_at": 1_739_016_000_000i64, "version": MAX_SAFE_INTEGER
    }))
    .unwrap();
    assert_eq!(
        ms.created_at.map(|t| t.to_string()).as_deref(),
        Some("2025-02-08T12:00:00+00:00")
    );
    assert_eq!(ms.version, Some(MAX_SAFE_INTEGER));
}

/// `base` (an object) with `key` set to `value`.
fn with_field(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    v.as_object_mut().unwrap().insert(key.to_owned(), value);
    v
}

/// Every input must be refused by `parse` with its code, in a message naming what it names.
fn assert_rejected<T: std::fmt::Debug>(
    parse: impl Fn(&Value) -> Result<T, StateError>,
    cases: Vec<(Value, &str, &str)>,
) {
    for (input, code, mention) in cases {
        let err = match parse(&input) {
            Ok(parsed) => panic!("{input} was accepted as {parsed:?}"),
            Err(e) => e,
        };
        assert_eq!(err.code(), code, "{input}: {err}");
        assert!(
            err.message().contains(mention),
            "{input}: message {err:?} should name {mention}"
        );
    }
}

pub fn snapshot_from_json_rejections(_f: &impl Factory) {
    let base = json!({"task_id": "t", "data": {}});
    let with = |key: &str, value: Value| with_field(&base, key, value);
    // A field set to each bad value: refused with the code, naming the field.
    let bad_fields = [
        ("extra", "INVALID_SNAPSHOT", vec![json!(1)]),
        ("taskId", "INVALID_SNAPSHOT", vec![json!("t")]),
        (
            "version",
            "INVALID_SNAPSHOT",
            vec![
                json!(0),
                json!(-1),
                json!(1.5),
                json!("2"),
                json!(1u64 << 60),
                json!(MAX_SAFE_INTEGER + 1),
                json!(true),
            ],
        ),
        (
            "data",
            "INVALID_SNAPSHOT",
            vec![json!([1]), json!("x"), json!(1), Value::Null],
        ),
        ("task_id", "INVALID_SNAPSHOT", vec![json!(""), json!(1)]),
        ("id", "INVALID_SNAPSHOT", vec![json!(""), json!(7)]),
        ("checkpoint", "INVALID_SNAPSHOT", vec![json!("true")]),
        (
            "created_at",
            "INVALID_TIMESTAMP",
            vec![
                json!("2025-02-08T12:00:00"),
                json!("2025-02-08 12:00:00.25"),
                json!("yesterday"),
                json!("2025-02-30T00:00:00Z"),
                json!(1.5),
                json!(true),
            ],
        ),
    ];
    let mut cases: Vec<(Value, &str, &str)> = Vec::new();
    for (key, code, values) in bad_fields {
        cases.extend(values.into_iter().map(|v| (with(key, v), code, key)));
    }
    cases.extend([
        (json!({"task_id": "t"}), "INVALID_SNAPSHOT", "data"),
        (json!({"data": {}}), "INVALID_SNAPSHOT", "task_id"),
        (json!([]), "INVALID_SNAPSHOT", "snapshot"),
        (json!("t"), "INVALID_SNAPSHOT", "snapshot"),
        (Value::Null, "INVALID_SNAPSHOT", "snapshot"),
    ]);
    assert_rejected(StateSnapshotInput::from_json, cases);
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    assert_code(
        StateSnapshotInput::from_json(&with("data", json!({ "d": deep }))),
        "TOO_LARGE",
    );
}

pub fn snapshot_validate_rejections(_f: &impl Factory) {
    let ok = StateSnapshotInput::new("t", obj(json!({"k": "v"})));
    assert!(ok.validate().is_ok());
    assert!(ok.clone().version(MAX_SAFE_INTEGER).validate().is_ok());
    let mut deep_ok = json!(1);
    for _ in 0..10 {
        deep_ok = json!({ "n": deep_ok });
    }
    assert!(StateSnapshotInput::new("t", obj(json!({ "d": deep_ok })))
        .validate()
        .is_ok());
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!({ "n": deep });
    }
    let cases: Vec<(StateSnapshotInput, &str)> = vec![
        (ok.clone().version(0), "INVALID_SNAPSHOT"),
        (ok.clone().version(MAX_SAFE_INTEGER + 1), "INVALID_SNAPSHOT"),
        (ok.clone().version(1 << 60), "INVALID_SNAPSHOT"),
        (StateSnapshotInput::new("", Map::new()), "INVALID_SNAPSHOT"),
        (ok.clone().id(""), "INVALID_SNAPSHOT"),
        (
            ok.clone().id("i".repeat(MAX_ID_BYTES + 1)),
            "INVALID_SNAPSHOT",
        ),
        (
            StateSnapshotInput::new("t", obj(json!({ "d": deep }))),
            "TOO_LARGE",
        ),
        (
            StateSnapshotInput::new("t", obj(json!({ "blob": "x".repeat(MAX_DATA_BYTES) }))),
            "TOO_LARGE",
        ),
    ];
    for (input, code) in cases {
        assert_code(input.validate(), code);
    }
    // An id of exactly the limit is fine.
    assert!(ok.id("i".repeat(MAX_ID_BYTES)).validate().is_ok());
}

pub fn event_from_json_rejections(_f: &impl Factory) {
    let base = json!({"task_id": "t", "agent_id": "a", "consumer_id": "c"});
    let with = |key: &str, value: Value| with_field(&base, key, value);
    let parsed = UsageEventInput::from_json(&with("metrics", json!({"tokens_in": 3}))).unwrap();
    assert_eq!(parsed.metrics, metrics(3, 0, 0, 0));
    assert_eq!((parsed.id, parsed.timestamp), (None, None));
    let full = UsageEventInput::from_json(&json!({
        "id": "e1", "task_id": "t", "agent_id": "a", "consumer_id": "c",
        "metrics": {"tokens_in": 1, "tokens_out": 2, "duration_ms": 3, "api_calls": 4},
        "timestamp": "2025-02-08T13:00:00+01:00"
    }))
    .unwrap();
    assert_eq!(
        full,
        UsageEventInput::new("t", "a", "c")
            .id("e1")
            .metrics(metrics(1, 2, 3, 4))
            .timestamp(ts(T0))
    );
    let cases: Vec<(Value, &str, &str)> = vec![
        (with("extra", json!(1)), "INVALID_EVENT", "extra"),
        (
            with("metrics", json!({"tokens": 1})),
            "INVALID_EVENT",
            "tokens",
        ),
        (
            with("metrics", json!({"tokens_in": -1})),
            "INVALID_EVENT",
            "tokens_in",
        ),
        (
            with("metrics", json!({"tokens_out": 1.5})),
            "INVALID_EVENT",
            "tokens_out",
        ),
        (
            with("metrics", json!({"duration_ms": "2"})),
            "INVALID_EVENT",
            "duration_ms",
        ),
        (
            with("metrics", json!({"api_calls": MAX_SAFE_INTEGER + 1})),
            "INVALID_EVENT",
            "api_calls",
        ),
        (with("metrics", json!([1])), "INVALID_EVENT", "metrics"),
        (with("agent_id", json!("")), "INVALID_EVENT", "agent_id"),
        (
            with("consumer_id", json!(null)),
            "INVALID_EVENT",
            "consumer_id",
        ),
        (
            json!({"task_id": "t", "agent_id": "a"}),
            "INVALID_EVENT",
            "consumer_id",
        ),
        (with("id", json!("")), "INVALID_EVENT", "id"),
        (
            with("timestamp", json!("2025-02-08T12:00:00")),
            "INVALID_TIMESTAMP",
            "timestamp",
        ),
        (
            with("timestamp", json!("not a time")),
            "INVALID_TIMESTAMP",
            "timestamp",
        ),
        (json!([]), "INVALID_EVENT", "event"),
    ];
    assert_rejected(UsageEventInput::from_json, cases);
}

pub fn option_parsers(_f: &impl Factory) {
    // query: the reference's message for a negative offset.
    let e = assert_code(
        QueryOptions::from_json(Some(&json!({"offset": -1}))),
        "INVALID_ARGUMENT",
    );
    assert!(e.message().contains("offset must be non-negative"), "{e}");
    assert_eq!(
        QueryOptions::from_json(Some(&json!({"limit": 0, "offset": 3}))).unwrap(),
        QueryOptions {
            limit: Some(0),
            offset: 3
        }
    );
    assert_eq!(
        QueryOptions::from_json(None).unwrap(),
        QueryOptions::default()
    );
    for bad in [
        json!({"limit": -1}),
        json!({"limit": "2"}),
        json!({"limit": 1.5}),
        json!({"offset": 0.5}),
        json!({"page": 1}),
        json!([1]),
    ] {
        assert_code(QueryOptions::from_json(Some(&bad)), "INVALID_ARGUMENT");
    }
    // save: null and 0 both mean "must not exist".
    assert_eq!(
        SaveOptions::from_json(Some(&json!({"expectedVersion": null}))).unwrap(),
        SaveOptions::expect(0)
    );
    assert_eq!(
        SaveOptions::from_json(Some(&json!({"expectedVersion": 0}))).unwrap(),
        SaveOptions::expect(0)
    );
    assert_eq!(
        SaveOptions::from_json(Some(&json!({"expectedVersion": 4}))).unwrap(),
        SaveOptions::expect(4)
    );
    assert_eq!(
        SaveOptions::from_json(Some(&json!({}))).unwrap(),
        SaveOptions::default()
    );
    for bad in [
        json!({"expectedVersion": 1.5}),
        json!({"expectedVersion": "1"}),
        json!({"expected": 1}),
    ] {
        assert_code(SaveOptions::from_json(Some(&bad)), "INVALID_ARGUMENT");
    }
    // series.
    assert_eq!(
        SeriesOptions::from_json(Some(
            &json!({"bucket": "day", "start": T0, "end": "2025-02-09T12:00:00Z"})
        ))
        .unwrap(),
        SeriesOptions {
            bucket: BucketSize::Day,
            start: ts(T0),
            end: ts("2025-02-09T12:00:00Z")
        }
    );
    for bad in [
        json!({"bucket": "week", "start": T0, "end": T0}),
        json!({"start": T0, "end": T0}),
        json!({"bucket": "hour", "end": T0}),
        json!({"bucket": "hour", "start": T0}),
    ] {
        assert_code(SeriesOptions::from_json(Some(&bad)), "INVALID_ARGUMENT");
    }
    assert_code(
        SeriesOptions::from_json(Some(
            &json!({"bucket": "hour", "start": "2025-02-08T12:00:00", "end": T0}),
        )),
        "INVALID_TIMESTAMP",
    );
    // export.
    assert_eq!(
        ExportFormat::from_json(&json!("json")).unwrap(),
        ExportFormat::Json
    );
    assert_eq!(
        ExportFormat::from_json(&json!("csv")).unwrap(),
        ExportFormat::Csv
    );
    for bad in [json!("xml"), json!("CSV"), json!(null)] {
        assert_code(ExportFormat::from_json(&bad), "INVALID_ARGUMENT");
    }
    assert_code(
        ExportFilter::from_json(Some(&json!({"agent": "a"}))),
        "INVALID_ARGUMENT",
    );
    assert_code(
        Window::from_json(Some(&json!({"start": "nope"})), "window"),
        "INVALID_TIMESTAMP",
    );
}

pub fn timestamps_print_like_python_isoformat(f: &impl Factory) {
    let cases = [
        ("2025-02-08T12:00:00Z", "2025-02-08T12:00:00+00:00"),
        ("2025-02-08T12:00:00+00:00", "2025-02-08T12:00:00+00:00"),
        ("2025-02-08T12:00:00.000000Z", "2025-02-08T12:00:00+00:00"),
        ("2025-02-08T12:00:00.5Z", "2025-02-08T12:00:00.500000+00:00"),
        (
            "2025-02-08T12:00:00.000001Z",
            "2025-02-08T12:00:00.000001+00:00",
        ),
        (
            "2025-02-08T12:00:00.1234567Z",
            "2025-02-08T12:00:00.123456+00:00",
        ),
        ("2025-02-08T14:30:00+02:30", "2025-02-08T12:00:00+00:00"),
        ("2025-02-08T21:00:00-03:00", "2025-02-09T00:00:00+00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
    ];
    for (input, printed) in cases {
        assert_eq!(ts(input).to_string(), printed, "{input}");
    }
    assert_code(
        Timestamp::parse("2025-02-08T12:00:00", "created_at"),
        "INVALID_TIMESTAMP",
    );

    // The stores return them in this form, in the reference's field order.
    let c = setup(f);
    let s = save(
        &c.snaps,
        snap("t1", 1, json!({"v": 1}))
            .id("s1")
            .created_at(ts("2025-02-08T12:00:00Z")),
    );
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"id":"s1","task_id":"t1","version":1,"data":{"v":1},"checkpoint":false,"created_at":"2025-02-08T12:00:00+00:00"}"#
    );
    let s = save(
        &c.snaps,
        snap("t1", 2, json!({}))
            .id("s2")
            .created_at(ts("2025-02-08T13:00:00.25+01:00")),
    );
    assert_eq!(
        serde_json::to_value(get(&c.snaps, "t1", Some(2)).unwrap()).unwrap()["created_at"],
        json!("2025-02-08T12:00:00.250000+00:00")
    );
    assert_eq!(s.created_at.to_string(), "2025-02-08T12:00:00.250000+00:00");
    let e = record(&c.meter, sample_event().id("e1"));
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"id":"e1","task_id":"task_01","agent_id":"agent_01","consumer_id":"consumer_01","metrics":{"tokens_in":10,"tokens_out":20,"duration_ms":100,"api_calls":1},"timestamp":"2025-02-08T12:00:00+00:00"}"#
    );
    let summary = c.snaps.list_tasks().unwrap();
    assert_eq!(
        summary[0].latest_created_at.to_string(),
        "2025-02-08T12:00:00.250000+00:00"
    );
    // Text order is time order across offsets.
    let a = ts("2025-02-08T23:00:00-05:00");
    let b = ts("2025-02-09T03:00:00Z");
    assert!(a > b && a.to_string() > b.to_string());
    let set: BTreeSet<String> = [a, b].iter().map(|t| t.to_string()).collect();
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        vec![b.to_string(), a.to_string()]
    );
}
