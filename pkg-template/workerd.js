// Workers-style runtimes (workerd / Cloudflare Workers): the runtime forbids compiling wasm
// from bytes, so the .wasm is imported as a module and instantiated synchronously.
import wasmModule from "./wasm/full/web/asap_state_bg.wasm";
import { initSync } from "./wasm/full/web/asap_state.js";

initSync({ module: wasmModule });

export { MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "./wasm/full/web/asap_state.js";
export { StateError } from "./state-error.js";
export { copyState } from "./copy-state.js";
export { alreadyReady as ready } from "./ready.js";
