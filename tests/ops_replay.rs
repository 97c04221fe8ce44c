//! Replays the Python reference's 500 recorded snapshot-store operations
//! (`tests/fixtures/python-ref-2.5.10/ops.json`) against the in-memory backend and checks every
//! answer.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod ops_support;

use asap_state::MemorySnapshotStore;
use ops_support::{load_ops, replay};
use serde_json::json;

#[test]
fn ops_json_replay_matches_the_reference() {
    replay("the memory backend", &MemorySnapshotStore::new());
}

#[test]
fn ops_json_covers_every_operation() {
    // Guards the replay against a truncated or regenerated fixture.
    let ops = load_ops();
    for kind in ["save", "get", "list_versions", "delete"] {
        assert!(
            ops.iter().any(|op| op["op"] == kind),
            "no {kind} operation in the fixture"
        );
    }
    assert!(ops
        .iter()
        .any(|op| op["op"] == "get" && !op["result"].is_null()));
    assert!(ops
        .iter()
        .any(|op| op["op"] == "delete" && op["result"] == json!(true)));
}
