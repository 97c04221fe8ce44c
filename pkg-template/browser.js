// Browsers through a bundler, and other ESM runtimes with fetch: the .wasm beside this file is
// fetched and instantiated as soon as this module is imported, without top-level await (which the
// default targets of some bundlers, Vite 6's among them, refuse; see ready.js). `await ready()`
// once before the first synchronous call; `SqliteStateDb.open`, `createSnapshotStore` and
// `createMeteringStore` wait by themselves. A synchronous call made earlier throws NOT_READY.
import init, * as glue from "./wasm/full/web/asap_state.js";
import { afterReady, guardClass, guardFunction, loadWasm } from "./ready.js";

const wasm = loadWasm(init, new URL("./wasm/full/web/asap_state_bg.wasm", import.meta.url));

/** Resolves once the package's WebAssembly is loaded. */
export const ready = wasm.ready;
export const MemorySnapshotStore = guardClass(glue.MemorySnapshotStore, "MemorySnapshotStore", wasm);
export const MemoryMeteringStore = guardClass(glue.MemoryMeteringStore, "MemoryMeteringStore", wasm);
export const SqliteStateDb = guardClass(glue.SqliteStateDb, "SqliteStateDb", wasm, { asyncStatics: ["open"] });
export const DurableObjectStateDb = guardClass(glue.DurableObjectStateDb, "DurableObjectStateDb", wasm, { syncStatics: ["open"] });
export const createSnapshotStore = afterReady(glue.createSnapshotStore, "createSnapshotStore", wasm);
export const createMeteringStore = afterReady(glue.createMeteringStore, "createMeteringStore", wasm);
export const diffSnapshots = guardFunction(glue.diffSnapshots, "diffSnapshots", wasm);
export const diffJson = guardFunction(glue.diffJson, "diffJson", wasm);
export const mergeStateImages = guardFunction(glue.mergeStateImages, "mergeStateImages", wasm);
export const handleStateEnvelope = guardFunction(glue.handleStateEnvelope, "handleStateEnvelope", wasm);
export const handleAsapRequest = guardFunction(glue.handleAsapRequest, "handleAsapRequest", wasm);
export { SqliteSnapshotStore, SqliteMeteringStore } from "./wasm/full/web/asap_state.js";
export { StateError } from "./state-error.js";
export { copyState } from "./copy-state.js";
