//! The contract suite (`tests/contract/mod.rs`) on the in-memory backend.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod contract;

use asap_state::{MemoryMeteringStore, MemorySnapshotStore, Runtime};

contract::contract_suite!(memory, |rt: Runtime| {
    (
        MemorySnapshotStore::with_runtime(rt.clone()),
        MemoryMeteringStore::with_runtime(rt),
    )
});
