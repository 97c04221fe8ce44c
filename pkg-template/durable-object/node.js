// "asap-state/durable-object" in Node.js: the stores on any storage object of a Durable
// Object's shape (`sql.exec` and `transactionSync`), for tests and tools outside workerd.
export { DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, MemorySnapshotStore, MemoryMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "../wasm/durable-object/node/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
export { alreadyReady as ready } from "../ready.js";
