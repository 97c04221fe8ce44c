//! Behaviour of the core's public helpers that the contract suite does not reach through a
//! store: the runtime (clock and ids), error codes, environment configuration, argument parsers.
#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use asap_state::binding::{string_arg, version_arg};
use asap_state::*;
use serde_json::json;

#[test]
fn random_ids_are_prefixed_ulids_of_the_instant() {
    let ids = RandomIds;
    let at = Timestamp::parse("2025-02-08T12:00:00.123Z", "t").unwrap();
    let a = ids.new_id("snap_", at);
    let b = ids.new_id("snap_", at);
    assert_ne!(a, b, "80 random bits per id");
    assert_eq!(a.len(), 5 + 26);
    let ulid = ulid::Ulid::from_string(&a[5..]).unwrap();
    assert_eq!(ulid.timestamp_ms(), 1_739_016_000_123);
    // The same instant from the free function with fixed randomness is deterministic.
    assert_eq!(ulid_from(at, [0; 10]), ulid_from(at, [0; 10]));
    assert_ne!(ulid_from(at, [0; 10]), ulid_from(at, [1; 10]));
    // Written without core::fmt, the same text as the crate's Display.
    for random in [[0; 10], [0xff; 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]] {
        let mut bytes = [0u8; 16];
        bytes[..10].copy_from_slice(&random);
        let expected = ulid::Ulid::from_parts(1_739_016_000_123, u128::from_le_bytes(bytes));
        assert_eq!(ulid_from(at, random), format!("{expected}"));
        assert_eq!(prefixed_ulid("evt_", at, random), format!("evt_{expected}"));
    }
}

#[test]
fn system_clock_and_default_stores_use_real_time() {
    let before = chrono::Utc::now().timestamp_micros();
    let now = SystemClock.now().as_micros();
    let after = chrono::Utc::now().timestamp_micros();
    assert!(before <= now && now <= after);

    let store = MemorySnapshotStore::new();
    let data = json!({"a": 1}).as_object().cloned().unwrap();
    let saved = store
        .save(StateSnapshotInput::new("t", data), SaveOptions::default())
        .unwrap();
    assert!(saved.id.starts_with("snap_") && saved.id.len() == 31);
    assert!((saved.created_at.as_micros() - after).abs() < 60_000_000);

    let metering = MemoryMeteringStore::new();
    let event = metering
        .record(UsageEventInput::new("t", "a", "c"))
        .unwrap();
    assert!(event.id.starts_with("evt_") && event.id.len() == 30);
    assert!((event.timestamp.as_micros() - after).abs() < 60_000_000);
    assert_eq!(event.metrics, UsageMetrics::default());
}

#[test]
fn manual_clock_moves_only_when_told() {
    let start = Timestamp::parse("2025-02-08T12:00:00Z", "t").unwrap();
    let clock = ManualClock::new(start);
    assert_eq!(clock.now(), start);
    clock.advance(1_500_000);
    assert_eq!(clock.now().to_string(), "2025-02-08T12:00:01.500000+00:00");
    clock.set(Timestamp::MAX);
    clock.advance(1);
    assert_eq!(
        clock.now(),
        Timestamp::MIN,
        "out of range falls back to MIN, never panics"
    );
    let ids = SequentialIds::new();
    assert_eq!(ids.new_id("evt_", start), "evt_000001");
    assert_eq!(ids.new_id("evt_", start), "evt_000002");
    let rt = Runtime::new(clock, ids);
    assert_eq!(rt.new_id("x_"), "x_000003");
    assert_eq!(format!("{rt:?}"), "Runtime { .. }");
}

#[test]
fn every_error_has_its_stable_code_and_message() {
    // Every variant, in the order of ERROR_CODES, each with the message `m<i>`.
    let variants: [fn(String) -> StateError; 14] = [
        StateError::InvalidSnapshot,
        StateError::InvalidEvent,
        StateError::InvalidTimestamp,
        StateError::InvalidArgument,
        StateError::UnknownBackend,
        StateError::VersionConflict,
        StateError::CorruptDatabase,
        StateError::SchemaMismatch,
        StateError::DatabaseLocked,
        StateError::StorageIo,
        StateError::TooLarge,
        StateError::Closed,
        StateError::NotReady,
        StateError::EngineFailed,
    ];
    assert_eq!(variants.len(), ERROR_CODES.len());
    let all: Vec<StateError> = variants
        .iter()
        .enumerate()
        .map(|(i, variant)| variant(format!("m{i}")))
        .collect();
    for (i, err) in all.iter().enumerate() {
        assert_eq!(err.code(), ERROR_CODES[i]);
        assert_eq!(err.message(), format!("m{i}"));
        assert_eq!(err.to_string(), format!("m{i}"));
    }
}

