//! The fuzz harnesses of the asap-state core, as plain functions over bytes.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and
//! `tests/fuzz_regressions.rs` (a normal `cargo test`) includes this very file, so every crasher
//! and every input of the committed corpus replays through exactly the same code on stable.
//!
//! A harness panics (which libFuzzer reports as a crash) whenever the core breaks one of its
//! rules: a panic of its own, an error code outside the documented set, or — for the
//! differential — a SQLite answer that differs from the in-memory one.
//!
//! * [`open_bytes`]: arbitrary bytes opened as a database image.
//! * [`decode_json`]: arbitrary bytes read as JSON, then through every strict reader of the core
//!   (snapshot and event inputs, snapshots, metrics, timestamps, options), `diff_json` /
//!   `diff_snapshots` against a mutated copy, and the ASAP envelope handlers.
//! * [`ops_differential`]: arbitrary bytes decoded (with `arbitrary`) into a sequence of store
//!   operations, run on the memory stores and on a SQLite image, answers compared.

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use asap_state::binding::{string_arg, version_arg};
use asap_state::{
    diff_json, diff_snapshots, handle_asap_request, handle_asap_request_str, handle_state_envelope,
    BucketSize, Change, ChangeOp, ExportFilter, ExportFormat, ManualClock, MemoryMeteringStore,
    MemorySnapshotStore, MeteringStore, PathSegment, PrunePolicy, QueryOptions, Runtime,
    SaveOptions, SequentialIds, SeriesOptions, SnapshotStore, SqliteStateDb, StateError,
    StateSnapshot, StateSnapshotInput, Timestamp, UsageEventInput, UsageMetrics, Window,
    ERROR_CODES, MAX_DEPTH, MAX_SAFE_INTEGER,
};
use serde::Serialize;
use serde_json::{json, Map, Number, Value};

// =============================================================================================
// Shared helpers
// =============================================================================================

/// 2026-03-01T00:00:00Z in microseconds since the epoch: the clocks start here.
const BASE_MICROS: i64 = 1_772_323_200_000_000;
const HOUR: i64 = 3_600_000_000;

/// A deterministic runtime: a manual clock at [`BASE_MICROS`] and sequential ids.
pub fn runtime() -> (Runtime, Arc<ManualClock>) {
    let at = Timestamp::from_micros(BASE_MICROS).unwrap_or(Timestamp::MIN);
    let clock = ManualClock::new(at);
    (Runtime::new(clock.clone(), SequentialIds::new()), clock)
}

/// Checks that `err` is a proper error of the library: one of the 12 codes, one of `allowed`,
/// and a non-empty message.
fn check_error(err: &StateError, allowed: &[&str], what: &str) {
    let code = err.code();
    assert!(
        ERROR_CODES.contains(&code),
        "{what}: code {code:?} is not one of the 12 codes"
    );
    assert!(
        allowed.contains(&code),
        "{what}: unexpected error code {code} (allowed: {allowed:?}): {}",
        err.message()
    );
    assert!(
        !err.message().is_empty(),
        "{what}: {code} without a message"
    );
}

/// Checks a result's error (if any) and returns the `Ok` value.
fn checked<T>(r: Result<T, StateError>, allowed: &[&str], what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            check_error(&e, allowed, what);
            None
        }
    }
}

/// An answer as comparable data: the `Ok` value as JSON, or the error code.
type Answer = Result<Value, &'static str>;

fn answer<T: Serialize>(r: Result<T, StateError>) -> Answer {
    match r {
        Ok(v) => Ok(serde_json::to_value(v).unwrap_or_else(|e| Value::String(e.to_string()))),
        Err(e) => {
            check_error(&e, &ERROR_CODES, "answer");
            Err(e.code())
        }
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("value".to_owned(), other);
            m
        }
    }
}

const CORRUPT: &str = "CORRUPT_DATABASE";
const MISMATCH: &str = "SCHEMA_MISMATCH";

// =============================================================================================
// open_bytes
// =============================================================================================

