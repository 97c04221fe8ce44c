// "asap-state/durable-object" for bundlers and other ESM runtimes with fetch (a storage
// object of a Durable Object's shape must be given).
import init from "../wasm/durable-object/web/asap_state.js";

await init({ module_or_path: new URL("../wasm/durable-object/web/asap_state_bg.wasm", import.meta.url) });

export { DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, MemorySnapshotStore, MemoryMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope, handleAsapRequest } from "../wasm/durable-object/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
