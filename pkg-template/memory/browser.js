// "asap-state/memory" for bundlers and other ESM runtimes with fetch: the .wasm is fetched and
// instantiated on import, without top-level await (see ../browser.js and ../ready.js).
import init, * as glue from "../wasm/memory/web/asap_state.js";
import { afterReady, guardClass, guardFunction, loadWasm } from "../ready.js";

const wasm = loadWasm(init, new URL("../wasm/memory/web/asap_state_bg.wasm", import.meta.url));

/** Resolves once the package's WebAssembly is loaded. */
export const ready = wasm.ready;
export const MemorySnapshotStore = guardClass(glue.MemorySnapshotStore, "MemorySnapshotStore", wasm);
export const MemoryMeteringStore = guardClass(glue.MemoryMeteringStore, "MemoryMeteringStore", wasm);
export const createSnapshotStore = afterReady(glue.createSnapshotStore, "createSnapshotStore", wasm);
export const createMeteringStore = afterReady(glue.createMeteringStore, "createMeteringStore", wasm);
export const diffSnapshots = guardFunction(glue.diffSnapshots, "diffSnapshots", wasm);
export const diffJson = guardFunction(glue.diffJson, "diffJson", wasm);
export const handleStateEnvelope = guardFunction(glue.handleStateEnvelope, "handleStateEnvelope", wasm);
export const handleAsapRequest = guardFunction(glue.handleAsapRequest, "handleAsapRequest", wasm);
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
