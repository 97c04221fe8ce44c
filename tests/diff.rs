//! The JSON diff (`diff_json`, `diff_snapshots`): table tests of every case, the wire shape,
//! a 10,000-deep input, snapshots saved in a store, `StateSnapshot::from_json`, and properties
//! (applying the changes to `old` in order yields `new`; a value has no difference with itself).

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use asap_state::{
    diff_json, diff_snapshots, Change, ChangeOp, ManualClock, MemorySnapshotStore, PathSegment,
    Runtime, SaveOptions, SequentialIds, SnapshotDiff, SnapshotStore, StateSnapshot,
    StateSnapshotInput, Timestamp,
};
use asap_state_testkit::diff::{apply_changes, pointer};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use ChangeOp::{Added, Changed, Removed};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn key(k: &str) -> PathSegment {
    PathSegment::Key(k.to_owned())
}

fn idx(i: usize) -> PathSegment {
    PathSegment::Index(i)
}

fn change(
    op: ChangeOp,
    path: &str,
    segments: Vec<PathSegment>,
    old: Option<Value>,
    new: Option<Value>,
) -> Change {
    Change {
        op,
        path: path.to_owned(),
        segments,
        old,
        new,
    }
}

fn added(path: &str, segments: Vec<PathSegment>, new: Value) -> Change {
    change(Added, path, segments, None, Some(new))
}

fn removed(path: &str, segments: Vec<PathSegment>, old: Value) -> Change {
    change(Removed, path, segments, Some(old), None)
}

fn changed(path: &str, segments: Vec<PathSegment>, old: Value, new: Value) -> Change {
    change(Changed, path, segments, Some(old), Some(new))
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// `v` with every integral float written as an integer (so `1.0` and `1` compare equal with
/// `==`, as the diff compares numbers by value), independently of the library's comparison.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        _ => v.clone(),
    }
}

