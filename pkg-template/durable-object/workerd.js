// "asap-state/durable-object" in Workers-style runtimes: the stores on a Durable Object's own
// SQLite storage, without the embedded SQL engine. The .wasm is imported as a module.
import wasmModule from "../wasm/durable-object/web/asap_state_bg.wasm";
import { initSync } from "../wasm/durable-object/web/asap_state.js";

initSync({ module: wasmModule });

export { DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, MemorySnapshotStore, MemoryMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "../wasm/durable-object/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
export { alreadyReady as ready } from "../ready.js";