/// Everything a reader of an opened database sees, each answer as JSON or its error code:
/// `listTasks`, and for the first few tasks `get`, `listVersions`, `getById`; `agents`, and for
/// the first few agents `query`, `aggregate`, `series`; both exports.
fn observe(db: &SqliteStateDb, allowed: &[&str]) -> Value {
    let snaps = db.snapshots();
    let meter = db.metering();
    let mut out = Map::new();
    let mut note = |key: String, a: Answer| {
        if let Err(code) = a {
            assert!(
                allowed.contains(&code),
                "{key}: unexpected error code {code} (allowed: {allowed:?})"
            );
        }
        out.insert(key, shown(a));
    };
    let tasks = snaps.list_tasks();
    let names: Vec<String> = match &tasks {
        Ok(list) => list.iter().take(4).map(|t| t.task_id.clone()).collect(),
        Err(_) => Vec::new(),
    };
    note("list_tasks".into(), answer(tasks));
    for task in &names {
        let latest = snaps.get(task, None);
        if let Ok(Some(s)) = &latest {
            note(
                format!("get_by_id {task:?}"),
                answer(snaps.get_by_id(task, &s.id)),
            );
            note(format!("get {task:?} v1"), answer(snaps.get(task, Some(1))));
        }
        note(format!("get {task:?}"), answer(latest));
        note(
            format!("list_versions {task:?}"),
            answer(snaps.list_versions(task)),
        );
    }
    let agents = meter.agents();
    let agent_names: Vec<String> = match &agents {
        Ok(list) => list.iter().take(4).cloned().collect(),
        Err(_) => Vec::new(),
    };
    note("agents".into(), answer(agents));
    for agent in &agent_names {
        let page = QueryOptions {
            limit: Some(20),
            offset: 0,
        };
        note(
            format!("query {agent:?}"),
            answer(meter.query(agent, Timestamp::MIN, Timestamp::MAX, page)),
        );
        note(
            format!("aggregate {agent:?}"),
            answer(meter.aggregate(agent, "all", Window::default())),
        );
        let days = SeriesOptions {
            bucket: BucketSize::Day,
            start: Timestamp::MIN,
            end: Timestamp::MAX,
        };
        note(
            format!("series {agent:?}"),
            answer(meter.series(agent, days)),
        );
    }
    let all = ExportFilter::default();
    note(
        "export json".into(),
        answer(meter.export(ExportFormat::Json, &all)),
    );
    note(
        "export csv".into(),
        answer(meter.export(ExportFormat::Csv, &all)),
    );
    Value::Object(out)
}

/// Opens `data` as a database image. It must open, or fail with `CORRUPT_DATABASE` /
/// `SCHEMA_MISMATCH`. An opened database answers every read (or `CORRUPT_DATABASE` for a row
/// that does not fit the contract), exports an image that opens again and reads the same, and
/// takes a write.
pub fn open_bytes(data: &[u8]) {
    let (rt, _clock) = runtime();
    let Some(db) = checked(
        SqliteStateDb::open_bytes(data, rt.clone()),
        &[CORRUPT, MISMATCH],
        "open_bytes",
    ) else {
        return;
    };
    let seen = observe(&db, &[CORRUPT]);
    let image = match db.export_bytes() {
        Ok(image) => image,
        Err(e) => panic!("export_bytes of an opened database failed: {e:?}"),
    };
    let again = match SqliteStateDb::open_bytes(&image, rt.clone()) {
        Ok(again) => again,
        Err(e) => panic!("the exported image of an opened database does not open: {e:?}"),
    };
    assert_eq!(
        seen,
        observe(&again, &[CORRUPT]),
        "the exported image reads differently"
    );
    // A write, then a read of it, on the reopened image.
    let snaps = again.snapshots();
    let input = StateSnapshotInput::new("fuzz-task", object(json!({"k": [1, "two"]})));
    let saved = checked(
        snaps.save(input, SaveOptions::default()),
        &[CORRUPT],
        "save",
    );
    if let Some(saved) = saved {
        let read = checked(snaps.get("fuzz-task", None), &[CORRUPT], "get after save");
        if let Some(read) = read {
            assert_eq!(read.as_ref(), Some(&saved), "a saved snapshot reads back");
        }
    }
    let event = UsageEventInput::new("fuzz-task", "fuzz-agent", "fuzz-consumer");
    checked(again.metering().record(event), &[CORRUPT], "record");
    checked(
        again.export_bytes(),
        &[CORRUPT],
        "export_bytes after writes",
    );
    checked(again.close(), &[CORRUPT], "close");
    checked(db.close(), &[CORRUPT], "close");
}