/// Nests `leaf` in `depth` single-element arrays.
fn nested(depth: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// Takes a deep value apart level by level: the derived `Drop` of `Value` recurses.
fn drop_deep(mut v: Value) {
    loop {
        v = match v {
            Value::Array(mut a) => match a.pop() {
                Some(inner) => inner,
                None => return,
            },
            _ => return,
        };
    }
}

// ---------------------------------------------------------------------------------------------
// Table tests
// ---------------------------------------------------------------------------------------------

#[test]
fn table() {
    let cases: Vec<(&str, Value, Value, Vec<Change>)> = vec![
        (
            "equal objects",
            json!({"a": 1, "b": [1, {"c": null}]}),
            json!({"a": 1, "b": [1, {"c": null}]}),
            vec![],
        ),
        (
            "key order is no difference",
            json!({"a": 1, "b": 2}),
            json!({"b": 2, "a": 1}),
            vec![],
        ),
        ("empty objects", json!({}), json!({}), vec![]),
        ("empty arrays", json!([]), json!([]), vec![]),
        (
            "added key",
            json!({"a": 1}),
            json!({"a": 1, "b": 2}),
            vec![added("/b", vec![key("b")], json!(2))],
        ),
        (
            "removed key",
            json!({"a": 1, "b": 2}),
            json!({"a": 1}),
            vec![removed("/b", vec![key("b")], json!(2))],
        ),
        (
            "changed key",
            json!({"a": 1}),
            json!({"a": 2}),
            vec![changed("/a", vec![key("a")], json!(1), json!(2))],
        ),
        (
            "empty object gains a key",
            json!({}),
            json!({"a": {}}),
            vec![added("/a", vec![key("a")], json!({}))],
        ),
        (
            "object loses every key",
            json!({"a": [], "b": {}}),
            json!({}),
            vec![
                removed("/a", vec![key("a")], json!([])),
                removed("/b", vec![key("b")], json!({})),
            ],
        ),
        (
            "nested",
            json!({"a": {"b": {"c": 1, "d": 2}}}),
            json!({"a": {"b": {"c": 1, "d": 3, "e": 4}}}),
            vec![
                changed(
                    "/a/b/d",
                    vec![key("a"), key("b"), key("d")],
                    json!(2),
                    json!(3),
                ),
                added("/a/b/e", vec![key("a"), key("b"), key("e")], json!(4)),
            ],
        ),
        (
            "order: old keys in their order, then new keys in theirs",
            json!({"z": 1, "y": 2, "x": 3}),
            json!({"q": 0, "x": 4, "z": 1, "p": 5}),
            vec![
                removed("/y", vec![key("y")], json!(2)),
                changed("/x", vec![key("x")], json!(3), json!(4)),
                added("/q", vec![key("q")], json!(0)),
                added("/p", vec![key("p")], json!(5)),
            ],
        ),
        (
            "array grows",
            json!([1, 2]),
            json!([1, 2, 3, [4]]),
            vec![
                added("/2", vec![idx(2)], json!(3)),
                added("/3", vec![idx(3)], json!([4])),
            ],
        ),
        (
            "array shrinks: removals from the highest index down",
            json!([1, 2, 3, 4]),
            json!([1]),
            vec![
                removed("/3", vec![idx(3)], json!(4)),
                removed("/2", vec![idx(2)], json!(3)),
                removed("/1", vec![idx(1)], json!(2)),
            ],
        ),
        (
            "array compared index by index, then the tail",
            json!(["a", "b", "c"]),
            json!(["a", "x"]),
            vec![
                changed("/1", vec![idx(1)], json!("b"), json!("x")),
                removed("/2", vec![idx(2)], json!("c")),
            ],
        ),
        (
            "array inside object inside array",
            json!({"l": [{"k": [1]}]}),
            json!({"l": [{"k": [1, 2]}]}),
            vec![added(
                "/l/0/k/1",
                vec![key("l"), idx(0), key("k"), idx(1)],
                json!(2),
            )],
        ),
        (
            "empty array fills",
            json!([]),
            json!([null]),
            vec![added("/0", vec![idx(0)], json!(null))],
        ),
        (
            "type change: object to array",
            json!({"a": {"x": 1}}),
            json!({"a": [1]}),
            vec![changed("/a", vec![key("a")], json!({"x": 1}), json!([1]))],
        ),
        (
            "type change: empty object to empty array",
            json!({"a": {}}),
            json!({"a": []}),
            vec![changed("/a", vec![key("a")], json!({}), json!([]))],
        ),
        (
            "type change: number to string",
            json!({"a": 1}),
            json!({"a": "1"}),
            vec![changed("/a", vec![key("a")], json!(1), json!("1"))],
        ),
        (
            "type change: false to 0 to null",
            json!([false, 0, null]),
            json!([0, null, false]),
            vec![
                changed("/0", vec![idx(0)], json!(false), json!(0)),
                changed("/1", vec![idx(1)], json!(0), json!(null)),
                changed("/2", vec![idx(2)], json!(null), json!(false)),
            ],
        ),
        (
            "type change: array to scalar",
            json!({"a": [1, 2]}),
            json!({"a": true}),
            vec![changed("/a", vec![key("a")], json!([1, 2]), json!(true))],
        ),
        (
            "null values are present as null",
            json!({"gone": null, "x": null}),
            json!({"x": 1, "new": null}),
            vec![
                removed("/gone", vec![key("gone")], json!(null)),
                changed("/x", vec![key("x")], json!(null), json!(1)),
                added("/new", vec![key("new")], json!(null)),
            ],
        ),
        (
            "null to null is equal",
            json!({"a": null}),
            json!({"a": null}),
            vec![],
        ),
        (
            "escaping ~ and /",
            json!({"a/b": 1, "m~n": {"~/": 1}, "~1": 0}),
            json!({"a/b": 2, "m~n": {"~/": 2}, "~1": 0, "/": 3}),
            vec![
                changed("/a~1b", vec![key("a/b")], json!(1), json!(2)),
                changed(
                    "/m~0n/~0~1",
                    vec![key("m~n"), key("~/")],
                    json!(1),
                    json!(2),
                ),
                added("/~1", vec![key("/")], json!(3)),
            ],
        ),
        (
            "an escaped-looking key",
            json!({}),
            json!({"~01": 1}),
            vec![added("/~001", vec![key("~01")], json!(1))],
        ),
        (
            "the empty key",
            json!({"": {"": 1}}),
            json!({"": {"": 2}}),
            vec![changed("//", vec![key(""), key("")], json!(1), json!(2))],
        ),
        (
            "unicode keys",
            json!({"結果": "a", "ключ": 1, "emoji😀": [1]}),
            json!({"結果": "b", "emoji😀": [1, "🙂"]}),
            vec![
                changed("/結果", vec![key("結果")], json!("a"), json!("b")),
                removed("/ключ", vec![key("ключ")], json!(1)),
                added("/emoji😀/1", vec![key("emoji😀"), idx(1)], json!("🙂")),
            ],
        ),
        (
            "1 and 1.0 are equal",
            json!({"a": 1, "b": [2.0], "c": -0.0, "d": 0}),
            json!({"a": 1.0, "b": [2], "c": 0, "d": -0.0}),
            vec![],
        ),
        (
            "1 and 1.5 are not",
            json!({"a": 1}),
            json!({"a": 1.5}),
            vec![changed("/a", vec![key("a")], json!(1), json!(1.5))],
        ),
        (
            "integers exactly",
            json!([9_007_199_254_740_993_u64, u64::MAX, i64::MIN]),
            json!([9_007_199_254_740_992_u64, u64::MAX, i64::MIN]),
            vec![changed(
                "/0",
                vec![idx(0)],
                json!(9_007_199_254_740_993_u64),
                json!(9_007_199_254_740_992_u64),
            )],
        ),
        (
            "a float is not a nearby integer",
            json!([9_007_199_254_740_993_u64]),
            json!([9_007_199_254_740_992.0]),
            vec![changed(
                "/0",
                vec![idx(0)],
                json!(9_007_199_254_740_993_u64),
                json!(9_007_199_254_740_992.0),
            )],
        ),
        (
            "strings compare exactly",
            json!(["é", "a"]),
            json!(["e\u{301}", "a"]),
            vec![changed("/0", vec![idx(0)], json!("é"), json!("e\u{301}"))],
        ),
        ("root scalars: equal", json!(1), json!(1.0), vec![]),
        (
            "root scalars: changed",
            json!(1),
            json!(2),
            vec![changed("", vec![], json!(1), json!(2))],
        ),
        (
            "root: null to object",
            json!(null),
            json!({"a": 1}),
            vec![changed("", vec![], json!(null), json!({"a": 1}))],
        ),
        (
            "root: object to array",
            json!({}),
            json!([]),
            vec![changed("", vec![], json!({}), json!([]))],
        ),
        (
            "root: strings",
            json!("a"),
            json!("b"),
            vec![changed("", vec![], json!("a"), json!("b"))],
        ),
    ];
    for (name, old, new, expected) in cases {
        let got = diff_json(&old, &new);
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            canonical(&apply_changes(old.clone(), &got)),
            canonical(&new),
            "{name}: applied"
        );
        assert!(diff_json(&old, &old).is_empty(), "{name}: old vs old");
        assert!(diff_json(&new, &new).is_empty(), "{name}: new vs new");
        // Backwards works too.
        let back = diff_json(&new, &old);
        assert_eq!(
            canonical(&apply_changes(new.clone(), &back)),
            canonical(&old),
            "{name}: backwards"
        );
        assert_eq!(
            back.len(),
            expected.len(),
            "{name}: as many changes backwards"
        );
    }
}

