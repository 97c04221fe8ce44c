//! ASAP state messages (`handle_state_envelope`, `handle_asap_request`) and copies between
//! stores (`copy_snapshots`, `copy_usage`, `copy_state`).
//!
//! The store-facing cases are written once, over `&dyn SnapshotStore`, and run by
//! [`backend_suite!`] against the memory store and a SQLite image.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use std::sync::Arc;

use asap_state::{
    copy_snapshots, copy_state, copy_usage, handle_asap_request, handle_asap_request_str,
    handle_state_envelope, parse_envelope, ExportFilter, ExportFormat, ManualClock,
    MemoryMeteringStore, MemorySnapshotStore, MeteringStore, PrunePolicy, QueryOptions, RandomIds,
    RpcError, Runtime, SaveOptions, SequentialIds, SnapshotStore, SqliteStateDb, StateError,
    StateSnapshot, StateSnapshotInput, TaskSummary, Timestamp, UsageEventInput, UsageMetrics,
    Window,
};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const NOW: &str = "2025-02-08T12:00:00.123456Z";
const NOW_TEXT: &str = "2025-02-08T12:00:00.123456+00:00";
const COORD: &str = "urn:asap:agent:coordinator";
const BACKUP: &str = "urn:asap:agent:backup";

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s, "test").unwrap()
}

/// The handler's runtime: a stopped clock and random ULIDs (replies need real ULIDs).
fn handler_runtime() -> (Runtime, Arc<ManualClock>) {
    let clock = ManualClock::new(ts(NOW));
    (Runtime::new(clock.clone(), Arc::new(RandomIds)), clock)
}

/// A store's runtime: the same instant, sequential ids.
fn store_runtime() -> Runtime {
    Runtime::new(ManualClock::new(ts(NOW)), SequentialIds::new())
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Everything a snapshot store holds, for "a failed call changes nothing".
fn dump(store: &dyn SnapshotStore) -> Vec<StateSnapshot> {
    let mut out = Vec::new();
    for task in store.list_tasks().unwrap() {
        for v in store.list_versions(&task.task_id).unwrap() {
            out.push(store.get(&task.task_id, Some(v)).unwrap().unwrap());
        }
    }
    out
}

/// A request envelope from the coordinator to the backup.
fn envelope(payload_type: &str, payload: Value) -> Value {
    json!({
        "id": "msg-1",
        "asap_version": "0.1",
        "timestamp": "2025-02-08T11:59:00Z",
        "sender": COORD,
        "recipient": BACKUP,
        "payload_type": payload_type,
        "payload": payload,
        "trace_id": "trace-1",
    })
}

fn handle(store: &dyn SnapshotStore, env: &Value) -> Result<Value, RpcError> {
    handle_state_envelope(store, &handler_runtime().0, env)
}

fn ok(store: &dyn SnapshotStore, env: &Value) -> Value {
    match handle(store, env) {
        Ok(reply) => reply,
        Err(e) => panic!("expected a reply, got {e}"),
    }
}

fn err(store: &dyn SnapshotStore, env: &Value) -> RpcError {
    match handle(store, env) {
        Ok(reply) => panic!("expected an error, got {reply}"),
        Err(e) => e,
    }
}

fn error_text(e: &RpcError) -> &str {
    e.data["error"].as_str().unwrap()
}

fn save(store: &dyn SnapshotStore, task: &str, data: Value) -> StateSnapshot {
    store
        .save(
            StateSnapshotInput::new(task, obj(data)),
            SaveOptions::default(),
        )
        .unwrap()
}

fn is_ulid(s: &str) -> bool {
    s.len() == 26 && ulid::Ulid::from_string(s).is_ok()
}

/// Instantiates every store-facing case for one backend.
macro_rules! backend_suite {
    ($name:ident, $factory:expr) => {
        mod $name {
            use super::*;

            fn store() -> Box<dyn SnapshotStore> {
                let f: fn(Runtime) -> Box<dyn SnapshotStore> = $factory;
                f(store_runtime())
            }

            backend_suite!(@cases
                query_latest, query_version, query_not_found, restore_any_version_by_id,
                restore_not_found, save_then_query_round_trip, save_assigns_versions,
                save_upserts_like_save, save_expected_version, reply_envelope_fields,
                reply_without_id_or_trace, malformed_envelopes_change_nothing,
                bad_payloads_change_nothing, bad_snapshot_in_save, rpc_round_trip,
                rpc_errors, rpc_text, copy_round_trip_with);
        }
    };
    (@cases $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let s = store();
                super::cases::$case(s.as_ref());
            }
        )*
    };
}

backend_suite!(memory, |rt| Box::new(MemorySnapshotStore::with_runtime(rt)));
backend_suite!(sqlite_image, |rt| Box::new(
    SqliteStateDb::open_in_memory(rt).unwrap().snapshots()
));

