//! proptest strategies drawing [`Op`]s for the proptest differential
//! (`tests/sqlite_differential.rs`): small pools of names, data and instants so that the
//! operations meet, with the edge values (invalid ids, the limits of versions, metrics and
//! timestamps) now and then.

use asap_state::{Timestamp, MAX_SAFE_INTEGER};
use proptest::prelude::*;
use serde_json::json;

use crate::model::{Data, Instant, Name, Num, Op, SnapId};
use crate::{object, BASE_MICROS, HOUR};

/// Task ids: plain, unicode, quotes, and an empty one (invalid to save, matches nothing).
pub const TASKS: [&str; 6] = [
    "task_a",
    "task_b",
    "задача-✓",
    "t'quote\"",
    "",
    "nul\u{0}task",
];
/// Agent ids (the empty one is invalid to record).
pub const AGENTS: [&str; 5] = ["agent_0", "agent_1", "агент", "", "a\u{0}b"];
pub const CONSUMERS: [&str; 3] = ["c1", "consumer:ü", ""];
pub const PERIODS: [&str; 3] = ["all", "day", "ключ"];

/// The `data` objects saves choose from (`0..10`): nested values, unicode, every JSON number
/// form, control characters, deep nesting.
pub fn data(i: usize) -> Data {
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
        _ => json!({ "n": i }),
    };
    Data(object(v))
}

/// A name from a pool.
fn one_of(pool: &'static [&'static str]) -> impl Strategy<Value = Name> {
    (0..pool.len()).prop_map(move |i| Name(pool[i].to_owned()))
}

/// `snap_dup_0` .. `snap_dup_{n-1}` (events get `evt_dup_…`, see [`crate::pair::apply`]).
fn dup_id(n: u8) -> impl Strategy<Value = SnapId> {
    (0..n).prop_map(|i| SnapId(format!("snap_dup_{i}")))
}

/// Instants: half-hour steps over a day from [`BASE_MICROS`] with a few sub-second offsets (so
/// ties happen), and now and then the extremes of the range.
pub fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        12 => (0i64..48, prop::sample::select(vec![0, 1, 500_000]))
            .prop_map(|(h, f)| BASE_MICROS + h * HOUR / 2 + f),
        1 => Just(Timestamp::MIN.as_micros()),
        1 => Just(Timestamp::MAX.as_micros()),
    ]
    .prop_map(Instant)
}

pub fn version() -> impl Strategy<Value = Num> {
    prop_oneof![
        10 => 1u64..7,
        1 => Just(0u64),
        1 => Just(MAX_SAFE_INTEGER),
        1 => Just(MAX_SAFE_INTEGER + 1),
    ]
    .prop_map(Num)
}

pub fn metric() -> impl Strategy<Value = Num> {
    prop_oneof![
        20 => 0u64..5000,
        1 => Just(MAX_SAFE_INTEGER),
        1 => Just(MAX_SAFE_INTEGER + 1),
    ]
    .prop_map(Num)
}

fn num(range: std::ops::Range<u64>) -> impl Strategy<Value = Num> {
    range.prop_map(Num)
}

/// A strategy for one variant of [`Op`], each field named once beside its own strategy:
/// `variant!(Get { task: task(), version: option::of(version()) })`.
macro_rules! variant {
    ($name:ident { $($field:ident: $strategy:expr),+ $(,)? }) => {
        ($($strategy,)+).prop_map(|($($field,)+)| Op::$name { $($field),+ })
    };
}

/// One operation, every kind weighted as the differential wants them.
pub fn op() -> impl Strategy<Value = Op> {
    use proptest::option::{of, weighted};
    let task = || one_of(&TASKS);
    let agent = || one_of(&AGENTS);
    let limit = prop_oneof![4 => 0u64..5, 1 => Just(MAX_SAFE_INTEGER), 1 => Just(u64::MAX)];
    let offset = prop_oneof![4 => 0u64..4, 1 => Just(MAX_SAFE_INTEGER)];
    prop_oneof![
        8 => variant!(Save {
            task: task(),
            id: weighted(0.3, dup_id(3)),
            version: weighted(0.5, version()),
            expected: weighted(0.25, num(0..6)),
            data: (0usize..10).prop_map(data),
            checkpoint: any::<bool>(),
            created_at: weighted(0.7, instant()),
        }),
        3 => variant!(Get { task: task(), version: of(version()) }),
        1 => variant!(GetById { task: task(), id: dup_id(3) }),
        1 => task().prop_map(|task| Op::ListVersions { task }),
        2 => variant!(Delete { task: task(), version: weighted(0.7, version()) }),
        2 => variant!(Prune {
            task: task(),
            keep_last: of(num(0..4)),
            older_than: of(instant()),
            keep_checkpoints: any::<bool>(),
        }),
        1 => Just(Op::ListTasks),
        8 => variant!(Record {
            id: weighted(0.3, dup_id(4)),
            task: task(),
            agent: agent(),
            consumer: one_of(&CONSUMERS),
            metrics: [metric(), metric(), metric(), metric()],
            at: weighted(0.8, instant()),
        }),
        4 => variant!(Query {
            agent: agent(),
            start: instant(),
            end: instant(),
            limit: weighted(0.4, limit.prop_map(Num)),
            offset: offset.prop_map(Num),
        }),
        2 => variant!(Aggregate {
            agent: agent(),
            period: one_of(&PERIODS),
            start: of(instant()),
            end: of(instant()),
        }),
        2 => variant!(Series { agent: agent(), day: any::<bool>(), start: instant(), end: instant() }),
        1 => Just(Op::Agents),
        2 => variant!(Export {
            json: any::<bool>(),
            agent: of(agent()),
            start: of(instant()),
            end: of(instant()),
        }),
        // Up to two hours, in seconds.
        1 => (0u16..7200).prop_map(Op::Advance),
        2 => Just(Op::Reopen),
    ]
}
