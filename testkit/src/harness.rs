//! The fuzz harnesses of the asap-state core, as plain functions over bytes.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions (through the fuzz
//! crate), and `tests/fuzz_regressions.rs` (a normal `cargo test`) calls them too, so every
//! crasher and every input of the committed corpus replays through exactly the same code on
//! stable.
//!
//! A harness panics (which libFuzzer reports as a crash) whenever the core breaks one of its
//! rules: a panic of its own, an error code outside the documented set, or — for the
//! differential — a SQLite answer that differs from the in-memory one.
//!
//! * [`open_bytes`]: arbitrary bytes opened as a database image.
//! * [`decode_json`]: arbitrary bytes read as JSON, then through every strict reader of the core
//!   (snapshot and event inputs, snapshots, metrics, timestamps, options), `diff_json` /
//!   `diff_snapshots` against a mutated copy, and the ASAP envelope handlers.
//! * [`read_image`]: arbitrary bytes read as a SQLite file by the engine-free reader
//!   (`asap_state::sql::image`), what it reads written again and checked by the engine.
//! * [`ops_differential`]: arbitrary bytes decoded (with `arbitrary`) into a sequence of store
//!   operations ([`Op`]), run on the memory stores and on a SQLite image, answers compared.

use arbitrary::{Arbitrary, Unstructured};
use asap_state::binding::{string_arg, version_arg};
use asap_state::{
    diff_json, diff_snapshots, handle_asap_request, handle_asap_request_str, handle_state_envelope,
    BucketSize, ChangeOp, ExportFilter, ExportFormat, MemoryMeteringStore, MemorySnapshotStore,
    MeteringStore, PrunePolicy, QueryOptions, SaveOptions, SeriesOptions, SnapshotStore,
    SqliteStateDb, StateError, StateSnapshot, StateSnapshotInput, Timestamp, UsageEventInput,
    UsageMetrics, Window, ERROR_CODES,
};
use serde_json::{json, Map, Number, Value};

pub use crate::diff::json_eq;
use crate::diff::{apply_changes, pointer};
pub use crate::model::{Data, Instant, Name, Num, Op, SnapId};
use crate::pair::{self, shown, Pair};
pub use crate::runtime;
use crate::{answer, check_error, checked, object, Answer};

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
    let patched = apply_changes(old.clone(), &changes);
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

/// Runs `ops` on both backends (see [`pair::run`]), comparing every answer and the final state.
pub fn run_ops(ops: &[Op]) {
    if let Err(e) = pair::run(&mut Pair::new(), ops) {
        panic!("{e}");
    }
}

// =============================================================================================
// read_image
// =============================================================================================

/// Reads `data` with the engine-free reader (what `mergeStateImages` does with each image it is
/// given). It reads rows, or fails with `CORRUPT_DATABASE` / `SCHEMA_MISMATCH`. Rows it read are
/// written again: the writer accepts them (or refuses two rows sharing a primary key with
/// `INVALID_ARGUMENT`), and what it writes reads back identical and opens in the embedded engine,
/// whose full file checks are independent of this module's.
pub fn read_image(data: &[u8]) {
    use asap_state::sql::image;
    let Some(rows) = checked(image::read_image(data), &[CORRUPT, MISMATCH], "read_image") else {
        return;
    };
    let Some(written) = checked(
        image::write_image(&rows),
        &["INVALID_ARGUMENT"],
        "write_image",
    ) else {
        return;
    };
    match image::read_image(&written) {
        Ok(again) => assert!(again == rows, "a written image reads back different rows"),
        Err(e) => panic!("a written image does not read back: {e:?}"),
    }
    let (rt, _clock) = runtime();
    if let Err(e) = SqliteStateDb::open_bytes(&written, rt) {
        panic!("the engine refuses a written image: {e:?}");
    }
}