// =============================================================================================
// decode_json
// =============================================================================================

const INVALID_SNAPSHOT: &str = "INVALID_SNAPSHOT";
const INVALID_EVENT: &str = "INVALID_EVENT";
const INVALID_TIMESTAMP: &str = "INVALID_TIMESTAMP";
const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
const TOO_LARGE: &str = "TOO_LARGE";

/// Numbers compared by value, as `diff_json` does: integers exactly, an integer equal to a
/// float only when the float is exactly that integer. Objects compare regardless of key order.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn as_int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn number_eq(x: &Number, y: &Number) -> bool {
    match (as_int(x), as_int(y)) {
        (Some(a), Some(b)) => a == b,
        (Some(i), None) | (None, Some(i)) => {
            let f = if as_int(x).is_none() { x } else { y };
            // Floats in this range are exact integers when they have no fraction.
            f.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 1.8e19 && f as i128 == i)
        }
        (None, None) => x.as_f64() == y.as_f64(),
    }
}

/// The JSON Pointer (RFC 6901) of `segments`.
fn pointer(segments: &[PathSegment]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        match s {
            PathSegment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            PathSegment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Applies one change to `doc` as its documentation says: set the value at `path` for
/// `added` / `changed`, delete it for `removed`; an index one past the end of an array appends.
fn apply_change(doc: &mut Value, change: &Change) {
    let Some((last, parents)) = change.segments.split_last() else {
        // The root.
        match change.op {
            ChangeOp::Removed => panic!("a removal of the root: {change:?}"),
            _ => {
                *doc = change
                    .new
                    .clone()
                    .unwrap_or_else(|| panic!("no new value: {change:?}"))
            }
        }
        return;
    };
    let mut at = doc;
    for s in parents {
        at = match (s, at) {
            (PathSegment::Key(k), Value::Object(m)) => m
                .get_mut(k)
                .unwrap_or_else(|| panic!("no key {k:?} on the way to {change:?}")),
            (PathSegment::Index(i), Value::Array(a)) => a
                .get_mut(*i)
                .unwrap_or_else(|| panic!("no index {i} on the way to {change:?}")),
            (s, other) => panic!("segment {s:?} does not fit {other} in {change:?}"),
        };
    }
    match (last, at, change.op) {
        (PathSegment::Key(k), Value::Object(m), ChangeOp::Removed) => {
            assert!(
                m.shift_remove(k).is_some(),
                "removed a missing key: {change:?}"
            );
        }
        (PathSegment::Key(k), Value::Object(m), op) => {
            let new = change
                .new
                .clone()
                .unwrap_or_else(|| panic!("no new: {change:?}"));
            let had = m.insert(k.clone(), new).is_some();
            assert_eq!(had, op == ChangeOp::Changed, "{change:?}");
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Removed) => {
            assert_eq!(
                *i + 1,
                a.len(),
                "an array removal not at the end: {change:?}"
            );
            a.pop();
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Added) => {
            assert_eq!(*i, a.len(), "an array addition not at the end: {change:?}");
            a.push(change.new.clone().unwrap_or(Value::Null));
        }
        (PathSegment::Index(i), Value::Array(a), ChangeOp::Changed) => {
            let slot = a
                .get_mut(*i)
                .unwrap_or_else(|| panic!("changed a missing index: {change:?}"));
            *slot = change.new.clone().unwrap_or(Value::Null);
        }
        (s, other, _) => panic!("segment {s:?} does not fit {other} in {change:?}"),
    }
}

/// Checks `diff_json(old, new)`: well-formed changes (pointer = segments, `old` / `new`
/// present as the op says), serialisable, and applying them in order to `old` gives `new`.
fn check_diff(old: &Value, new: &Value) {
    let changes = diff_json(old, new);
    if json_eq(old, new) {
        assert!(changes.is_empty(), "equal values have changes: {changes:?}");
    } else {
        assert!(!changes.is_empty(), "different values have no changes");
    }
    for c in &changes {
        assert_eq!(c.path, pointer(&c.segments), "path and segments differ");
        match c.op {
            ChangeOp::Added => assert!(c.old.is_none() && c.new.is_some(), "{c:?}"),
            ChangeOp::Removed => assert!(c.old.is_some() && c.new.is_none(), "{c:?}"),
            ChangeOp::Changed => assert!(c.old.is_some() && c.new.is_some(), "{c:?}"),
        }
        let wire = serde_json::to_value(c).unwrap_or(Value::Null);
        assert!(wire.is_object(), "a change serialises to an object");
    }
    let mut patched = old.clone();
    for c in &changes {
        apply_change(&mut patched, c);
    }
    assert!(
        json_eq(&patched, new),
        "applying the changes does not give the new value\nold: {old}\nnew: {new}\npatched: {patched}\nchanges: {changes:?}"
    );
}

/// Makes a copy of `v` with a few changes chosen by `u`.
fn mutate(v: &Value, u: &mut Unstructured<'_>) -> Value {
    let mut out = v.clone();
    let n = u.int_in_range(1..=3u8).unwrap_or(1);
    for _ in 0..n {
        mutate_once(&mut out, u);
    }
    out
}

fn scalar(u: &mut Unstructured<'_>) -> Value {
    match u.int_in_range(0..=6u8).unwrap_or(0) {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary().unwrap_or(false)),
        2 => json!(u.arbitrary::<i64>().unwrap_or(0)),
        3 => json!(u.arbitrary::<u64>().unwrap_or(0)),
        4 => {
            Number::from_f64(u.arbitrary::<f64>().unwrap_or(0.5)).map_or(Value::Null, Value::Number)
        }
        5 => Value::String(u.arbitrary::<String>().unwrap_or_default()),
        _ => json!(1.0),
    }
}

fn mutate_once(v: &mut Value, u: &mut Unstructured<'_>) {
    // Walk down a few levels.
    let mut at = v;
    loop {
        let go = u.ratio(3u8, 4u8).unwrap_or(false);
        let len = match &*at {
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            _ => 0,
        };
        if !go || len == 0 {
            break;
        }
        let i = u.choose_index(len).unwrap_or(0);
        at = match at {
            Value::Array(a) => match a.get_mut(i) {
                Some(x) => x,
                None => return,
            },
            Value::Object(m) => match m.values_mut().nth(i) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match u.int_in_range(0..=5u8).unwrap_or(0) {
        0 => match at {
            Value::Object(m) if !m.is_empty() => {
                let i = u.choose_index(m.len()).unwrap_or(0);
                if let Some(k) = m.keys().nth(i).cloned() {
                    m.shift_remove(&k);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let keep = u.choose_index(a.len()).unwrap_or(0);
                a.truncate(keep);
            }
            other => *other = scalar(u),
        },
        1 => match at {
            Value::Object(m) => {
                let key = u.arbitrary::<String>().unwrap_or_default();
                let value = scalar(u);
                m.insert(key, value);
            }
            Value::Array(a) => a.push(scalar(u)),
            other => *other = scalar(u),
        },
        2 => {
            // The same number in the other representation (1 <-> 1.0), or another value.
            let same = match at.as_number() {
                Some(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => Number::from_f64(i as f64).map(Value::Number),
                    (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Some(json!(f as i64)),
                    _ => None,
                },
                None => None,
            };
            *at = same.unwrap_or_else(|| scalar(u));
        }
        3 => {
            let inner = std::mem::take(at);
            *at = json!([inner]);
        }
        4 => {
            let inner = std::mem::take(at);
            *at = json!({ "wrapped": inner });
        }
        _ => *at = scalar(u),
    }
}

fn check_timestamp_text(s: &str) {
    if let Some(t) = checked(Timestamp::parse(s, "t"), &[INVALID_TIMESTAMP], "parse") {
        let text = t.to_string();
        assert_eq!(
            Timestamp::parse(&text, "t").ok(),
            Some(t),
            "{s:?} -> {text:?} does not parse back"
        );
        assert_eq!(
            Timestamp::parse_lenient(s, "t").ok(),
            Some(t),
            "parse_lenient differs from parse on {s:?}"
        );
        assert!(t.floor(BucketSize::Hour) <= t && t.floor(BucketSize::Day) <= t);
        assert!(t.floor(BucketSize::Day) <= t.floor(BucketSize::Hour));
    }
    checked(
        Timestamp::parse_lenient(s, "t"),
        &[INVALID_TIMESTAMP],
        "parse_lenient",
    );
}

/// An operation that must succeed.
fn must<T>(r: Result<T, StateError>) -> T {
    r.unwrap_or_else(|e| panic!("an accepted argument is refused: {e:?}"))
}

/// Every strict reader on one value, each answer checked; accepted values then go through the
/// memory stores, which must take them.
fn readers(value: &Value) {
    let snaps = MemorySnapshotStore::with_runtime(runtime().0);
    let meter = MemoryMeteringStore::with_runtime(runtime().0);
    let sn = [INVALID_SNAPSHOT, INVALID_TIMESTAMP, TOO_LARGE];
    if let Some(input) = checked(StateSnapshotInput::from_json(value), &sn, "snapshot input") {
        let saved = snaps.save(input.clone(), SaveOptions::default());
        let saved = saved.unwrap_or_else(|e| panic!("a parsed snapshot input is refused: {e:?}"));
        assert_eq!(saved.data, input.data);
        assert_eq!(snaps.get(&input.task_id, None).ok().flatten(), Some(saved));
    }
    let arg = [INVALID_ARGUMENT, INVALID_TIMESTAMP, TOO_LARGE];
    if let Some(s) = checked(StateSnapshot::from_json(value, "from"), &arg, "snapshot") {
        let wire = serde_json::to_value(&s).unwrap_or(Value::Null);
        let back = StateSnapshot::from_json(&wire, "from");
        assert_eq!(
            back.as_ref().ok(),
            Some(&s),
            "a snapshot does not round-trip"
        );
        let diff = diff_snapshots(&s, &s);
        assert!(diff.changes.is_empty());
    }
    let ev = [INVALID_EVENT, INVALID_TIMESTAMP];
    if let Some(input) = checked(UsageEventInput::from_json(value), &ev, "event input") {
        let got = meter.record(input.clone());
        let got = got.unwrap_or_else(|e| panic!("a parsed event input is refused: {e:?}"));
        assert_eq!(got.metrics, input.metrics);
    }
    checked(UsageMetrics::from_json(value), &[INVALID_EVENT], "metrics");
    checked(
        Timestamp::from_json(value, "t"),
        &[INVALID_TIMESTAMP],
        "timestamp",
    );
    if let Value::String(s) = value {
        check_timestamp_text(s);
    }
    let opt = [INVALID_ARGUMENT, INVALID_TIMESTAMP];
    for v in [None, Some(value)] {
        if let Some(o) = checked(SaveOptions::from_json(v), &opt, "save options") {
            let input = StateSnapshotInput::new("t", Map::new());
            let r = snaps.save(input, o);
            if let Err(e) = r {
                check_error(&e, &["VERSION_CONFLICT"], "save with options");
            }
        }
        if let Some(o) = checked(QueryOptions::from_json(v), &opt, "query options") {
            must(meter.query("a", Timestamp::MIN, Timestamp::MAX, o));
        }
        if let Some(w) = checked(Window::from_json(v, "window"), &opt, "window") {
            must(meter.aggregate("a", "p", w));
        }
        if let Some(o) = checked(SeriesOptions::from_json(v), &opt, "series options") {
            must(meter.series("a", o));
        }
        if let Some(p) = checked(PrunePolicy::from_json(v), &opt, "prune policy") {
            must(snaps.prune("t", p));
        }
        if let Some(f) = checked(ExportFilter::from_json(v), &opt, "export filter") {
            must(meter.export(ExportFormat::Csv, &f));
        }
        checked(version_arg(v, "version"), &opt, "version");
    }
    if let Some(f) = checked(ExportFormat::from_json(value), &opt, "export format") {
        let _ = meter.export(f, &ExportFilter::default());
    }
    checked(string_arg(value, "taskId"), &opt, "string arg");
}

/// The ASAP envelope handlers on a store holding one snapshot (`task-1` v1, id `snap-1`).
fn envelopes(value: &Value) {
    let (rt, _) = runtime();
    let store = MemorySnapshotStore::with_runtime(rt.clone());
    let seed = StateSnapshotInput::new("task-1", object(json!({"step": 1}))).id("snap-1");
    if store.save(seed, SaveOptions::default()).is_err() {
        panic!("the seed snapshot is refused");
    }
    match handle_state_envelope(&store, &rt, value) {
        Ok(reply) => {
            let t = reply.get("payload_type").and_then(Value::as_str);
            assert!(
                matches!(
                    t,
                    Some("state_query.response" | "state_restore.ack" | "state_save.ack")
                ),
                "reply payload_type {t:?}"
            );
        }
        Err(e) => check_rpc_error(&e.to_json()),
    }
    let request = json!({
        "jsonrpc": "2.0", "method": "asap.send", "id": 1, "params": {"envelope": value}
    });
    check_rpc_response(&handle_asap_request(&store, &rt, &request));
    check_rpc_response(&handle_asap_request(&store, &rt, value));
}

fn check_rpc_error(e: &Value) {
    let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
    assert!((-32700..=-32600).contains(&code), "JSON-RPC code {code}");
    let state = e
        .pointer("/data/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(ERROR_CODES.contains(&state), "data.code {state:?} in {e}");
    let msg = e
        .pointer("/data/error")
        .and_then(Value::as_str)
        .unwrap_or("");
    assert!(!msg.is_empty(), "no data.error in {e}");
}

fn check_rpc_response(r: &Value) {
    assert_eq!(r.get("jsonrpc"), Some(&json!("2.0")), "{r}");
    match (r.get("result"), r.get("error")) {
        (Some(_), None) => {}
        (None, Some(e)) => check_rpc_error(e),
        _ => panic!("a response needs exactly one of result and error: {r}"),
    }
}

/// Reads `data` as JSON (anything else is skipped, after the JSON-RPC text entry point has
/// seen it) and runs it through every reader, the diff, and the envelope handlers.
pub fn decode_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let (rt, _) = runtime();
        let store = MemorySnapshotStore::with_runtime(rt.clone());
        check_rpc_response(&handle_asap_request_str(&store, &rt, text));
        check_timestamp_text(text);
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    readers(&value);
    let children: Vec<&Value> = match &value {
        Value::Array(a) => a.iter().take(8).collect(),
        Value::Object(m) => m.values().take(8).collect(),
        _ => Vec::new(),
    };
    for child in children {
        readers(child);
    }
    envelopes(&value);
    // The diff, against a copy mutated with entropy from the input itself.
    assert!(
        diff_json(&value, &value).is_empty(),
        "a value differs from itself"
    );
    let entropy: Vec<u8> = data.iter().rev().copied().collect();
    let mut u = Unstructured::new(&entropy);
    let other = mutate(&value, &mut u);
    check_diff(&value, &other);
    check_diff(&other, &value);
    let snapshot = |data: &Value, version: u64| StateSnapshot {
        id: format!("snap-{version}"),
        task_id: "task".into(),
        version,
        data: object(data.clone()),
        checkpoint: false,
        created_at: Timestamp::MIN,
    };
    let (a, b) = (snapshot(&value, 1), snapshot(&other, 2));
    let d = diff_snapshots(&a, &b);
    assert_eq!(
        d.changes,
        diff_json(&Value::Object(a.data), &Value::Object(b.data))
    );
    let count = |op: ChangeOp| d.changes.iter().filter(|c| c.op == op).count();
    assert_eq!(
        (d.added, d.removed, d.changed),
        (
            count(ChangeOp::Added),
            count(ChangeOp::Removed),
            count(ChangeOp::Changed)
        )
    );
}

// =============================================================================================
// ops_differential
// =============================================================================================

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
    /// `export_bytes`, close, `open_bytes` of the image.
    Reopen,
}

fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).unwrap_or(Timestamp::MIN)
}

fn window(start: Option<Instant>, end: Option<Instant>) -> Window {
    Window {
        start: start.map(|i| at(i.0)),
        end: end.map(|i| at(i.0)),
    }
}

struct Pair {
    snaps: MemorySnapshotStore,
    meter: MemoryMeteringStore,
    mem_clock: Arc<ManualClock>,
    db: SqliteStateDb,
    db_runtime: Runtime,
    db_clock: Arc<ManualClock>,
}

impl Pair {
    fn new() -> Self {
        let (mem_rt, mem_clock) = runtime();
        let (db_runtime, db_clock) = runtime();
        let db = SqliteStateDb::open_in_memory(db_runtime.clone())
            .unwrap_or_else(|e| panic!("open_in_memory: {e:?}"));
        Pair {
            // One runtime for both memory stores, as the database has one for both.
            snaps: MemorySnapshotStore::with_runtime(mem_rt.clone()),
            meter: MemoryMeteringStore::with_runtime(mem_rt),
            mem_clock,
            db,
            db_runtime,
            db_clock,
        }
    }

    fn reopen(&mut self) {
        let image = self
            .db
            .export_bytes()
            .unwrap_or_else(|e| panic!("export_bytes: {e:?}"));
        self.db.close().unwrap_or_else(|e| panic!("close: {e:?}"));
        self.db = SqliteStateDb::open_bytes(&image, self.db_runtime.clone())
            .unwrap_or_else(|e| panic!("reopening the exported image: {e:?}"));
    }
}

/// Applies `op` to both backends and returns both answers (`None` for steps without one).
fn apply(pair: &mut Pair, op: &Op) -> Option<(Answer, Answer)> {
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
    match op {
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
            pair.reopen();
            None
        }
    }
}

/// An answer as one JSON value (an error as `{"error": code}`).
fn shown(a: Answer) -> Value {
    a.unwrap_or_else(|code| json!({ "error": code }))
}

/// Everything observable at once: the tasks, every version of every task, all events, the
/// agents.
fn full_state(snaps: &dyn SnapshotStore, meter: &dyn MeteringStore) -> Value {
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

/// The longest operation sequence taken from one input.
pub const MAX_OPS: usize = 48;

/// Decodes `data` into operations and runs them on both backends; every answer must be equal
/// (`Ok` values as JSON, errors by code), and so must the final state.
pub fn ops_differential(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run_ops(&ops);
}

/// Runs `ops` on both backends, comparing every answer and the final state.
pub fn run_ops(ops: &[Op]) {
    let mut pair = Pair::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some((mem, sql)) = apply(&mut pair, op) {
            assert_eq!(
                mem, sql,
                "step {i}: {op:?}\nmemory: {mem:?}\nsqlite: {sql:?}"
            );
        }
    }
    let mem = full_state(&pair.snaps, &pair.meter);
    let sql = full_state(&pair.db.snapshots(), &pair.db.metering());
    assert_eq!(mem, sql, "the final state differs");
}