#[test]
fn backend_config_reads_the_process_environment() {
    // The only test touching these variables, so no other test races with it.
    std::env::set_var(ASAP_STORAGE_BACKEND_ENV, " SQLite ");
    std::env::set_var(ASAP_STORAGE_PATH_ENV, "/tmp/state.db");
    assert_eq!(
        BackendConfig::from_env().unwrap(),
        BackendConfig::Sqlite {
            path: "/tmp/state.db".into()
        }
    );
    std::env::set_var(ASAP_STORAGE_BACKEND_ENV, "tab\tnew\nline\rend");
    let err = BackendConfig::from_env().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unknown ASAP_STORAGE_BACKEND='tab\\tnew\\nline\\rend'. Use 'memory' or 'sqlite'."
    );
    std::env::remove_var(ASAP_STORAGE_BACKEND_ENV);
    std::env::remove_var(ASAP_STORAGE_PATH_ENV);
    assert_eq!(BackendConfig::from_env().unwrap(), BackendConfig::Memory);
    assert_eq!(DEFAULT_DB_PATH, "asap_state.db");
}

#[test]
fn argument_parsers() {
    assert_eq!(string_arg(&json!("t"), "taskId").unwrap(), "t");
    assert_eq!(string_arg(&json!(""), "taskId").unwrap(), "");
    let err = string_arg(&json!(5), "taskId").unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(err.message(), "taskId must be a string, got number 5");
    assert_eq!(version_arg(None, "version").unwrap(), None);
    assert_eq!(version_arg(Some(&json!(null)), "version").unwrap(), None);
    assert_eq!(version_arg(Some(&json!(3)), "version").unwrap(), Some(3));
    for bad in [json!(0), json!(-1), json!(1.5), json!("1")] {
        assert_eq!(
            version_arg(Some(&bad), "version").unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }
    // `null` option objects mean "no options".
    let null = json!(null);
    assert_eq!(
        SaveOptions::from_json(Some(&null)).unwrap(),
        SaveOptions::default()
    );
    assert_eq!(
        QueryOptions::from_json(Some(&null)).unwrap(),
        QueryOptions::default()
    );
    assert_eq!(
        Window::from_json(Some(&null), "window").unwrap(),
        Window::default()
    );
    assert_eq!(
        ExportFilter::from_json(Some(&null)).unwrap(),
        ExportFilter::default()
    );
    let err = QueryOptions::from_json(Some(&json!({"limit": -2}))).unwrap_err();
    assert_eq!(err.message(), "limit must be non-negative, got -2");
    let err = SeriesOptions::from_json(None).unwrap_err();
    assert_eq!(err.message(), "options must be an object, got null");
}

#[test]
fn timestamps_out_of_range_or_leap_are_rejected() {
    let err = Timestamp::parse("0001-01-01T00:00:00+01:00", "created_at").unwrap_err();
    assert_eq!(err.code(), "INVALID_TIMESTAMP");
    assert!(err.message().contains("outside years 1..9999"), "{err}");
    let err = Timestamp::parse("2016-12-31T23:59:60Z", "created_at").unwrap_err();
    assert!(err.message().contains("leap second"), "{err}");
    let err = Timestamp::from_millis(i64::MAX).unwrap_err();
    assert_eq!(err.code(), "INVALID_TIMESTAMP");
    let dt = chrono::DateTime::parse_from_rfc3339("2025-02-08T12:00:00.000000999Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let t = Timestamp::from_datetime(dt).unwrap();
    assert_eq!(
        t.to_string(),
        "2025-02-08T12:00:00+00:00",
        "nanoseconds are truncated"
    );
    assert_eq!(t.to_datetime().timestamp(), dt.timestamp());
}

#[test]
fn null_is_a_value_not_an_absence() {
    // Like the reference (pydantic rejects None for these fields), `null` is not "not given".
    let cases = [
        ("version", "INVALID_SNAPSHOT"),
        ("checkpoint", "INVALID_SNAPSHOT"),
        ("id", "INVALID_SNAPSHOT"),
        ("created_at", "INVALID_TIMESTAMP"),
        ("task_id", "INVALID_SNAPSHOT"),
        ("data", "INVALID_SNAPSHOT"),
    ];
    for (field, code) in cases {
        let mut input = json!({"task_id": "t", "data": {}});
        input[field] = serde_json::Value::Null;
        let err = StateSnapshotInput::from_json(&input).unwrap_err();
        assert_eq!(err.code(), code, "{input}");
        assert!(
            err.message().contains(&format!("snapshot.{field}")),
            "{input}: {err}"
        );
    }
    let event = |extra: serde_json::Value| {
        let mut e = json!({"task_id": "t", "agent_id": "a", "consumer_id": "c"});
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        UsageEventInput::from_json(&e)
    };
    assert_eq!(
        event(json!({"metrics": null})).unwrap_err().code(),
        "INVALID_EVENT"
    );
    assert_eq!(
        event(json!({"metrics": {"tokens_in": null}}))
            .unwrap_err()
            .code(),
        "INVALID_EVENT"
    );
    assert_eq!(
        event(json!({"timestamp": null})).unwrap_err().code(),
        "INVALID_TIMESTAMP"
    );
    assert_eq!(event(json!({})).unwrap().metrics, UsageMetrics::default());
    // expectedVersion: null has a meaning: the task must not exist.
    assert_eq!(
        SaveOptions::from_json(Some(&json!({"expectedVersion": null}))).unwrap(),
        SaveOptions::expect(0)
    );
    let err = QueryOptions::from_json(Some(&json!({"limit": null}))).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

/// `DataText` (how the JavaScript binding hands plain data to the stores) writes what
/// serialising the parsed value writes, and refuses what `StateSnapshotInput` refuses.
#[test]
fn data_text_is_the_compact_text_of_the_parsed_data() {
    let texts = [
        "{}",
        r#"{ "a" : 1, "b": [1.5, -2, null, true, 1e-7, 0.000001, 1.5e300, -0.0],
            "c": {"d": "quote \" \\ \n \u0001 é 😀 \ud83d\ude00"}, "e": 18446744073709551615 }"#,
        r#"{"z": 1, "a": 2, "m": {"y": [], "b": {}}}"#,
        r#"{"n": 12345678901234567890123, "f": 0.1, "g": 100.0}"#,
    ];
    for text in texts {
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).unwrap();
        let data = DataText::parse(text).unwrap();
        assert_eq!(
            data.as_str(),
            serde_json::to_string(&parsed).unwrap(),
            "{text}"
        );
        assert_eq!(data.to_data().unwrap(), parsed);
    }
    for (text, code) in [
        ("[1]", "INVALID_SNAPSHOT"),
        ("1", "INVALID_SNAPSHOT"),
        ("null", "INVALID_SNAPSHOT"),
        ("{", "INVALID_SNAPSHOT"),
        (r#"{"a": 1} x"#, "INVALID_SNAPSHOT"),
        (r#"{"a": NaN}"#, "INVALID_SNAPSHOT"),
    ] {
        assert_eq!(DataText::parse(text).unwrap_err().code(), code, "{text}");
    }
    // The depth rule is the one `validate` applies: 128 levels below a key (the innermost
    // scalar counted), one more refused.
    let nest = |levels: usize| {
        let mut v = json!(1);
        for _ in 1..levels {
            v = json!([v]);
        }
        json!({ "deep": v }).as_object().cloned().unwrap()
    };
    let text = |levels: usize| serde_json::to_string(&nest(levels)).unwrap();
    assert!(DataText::parse(&text(128)).is_ok());
    assert!(StateSnapshotInput::new("t", nest(128)).validate().is_ok());
    assert_eq!(DataText::parse(&text(129)).unwrap_err().code(), "TOO_LARGE");
    assert_eq!(DataText::parse(&text(400)).unwrap_err().code(), "TOO_LARGE");
    assert_eq!(
        DataText::parse(&format!("{}1", "[".repeat(300)))
            .unwrap_err()
            .code(),
        "TOO_LARGE"
    );
    let input = StateSnapshotInput::new("t", nest(129));
    assert_eq!(input.validate().unwrap_err().code(), "TOO_LARGE");
    // Size: the limit applies to the compact text, whitespace in the input does not count.
    let big = format!(r#"{{"s": "{}"}}"#, "x".repeat(MAX_DATA_BYTES - 8));
    assert_eq!(
        DataText::parse(&big).unwrap().as_str().len(),
        MAX_DATA_BYTES
    );
    let spaced = format!("{{  \"s\"  :  \"{}\"  }}", "x".repeat(MAX_DATA_BYTES - 8));
    assert!(DataText::parse(&spaced).is_ok());
    let over = format!(r#"{{"s": "{}"}}"#, "x".repeat(MAX_DATA_BYTES - 7));
    assert_eq!(DataText::parse(&over).unwrap_err().code(), "TOO_LARGE");
}

/// Saving data as text stores exactly what saving the parsed data stores, on every backend.
#[test]
fn save_data_text_equals_save() {
    let text = r#"{"a": [1, 2.5, "x"], "b": {"c": null}}"#;
    let stores: Vec<Box<dyn SnapshotStore>> = vec![
        Box::new(MemorySnapshotStore::new()),
        Box::new(
            sqlite::SqliteStateDb::open_in_memory(Runtime::default())
                .unwrap()
                .snapshots(),
        ),
    ];
    for store in stores {
        let by_text = store
            .save_data_text(
                StateSnapshotInput::new("t", serde_json::Map::new()).id("one"),
                DataText::parse(text).unwrap(),
                SaveOptions::default(),
            )
            .unwrap();
        let by_value = store
            .save_json(
                StateSnapshotInput::new("t", serde_json::from_str(text).unwrap()).id("two"),
                SaveOptions::default(),
            )
            .unwrap();
        let one = store.get("t", Some(1)).unwrap().unwrap();
        let two = store.get("t", Some(2)).unwrap().unwrap();
        assert_eq!(one.data, two.data);
        assert_eq!(by_text, serde_json::to_string(&one).unwrap());
        assert_eq!(by_value, serde_json::to_string(&two).unwrap());
        // A refused save changes nothing.
        let err = store
            .save_data_text(
                StateSnapshotInput::new("", serde_json::Map::new()),
                DataText::parse(text).unwrap(),
                SaveOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_SNAPSHOT");
        assert_eq!(store.list_versions("t").unwrap(), vec![1, 2]);
    }
}

/// `get_by_id_json` (what JavaScript reads) is the text of `get_by_id`'s snapshot, on the memory
/// store and on SQLite (rows of several versions sharing an id: the highest version answers).
#[test]
fn get_by_id_json_is_the_text_of_get_by_id() {
    let memory = MemorySnapshotStore::new();
    let db = SqliteStateDb::open_in_memory(Runtime::default()).unwrap();
    let sqlite = db.snapshots();
    let stores: [&dyn SnapshotStore; 2] = [&memory, &sqlite];
    for store in stores {
        for (version, id) in [(1, "a"), (2, "b"), (3, "a"), (4, "c")] {
            let data = json!({ "v": version, "text": "é \u{1f600}", "n": -0.5 });
            let mut input = StateSnapshotInput::new("t", data.as_object().cloned().unwrap());
            input.id = Some(id.into());
            store.save(input, SaveOptions::default()).unwrap();
        }
        for id in ["a", "b", "c"] {
            let snapshot = store.get_by_id("t", id).unwrap().unwrap();
            let text = store.get_by_id_json("t", id).unwrap().unwrap();
            assert_eq!(text, serde_json::to_string(&snapshot).unwrap(), "{id}");
        }
        assert!(text_version(&store.get_by_id_json("t", "a").unwrap().unwrap()) == 3);
        assert_eq!(store.get_by_id_json("t", "missing").unwrap(), None);
        assert_eq!(store.get_by_id_json("other", "a").unwrap(), None);
    }
}

fn text_version(text: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(text).unwrap()["version"]
        .as_u64()
        .unwrap()
}

/// The answer text of a metering query is what serde_json writes for the events: plain and
/// escaped ids, every metric's extremes, timestamps with and without a fraction.
#[test]
fn usage_event_json_text_is_serde_jsons() {
    let ts = |s: &str| asap_state::Timestamp::parse(s, "t").unwrap();
    let event = |id: &str, text: &str, n: u64, at: &str| asap_state::UsageEvent {
        id: id.into(),
        task_id: text.into(),
        agent_id: format!("agent {text}"),
        consumer_id: "c".into(),
        metrics: asap_state::UsageMetrics {
            tokens_in: n,
            tokens_out: n / 3,
            duration_ms: u64::MAX - n,
            api_calls: 0,
        },
        timestamp: ts(at),
    };
    let events = vec![
        event("evt_1", "plain", 0, "2025-02-08T12:00:00Z"),
        event(
            "e\"q\\b",
            "tab\there\nnewline \u{1} \u{7f} ü 漢字 😀",
            9,
            "2025-02-08T12:00:00.000001Z",
        ),
        event(
            "a long id with no escape at all, longer than eight",
            "",
            u64::MAX,
            "0001-01-01T00:00:00Z",
        ),
        event(
            "x",
            "/slash/ & <html>",
            1234567890,
            "9999-12-31T23:59:59.999999Z",
        ),
    ];
    assert_eq!(
        asap_state::UsageEvent::list_json(&events),
        serde_json::to_string(&events).unwrap()
    );
    assert_eq!(asap_state::UsageEvent::list_json(&[]), "[]");
    for e in &events {
        assert_eq!(e.json_text(), serde_json::to_string(e).unwrap());
        assert_eq!(
            e.metrics.json_text(),
            serde_json::to_string(&e.metrics).unwrap()
        );
    }
}