/// The keys of a JSON object, in their order.
fn key_order(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------------
// Store-facing cases
// ---------------------------------------------------------------------------------------------

mod cases {
    use super::*;

    pub fn query_latest(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"step": 1}));
        let latest = save(s, "task-1", json!({"step": 2, "plan": ["a", "b"]}));
        let reply = ok(s, &envelope("state_query", json!({"task_id": "task-1"})));
        assert_eq!(reply["payload_type"], "state_query.response");
        assert_eq!(
            reply["payload"],
            json!({"found": true, "snapshot": serde_json::to_value(&latest).unwrap()})
        );
        assert_eq!(
            key_order(&reply["payload"]["snapshot"]),
            [
                "id",
                "task_id",
                "version",
                "data",
                "checkpoint",
                "created_at"
            ]
        );
        // `version: null` is the latest too.
        let reply = ok(
            s,
            &envelope("state_query", json!({"task_id": "task-1", "version": null})),
        );
        assert_eq!(reply["payload"]["snapshot"]["version"], 2);
    }

    pub fn query_version(s: &dyn SnapshotStore) {
        let first = save(s, "task-1", json!({"step": 1}));
        save(s, "task-1", json!({"step": 2}));
        let reply = ok(
            s,
            &envelope("state_query", json!({"task_id": "task-1", "version": 1})),
        );
        assert_eq!(reply["payload"]["found"], true);
        assert_eq!(
            reply["payload"]["snapshot"],
            serde_json::to_value(&first).unwrap()
        );
    }

    pub fn query_not_found(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"step": 1}));
        let reply = ok(s, &envelope("state_query", json!({"task_id": "nope"})));
        assert_eq!(
            reply["payload"],
            json!({"found": false, "task_id": "nope", "version": null, "error": "snapshot not found"})
        );
        let reply = ok(
            s,
            &envelope("state_query", json!({"task_id": "task-1", "version": 9})),
        );
        assert_eq!(
            reply["payload"],
            json!({"found": false, "task_id": "task-1", "version": 9, "error": "snapshot not found"})
        );
        assert_eq!(
            key_order(&reply["payload"]),
            ["found", "task_id", "version", "error"]
        );
    }

    pub fn restore_any_version_by_id(s: &dyn SnapshotStore) {
        let v1 = save(s, "task-1", json!({"step": 1}));
        let v2 = save(s, "task-1", json!({"step": 2}));
        save(s, "task-1", json!({"step": 3}));
        // The reference only compared with the latest; any stored version is found by id.
        for snap in [&v1, &v2] {
            let reply = ok(
                s,
                &envelope(
                    "state_restore",
                    json!({"task_id": "task-1", "snapshot_id": snap.id}),
                ),
            );
            assert_eq!(reply["payload_type"], "state_restore.ack");
            assert_eq!(
                reply["payload"],
                json!({"ok": true, "task_id": "task-1", "snapshot_id": snap.id, "version": snap.version})
            );
        }
    }

    pub fn restore_not_found(s: &dyn SnapshotStore) {
        let v1 = save(s, "task-1", json!({"step": 1}));
        save(s, "task-2", json!({"step": 1}));
        for (task, id) in [
            ("task-1", "snap_missing"),
            ("task-2", v1.id.as_str()), // the id of another task's snapshot
            ("task-9", v1.id.as_str()),
        ] {
            let reply = ok(
                s,
                &envelope("state_restore", json!({"task_id": task, "snapshot_id": id})),
            );
            assert_eq!(
                reply["payload"],
                json!({"ok": false, "task_id": task, "snapshot_id": id, "error": "snapshot not found"})
            );
        }
    }

    pub fn save_then_query_round_trip(s: &dyn SnapshotStore) {
        let snapshot = json!({
            "id": "snap_fixed", "task_id": "task-1", "version": 4,
            "data": {"nested": {"list": [1, 2.5, "x", null, true]}, "big": 9007199254740991u64},
            "checkpoint": true, "created_at": "2025-02-08T09:00:00.5-03:00",
        });
        let reply = ok(s, &envelope("state_save", json!({"snapshot": snapshot})));
        assert_eq!(reply["payload_type"], "state_save.ack");
        assert_eq!(
            reply["payload"],
            json!({"ok": true, "task_id": "task-1", "snapshot_id": "snap_fixed", "version": 4})
        );
        let reply = ok(s, &envelope("state_query", json!({"task_id": "task-1"})));
        assert_eq!(
            reply["payload"]["snapshot"],
            json!({
                "id": "snap_fixed", "task_id": "task-1", "version": 4,
                "data": {"nested": {"list": [1, 2.5, "x", null, true]}, "big": 9007199254740991u64},
                "checkpoint": true, "created_at": "2025-02-08T12:00:00.500000+00:00",
            })
        );
        assert_eq!(
            s.get("task-1", Some(4)).unwrap().unwrap().created_at,
            ts("2025-02-08T12:00:00.5Z")
        );
    }

    pub fn save_assigns_versions(s: &dyn SnapshotStore) {
        for expected in 1..=3u64 {
            let reply = ok(
                s,
                &envelope(
                    "state_save",
                    json!({"snapshot": {"task_id": "task-1", "data": {"n": expected}}}),
                ),
            );
            assert_eq!(reply["payload"]["ok"], true);
            assert_eq!(reply["payload"]["version"], expected);
            let id = reply["payload"]["snapshot_id"].as_str().unwrap();
            assert_eq!(s.get("task-1", None).unwrap().unwrap().id, id);
        }
        assert_eq!(s.list_versions("task-1").unwrap(), vec![1, 2, 3]);
    }

    pub fn save_upserts_like_save(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"old": true}));
        let reply = ok(
            s,
            &envelope(
                "state_save",
                json!({"snapshot": {"task_id": "task-1", "version": 1, "data": {"new": true}}}),
            ),
        );
        assert_eq!(reply["payload"]["version"], 1);
        assert_eq!(s.list_versions("task-1").unwrap(), vec![1]);
        assert_eq!(
            Value::Object(s.get("task-1", None).unwrap().unwrap().data),
            json!({"new": true})
        );
    }

    pub fn save_expected_version(s: &dyn SnapshotStore) {
        let payload = |expected: Value| {
            envelope(
                "state_save",
                json!({"snapshot": {"task_id": "task-1", "data": {"x": 1}}, "expected_version": expected}),
            )
        };
        // 0: the task must not exist — it does not yet.
        assert_eq!(ok(s, &payload(json!(0)))["payload"]["version"], 1);
        let before = dump(s);
        // A stale writer: a VERSION_CONFLICT ack, nothing saved.
        for stale in [json!(0), json!(2), json!(7)] {
            let reply = ok(s, &payload(stale.clone()));
            assert_eq!(reply["payload_type"], "state_save.ack");
            let p = reply["payload"].as_object().unwrap();
            assert_eq!(
                p.keys().collect::<Vec<_>>(),
                ["ok", "task_id", "error", "message"]
            );
            assert_eq!(p["ok"], false);
            assert_eq!(p["task_id"], "task-1");
            assert_eq!(p["error"], "VERSION_CONFLICT");
            let message = p["message"].as_str().unwrap();
            assert!(
                message.contains("task-1") && message.contains("version 1"),
                "{message}"
            );
            assert_eq!(dump(s), before, "a conflict saves nothing ({stale})");
        }
        // The right expected version, and null (= no check), save.
        assert_eq!(ok(s, &payload(json!(1)))["payload"]["version"], 2);
        assert_eq!(ok(s, &payload(json!(null)))["payload"]["version"], 3);
    }

    pub fn reply_envelope_fields(s: &dyn SnapshotStore) {
        let (rt, clock) = handler_runtime();
        let request = envelope("state_query", json!({"task_id": "task-1"}));
        let reply = handle_state_envelope(s, &rt, &request).unwrap();
        // The reference's field order, pinned here apart from the core's ENVELOPE_FIELDS.
        assert_eq!(
            key_order(&reply).join(" "),
            "id asap_version timestamp sender recipient payload_type payload correlation_id \
             trace_id requires_ack extensions"
        );
        assert_eq!(reply["asap_version"], "0.1");
        assert_eq!(reply["sender"], BACKUP);
        assert_eq!(reply["recipient"], COORD);
        assert_eq!(reply["correlation_id"], "msg-1");
        assert_eq!(reply["trace_id"], "trace-1");
        assert_eq!(reply["requires_ack"], false);
        assert_eq!(reply["extensions"], Value::Null);
        assert_eq!(reply["timestamp"], NOW_TEXT);
        // A fresh bare ULID whose time is the clock's millisecond.
        let id = reply["id"].as_str().unwrap();
        assert!(is_ulid(id), "{id}");
        let ulid = ulid::Ulid::from_string(id).unwrap();
        assert_eq!(
            i64::try_from(ulid.timestamp_ms()).unwrap(),
            ts(NOW).as_millis()
        );
        assert_ne!(id, "msg-1");
        // The clock moves: the next reply says so, with another id.
        clock.advance(1_500_000);
        let next = handle_state_envelope(s, &rt, &request).unwrap();
        assert_eq!(next["timestamp"], "2025-02-08T12:00:01.623456+00:00");
        assert_ne!(next["id"], reply["id"]);
        // The version is copied as given.
        let mut other = request.clone();
        other["asap_version"] = json!("2.2");
        assert_eq!(handle(s, &other).unwrap()["asap_version"], "2.2");
    }

    pub fn reply_without_id_or_trace(s: &dyn SnapshotStore) {
        let request = json!({
            "asap_version": "0.1", "sender": "urn:asap:agent:a", "recipient": "urn:asap:agent:b:c",
            "payload_type": "state_query", "payload": {"task_id": "t"},
        });
        let reply = ok(s, &request);
        assert_eq!(reply["correlation_id"], Value::Null);
        assert_eq!(reply["trace_id"], Value::Null);
        assert_eq!(reply["sender"], "urn:asap:agent:b:c");
        assert_eq!(reply["recipient"], "urn:asap:agent:a");
        // Explicit nulls, requires_ack and extensions are accepted (and not echoed).
        let mut full = request.clone();
        full["id"] = Value::Null;
        full["timestamp"] = Value::Null;
        full["correlation_id"] = json!("c-1");
        full["trace_id"] = Value::Null;
        full["requires_ack"] = json!(true);
        full["extensions"] = json!({"nonce": "n-1"});
        let reply = ok(s, &full);
        assert_eq!(reply["correlation_id"], Value::Null);
        assert_eq!(reply["requires_ack"], false);
        assert_eq!(reply["extensions"], Value::Null);
    }

    /// Rows of (request, start of the message) as cases with a JSON-RPC and a StateError code.
    fn tagged<T: ToString>(
        code: i64,
        state_code: &'static str,
        rows: Vec<(Value, T)>,
    ) -> impl Iterator<Item = (Value, i64, &'static str, String)> {
        rows.into_iter()
            .map(move |(request, text)| (request, code, state_code, text.to_string()))
    }

    /// Every malformed envelope: the JSON-RPC code, the StateError code, a message naming the
    /// field, and nothing changed.
    pub fn malformed_envelopes_change_nothing(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"step": 1}));
        let before = dump(s);
        let good = envelope(
            "state_save",
            json!({"snapshot": {"task_id": "task-1", "data": {"step": 99}}}),
        );
        let without = |key: &str| {
            let mut e = good.clone();
            e.as_object_mut().unwrap().remove(key);
            e
        };
        let with = |key: &str, value: Value| {
            let mut e = good.clone();
            e[key] = value;
            e
        };
        // Invalid params (-32602) refused as INVALID_ARGUMENT, then as INVALID_TIMESTAMP, and
        // payload types not handled (-32601): each with the start of its message.
        let mut invalid: Vec<(Value, &str)> = vec![
            (json!(null), "envelope must be an object, got null"),
            (
                json!([good.clone()]),
                "envelope must be an object, got an array",
            ),
            (json!("text"), "envelope must be an object"),
            (json!(1), "envelope must be an object"),
            (without("asap_version"), "envelope.asap_version is required"),
            (without("sender"), "envelope.sender is required"),
            (without("recipient"), "envelope.recipient is required"),
            (without("payload_type"), "envelope.payload_type is required"),
            (without("payload"), "envelope.payload is required"),
            (
                with("asap_version", json!(0.1)),
                "envelope.asap_version must be a string, got number 0.1",
            ),
            (
                with("asap_version", json!(null)),
                "envelope.asap_version must be a string, got null",
            ),
            (with("sender", json!(7)), "envelope.sender must be a string"),
            (
                with("sender", json!("coordinator")),
                "envelope.sender must follow 'urn:asap:agent:{name}'",
            ),
            (
                with(
                    "sender",
                    json!(format!("urn:asap:agent:{}", "a".repeat(242))),
                ),
                "envelope.sender must be at most 256 characters, got 257",
            ),
            (
                with("recipient", json!("urn:asap:task:x")),
                "envelope.recipient must follow 'urn:asap:agent:{name}'",
            ),
            (
                with("payload_type", json!(["state_save"])),
                "envelope.payload_type must be a string, got an array",
            ),
            (
                with("payload", json!([])),
                "envelope.payload must be an object, got an array",
            ),
            (
                with("payload", json!("{}")),
                "envelope.payload must be an object, got string",
            ),
            (
                with("payload", json!(null)),
                "envelope.payload must be an object, got null",
            ),
            (
                with("id", json!(5)),
                "envelope.id must be a string or null, got number 5",
            ),
            (
                with("correlation_id", json!({})),
                "envelope.correlation_id must be a string or null, got an object",
            ),
            (
                with("trace_id", json!(false)),
                "envelope.trace_id must be a string or null, got boolean false",
            ),
            (
                with("requires_ack", json!("yes")),
                "envelope.requires_ack must be a boolean",
            ),
            (
                with("requires_ack", json!(null)),
                "envelope.requires_ack must be a boolean, got null",
            ),
            (
                with("extensions", json!([1])),
                "envelope.extensions must be an object or null, got an array",
            ),
            (with("extra", json!(1)), "envelope: unknown field \"extra\""),
        ];
        // Senders that are not `urn:asap:agent:{name}`.
        for sender in [
            "urn:asap:agent:",
            "urn:asap:agent:Upper",
            "urn:asap:agent:a:b:c",
            "urn:asap:agent:a:",
            "urn:asap:agent:a b",
            "urn:asap:agent:a\n",
        ] {
            invalid.push((with("sender", json!(sender)), "envelope.sender must follow"));
        }
        let bad_timestamps: Vec<(Value, &str)> = vec![
            (
                with("timestamp", json!("2025-02-08T12:00:00")),
                "envelope.timestamp: \"2025-02-08T12:00:00\" has no UTC offset",
            ),
            (
                with("timestamp", json!("yesterday")),
                "envelope.timestamp: \"yesterday\" is not an ISO 8601 date-time",
            ),
            (
                with("timestamp", json!(1_700_000_000_000u64)),
                "envelope.timestamp must be an ISO 8601 string with an offset, got number",
            ),
        ];
        let not_handled: Vec<(Value, String)> = ["task.request", "State_Save", ""]
            .iter()
            .map(|t| {
                let text = format!("envelope.payload_type {t:?} is not handled");
                (with("payload_type", json!(t)), text)
            })
            .collect();
        let cases = tagged(-32602, "INVALID_ARGUMENT", invalid)
            .chain(tagged(-32602, "INVALID_TIMESTAMP", bad_timestamps))
            .chain(tagged(-32601, "INVALID_ARGUMENT", not_handled));
        for (request, code, state_code, text) in cases {
            let e = err(s, &request);
            assert_eq!(e.code, code, "{request}: {e}");
            let message = match code {
                -32601 => "Method not found",
                _ => "Invalid params",
            };
            assert_eq!(e.message, message);
            assert_eq!(e.data["code"], state_code, "{request}: {e}");
            assert!(
                error_text(&e).starts_with(&text),
                "{request}: {:?} should start with {text:?}",
                error_text(&e)
            );
            assert_eq!(dump(s), before, "{request} changed the store");
        }
        // The payload types are listed for an unknown one.
        let e = err(s, &with("payload_type", json!("x")));
        assert!(error_text(&e).ends_with("\"state_query\", \"state_restore\", \"state_save\""));
    }

    pub fn bad_payloads_change_nothing(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"step": 1}));
        let before = dump(s);
        let cases: Vec<(&str, Value, &str)> = vec![
            ("state_query", json!({}), "envelope.payload.task_id is required"),
            ("state_query", json!({"task_id": 1}), "envelope.payload.task_id must be a string, got number 1"),
            ("state_query", json!({"task_id": ""}), "envelope.payload.task_id must be a non-empty string"),
            ("state_query", json!({"task_id": null}), "envelope.payload.task_id must be a string, got null"),
            ("state_query", json!({"task_id": "t", "version": "2"}), "envelope.payload.version must be an integer from 1 to 9007199254740991, got string \"2\""),
            ("state_query", json!({"task_id": "t", "version": 1.5}), "envelope.payload.version must be an integer from 1"),
            ("state_query", json!({"task_id": "t", "version": 0}), "envelope.payload.version must be an integer from 1"),
            ("state_query", json!({"task_id": "t", "version": -5}), "envelope.payload.version must be an integer from 1"),
            ("state_query", json!({"task_id": "t", "snapshot_id": "x"}), "envelope.payload: unknown field \"snapshot_id\""),
            ("state_restore", json!({}), "envelope.payload.task_id is required"),
            ("state_restore", json!({"task_id": "task-1"}), "envelope.payload.snapshot_id is required"),
            ("state_restore", json!({"snapshot_id": "s"}), "envelope.payload.task_id is required"),
            ("state_restore", json!({"task_id": "task-1", "snapshot_id": 3}), "envelope.payload.snapshot_id must be a string, got number 3"),
            ("state_restore", json!({"task_id": "task-1", "snapshot_id": "s", "version": 1}), "envelope.payload: unknown field \"version\""),
            ("state_save", json!({}), "envelope.payload.snapshot is required"),
            ("state_save", json!({"snapshot": null}), "envelope.payload.snapshot must be an object, got null"),
            ("state_save", json!({"snapshot": {"task_id": "task-1", "data": {}}, "expected_version": -1}), "envelope.payload.expected_version must be an integer from 0"),
            ("state_save", json!({"snapshot": {"task_id": "task-1", "data": {}}, "expected_version": "1"}), "envelope.payload.expected_version must be an integer from 0"),
            ("state_save", json!({"snapshot": {"task_id": "task-1", "data": {}}, "expectedVersion": 1}), "envelope.payload: unknown field \"expectedVersion\""),
        ];
        for (kind, payload, text) in cases {
            let e = err(s, &envelope(kind, payload.clone()));
            assert_eq!(e.code, -32602, "{kind} {payload}: {e}");
            assert_eq!(e.message, "Invalid params");
            assert!(
                error_text(&e).starts_with(text),
                "{kind} {payload}: {:?} should start with {text:?}",
                error_text(&e)
            );
            assert_eq!(dump(s), before, "{kind} {payload} changed the store");
        }
    }

    pub fn bad_snapshot_in_save(s: &dyn SnapshotStore) {
        save(s, "task-1", json!({"step": 1}));
        let before = dump(s);
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"data": {}}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot.task_id is required",
            ),
            (
                json!({"task_id": "task-1"}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot.data is required",
            ),
            (
                json!({"task_id": "task-1", "data": [1]}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot.data must be a plain object, got an array",
            ),
            (
                json!({"task_id": "task-1", "data": {}, "version": 0}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot.version must be an integer from 1",
            ),
            (
                json!({"task_id": "task-1", "data": {}, "checkpoint": 1}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot.checkpoint must be a boolean",
            ),
            (
                json!({"task_id": "task-1", "data": {}, "colour": "red"}),
                "INVALID_SNAPSHOT",
                "envelope.payload.snapshot: unknown field \"colour\"",
            ),
            (
                json!({"task_id": "task-1", "data": {}, "created_at": "2025-02-08"}),
                "INVALID_TIMESTAMP",
                "envelope.payload.snapshot.created_at:",
            ),
            (
                json!({"task_id": "task-1", "data": {"deep": deep}}),
                "TOO_LARGE",
                "envelope.payload.snapshot.data.deep nests deeper than 128 levels",
            ),
        ];
        for (snapshot, code, text) in cases {
            let e = err(s, &envelope("state_save", json!({"snapshot": snapshot})));
            assert_eq!(e.code, -32602, "{e}");
            assert_eq!(e.data["code"], code, "{e}");
            assert!(
                error_text(&e).starts_with(text),
                "{:?} should start with {text:?}",
                error_text(&e)
            );
            assert_eq!(dump(s), before);
        }
    }

    fn rpc(envelope: Value, id: Value) -> Value {
        json!({"jsonrpc": "2.0", "method": "asap.send", "params": {"envelope": envelope}, "id": id})
    }

    pub fn rpc_round_trip(s: &dyn SnapshotStore) {
        let (rt, _clock) = handler_runtime();
        let saved = save(s, "task-1", json!({"step": 1}));
        for id in [json!("req-1"), json!(42), json!(null)] {
            let request = rpc(
                envelope("state_query", json!({"task_id": "task-1"})),
                id.clone(),
            );
            let response = handle_asap_request(s, &rt, &request);
            assert_eq!(key_order(&response), ["jsonrpc", "id", "result"]);
            assert_eq!(response["jsonrpc"], "2.0");
            assert_eq!(response["id"], id);
            let reply = &response["result"]["envelope"];
            assert_eq!(reply["payload_type"], "state_query.response");
            assert_eq!(reply["payload"]["snapshot"]["id"], saved.id.as_str());
            assert_eq!(reply["correlation_id"], "msg-1");
        }
        // Without an id (a notification in JSON-RPC terms) the response's id is null.
        let mut request = rpc(envelope("state_query", json!({"task_id": "x"})), json!(1));
        request.as_object_mut().unwrap().remove("id");
        let response = handle_asap_request(s, &rt, &request);
        assert_eq!(response["id"], Value::Null);
        assert_eq!(response["result"]["envelope"]["payload"]["found"], false);
        // A save through JSON-RPC, read back.
        let response = handle_asap_request(
            s,
            &rt,
            &rpc(
                envelope(
                    "state_save",
                    json!({"snapshot": {"task_id": "task-1", "data": {"step": 2}}, "expected_version": 1}),
                ),
                json!("r2"),
            ),
        );
        assert_eq!(response["result"]["envelope"]["payload"]["version"], 2);
        assert_eq!(s.list_versions("task-1").unwrap(), vec![1, 2]);
    }

    pub fn rpc_errors(s: &dyn SnapshotStore) {
        let (rt, _clock) = handler_runtime();
        save(s, "task-1", json!({"step": 1}));
        let before = dump(s);
        let good = rpc(
            envelope(
                "state_save",
                json!({"snapshot": {"task_id": "task-1", "data": {}}}),
            ),
            json!("r1"),
        );
        let with = |key: &str, value: Value| {
            let mut r = good.clone();
            r[key] = value;
            r
        };
        let without = |key: &str| {
            let mut r = good.clone();
            r.as_object_mut().unwrap().remove(key);
            r
        };
        let cases: Vec<(Value, Value, i64, &str, &str)> = vec![
            (
                json!([]),
                json!(null),
                -32600,
                "Invalid request",
                "request must be a JSON-RPC 2.0 request object, got an array",
            ),
            (
                json!(null),
                json!(null),
                -32600,
                "Invalid request",
                "request must be a JSON-RPC 2.0 request object, got null",
            ),
            (
                json!("x"),
                json!(null),
                -32600,
                "Invalid request",
                "request must be a JSON-RPC 2.0 request object",
            ),
            (
                without("jsonrpc"),
                json!("r1"),
                -32600,
                "Invalid request",
                "request.jsonrpc is required",
            ),
            (
                with("jsonrpc", json!("1.0")),
                json!("r1"),
                -32600,
                "Invalid request",
                "request.jsonrpc must be \"2.0\", got string \"1.0\"",
            ),
            (
                with("jsonrpc", json!(2.0)),
                json!("r1"),
                -32600,
                "Invalid request",
                "request.jsonrpc must be \"2.0\"",
            ),
            (
                without("method"),
                json!("r1"),
                -32600,
                "Invalid request",
                "request.method is required",
            ),
            (
                with("method", json!(1)),
                json!("r1"),
                -32600,
                "Invalid request",
                "request.method must be a string",
            ),
            (
                with("id", json!({"a": 1})),
                json!(null),
                -32600,
                "Invalid request",
                "request.id must be a string, a number or null, got an object",
            ),
            (
                with("id", json!(true)),
                json!(null),
                -32600,
                "Invalid request",
                "request.id must be a string, a number or null",
            ),
            (
                with("extra", json!(1)),
                json!("r1"),
                -32600,
                "Invalid request",
                "request: unknown field \"extra\"",
            ),
            (
                with("method", json!("asap.receive")),
                json!("r1"),
                -32601,
                "Method not found",
                "request.method \"asap.receive\" is not supported; use \"asap.send\"",
            ),
            (
                without("params"),
                json!("r1"),
                -32602,
                "Invalid params",
                "request.params is required",
            ),
            (
                with("params", json!([1])),
                json!("r1"),
                -32602,
                "Invalid params",
                "request.params must be an object, got an array",
            ),
            (
                with("params", json!({})),
                json!("r1"),
                -32602,
                "Invalid params",
                "request.params.envelope is required",
            ),
            (
                with(
                    "params",
                    json!({"envelope": good["params"]["envelope"], "x": 1}),
                ),
                json!("r1"),
                -32602,
                "Invalid params",
                "request.params: unknown field \"x\"",
            ),
            (
                with("params", json!({"envelope": {"asap_version": "0.1"}})),
                json!("r1"),
                -32602,
                "Invalid params",
                "envelope.sender is required",
            ),
            (
                with(
                    "params",
                    json!({"envelope": envelope("task.request", json!({}))}),
                ),
                json!("r1"),
                -32601,
                "Method not found",
                "envelope.payload_type \"task.request\" is not handled",
            ),
        ];
        for (request, id, code, message, text) in cases {
            let response = handle_asap_request(s, &rt, &request);
            assert_eq!(
                key_order(&response),
                ["jsonrpc", "id", "error"],
                "{request}"
            );
            assert_eq!(response["jsonrpc"], "2.0");
            assert_eq!(response["id"], id, "{request}");
            let e = &response["error"];
            assert_eq!(e["code"], code, "{request}: {e}");
            assert_eq!(e["message"], message, "{request}: {e}");
            assert_eq!(e["data"]["code"], "INVALID_ARGUMENT", "{request}: {e}");
            let got = e["data"]["error"].as_str().unwrap();
            assert!(
                got.starts_with(text),
                "{request}: {got:?} should start with {text:?}"
            );
            assert_eq!(dump(s), before, "{request} changed the store");
        }
    }

    pub fn rpc_text(s: &dyn SnapshotStore) {
        let (rt, _clock) = handler_runtime();
        save(s, "task-1", json!({"step": 1}));
        let body = rpc(
            envelope("state_query", json!({"task_id": "task-1"})),
            json!(3),
        )
        .to_string();
        let response = handle_asap_request_str(s, &rt, &body);
        assert_eq!(response["id"], 3);
        assert_eq!(response["result"]["envelope"]["payload"]["found"], true);
        let mut deep = "[".repeat(300);
        deep.push_str(&"]".repeat(300));
        for garbage in [
            "{",
            "",
            "nope",
            "{\"jsonrpc\": \"2.0\",}",
            "\"\\ud800\"",
            deep.as_str(),
        ] {
            let response = handle_asap_request_str(s, &rt, garbage);
            assert_eq!(response["id"], Value::Null, "{garbage}");
            assert_eq!(response["error"]["code"], -32700, "{garbage}");
            assert_eq!(response["error"]["message"], "Parse error");
            assert!(response["error"]["data"]["error"]
                .as_str()
                .unwrap()
                .starts_with("the request body is not JSON: "));
        }
        // JSON that is not a request object.
        let response = handle_asap_request_str(s, &rt, "[]");
        assert_eq!(response["error"]["code"], -32600);
        let response = handle_asap_request_str(s, &rt, "null");
        assert_eq!(response["error"]["code"], -32600);
    }

    /// The store's contents survive a copy out and back.
    pub fn copy_round_trip_with(s: &dyn SnapshotStore) {
        let a = save(s, "task-a", json!({"a": 1}));
        let mut input = StateSnapshotInput::new("task-b", obj(json!({"b": [1, 2]})))
            .version(7)
            .id("snap_b7")
            .checkpoint(true)
            .created_at(ts("2024-01-01T00:00:00.000001Z"));
        s.save(input.clone(), SaveOptions::default()).unwrap();
        input.version = Some(9);
        input.id = Some("snap_b9".into());
        s.save(input, SaveOptions::default()).unwrap();
        let mirror = MemorySnapshotStore::with_runtime(store_runtime());
        assert_eq!(copy_snapshots(s, &mirror).unwrap(), 3);
        assert_eq!(dump(&mirror), dump(s));
        assert_eq!(mirror.get("task-a", None).unwrap().unwrap(), a);
        // Back into the store: nothing changes.
        let before = dump(s);
        assert_eq!(copy_snapshots(&mirror, s).unwrap(), 3);
        assert_eq!(dump(s), before);
    }
}

// ---------------------------------------------------------------------------------------------
// Store failures
// ---------------------------------------------------------------------------------------------

/// A store whose every call fails as a broken disk would.
struct Broken;

impl SnapshotStore for Broken {
    fn save(&self, _: StateSnapshotInput, _: SaveOptions) -> asap_state::Result<StateSnapshot> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn get(&self, _: &str, _: Option<u64>) -> asap_state::Result<Option<StateSnapshot>> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn get_by_id(&self, _: &str, _: &str) -> asap_state::Result<Option<StateSnapshot>> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn list_versions(&self, _: &str) -> asap_state::Result<Vec<u64>> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn delete(&self, _: &str, _: Option<u64>) -> asap_state::Result<bool> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn list_tasks(&self) -> asap_state::Result<Vec<TaskSummary>> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
    fn prune(&self, _: &str, _: PrunePolicy) -> asap_state::Result<u64> {
        Err(StateError::StorageIo("disk on fire".into()))
    }
}

#[test]
fn a_failing_store_is_an_internal_error() {
    for (kind, payload) in [
        ("state_query", json!({"task_id": "t"})),
        ("state_restore", json!({"task_id": "t", "snapshot_id": "s"})),
        (
            "state_save",
            json!({"snapshot": {"task_id": "t", "data": {}}}),
        ),
    ] {
        let e = err(&Broken, &envelope(kind, payload));
        assert_eq!(e.code, -32603);
        assert_eq!(e.message, "Internal error");
        assert_eq!(e.data["code"], "STORAGE_IO");
        assert_eq!(error_text(&e), "disk on fire", "{e}");
    }
    // Validation comes first: a malformed message to a failing store is still -32602.
    let e = err(&Broken, &envelope("state_query", json!({})));
    assert_eq!(e.code, -32602);
}

#[test]
fn a_closed_database_is_an_internal_error() {
    let db = SqliteStateDb::open_in_memory(store_runtime()).unwrap();
    let store = db.snapshots();
    save(&store, "t", json!({"x": 1}));
    db.close().unwrap();
    let e = err(&store, &envelope("state_query", json!({"task_id": "t"})));
    assert_eq!((e.code, e.data["code"].as_str()), (-32603, Some("CLOSED")));
    let response = handle_asap_request(
        &store,
        &handler_runtime().0,
        &json!({"jsonrpc": "2.0", "method": "asap.send", "id": "r",
                "params": {"envelope": envelope("state_query", json!({"task_id": "t"}))}}),
    );
    assert_eq!(response["id"], "r");
    assert_eq!(response["error"]["code"], -32603);
    assert_eq!(response["error"]["data"]["code"], "CLOSED");
}

#[test]
fn rpc_error_serialises_as_json_rpc() {
    let e = RpcError::invalid_params("envelope.payload is required");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"code": -32602, "message": "Invalid params",
               "data": {"error": "envelope.payload is required", "code": "INVALID_ARGUMENT"}})
    );
    assert_eq!(serde_json::to_value(&e).unwrap(), e.to_json());
    assert_eq!(
        e.to_string(),
        "Invalid params (-32602): envelope.payload is required"
    );
}

