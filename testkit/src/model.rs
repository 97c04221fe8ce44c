//! The store operations: one [`Op`] model for the fuzz targets (decoded from bytes with
//! `arbitrary`) and the proptest differential (drawn by [`crate::strategy`]).
//!
//! The committed fuzz corpus (`fuzz/corpus/ops_differential/`) and the crashers in
//! `tests/fuzz_regressions/` are bytes decoded by these `Arbitrary` implementations and the
//! derive on [`Op`]: reordering the variants or fields, or changing a type or a range here,
//! makes every one of those files mean another sequence of operations.

use arbitrary::{Arbitrary, Unstructured};
use asap_state::{Timestamp, MAX_DEPTH, MAX_SAFE_INTEGER};
use serde_json::{json, Map, Number, Value};

use crate::{object, BASE_MICROS, HOUR};

/// Task, agent and consumer ids: mostly a small pool (so operations meet), now and then any
/// string (empty, too long, NUL, LIKE wildcards, ...).
#[derive(Debug, Clone)]
pub struct Name(pub String);

const NAMES: [&str; 10] = [
    "task_a",
    "task_b",
    "задача-✓",
    "t'quote\"",
    "",
    "nul\u{0}x",
    "a%_",
    "A",
    "agent_0",
    "snap_000001",
];

impl<'a> Arbitrary<'a> for Name {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let pick = u.int_in_range(0..=31u8)?;
        Ok(Name(match NAMES.get(usize::from(pick)) {
            Some(n) => (*n).to_owned(),
            None if pick == 31 => "x".repeat(usize::from(u.int_in_range(1000..=1030u16)?)),
            None if pick >= 28 => u.arbitrary::<String>()?,
            // Weighted towards the first two.
            None => NAMES
                .get(usize::from(pick % 2))
                .copied()
                .unwrap_or("task_a")
                .to_owned(),
        }))
    }
}

/// Snapshot ids for saves and `getById`: a small pool, so ids repeat.
#[derive(Debug, Clone)]
pub struct SnapId(pub String);

impl<'a> Arbitrary<'a> for SnapId {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=5u8)?;
        Ok(SnapId(match n {
            0..=2 => format!("snap_dup_{n}"),
            3 => "snap_000001".into(),
            4 => "snap_000002".into(),
            _ => u.arbitrary::<String>()?,
        }))
    }
}

/// Versions, limits and offsets: mostly small, sometimes at and past the limits.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub u64);

impl<'a> Arbitrary<'a> for Num {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Num(match u.int_in_range(0..=15u8)? {
            0 => 0,
            1 => MAX_SAFE_INTEGER,
            2 => MAX_SAFE_INTEGER + 1,
            3 => u64::MAX,
            4 => u.arbitrary()?,
            n => u64::from(n - 4),
        }))
    }
}

/// Instants: half-hour steps over two days with sub-second offsets (ties), the ends of the
/// range, or anything in the range.
#[derive(Debug, Clone, Copy)]
pub struct Instant(pub i64);

impl<'a> Arbitrary<'a> for Instant {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let min = Timestamp::MIN.as_micros();
        let max = Timestamp::MAX.as_micros();
        Ok(Instant(match u.int_in_range(0..=15u8)? {
            0 => min,
            1 => max,
            2 => u.int_in_range(min..=max)?,
            _ => {
                let half_hours = i64::from(u.int_in_range(0..=96u8)?);
                let frac = match u.int_in_range(0..=3u8)? {
                    0 => 0,
                    1 => 1,
                    2 => 500_000,
                    _ => 999_999,
                };
                BASE_MICROS - 24 * HOUR + half_hours * HOUR / 2 + frac
            }
        }))
    }
}

/// A `data` object: a few kinds of fixed values, generated JSON, or nesting near the depth
/// limit.
#[derive(Debug, Clone)]
pub struct Data(pub Map<String, Value>);

fn arb_value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let max = if depth >= 4 { 5 } else { 7 };
    Ok(match u.int_in_range(0..=max)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => Number::from_f64(u.arbitrary()?).map_or(json!(u64::MAX), Value::Number),
        4 => json!(u.int_in_range(0..=3u8)?),
        5 => Value::String(u.arbitrary()?),
        6 => {
            let n = u.int_in_range(0..=3u8)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(arb_value(u, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let n = u.int_in_range(0..=3u8)?;
            let mut m = Map::new();
            for _ in 0..n {
                let k: String = u.arbitrary()?;
                let v = arb_value(u, depth + 1)?;
                m.insert(k, v);
            }
            Value::Object(m)
        }
    })
}

impl<'a> Arbitrary<'a> for Data {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let v = match u.int_in_range(0..=7u8)? {
            0 => json!({}),
            1 => json!({"a": 1}),
            2 => {
                json!({"f": 0.1, "g": -1.25, "h": 3e-05, "i": 1e300, "j": -0.0, "k": 5e-324, "l": 1.0})
            }
            3 => json!({"big": u64::MAX, "neg": i64::MIN, "unsafe": MAX_SAFE_INTEGER + 2}),
            4 => {
                // Nesting around MAX_DEPTH (the limit of check_depth and of the JSON parsers).
                let levels = u.int_in_range(MAX_DEPTH - 3..=MAX_DEPTH + 1)?;
                let mut deep = json!(1);
                for _ in 1..levels {
                    deep = json!([deep]);
                }
                json!({ "deep": deep })
            }
            _ => {
                let n = u.int_in_range(0..=4u8)?;
                let mut m = Map::new();
                for _ in 0..n {
                    let k: String = u.arbitrary()?;
                    let v = arb_value(u, 1)?;
                    m.insert(k, v);
                }
                Value::Object(m)
            }
        };
        Ok(Data(object(v)))
    }
}

/// One store operation (or a step that moves the clocks / reopens the SQLite image).
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    Save {
        task: Name,
        id: Option<SnapId>,
        version: Option<Num>,
        expected: Option<Num>,
        data: Data,
        checkpoint: bool,
        created_at: Option<Instant>,
    },
    Get {
        task: Name,
        version: Option<Num>,
    },
    GetById {
        task: Name,
        id: SnapId,
    },
    ListVersions {
        task: Name,
    },
    Delete {
        task: Name,
        version: Option<Num>,
    },
    Prune {
        task: Name,
        keep_last: Option<Num>,
        older_than: Option<Instant>,
        keep_checkpoints: bool,
    },
    ListTasks,
    Record {
        id: Option<SnapId>,
        task: Name,
        agent: Name,
        consumer: Name,
        metrics: [Num; 4],
        at: Option<Instant>,
    },
    Query {
        agent: Name,
        start: Instant,
        end: Instant,
        limit: Option<Num>,
        offset: Num,
    },
    Aggregate {
        agent: Name,
        period: Name,
        start: Option<Instant>,
        end: Option<Instant>,
    },
    Series {
        agent: Name,
        day: bool,
        start: Instant,
        end: Instant,
    },
    Agents,
    Export {
        json: bool,
        agent: Option<Name>,
        start: Option<Instant>,
        end: Option<Instant>,
    },
    /// Moves both clocks forward by this many seconds.
    Advance(u16),
    /// `export_bytes`, close, and open the image again: with `open_bytes`, or — every other
    /// time on a [`crate::pair::Pair`] made `with_files` — written to a file and `open_path`.
    Reopen,
}
