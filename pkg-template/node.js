// Node.js (ESM): the wasm is read from disk and instantiated synchronously on import.
export { MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "./wasm/full/node/asap_state.js";
export { StateError } from "./state-error.js";
export { copyState } from "./copy-state.js";
export { alreadyReady as ready } from "./ready.js";