#[test]
fn parse_envelope_reads_every_field() {
    let env = parse_envelope(&json!({
        "id": "m", "asap_version": "0.1", "timestamp": "2025-02-08T13:00:00+01:00",
        "sender": "urn:asap:agent:a", "recipient": "urn:asap:agent:b-2:x",
        "payload_type": "p", "payload": {"k": 1}, "correlation_id": "c", "trace_id": "t",
        "requires_ack": true, "extensions": {"nonce": "n"},
    }))
    .unwrap();
    assert_eq!(env.id.as_deref(), Some("m"));
    assert_eq!(env.timestamp, Some(ts("2025-02-08T12:00:00Z")));
    assert_eq!(env.recipient, "urn:asap:agent:b-2:x");
    assert_eq!(env.payload, obj(json!({"k": 1})));
    assert_eq!(env.correlation_id.as_deref(), Some("c"));
    assert_eq!(env.trace_id.as_deref(), Some("t"));
    assert!(env.requires_ack);
    assert_eq!(env.extensions, Some(obj(json!({"nonce": "n"}))));
    // A URN of exactly 256 characters is accepted; one more is not.
    let long = format!("urn:asap:agent:{}", "a".repeat(241));
    assert_eq!(long.len(), 256);
    assert!(asap_state::check_agent_urn(&long, "x").is_ok());
}

