// Browsers without a bundler: `await init()` (or `initSync({ module })`) before using a store.
// `ready()` is `init()` with the .wasm beside the glue, for code shared with the other entries.
import init from "./wasm/full/web/asap_state.js";

export { default, initSync, MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "./wasm/full/web/asap_state.js";
export { StateError } from "./state-error.js";
export { copyState } from "./copy-state.js";

/** Loads the WebAssembly beside the glue unless `init` already did; resolves when it is loaded. */
export function ready() {
  return init().then(() => undefined);
}
