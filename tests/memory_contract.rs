//! The contract suite (`tests/contract/mod.rs`) on the in-memory backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

mod contract;

use asap_state::{MemoryMeteringStore, MemorySnapshotStore, Runtime};

contract::contract_suite!(memory, |rt: Runtime| {
    (
        MemorySnapshotStore::with_runtime(rt.clone()),
        MemoryMeteringStore::with_runtime(rt),
    )
});