// ---------------------------------------------------------------------------------------------
// Copies
// ---------------------------------------------------------------------------------------------

fn fill(snapshots: &dyn SnapshotStore, metering: &dyn MeteringStore) {
    for (task, n) in [("task-a", 3u64), ("task-b", 1), ("task-c", 2)] {
        for v in 1..=n {
            let input = StateSnapshotInput::new(task, obj(json!({"task": task, "v": v})))
                .checkpoint(v == 1)
                .created_at(
                    Timestamp::from_micros(1_700_000_000_000_000 + (v as i64) * 1_234_567).unwrap(),
                );
            snapshots.save(input, SaveOptions::default()).unwrap();
        }
    }
    for i in 0..5u64 {
        let agent = if i % 2 == 0 { "agent-a" } else { "agent-b" };
        metering
            .record(
                UsageEventInput::new(format!("task-{i}"), agent, "consumer")
                    .metrics(UsageMetrics {
                        tokens_in: i,
                        tokens_out: 2 * i,
                        duration_ms: 10 * i,
                        api_calls: 1,
                    })
                    // Two events share a timestamp: ties keep their recording order.
                    .timestamp(ts(if i < 2 {
                        "2025-02-08T12:00:00Z"
                    } else {
                        "2025-02-09T00:00:00.5Z"
                    })),
            )
            .unwrap();
    }
}

