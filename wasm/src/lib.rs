//! WebAssembly bindings of `asap-state`: the only code of the project that knows JavaScript.
//! One file per exported class; every error crosses as a real `StateError` (see `error.rs`).

mod convert;
mod error;
mod metering_store;
mod runtime;
mod snapshot_store;

pub use metering_store::MemoryMeteringStore;
pub use snapshot_store::MemorySnapshotStore;
