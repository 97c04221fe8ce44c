//! The binding tests, shared by the Node run (`node.rs`) and the Chromium run (`browser.rs`).
//! They drive the exported classes from Rust with real JavaScript values.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use asap_state_wasm::{diff_json_js, diff_snapshots_js, MemoryMeteringStore, MemorySnapshotStore};
use js_sys::{Function, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};

/// A JavaScript value from an expression (so NaN, BigInt, cycles and Dates can be built).
pub fn js(expr: &str) -> JsValue {
    Function::new_no_args(&format!("return ({expr});"))
        .call0(&JsValue::NULL)
        .unwrap()
}

pub fn prop(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

pub fn json(v: &JsValue) -> String {
    JSON::stringify(v).unwrap().as_string().unwrap()
}

/// Asserts that `result` failed with a real `StateError` of `code`, and returns its message.
pub fn assert_state_error<T: std::fmt::Debug>(result: Result<T, JsValue>, code: &str) -> String {
    let err = result.expect_err("expected a StateError");
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not an Error: {err:?}"
    );
    assert_eq!(
        prop(&err, "name").as_string().as_deref(),
        Some("StateError")
    );
    assert_eq!(prop(&err, "code").as_string().as_deref(), Some(code));
    let ctor = js("globalThis[Symbol.for('asap-state.StateError')]");
    assert!(
        ctor.is_function(),
        "the shared StateError class is registered"
    );
    let is_instance = js("(e, C) => e instanceof C")
        .unchecked_into::<Function>()
        .call2(&JsValue::NULL, &err, &ctor)
        .unwrap();
    assert_eq!(is_instance.as_bool(), Some(true));
    prop(&err, "message").as_string().unwrap()
}