fn all_events(m: &dyn MeteringStore) -> Vec<asap_state::UsageEvent> {
    let mut out = Vec::new();
    for agent in m.agents().unwrap() {
        out.extend(
            m.query(
                &agent,
                Timestamp::MIN,
                Timestamp::MAX,
                QueryOptions::default(),
            )
            .unwrap(),
        );
    }
    out
}

#[test]
fn copy_memory_to_sqlite_to_memory() {
    let (snaps, meter) = (
        MemorySnapshotStore::with_runtime(store_runtime()),
        MemoryMeteringStore::with_runtime(store_runtime()),
    );
    fill(&snaps, &meter);
    let db = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
    let report = copy_state(
        (Some(&snaps), Some(&meter)),
        (Some(&db.snapshots()), Some(&db.metering())),
    )
    .unwrap();
    assert_eq!((report.snapshots, report.events), (6, 5));
    assert_eq!(dump(&db.snapshots()), dump(&snaps));
    assert_eq!(
        db.snapshots().list_tasks().unwrap(),
        snaps.list_tasks().unwrap()
    );
    assert_eq!(all_events(&db.metering()), all_events(&meter));
    // Ties across agents keep their recording order: the exports are identical.
    let csv = |m: &dyn MeteringStore| {
        m.export(ExportFormat::Csv, &ExportFilter::default())
            .unwrap()
    };
    assert_eq!(csv(&db.metering()), csv(&meter));
    // Through the file image and back into memory: the same ids, versions, data, times.
    let reopened =
        SqliteStateDb::open_bytes(&db.export_bytes().unwrap(), Runtime::default()).unwrap();
    let (snaps2, meter2) = (MemorySnapshotStore::new(), MemoryMeteringStore::new());
    let report = copy_state(
        (Some(&reopened.snapshots()), Some(&reopened.metering())),
        (Some(&snaps2), Some(&meter2)),
    )
    .unwrap();
    assert_eq!((report.snapshots, report.events), (6, 5));
    assert_eq!(dump(&snaps2), dump(&snaps));
    assert_eq!(all_events(&meter2), all_events(&meter));
    assert_eq!(csv(&meter2), csv(&meter));
    for agent in ["agent-a", "agent-b"] {
        assert_eq!(
            meter2.aggregate(agent, "all", Window::default()).unwrap(),
            meter.aggregate(agent, "all", Window::default()).unwrap()
        );
    }
}