#[test]
fn wire_shape() {
    let changes = diff_json(
        &json!({"a": null, "b": 1, "l": [1, 2], "c": {"x": 1}}),
        &json!({"a": 0, "l": [1], "c": {"x": null}, "n": null}),
    );
    assert_eq!(
        serde_json::to_value(&changes).unwrap(),
        json!([
            {"op": "changed", "path": "/a", "segments": ["a"], "old": null, "new": 0},
            {"op": "removed", "path": "/b", "segments": ["b"], "old": 1},
            {"op": "removed", "path": "/l/1", "segments": ["l", 1], "old": 2},
            {"op": "changed", "path": "/c/x", "segments": ["c", "x"], "old": 1, "new": null},
            {"op": "added", "path": "/n", "segments": ["n"], "new": null},
        ])
    );
    // Field order as documented.
    assert_eq!(
        serde_json::to_string(&changes[0]).unwrap(),
        r#"{"op":"changed","path":"/a","segments":["a"],"old":null,"new":0}"#
    );
    // A key that looks like a number stays a string segment.
    let c = diff_json(&json!({"0": 1}), &json!({"0": 2}));
    assert_eq!(serde_json::to_value(&c[0].segments).unwrap(), json!(["0"]));
    assert_eq!(c[0].path, "/0");
    assert_eq!(
        serde_json::to_value(ChangeOp::Added).unwrap(),
        json!("added")
    );
    assert_eq!(
        serde_json::to_value(ChangeOp::Removed).unwrap(),
        json!("removed")
    );
    assert_eq!(
        serde_json::to_value(ChangeOp::Changed).unwrap(),
        json!("changed")
    );
    assert_eq!(serde_json::to_value(idx(7)).unwrap(), json!(7));
    assert_eq!(serde_json::to_value(key("7")).unwrap(), json!("7"));
}

