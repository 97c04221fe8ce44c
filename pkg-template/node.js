// Node.js (ESM): the wasm is read from disk and instantiated synchronously on import.
export { MemorySnapshotStore, MemoryMeteringStore } from "./wasm/node/asap_state.js";
export { StateError } from "./state-error.js";