#[test]
fn copying_again_changes_nothing() {
    let (snaps, meter) = (MemorySnapshotStore::new(), MemoryMeteringStore::new());
    fill(&snaps, &meter);
    let db = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
    let (to_s, to_m) = (db.snapshots(), db.metering());
    assert_eq!(copy_snapshots(&snaps, &to_s).unwrap(), 6);
    assert_eq!(copy_usage(&meter, &to_m).unwrap(), 5);
    let (before_s, before_m) = (dump(&to_s), all_events(&to_m));
    let image = db.export_bytes().unwrap();
    assert_eq!(copy_snapshots(&snaps, &to_s).unwrap(), 6);
    assert_eq!(copy_usage(&meter, &to_m).unwrap(), 5);
    assert_eq!(dump(&to_s), before_s);
    assert_eq!(all_events(&to_m), before_m);
    assert_eq!(
        to_m.aggregate("agent-a", "p", Window::default())
            .unwrap()
            .total_tasks,
        3
    );
    // The same rows (the image differs only if something was written).
    let again = SqliteStateDb::open_bytes(&db.export_bytes().unwrap(), Runtime::default()).unwrap();
    let first = SqliteStateDb::open_bytes(&image, Runtime::default()).unwrap();
    assert_eq!(dump(&again.snapshots()), dump(&first.snapshots()));
    assert_eq!(all_events(&again.metering()), all_events(&first.metering()));
}

