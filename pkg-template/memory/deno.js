// "asap-state/memory" in Deno: the .wasm beside this file is fetched and instantiated by top-level await
// (which Deno supports), so the exports are ready on import; `ready()` resolves at once.
import init from "../wasm/memory/web/asap_state.js";

await init({ module_or_path: new URL("../wasm/memory/web/asap_state_bg.wasm", import.meta.url) });

export { MemorySnapshotStore, MemoryMeteringStore, createSnapshotStore, createMeteringStore, diffSnapshots, diffJson, handleStateEnvelope, handleAsapRequest } from "../wasm/memory/web/asap_state.js";
export { StateError } from "../state-error.js";
export { copyState } from "../copy-state.js";
export { alreadyReady as ready } from "../ready.js";
