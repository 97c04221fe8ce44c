// "asap-state/memory" in Workers-style runtimes: the .wasm is imported as a module.
import wasmModule from "../wasm/memory/web/asap_state_bg.wasm";
import { initSync } from "../wasm/memory/web/asap_state.js";

initSync({ module: wasmModule });

export { MemorySnapshotStore, MemoryMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, handleStateEnvelope, handleAsapRequest } from "../wasm/memory/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
export { alreadyReady as ready } from "../ready.js";
