//! The replay of the Python reference's 500 recorded snapshot-store operations
//! (`tests/fixtures/python-ref-2.5.10/ops.json`), shared by every backend's test.

use asap_state::{SaveOptions, SnapshotStore, StateSnapshotInput};
use serde_json::{json, Value};

/// The reference's recorded operations, in the repository (see its README.md).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/python-ref-2.5.10/ops.json"
);

pub fn load_ops() -> Vec<Value> {
    let text = std::fs::read_to_string(FIXTURE)
        .unwrap_or_else(|e| panic!("cannot read the reference fixture {FIXTURE} ({e})"));
    match serde_json::from_str(&text).unwrap() {
        Value::Array(ops) => ops,
        other => panic!("ops.json is not an array: {other}"),
    }
}

fn task_id(op: &Value) -> &str {
    op["task_id"].as_str().unwrap()
}

fn version(op: &Value) -> Option<u64> {
    op.get("version").map(|v| v.as_u64().unwrap())
}

/// Runs one operation and returns the answer in the reference's JSON form.
fn answer(store: &dyn SnapshotStore, op: &Value) -> Result<Value, String> {
    match op["op"].as_str().unwrap() {
        "save" => {
            let input =
                StateSnapshotInput::from_json(&op["snapshot"]).map_err(|e| e.to_string())?;
            let saved = store
                .save(input, SaveOptions::default())
                .map_err(|e| e.to_string())?;
            // The reference returns None; the stored snapshot must be exactly what was given.
            let saved = serde_json::to_value(&saved).unwrap();
            if saved != op["snapshot"] {
                return Err(format!("save stored {saved}"));
            }
            Ok(Value::Null)
        }
        "get" => {
            let got = store
                .get(task_id(op), version(op))
                .map_err(|e| e.to_string())?;
            Ok(serde_json::to_value(got).unwrap())
        }
        "list_versions" => Ok(json!(store
            .list_versions(task_id(op))
            .map_err(|e| e.to_string())?)),
        "delete" => Ok(json!(store
            .delete(task_id(op), version(op))
            .map_err(|e| e.to_string())?)),
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Replays every operation on `store` and requires all 500 answers to match; prints
/// `ops.json replay on LABEL: N/500 answers matched`.
pub fn replay(label: &str, store: &dyn SnapshotStore) {
    let ops = load_ops();
    assert_eq!(ops.len(), 500, "the fixture holds 500 operations");
    let mut matched = 0usize;
    let mut mismatches = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match answer(store, op) {
            Ok(got) if got == op["result"] => matched += 1,
            Ok(got) => mismatches.push(format!("#{i} {op}: got {got}")),
            Err(e) => mismatches.push(format!("#{i} {op}: error {e}")),
        }
    }
    println!(
        "ops.json replay on {label}: {matched}/{} answers matched",
        ops.len()
    );
    assert!(
        mismatches.is_empty(),
        "{label}: {} mismatches, the first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(matched, 500);
}