#[test]
fn copy_keeps_what_the_destination_has_and_replaces_same_versions() {
    let (from_s, from_m) = (MemorySnapshotStore::new(), MemoryMeteringStore::new());
    let (to_s, to_m) = (MemorySnapshotStore::new(), MemoryMeteringStore::new());
    save(&from_s, "t", json!({"from": 1}));
    save(&to_s, "t", json!({"to": 1}));
    save(&to_s, "t", json!({"to": 2}));
    save(&to_s, "other", json!({}));
    // The same event id on both sides, with different tokens.
    for (store, tokens_in) in [(&from_m, 1), (&to_m, 100)] {
        let metrics = UsageMetrics {
            tokens_in,
            ..Default::default()
        };
        let event = UsageEventInput::new("t", "a", "c").id("evt-same");
        store.record(event.metrics(metrics)).unwrap();
    }
    let report = copy_state((Some(&from_s), Some(&from_m)), (Some(&to_s), Some(&to_m))).unwrap();
    assert_eq!((report.snapshots, report.events), (1, 1));
    // Version 1 is replaced by from's (upsert); version 2 and the other task stay.
    assert_eq!(
        Value::Object(to_s.get("t", Some(1)).unwrap().unwrap().data),
        json!({"from": 1})
    );
    assert_eq!(to_s.list_versions("t").unwrap(), vec![1, 2]);
    assert_eq!(to_s.list_versions("other").unwrap(), vec![1]);
    // An event id the destination holds is kept as it is.
    assert_eq!(all_events(&to_m).len(), 1);
    assert_eq!(all_events(&to_m)[0].metrics.tokens_in, 100);
    // One side only: only that side is copied.
    let only = MemorySnapshotStore::new();
    let report = copy_state((Some(&from_s), Some(&from_m)), (Some(&only), None)).unwrap();
    assert_eq!((report.snapshots, report.events), (1, 0));
}

#[test]
fn copy_reports_store_failures() {
    let to = MemorySnapshotStore::new();
    assert_eq!(
        copy_snapshots(&Broken, &to).unwrap_err().code(),
        "STORAGE_IO"
    );
    let from = MemorySnapshotStore::new();
    save(&from, "t", json!({}));
    assert_eq!(
        copy_snapshots(&from, &Broken).unwrap_err().code(),
        "STORAGE_IO"
    );
    let db = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
    let closed = db.metering();
    db.close().unwrap();
    let m = MemoryMeteringStore::new();
    m.record(UsageEventInput::new("t", "a", "c")).unwrap();
    assert_eq!(copy_usage(&m, &closed).unwrap_err().code(), "CLOSED");
    assert_eq!(copy_usage(&closed, &m).unwrap_err().code(), "CLOSED");
}