#[test]
fn ten_thousand_levels_do_not_overflow_the_stack() {
    const DEPTH: usize = 10_000;
    let old = nested(DEPTH, json!(1));
    let same = nested(DEPTH, json!(1.0));
    let new = nested(DEPTH, json!(2));
    assert!(diff_json(&old, &same).is_empty());
    let changes = diff_json(&old, &new);
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(c.op, Changed);
    assert_eq!(c.segments.len(), DEPTH);
    assert!(c.segments.iter().all(|s| *s == idx(0)));
    assert_eq!(c.path, "/0".repeat(DEPTH));
    assert_eq!(
        (c.old.clone(), c.new.clone()),
        (Some(json!(1)), Some(json!(2)))
    );
    // Deep on one side only: the difference is found at the first level that differs.
    let shallow = json!([[7]]);
    let mut changes = diff_json(&old, &shallow);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, "/0/0");
    assert_eq!(changes[0].new, Some(json!(7)));
    // ... and the deep side is copied into the change without recursion too.
    let copy = changes[0].old.take().unwrap();
    let expected = nested(DEPTH - 2, json!(1));
    assert_eq!(diff_json(&copy, &expected), []);
    drop_deep(copy);
    drop_deep(expected);
    let mut changes = diff_json(&json!(null), &old);
    assert_eq!((changes.len(), changes[0].path.as_str()), (1, ""));
    let copy = changes[0].new.take().unwrap();
    assert_eq!(diff_json(&copy, &new).len(), 1);
    assert!(diff_json(&copy, &old).is_empty());
    drop_deep(copy);
    // (Built by moving values: `json!` with a `Value` inside serialises it, recursively.)
    let mut deep_obj = json!(1);
    for i in 0..DEPTH {
        let mut m = Map::new();
        m.insert(format!("k{}", i % 3), deep_obj);
        m.insert("s".into(), json!([i]));
        deep_obj = Value::Object(m);
    }
    let wrapped = Value::Array(vec![deep_obj]);
    let mut changes = diff_json(&json!([]), &wrapped);
    let Value::Array(mut items) = wrapped else {
        panic!()
    };
    let deep_obj = items.pop().unwrap();
    let copy = changes[0].new.take().unwrap();
    assert!(diff_json(&copy, &deep_obj).is_empty());
    for v in [copy, deep_obj] {
        let mut v = v;
        // Unnest the objects level by level.
        loop {
            let Value::Object(mut m) = v else { break };
            let Some(inner) = m.keys().find(|k| k.starts_with('k')).cloned() else {
                break;
            };
            v = m.shift_remove(&inner).unwrap();
        }
    }
    // Wide as well as deep.
    let wide_old = Value::Array((0..DEPTH).map(|i| json!({"i": i})).collect());
    let wide_new = Value::Array((0..DEPTH).map(|i| json!({"i": i + 1})).collect());
    assert_eq!(diff_json(&wide_old, &wide_new).len(), DEPTH);
    // In a snapshot's data as well.
    let deep_data = |leaf: Value| {
        let mut m = Map::new();
        m.insert("deep".into(), nested(DEPTH, leaf));
        m
    };
    let rt = runtime();
    let from = snapshot(&rt, "t", 1, deep_data(json!("a")));
    let to = snapshot(&rt, "t", 2, deep_data(json!("b")));
    let d = diff_snapshots(&from, &to);
    assert_eq!((d.added, d.removed, d.changed), (0, 0, 1));
    assert_eq!(d.changes[0].segments.len(), DEPTH + 1);
    for v in [old, same, new] {
        drop_deep(v);
    }
    for mut s in [from, to] {
        drop_deep(s.data.remove("deep").unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

fn runtime() -> (Runtime, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(Timestamp::parse("2025-02-08T12:00:00Z", "t").unwrap());
    (Runtime::new(clock.clone(), SequentialIds::new()), clock)
}

fn snapshot(
    rt: &(Runtime, std::sync::Arc<ManualClock>),
    task: &str,
    version: u64,
    data: Map<String, Value>,
) -> StateSnapshot {
    StateSnapshot {
        id: rt.0.new_id("snap_"),
        task_id: task.to_owned(),
        version,
        data,
        checkpoint: false,
        created_at: Timestamp::parse("2025-02-08T12:00:00Z", "t").unwrap(),
    }
}

#[test]
fn two_versions_saved_in_a_memory_store() {
    let (rt, clock) = runtime();
    let store = MemorySnapshotStore::with_runtime(rt);
    let v1 =
        obj(json!({"step": 1, "plan": ["search", "read", "write"], "notes": {"a": "x"}, "k": 1}));
    let v2 = obj(
        json!({"step": 2, "plan": ["search"], "notes": {"a": "y", "b": null}, "k": 1.0, "done": false}),
    );
    store
        .save(
            StateSnapshotInput::new("task-1", v1),
            SaveOptions::default(),
        )
        .unwrap();
    clock.advance(60_000_000);
    store
        .save(
            StateSnapshotInput::new("task-1", v2).checkpoint(true),
            SaveOptions::expect(1),
        )
        .unwrap();
    let from = store.get("task-1", Some(1)).unwrap().unwrap();
    let to = store.get("task-1", None).unwrap().unwrap();
    assert_eq!(to.version, 2);

    let diff = diff_snapshots(&from, &to);
    let expected_changes = vec![
        changed("/step", vec![key("step")], json!(1), json!(2)),
        removed("/plan/2", vec![key("plan"), idx(2)], json!("write")),
        removed("/plan/1", vec![key("plan"), idx(1)], json!("read")),
        changed(
            "/notes/a",
            vec![key("notes"), key("a")],
            json!("x"),
            json!("y"),
        ),
        added("/notes/b", vec![key("notes"), key("b")], json!(null)),
        added("/done", vec![key("done")], json!(false)),
    ];
    assert_eq!(
        diff,
        SnapshotDiff {
            task_id: "task-1".into(),
            from_version: 1,
            to_version: 2,
            from_id: from.id.clone(),
            to_id: to.id.clone(),
            added: 2,
            removed: 2,
            changed: 2,
            changes: expected_changes.clone(),
        }
    );
    assert_ne!(diff.from_id, diff.to_id);
    assert_eq!(
        diff.changes,
        diff_json(
            &Value::Object(from.data.clone()),
            &Value::Object(to.data.clone())
        )
    );
    assert_eq!(
        apply_changes(Value::Object(from.data.clone()), &diff.changes),
        Value::Object(obj(
            json!({"step": 2, "plan": ["search"], "notes": {"a": "y", "b": null}, "k": 1, "done": false})
        ))
    );

    // The wire shape.
    let wire = serde_json::to_value(&diff).unwrap();
    assert_eq!(
        wire.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "task_id",
            "from_version",
            "to_version",
            "from_id",
            "to_id",
            "added",
            "removed",
            "changed",
            "changes"
        ]
    );
    assert_eq!(
        wire["changes"][4],
        json!({"op": "added", "path": "/notes/b", "segments": ["notes", "b"], "new": null})
    );

    // Backwards, and a version against itself.
    let back = diff_snapshots(&to, &from);
    assert_eq!(
        (
            back.from_version,
            back.to_version,
            back.added,
            back.removed,
            back.changed
        ),
        (2, 1, 2, 2, 2)
    );
    assert_eq!(
        canonical(&apply_changes(
            Value::Object(to.data.clone()),
            &back.changes
        )),
        canonical(&Value::Object(from.data.clone()))
    );
    let same = diff_snapshots(&to, &to);
    assert_eq!((same.added, same.removed, same.changed), (0, 0, 0));
    assert!(same.changes.is_empty());

    // Two different tasks may be compared: task_id is `from`'s. Checkpoint and created_at are
    // not compared.
    store
        .save(
            StateSnapshotInput::new("task-2", to.data.clone()),
            SaveOptions::default(),
        )
        .unwrap();
    let other = store.get("task-2", None).unwrap().unwrap();
    let across = diff_snapshots(&other, &to);
    assert_eq!(across.task_id, "task-2");
    assert!(across.changes.is_empty());
    assert_eq!(diff_snapshots(&from, &other).task_id, "task-1");
    assert_eq!(diff_snapshots(&from, &other).changes, expected_changes);
}

#[test]
fn snapshots_read_from_json_strictly() {
    let (rt, _clock) = runtime();
    let store = MemorySnapshotStore::with_runtime(rt);
    let saved = store
        .save(
            StateSnapshotInput::new("task-1", obj(json!({"a": [1, {"b": null}]}))).checkpoint(true),
            SaveOptions::default(),
        )
        .unwrap();
    let wire = serde_json::to_value(&saved).unwrap();
    assert_eq!(StateSnapshot::from_json(&wire, "from").unwrap(), saved);
    // Epoch milliseconds are a timestamp too.
    let mut ms = wire.clone();
    ms["created_at"] = json!(1_739_016_000_000_i64);
    assert_eq!(StateSnapshot::from_json(&ms, "from").unwrap(), saved);

    let with = |key: &str, v: Option<Value>| {
        let mut w = wire.clone();
        let m = w.as_object_mut().unwrap();
        match v {
            Some(v) => {
                m.insert(key.to_owned(), v);
            }
            None => {
                m.shift_remove(key);
            }
        }
        w
    };
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    // Refused as INVALID_ARGUMENT unless listed under another code: each with the start of its
    // message.
    let invalid: Vec<(Value, &str)> = vec![
        (json!(null), "from must be an object, got null"),
        (
            json!([wire.clone()]),
            "from must be an object, got an array",
        ),
        (
            with("extra", Some(json!(1))),
            "from: unknown field \"extra\"",
        ),
        (with("id", None), "from.id is required"),
        (
            with("id", Some(json!(""))),
            "from.id must be a non-empty string",
        ),
        (with("task_id", None), "from.task_id is required"),
        (
            with("task_id", Some(json!(7))),
            "from.task_id must be a string, got number 7",
        ),
        (with("version", None), "from.version is required"),
        (
            with("version", Some(json!(0))),
            "from.version must be an integer from 1",
        ),
        (
            with("version", Some(json!("2"))),
            "from.version must be an integer from 1",
        ),
        (
            with("version", Some(json!(1.5))),
            "from.version must be an integer from 1",
        ),
        (with("data", None), "from.data is required"),
        (
            with("data", Some(json!([1]))),
            "from.data must be a plain object, got an array",
        ),
        (
            with("data", Some(json!(null))),
            "from.data must be a plain object, got null",
        ),
        (with("checkpoint", None), "from.checkpoint is required"),
        (
            with("checkpoint", Some(json!(1))),
            "from.checkpoint must be a boolean, got number 1",
        ),
        (with("created_at", None), "from.created_at is required"),
    ];
    let bad_timestamps: Vec<(Value, &str)> = vec![
        (
            with("created_at", Some(json!("2025-02-08T12:00:00"))),
            "from.created_at",
        ),
        (with("created_at", Some(json!(true))), "from.created_at"),
    ];
    let too_large: Vec<(Value, &str)> = vec![(
        with("data", Some(json!({"x": deep}))),
        "from.data.x nests deeper than 128 levels",
    )];
    let tag =
        |code: &'static str| move |(input, message): (Value, &'static str)| (input, code, message);
    let cases = (invalid.into_iter().map(tag("INVALID_ARGUMENT")))
        .chain(bad_timestamps.into_iter().map(tag("INVALID_TIMESTAMP")))
        .chain(too_large.into_iter().map(tag("TOO_LARGE")));
    for (input, code, message) in cases {
        let err = StateSnapshot::from_json(&input, "from").unwrap_err();
        assert_eq!(err.code(), code, "{input}: {err}");
        assert!(err.message().starts_with(message), "{input}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn json_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "a/b", "~0", "ключ", ""]).prop_map(str::to_owned)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..3).prop_map(|n| json!(n)),
        prop::sample::select(vec![1.0, 2.0, -0.0, 0.5, -1.25, 1e300]).prop_map(|f| json!(f)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["", "a", "1", "~/"]).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every path of a value, root first (pre-order).
fn paths(v: &Value, prefix: &mut Vec<PathSegment>, out: &mut Vec<Vec<PathSegment>>) {
    out.push(prefix.clone());
    match v {
        Value::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                prefix.push(idx(i));
                paths(item, prefix, out);
                prefix.pop();
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                prefix.push(key(k));
                paths(item, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// One edit of a value: replace, delete or insert at a node picked by `pick`.
#[derive(Debug, Clone)]
struct Edit {
    pick: usize,
    kind: u8,
    key: String,
    value: Value,
}

fn edit() -> impl Strategy<Value = Edit> {
    (any::<usize>(), 0u8..3, json_key(), json_value()).prop_map(|(pick, kind, key, value)| Edit {
        pick,
        kind,
        key,
        value,
    })
}

/// The value at `path` (which exists: it was listed by `paths`).
fn at<'a>(doc: &'a mut Value, path: &[PathSegment]) -> &'a mut Value {
    doc.pointer_mut(&pointer(path)).expect("path exists")
}

fn edited(mut doc: Value, edits: &[Edit]) -> Value {
    for e in edits {
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        let path = all[e.pick % all.len()].clone();
        match e.kind {
            0 => *at(&mut doc, &path) = e.value.clone(),
            1 => match path.split_last() {
                None => doc = e.value.clone(),
                Some((last, parent)) => match (at(&mut doc, parent), last) {
                    (Value::Object(m), PathSegment::Key(k)) => {
                        m.shift_remove(k);
                    }
                    (Value::Array(a), PathSegment::Index(i)) => {
                        a.remove(*i);
                    }
                    _ => {}
                },
            },
            _ => match at(&mut doc, &path) {
                Value::Object(m) => {
                    m.insert(e.key.clone(), e.value.clone());
                }
                Value::Array(a) => {
                    let i = e.pick % (a.len() + 1);
                    a.insert(i, e.value.clone());
                }
                other => *other = e.value.clone(),
            },
        }
    }
    doc
}

fn pair() -> impl Strategy<Value = (Value, Value)> {
    prop_oneof![
        1 => (json_value(), json_value()),
        3 => (json_value(), prop::collection::vec(edit(), 0..4))
            .prop_map(|(old, edits)| {
                let new = edited(old.clone(), &edits);
                (old, new)
            }),
    ]
}

fn is_prefix(a: &[PathSegment], b: &[PathSegment]) -> bool {
    a.len() < b.len() && b.starts_with(a)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn applying_the_changes_to_old_yields_new((old, new) in pair()) {
        let changes = diff_json(&old, &new);
        let applied = apply_changes(old.clone(), &changes);
        prop_assert_eq!(canonical(&applied), canonical(&new));
        prop_assert!(diff_json(&applied, &new).is_empty());
        for c in &changes {
            // The pointer is the segments, escaped.
            prop_assert_eq!(&c.path, &pointer(&c.segments));
            // serde_json's own pointer lookup finds the values where they are.
            if let Some(o) = &c.old {
                prop_assert_eq!(old.pointer(&c.path), Some(o));
            }
            if let Some(n) = &c.new {
                prop_assert_eq!(new.pointer(&c.path), Some(n));
            }
            prop_assert_eq!(c.old.is_some(), c.op != Added);
            prop_assert_eq!(c.new.is_some(), c.op != Removed);
        }
        // Each change is a leaf: no reported path lies below another.
        for a in &changes {
            for b in &changes {
                prop_assert!(!is_prefix(&a.segments, &b.segments), "{} above {}", a.path, b.path);
            }
        }
        // Deterministic.
        prop_assert_eq!(diff_json(&old, &new), changes);
    }

    #[test]
    fn a_value_has_no_difference_with_itself(v in json_value()) {
        prop_assert!(diff_json(&v, &v).is_empty());
        prop_assert!(diff_json(&v, &v.clone()).is_empty());
        prop_assert!(diff_json(&canonical(&v), &v).is_empty());
    }

    #[test]
    fn snapshot_counts_match_the_changes((old, new) in pair()) {
        let rt = runtime();
        let as_map = |v: Value| match v {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("v".into(), other);
                m
            }
        };
        let from = snapshot(&rt, "t", 1, as_map(old));
        let to = snapshot(&rt, "t", 2, as_map(new));
        let d = diff_snapshots(&from, &to);
        prop_assert_eq!(&d.changes, &diff_json(&Value::Object(from.data.clone()), &Value::Object(to.data.clone())));
        prop_assert_eq!(d.added + d.removed + d.changed, d.changes.len());
        prop_assert_eq!(d.added, d.changes.iter().filter(|c| c.op == Added).count());
        prop_assert_eq!(d.removed, d.changes.iter().filter(|c| c.op == Removed).count());
        prop_assert_eq!((d.from_version, d.to_version), (1, 2));
        prop_assert_eq!(canonical(&apply_changes(Value::Object(from.data.clone()), &d.changes)), canonical(&Value::Object(to.data)));
    }
}
