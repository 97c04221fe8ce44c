// "asap-state/memory" in Node.js: the in-memory stores only (no SQL engine in this wasm).
export { MemorySnapshotStore, MemoryMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, handleStateEnvelope, handleAsapRequest } from "../wasm/memory/node/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
export { alreadyReady as ready } from "../ready.js";
