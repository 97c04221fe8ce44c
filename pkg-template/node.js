// Node.js (ESM): the wasm is read from disk and instantiated synchronously on import.
export { MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, SqliteSnapshotStore, SqliteMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson } from "./wasm/full/node/asap_state.js";
export { StateError } from "./state-error.js";
export { handleStateEnvelope, handleAsapRequest, copyState } from "./envelope.js";
