// "asap-state/memory" for bundlers, Deno and other ESM runtimes with fetch.
import init from "../wasm/memory/web/asap_state.js";

await init({ module_or_path: new URL("../wasm/memory/web/asap_state_bg.wasm", import.meta.url) });

export { MemorySnapshotStore, MemoryMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, handleStateEnvelope, handleAsapRequest } from "../wasm/memory/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
