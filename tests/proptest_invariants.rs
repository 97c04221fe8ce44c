//! Property tests of the store invariants on the in-memory backend: random operation sequences
//! checked against a plain `BTreeMap` model.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use std::collections::{BTreeMap, HashMap};

use asap_state::{
    BucketSize, ManualClock, MemoryMeteringStore, MemorySnapshotStore, MeteringStore, PrunePolicy,
    QueryOptions, Runtime, SaveOptions, SequentialIds, SeriesOptions, SnapshotStore,
    StateSnapshotInput, Timestamp, UsageEvent, UsageEventInput, UsageMetrics, Window,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// 2025-02-01T00:00:00Z in microseconds since the epoch.
const BASE_MICROS: i64 = 1_738_368_000_000_000;
const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

fn runtime() -> Runtime {
    let clock = ManualClock::new(Timestamp::from_micros(BASE_MICROS).unwrap());
    Runtime::new(clock, SequentialIds::new())
}

fn day(d: u8) -> Timestamp {
    Timestamp::from_micros(BASE_MICROS + i64::from(d) * DAY).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum SnapOp {
    Save {
        task: u8,
        version: Option<u64>,
        expected: Option<u64>,
        checkpoint: bool,
        created_day: u8,
    },
    Get {
        task: u8,
        version: Option<u64>,
    },
    Delete {
        task: u8,
        version: Option<u64>,
    },
    Prune {
        task: u8,
        keep_last: Option<u64>,
        older_than_day: Option<u8>,
        keep_checkpoints: bool,
    },
}

fn snap_op() -> impl Strategy<Value = SnapOp> {
    let task = 0u8..3;
    let version = proptest::option::weighted(0.6, 1u64..9);
    prop_oneof![
        4 => (
            task.clone(),
            version.clone(),
            proptest::option::weighted(0.3, 0u64..9),
            any::<bool>(),
            0u8..10,
        )
            .prop_map(|(task, version, expected, checkpoint, created_day)| SnapOp::Save {
                task,
                version,
                expected,
                checkpoint,
                created_day,
            }),
        2 => (task.clone(), version.clone())
            .prop_map(|(task, version)| SnapOp::Get { task, version }),
        2 => (task.clone(), proptest::option::weighted(0.7, 1u64..9))
            .prop_map(|(task, version)| SnapOp::Delete { task, version }),
        1 => (
            task,
            proptest::option::of(0u64..5),
            proptest::option::of(0u8..11),
            any::<bool>(),
        )
            .prop_map(|(task, keep_last, older_than_day, keep_checkpoints)| SnapOp::Prune {
                task,
                keep_last,
                older_than_day,
                keep_checkpoints,
            }),
    ]
}

/// What the model remembers of a stored version.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    id: String,
    checkpoint: bool,
    created_at: Timestamp,
    data: Map<String, Value>,
}

type Model = BTreeMap<String, BTreeMap<u64, Stored>>;

fn task_name(task: u8) -> String {
    format!("task_{task}")
}

/// Checks every observable of the store against the model.
fn check_snapshots(store: &MemorySnapshotStore, model: &Model) -> Result<(), TestCaseError> {
    for task in 0..3u8 {
        let name = task_name(task);
        let listed = store.list_versions(&name).unwrap();
        let expected: Vec<u64> = model
            .get(&name)
            .map(|v| v.keys().copied().collect())
            .unwrap_or_default();
        prop_assert!(
            listed.windows(2).all(|p| p[0] < p[1]),
            "ascending: {:?}",
            listed
        );
        prop_assert_eq!(&listed, &expected);
        let latest = store.get(&name, None).unwrap().map(|s| s.version);
        prop_assert_eq!(
            latest,
            expected.iter().max().copied(),
            "get(None) is the max"
        );
        for (&v, stored) in model.get(&name).into_iter().flatten() {
            let got = store.get(&name, Some(v)).unwrap();
            prop_assert!(got.is_some(), "version {} of {} missing", v, name);
            let got = got.unwrap();
            prop_assert_eq!(got.version, v);
            prop_assert_eq!(&got.id, &stored.id);
            prop_assert_eq!(got.checkpoint, stored.checkpoint);
            prop_assert_eq!(got.created_at, stored.created_at);
            prop_assert_eq!(&got.data, &stored.data);
        }
    }
    let summaries = store.list_tasks().unwrap();
    let names: Vec<&str> = summaries.iter().map(|s| s.task_id.as_str()).collect();
    let model_names: Vec<&str> = model.keys().map(String::as_str).collect();
    prop_assert_eq!(names, model_names, "list_tasks ordered by task id");
    for summary in &summaries {
        let versions = &model[&summary.task_id];
        let (&latest, latest_stored) = versions.iter().next_back().unwrap();
        prop_assert_eq!(summary.versions, versions.len() as u64);
        prop_assert_eq!(summary.latest_version, latest);
        prop_assert_eq!(summary.latest_created_at, latest_stored.created_at);
        prop_assert_eq!(
            summary.checkpoints,
            versions.values().filter(|s| s.checkpoint).count() as u64
        );
    }
    Ok(())
}

/// The versions a prune policy deletes, by its documented definition: outside the `keep_last`
/// newest (and never the newest), created strictly before `older_than`, and not a kept
/// checkpoint.
fn model_prune(versions: &BTreeMap<u64, Stored>, policy: &PrunePolicy) -> Vec<u64> {
    let count = versions.len();
    let protected = policy.keep_last.unwrap_or(0).max(1) as usize;
    versions
        .iter()
        .enumerate()
        .filter(|(rank, _)| rank + protected < count)
        .filter(|(_, (_, s))| !(policy.keep_checkpoints && s.checkpoint))
        .filter(|(_, (_, s))| policy.older_than.is_none_or(|limit| s.created_at < limit))
        .map(|(_, (&v, _))| v)
        .collect()
}

fn run_snapshot_ops(ops: &[SnapOp]) -> Result<(), TestCaseError> {
    let store = MemorySnapshotStore::with_runtime(runtime());
    let mut model: Model = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            SnapOp::Save {
                task,
                version,
                expected,
                checkpoint,
                created_day,
            } => {
                let name = task_name(*task);
                let data = json!({"op": i}).as_object().cloned().unwrap();
                let mut input = StateSnapshotInput::new(&name, data.clone())
                    .checkpoint(*checkpoint)
                    .created_at(day(*created_day));
                input.version = *version;
                let result = store.save(
                    input,
                    SaveOptions {
                        expected_version: *expected,
                    },
                );
                let latest = model.get(&name).and_then(|v| v.keys().next_back().copied());
                let admitted = match (expected, latest) {
                    (None, _) | (Some(0), None) => true,
                    (Some(e), Some(l)) => *e == l,
                    (Some(_), None) => false,
                };
                if admitted {
                    let saved = result.unwrap();
                    let want = version.unwrap_or(latest.unwrap_or(0) + 1);
                    prop_assert_eq!(saved.version, want, "auto-increment = max + 1");
                    prop_assert!(saved.id.starts_with("snap_"));
                    model.entry(name).or_default().insert(
                        want,
                        Stored {
                            id: saved.id,
                            checkpoint: *checkpoint,
                            created_at: day(*created_day),
                            data,
                        },
                    );
                } else {
                    let err = result.unwrap_err();
                    prop_assert_eq!(err.code(), "VERSION_CONFLICT");
                }
            }
            SnapOp::Get { task, version } => {
                let name = task_name(*task);
                let got = store
                    .get(&name, *version)
                    .unwrap()
                    .map(|s| (s.version, s.id));
                let versions = model.get(&name);
                let want = match version {
                    Some(v) => versions.and_then(|m| m.get(v)).map(|s| (*v, s.id.clone())),
                    None => versions
                        .and_then(|m| m.iter().next_back())
                        .map(|(v, s)| (*v, s.id.clone())),
                };
                prop_assert_eq!(got, want);
            }
            SnapOp::Delete { task, version } => {
                let name = task_name(*task);
                let deleted = store.delete(&name, *version).unwrap();
                let want = match version {
                    None => model.remove(&name).is_some(),
                    Some(v) => {
                        let existed = model.get_mut(&name).and_then(|m| m.remove(v)).is_some();
                        if model.get(&name).is_some_and(BTreeMap::is_empty) {
                            model.remove(&name);
                        }
                        existed
                    }
                };
                prop_assert_eq!(deleted, want, "delete({}, {:?})", name, version);
            }
            SnapOp::Prune {
                task,
                keep_last,
                older_than_day,
                keep_checkpoints,
            } => {
                let name = task_name(*task);
                let policy = PrunePolicy {
                    keep_last: *keep_last,
                    older_than: older_than_day.map(day),
                    keep_checkpoints: *keep_checkpoints,
                };
                let result = store.prune(&name, policy);
                if keep_last.is_none() && older_than_day.is_none() {
                    prop_assert_eq!(result.unwrap_err().code(), "INVALID_ARGUMENT");
                } else {
                    let before_latest =
                        model.get(&name).and_then(|m| m.keys().next_back().copied());
                    let doomed = model
                        .get(&name)
                        .map(|m| model_prune(m, &policy))
                        .unwrap_or_default();
                    prop_assert_eq!(result.unwrap(), doomed.len() as u64);
                    if let Some(m) = model.get_mut(&name) {
                        let count_before = m.len();
                        for v in &doomed {
                            m.remove(v);
                        }
                        // At least the keep_last newest (and always the newest) survive.
                        let floor = (keep_last.unwrap_or(0).max(1) as usize).min(count_before);
                        prop_assert!(m.len() >= floor);
                    }
                    let after_latest = model.get(&name).and_then(|m| m.keys().next_back().copied());
                    prop_assert_eq!(before_latest, after_latest, "the latest is never pruned");
                }
            }
        }
        check_snapshots(&store, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn snapshot_store_matches_model(ops in proptest::collection::vec(snap_op(), 1..60)) {
        run_snapshot_ops(&ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Metering
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct EventSpec {
    agent: u8,
    /// Minutes after BASE, in 20-minute steps so ties and shared buckets are common.
    slot: u16,
    metrics: (u64, u64, u64, u64),
    /// `Some(k)` records with id `evt_k` (repeats exercise idempotency).
    id: Option<u8>,
}

fn event_spec() -> impl Strategy<Value = EventSpec> {
    (
        0u8..3,
        0u16..200,
        (0u64..1000, 0u64..1000, 0u64..10_000, 0u64..5),
        proptest::option::weighted(0.5, 0u8..20),
    )
        .prop_map(|(agent, slot, metrics, id)| EventSpec {
            agent,
            slot,
            metrics,
            id,
        })
}

fn slot_time(slot: u16) -> Timestamp {
    Timestamp::from_micros(BASE_MICROS + i64::from(slot) * 20 * 60_000_000).unwrap()
}

fn agent_name(agent: u8) -> String {
    format!("agent_{agent}")
}

fn totals<'a>(events: impl IntoIterator<Item = &'a UsageEvent>) -> (u64, u64, u64, u64) {
    events.into_iter().fold((0, 0, 0, 0), |acc, e| {
        (
            acc.0 + e.metrics.tokens_in + e.metrics.tokens_out,
            acc.1 + e.metrics.duration_ms,
            acc.2 + 1,
            acc.3 + e.metrics.api_calls,
        )
    })
}

/// Records the events and returns what the store must hold, in recording order.
fn record_all(
    store: &MemoryMeteringStore,
    specs: &[EventSpec],
) -> Result<Vec<UsageEvent>, TestCaseError> {
    let mut recorded: Vec<UsageEvent> = Vec::new();
    let mut by_id: HashMap<String, UsageEvent> = HashMap::new();
    for spec in specs {
        let (tokens_in, tokens_out, duration_ms, api_calls) = spec.metrics;
        let mut input = UsageEventInput::new("task", agent_name(spec.agent), "consumer")
            .metrics(UsageMetrics {
                tokens_in,
                tokens_out,
                duration_ms,
                api_calls,
            })
            .timestamp(slot_time(spec.slot));
        if let Some(k) = spec.id {
            input = input.id(format!("evt_{k}"));
        }
        let returned = store.record(input.clone()).unwrap();
        match input.id.as_ref().and_then(|id| by_id.get(id)) {
            Some(stored) => {
                prop_assert_eq!(&returned, stored, "a repeated id returns the stored event")
            }
            None => {
                prop_assert_eq!(&returned.agent_id, &input.agent_id);
                prop_assert_eq!(returned.timestamp, slot_time(spec.slot));
                prop_assert_eq!(returned.metrics, input.metrics);
                prop_assert!(!by_id.contains_key(&returned.id), "generated ids are fresh");
                by_id.insert(returned.id.clone(), returned.clone());
                recorded.push(returned);
            }
        }
    }
    Ok(recorded)
}

fn check_metering(
    specs: &[EventSpec],
    window: (u16, u16),
    paging: (Option<u64>, u64),
) -> Result<(), TestCaseError> {
    let store = MemoryMeteringStore::with_runtime(runtime());
    let recorded = record_all(&store, specs)?;

    let mut agents: Vec<String> = recorded.iter().map(|e| e.agent_id.clone()).collect();
    agents.sort();
    agents.dedup();
    prop_assert_eq!(store.agents().unwrap(), agents);

    let (lo, hi) = (
        slot_time(window.0.min(window.1)),
        slot_time(window.0.max(window.1)),
    );
    for agent in 0..3u8 {
        let agent = agent_name(agent);
        // Model: the agent's events, stably sorted by time (ties stay in recording order).
        let mut expected: Vec<&UsageEvent> =
            recorded.iter().filter(|e| e.agent_id == agent).collect();
        expected.sort_by_key(|e| e.timestamp);

        let all = store
            .query(
                &agent,
                Timestamp::MIN,
                Timestamp::MAX,
                QueryOptions::default(),
            )
            .unwrap();
        prop_assert!(all.windows(2).all(|p| p[0].timestamp <= p[1].timestamp));
        prop_assert_eq!(all.iter().collect::<Vec<_>>(), expected.clone());

        // Aggregate equals the sum over query(MIN, MAX).
        let agg = store.aggregate(&agent, "all", Window::default()).unwrap();
        prop_assert_eq!(
            (
                agg.total_tokens,
                agg.total_duration,
                agg.total_tasks,
                agg.total_api_calls
            ),
            totals(all.iter())
        );
        prop_assert_eq!(&agg.agent_id, &agent);
        prop_assert_eq!(&agg.period, "all");

        // An inclusive window.
        let in_window: Vec<&UsageEvent> = expected
            .iter()
            .copied()
            .filter(|e| lo <= e.timestamp && e.timestamp <= hi)
            .collect();
        let windowed = store
            .query(&agent, lo, hi, QueryOptions::default())
            .unwrap();
        prop_assert_eq!(windowed.iter().collect::<Vec<_>>(), in_window.clone());
        let agg = store
            .aggregate(
                &agent,
                "w",
                Window {
                    start: Some(lo),
                    end: Some(hi),
                },
            )
            .unwrap();
        prop_assert_eq!(
            (
                agg.total_tokens,
                agg.total_duration,
                agg.total_tasks,
                agg.total_api_calls
            ),
            totals(in_window.iter().copied())
        );

        // Paging is a slice of the full result.
        let (limit, offset) = paging;
        let paged = store
            .query(&agent, lo, hi, QueryOptions { limit, offset })
            .unwrap();
        let want: Vec<&UsageEvent> = in_window
            .iter()
            .copied()
            .skip(offset as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .collect();
        prop_assert_eq!(paged.iter().collect::<Vec<_>>(), want);

        // Series over [lo, hi): bucket totals sum to the aggregate over the same events.
        let end_inclusive = Timestamp::from_micros(hi.as_micros() - 1).unwrap();
        let half_open = store
            .aggregate(
                &agent,
                "w",
                Window {
                    start: Some(lo),
                    end: Some(end_inclusive),
                },
            )
            .unwrap();
        for (size, unit) in [(BucketSize::Hour, HOUR), (BucketSize::Day, DAY)] {
            let buckets = store
                .series(
                    &agent,
                    SeriesOptions {
                        bucket: size,
                        start: lo,
                        end: hi,
                    },
                )
                .unwrap();
            prop_assert!(
                buckets.windows(2).all(|p| p[0].start < p[1].start),
                "ascending, distinct"
            );
            for b in &buckets {
                prop_assert_eq!(
                    b.start.as_micros().rem_euclid(unit),
                    0,
                    "aligned to the UTC {:?}",
                    size
                );
                prop_assert!(b.total_tasks > 0, "only buckets holding events");
            }
            let sum = buckets.iter().fold((0, 0, 0, 0), |acc, b| {
                (
                    acc.0 + b.total_tokens,
                    acc.1 + b.total_duration,
                    acc.2 + b.total_tasks,
                    acc.3 + b.total_api_calls,
                )
            });
            prop_assert_eq!(
                sum,
                (
                    half_open.total_tokens,
                    half_open.total_duration,
                    half_open.total_tasks,
                    half_open.total_api_calls
                )
            );
            // Each bucket holds exactly the events of its hour/day.
            for b in &buckets {
                let inside = in_window
                    .iter()
                    .copied()
                    .filter(|e| e.timestamp < hi)
                    .filter(|e| e.timestamp.floor(size) == b.start);
                prop_assert_eq!(
                    (
                        b.total_tokens,
                        b.total_duration,
                        b.total_tasks,
                        b.total_api_calls
                    ),
                    totals(inside)
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn metering_store_matches_model(
        specs in proptest::collection::vec(event_spec(), 0..40),
        window in (0u16..200, 0u16..200),
        paging in (proptest::option::of(0u64..6), 0u64..8),
    ) {
        check_metering(&specs, window, paging)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps: the stored text form round-trips and sorts like time
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn timestamp_text_roundtrips_and_sorts_like_time(
        a in -62_135_596_800_000_000i64..=253_402_300_799_999_999i64,
        b in -62_135_596_800_000_000i64..=253_402_300_799_999_999i64,
    ) {
        let (ta, tb) = (Timestamp::from_micros(a).unwrap(), Timestamp::from_micros(b).unwrap());
        let (sa, sb) = (ta.to_string(), tb.to_string());
        prop_assert_eq!(Timestamp::parse(&sa, "t").unwrap(), ta);
        prop_assert!(sa.ends_with("+00:00"));
        // `.ffffff` exactly when the microseconds are non-zero.
        let expected_len = if a.rem_euclid(1_000_000) == 0 { 25 } else { 32 };
        prop_assert_eq!(sa.len(), expected_len, "{}", sa);
        prop_assert_eq!(sa.cmp(&sb), ta.cmp(&tb), "{} vs {}", sa, sb);
    }
}