pub fn snapshot_round_trip() {
    let store = MemorySnapshotStore::new();
    let saved = store
        .save(
            js(r#"{ task_id: "t1", data: { n: 0.1, big: 2 ** 53 - 1, neg: -1.25, s: "ü", nested: { a: [1, null, true] } }, created_at: new Date(Date.UTC(2025, 1, 8, 12)) }"#),
            JsValue::UNDEFINED,
        )
        .unwrap();
    assert_eq!(prop(&saved, "version").as_f64(), Some(1.0));
    assert_eq!(
        prop(&saved, "created_at").as_string().as_deref(),
        Some("2025-02-08T12:00:00+00:00")
    );
    assert!(prop(&saved, "id").as_string().unwrap().starts_with("snap_"));
    let got = store
        .get(JsValue::from_str("t1"), JsValue::UNDEFINED)
        .unwrap();
    assert_eq!(
        json(&prop(&got, "data")),
        r#"{"n":0.1,"big":9007199254740991,"neg":-1.25,"s":"ü","nested":{"a":[1,null,true]}}"#
    );
    // Returned objects are copies.
    Reflect::set(
        &prop(&got, "data"),
        &JsValue::from_str("n"),
        &JsValue::from(5),
    )
    .unwrap();
    let again = store
        .get(JsValue::from_str("t1"), JsValue::from(1))
        .unwrap();
    assert_eq!(prop(&prop(&again, "data"), "n").as_f64(), Some(0.1));
    // Auto-increment and optimistic concurrency.
    let v2 = store
        .save(
            js(r#"{ task_id: "t1", data: {} }"#),
            js("{ expectedVersion: 1 }"),
        )
        .unwrap();
    assert_eq!(prop(&v2, "version").as_f64(), Some(2.0));
    let msg = assert_state_error(
        store.save(
            js(r#"{ task_id: "t1", data: {} }"#),
            js("{ expectedVersion: 1 }"),
        ),
        "VERSION_CONFLICT",
    );
    assert!(msg.contains("version 2"), "{msg}");
    assert_eq!(
        json(&store.list_versions(JsValue::from_str("t1")).unwrap()),
        "[1,2]"
    );
    assert!(store
        .delete(JsValue::from_str("t1"), JsValue::from(1))
        .unwrap());
    assert!(!store
        .delete(JsValue::from_str("t1"), JsValue::from(1))
        .unwrap());
    assert!(store
        .get(JsValue::from_str("nope"), JsValue::NULL)
        .unwrap()
        .is_undefined());
}

pub fn bad_inputs_are_state_errors_and_change_nothing() {
    let store = MemorySnapshotStore::new();
    store
        .save(
            js(r#"{ task_id: "keep", data: { ok: true } }"#),
            JsValue::UNDEFINED,
        )
        .unwrap();
    let before = json(&store.list_tasks().unwrap());
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"(() => { const o = {}; o.self = o; return { task_id: "t", data: o }; })()"#,
            "INVALID_SNAPSHOT",
            "cycle",
        ),
        (
            r#"{ task_id: "t", data: { x: NaN } }"#,
            "INVALID_SNAPSHOT",
            "NaN",
        ),
        (
            r#"{ task_id: "t", data: { x: Infinity } }"#,
            "INVALID_SNAPSHOT",
            "Infinity is not",
        ),
        (
            r#"{ task_id: "t", data: { x: 10n } }"#,
            "INVALID_SNAPSHOT",
            "BigInt",
        ),
        (
            r#"{ task_id: "t", data: { x: Symbol("s") } }"#,
            "INVALID_SNAPSHOT",
            "symbol",
        ),
        (
            r#"{ task_id: "t", data: { x: () => 1 } }"#,
            "INVALID_SNAPSHOT",
            "function",
        ),
        (
            r#"{ task_id: "t", data: { x: undefined } }"#,
            "INVALID_SNAPSHOT",
            "undefined",
        ),
        (
            r#"{ task_id: "t", data: { x: new Date(0) } }"#,
            "INVALID_SNAPSHOT",
            "Date",
        ),
        (
            r#"{ task_id: "t", data: [1] }"#,
            "INVALID_SNAPSHOT",
            "plain object",
        ),
        (
            r#"{ task_id: "t", data: {}, version: 0 }"#,
            "INVALID_SNAPSHOT",
            "version",
        ),
        (
            r#"{ task_id: "t", data: {}, version: 1.5 }"#,
            "INVALID_SNAPSHOT",
            "version",
        ),
        (
            r#"{ task_id: "t", data: {}, version: "2" }"#,
            "INVALID_SNAPSHOT",
            "version",
        ),
        (
            r#"{ task_id: "t", data: {}, version: 2 ** 60 }"#,
            "INVALID_SNAPSHOT",
            "version",
        ),
        (
            r#"{ task_id: "", data: {} }"#,
            "INVALID_SNAPSHOT",
            "task_id",
        ),
        (
            r#"{ task_id: "t", data: {}, extra: 1 }"#,
            "INVALID_SNAPSHOT",
            "extra",
        ),
        (
            r#"{ task_id: "t", data: {}, created_at: "2025-01-01T00:00:00" }"#,
            "INVALID_TIMESTAMP",
            "offset",
        ),
        (
            r#"{ task_id: "t", data: {}, created_at: new Date(NaN) }"#,
            "INVALID_TIMESTAMP",
            "invalid",
        ),
        (
            r#"{ task_id: "t", get data() { throw new Error("boom"); } }"#,
            "INVALID_SNAPSHOT",
            "boom",
        ),
        (
            r#"new Proxy({}, { ownKeys() { throw new Error("trap"); } })"#,
            "INVALID_SNAPSHOT",
            "trap",
        ),
        ("42", "INVALID_SNAPSHOT", "object"),
        (
            r#"{ task_id: "t", data: {}, created_at: Object.create(Date.prototype) }"#,
            "INVALID_TIMESTAMP",
            "invalid",
        ),
    ];
    for (expr, code, needle) in cases {
        let msg = assert_state_error(store.save(js(expr), JsValue::UNDEFINED), code);
        assert!(msg.contains(needle), "{expr}: {msg:?} lacks {needle:?}");
    }
    let deep = js(
        r#"(() => { let v = 1; for (let i = 0; i < 200; i++) v = [v]; return { task_id: "t", data: { v } }; })()"#,
    );
    assert_state_error(store.save(deep, JsValue::UNDEFINED), "TOO_LARGE");
    let msg = assert_state_error(
        store.save(
            js(r#"{ task_id: "t", data: { s: "a\ud800b" } }"#),
            JsValue::UNDEFINED,
        ),
        "INVALID_SNAPSHOT",
    );
    assert!(msg.contains("lone UTF-16 surrogate"), "{msg}");
    // A valid U+FFFD is kept.
    let kept = store
        .save(
            js(r#"{ task_id: "fffd", data: { s: "a\ufffdb" } }"#),
            JsValue::UNDEFINED,
        )
        .unwrap();
    assert_eq!(json(&prop(&kept, "data")), "{\"s\":\"a\u{fffd}b\"}");
    store
        .delete(JsValue::from_str("fffd"), JsValue::UNDEFINED)
        .unwrap();
    assert_state_error(
        store.get(JsValue::from(5), JsValue::UNDEFINED),
        "INVALID_ARGUMENT",
    );
    assert_state_error(
        store.get(JsValue::from_str("t"), JsValue::from(0)),
        "INVALID_ARGUMENT",
    );
    assert_state_error(
        store.prune(JsValue::from_str("keep"), js("{}")),
        "INVALID_ARGUMENT",
    );
    assert_eq!(
        json(&store.list_tasks().unwrap()),
        before,
        "a failed call changed nothing"
    );
    // Still usable.
    store
        .save(
            js(r#"{ task_id: "keep", data: { ok: 2 } }"#),
            JsValue::UNDEFINED,
        )
        .unwrap();
    assert_eq!(
        json(&store.list_versions(JsValue::from_str("keep")).unwrap()),
        "[1,2]"
    );
}

pub fn metering() {
    let store = MemoryMeteringStore::new();
    for (i, ts) in [
        "2025-02-08T12:00:00Z",
        "2025-02-08T11:00:00+00:00",
        "2025-02-08T13:30:00+01:00",
    ]
    .iter()
    .enumerate()
    {
        store
            .record(js(&format!(
                r#"{{ id: "e{i}", task_id: "t", agent_id: "a", consumer_id: "c", metrics: {{ tokens_in: 10, tokens_out: 20, duration_ms: 100, api_calls: 1 }}, timestamp: "{ts}" }}"#
            )))
            .unwrap();
    }
    // Idempotent by id.
    store
        .record(js(
            r#"{ id: "e0", task_id: "x", agent_id: "a", consumer_id: "c" }"#,
        ))
        .unwrap();
    let events = store
        .query(
            JsValue::from_str("a"),
            JsValue::from_str("2025-02-08T11:00:00Z"),
            js("new Date(Date.UTC(2025, 1, 8, 12, 30))"),
            JsValue::UNDEFINED,
        )
        .unwrap();
    let ids: Vec<String> = js_sys::Array::from(&events)
        .iter()
        .map(|e| prop(&e, "id").as_string().unwrap())
        .collect();
    assert_eq!(ids, ["e1", "e0", "e2"]);
    let agg = store
        .aggregate(
            JsValue::from_str("a"),
            JsValue::from_str("day"),
            JsValue::UNDEFINED,
        )
        .unwrap();
    assert_eq!(
        json(&agg),
        r#"{"agent_id":"a","period":"day","total_tokens":90,"total_duration":300,"total_tasks":3,"total_api_calls":3}"#
    );
    let series = store
        .series(
            JsValue::from_str("a"),
            js(r#"{ bucket: "hour", start: "2025-02-08T00:00:00Z", end: "2025-02-09T00:00:00Z" }"#),
        )
        .unwrap();
    assert_eq!(js_sys::Array::from(&series).length(), 2);
    let msg = assert_state_error(
        store.query(
            JsValue::from_str("a"),
            JsValue::from(0),
            JsValue::from(1),
            js("{ offset: -1 }"),
        ),
        "INVALID_ARGUMENT",
    );
    assert!(msg.contains("offset must be non-negative"));
    assert_state_error(
        store.record(js(
            r#"{ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: -1 } }"#,
        )),
        "INVALID_EVENT",
    );
    let csv = store
        .export(JsValue::from_str("csv"), JsValue::UNDEFINED)
        .unwrap();
    assert!(csv.starts_with(
        "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp\r\n"
    ));
    assert_eq!(csv.lines().count(), 4);
    assert_eq!(json(&store.agents().unwrap()), r#"["a"]"#);
}

pub fn generated_ids_are_unique_ulids() {
    let store = MemorySnapshotStore::new();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let s = store
            .save(js(r#"{ task_id: "t", data: {} }"#), JsValue::UNDEFINED)
            .unwrap();
        let id = prop(&s, "id").as_string().unwrap();
        assert_eq!(id.len(), "snap_".len() + 26);
        assert!(ids.insert(id));
    }
}

pub fn diffs() {
    let store = MemorySnapshotStore::new();
    for data in [
        r#"{ a: 1, l: [1, 2, 3], o: { "x/y": "s", k: 1 } }"#,
        r#"{ a: 2, l: [1], o: { "x/y": "t", k: 1.0 }, n: null }"#,
    ] {
        store
            .save(
                js(&format!("{{ task_id: \"t\", data: {data} }}")),
                JsValue::UNDEFINED,
            )
            .unwrap();
    }
    let from = store.get(JsValue::from_str("t"), JsValue::from(1)).unwrap();
    let to = store
        .get(JsValue::from_str("t"), JsValue::UNDEFINED)
        .unwrap();
    let diff = diff_snapshots_js(from.clone(), to.clone()).unwrap();
    assert_eq!(
        json(&diff),
        format!(
            r#"{{"task_id":"t","from_version":1,"to_version":2,"from_id":{},"to_id":{},"added":1,"removed":2,"changed":2,"changes":[{{"op":"changed","path":"/a","segments":["a"],"old":1,"new":2}},{{"op":"removed","path":"/l/2","segments":["l",2],"old":3}},{{"op":"removed","path":"/l/1","segments":["l",1],"old":2}},{{"op":"changed","path":"/o/x~1y","segments":["o","x/y"],"old":"s","new":"t"}},{{"op":"added","path":"/n","segments":["n"],"new":null}}]}}"#,
            json(&prop(&from, "id")),
            json(&prop(&to, "id")),
        )
    );
    let changes = diff_json_js(js("[1, { y: 'a' }, 0]"), js("[1.0, { y: 'b', z: [] }]")).unwrap();
    assert_eq!(
        json(&changes),
        r#"[{"op":"changed","path":"/1/y","segments":[1,"y"],"old":"a","new":"b"},{"op":"added","path":"/1/z","segments":[1,"z"],"new":[]},{"op":"removed","path":"/2","segments":[2],"old":0}]"#
    );
    assert_eq!(json(&diff_json_js(js("null"), js("null")).unwrap()), "[]");
    // Bad input: StateErrors naming the argument and the field.
    let without = |v: &JsValue, key: &str| {
        let copy = JSON::parse(&json(v)).unwrap();
        Reflect::delete_property(
            copy.unchecked_ref::<js_sys::Object>(),
            &JsValue::from_str(key),
        )
        .unwrap();
        copy
    };
    let msg = assert_state_error(
        diff_snapshots_js(without(&from, "data"), to.clone()),
        "INVALID_ARGUMENT",
    );
    assert_eq!(msg, "from.data is required");
    let msg = assert_state_error(
        diff_snapshots_js(from.clone(), without(&to, "version")),
        "INVALID_ARGUMENT",
    );
    assert_eq!(msg, "to.version is required");
    let msg = assert_state_error(
        diff_snapshots_js(JsValue::UNDEFINED, to.clone()),
        "INVALID_ARGUMENT",
    );
    assert!(msg.starts_with("from must be an object"), "{msg}");
    let bad_data = js(
        r#"{ id: "s", task_id: "t", version: 1, data: { x: NaN }, checkpoint: false, created_at: "2025-02-08T12:00:00+00:00" }"#,
    );
    let msg = assert_state_error(
        diff_snapshots_js(from.clone(), bad_data),
        "INVALID_ARGUMENT",
    );
    assert!(msg.starts_with("to.data.x: NaN"), "{msg}");
    let cases: &[(&str, &str, &str)] = &[
        (
            "undefined",
            "INVALID_ARGUMENT",
            "oldValue: undefined is not a JSON value",
        ),
        (
            "[1, undefined]",
            "INVALID_ARGUMENT",
            "oldValue[1]: undefined",
        ),
        (
            "({ d: new Date(0) })",
            "INVALID_ARGUMENT",
            "oldValue.d: a Date is not a plain object",
        ),
        (
            "(() => { const o = {}; o.self = o; return o; })()",
            "INVALID_ARGUMENT",
            "oldValue.self: the value refers to itself",
        ),
        ("10n", "INVALID_ARGUMENT", "oldValue: a BigInt"),
        (
            "(() => { let v = 1; for (let i = 0; i < 200; i++) v = [v]; return v; })()",
            "TOO_LARGE",
            "oldValue",
        ),
    ];
    for (expr, code, start) in cases {
        let msg = assert_state_error(diff_json_js(js(expr), JsValue::NULL), code);
        assert!(msg.starts_with(start), "{expr}: {msg}");
    }
    let msg = assert_state_error(
        diff_json_js(JsValue::NULL, JsValue::UNDEFINED),
        "INVALID_ARGUMENT",
    );
    assert_eq!(msg, "newValue: undefined is not a JSON value");
    // Nothing changed, and the store still works.
    assert_eq!(
        json(&store.list_versions(JsValue::from_str("t")).unwrap()),
        "[1,2]"
    );
    store
        .save(
            js(r#"{ task_id: "t", data: { a: 3 } }"#),
            JsValue::UNDEFINED,
        )
        .unwrap();
    let v3 = store
        .get(JsValue::from_str("t"), JsValue::UNDEFINED)
        .unwrap();
    let diff = diff_snapshots_js(to, v3).unwrap();
    assert_eq!(prop(&diff, "to_version").as_f64(), Some(3.0));
    assert_eq!(prop(&diff, "removed").as_f64(), Some(3.0));
    assert_eq!(prop(&diff, "changed").as_f64(), Some(1.0));
}

#[macro_export]
macro_rules! binding_tests {
    () => {
        #[wasm_bindgen_test::wasm_bindgen_test]
        fn snapshot_round_trip() {
            common::snapshot_round_trip();
        }
        #[wasm_bindgen_test::wasm_bindgen_test]
        fn bad_inputs_are_state_errors_and_change_nothing() {
            common::bad_inputs_are_state_errors_and_change_nothing();
        }
        #[wasm_bindgen_test::wasm_bindgen_test]
        fn metering() {
            common::metering();
        }
        #[wasm_bindgen_test::wasm_bindgen_test]
        fn diffs() {
            common::diffs();
        }
        #[wasm_bindgen_test::wasm_bindgen_test]
        fn generated_ids_are_unique_ulids() {
            common::generated_ids_are_unique_ulids();
        }
    };
}
