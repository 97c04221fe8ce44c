// "asap-state/durable-object" for bundlers and other ESM runtimes with fetch (a storage object of
// a Durable Object's shape must be given): the .wasm is fetched and instantiated on import,
// without top-level await (see ../browser.js and ../ready.js).
import init, * as glue from "../wasm/durable-object/web/asap_state.js";
import { guardClass, guardFunction, loadWasm } from "../ready.js";

const wasm = loadWasm(init, new URL("../wasm/durable-object/web/asap_state_bg.wasm", import.meta.url));

/** Resolves once the package's WebAssembly is loaded. */
export const ready = wasm.ready;
export const DurableObjectStateDb = guardClass(glue.DurableObjectStateDb, "DurableObjectStateDb", wasm, { syncStatics: ["open"] });
export const MemorySnapshotStore = guardClass(glue.MemorySnapshotStore, "MemorySnapshotStore", wasm);
export const MemoryMeteringStore = guardClass(glue.MemoryMeteringStore, "MemoryMeteringStore", wasm);
export const diffSnapshots = guardFunction(glue.diffSnapshots, "diffSnapshots", wasm);
export const diffJson = guardFunction(glue.diffJson, "diffJson", wasm);
export const mergeStateImages = guardFunction(glue.mergeStateImages, "mergeStateImages", wasm);
export const handleStateEnvelope = guardFunction(glue.handleStateEnvelope, "handleStateEnvelope", wasm);
export const handleAsapRequest = guardFunction(glue.handleAsapRequest, "handleAsapRequest", wasm);
export { SqliteSnapshotStore, SqliteMeteringStore } from "../wasm/durable-object/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
