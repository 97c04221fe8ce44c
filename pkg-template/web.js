// Browsers without a bundler: `await init()` (or `initSync({ module })`) before using a store.
export { default, initSync, MemorySnapshotStore, MemoryMeteringStore } from "./wasm/web/asap_state.js";
export { StateError } from "./state-error.js";
