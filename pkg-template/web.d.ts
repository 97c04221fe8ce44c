// "asap-state/web": for browsers without a bundler. Call `await init()` (or `initSync`) first.
export * from "./index.js";

/** What the WebAssembly module can be loaded from. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Fetches and instantiates the module (by default the .wasm beside this file). */
export default function init(
  moduleOrPath?: { module_or_path: InitInput | Promise<InitInput> },
): Promise<WebAssembly.Exports>;

/** Instantiates the module synchronously from bytes or a compiled module. */
export function initSync(module: { module: BufferSource | WebAssembly.Module }): WebAssembly.Exports;
