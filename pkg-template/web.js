// Browsers without a bundler: `await init()` (or `initSync({ module })`) before using a store.
export { default, initSync, MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "./wasm/full/web/asap_state.js";
export { StateError } from "./state-error.js";
export { copyState } from "./copy-state.js";
