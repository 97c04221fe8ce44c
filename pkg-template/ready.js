// How the browser entries start: their WebAssembly is fetched and instantiated when the entry is
// imported, without top-level await (which the default build targets of some bundlers refuse —
// Vite 6's among them). `ready()` resolves once it is loaded. The asynchronous APIs wait for it
// themselves; a synchronous call made before it throws a `StateError` NOT_READY that says so,
// instead of a TypeError from inside the glue.
import { StateError } from "./state-error.js";

/** What the Node, workerd and Deno entries export as `ready`: their wasm is loaded on import. */
export function alreadyReady() {
  return Promise.resolve();
}

/**
 * Starts wasm-bindgen's `init` for the .wasm at `url` now; `{ ready, check }`. `ready()` resolves
 * once it is loaded (and rejects with a STORAGE_IO `StateError` naming the URL if it cannot be);
 * `check(what)` throws NOT_READY until then.
 */
export function loadWasm(init, url) {
  let loaded = false;
  const starting = init({ module_or_path: url }).then(
    () => {
      loaded = true;
    },
    (e) => {
      throw new StateError("STORAGE_IO", `the package's WebAssembly could not be loaded from ${url}: ${e?.message ?? e}`);
    },
  );
  // The failure is reported by `ready()` and by every async API, not as an unhandled rejection.
  starting.catch(() => {});
  return {
    ready: () => starting,
    check(what) {
      if (!loaded) {
        throw new StateError(
          "NOT_READY",
          `${what}: the package's WebAssembly is still loading; \`await ready()\` once before the first synchronous call (SqliteStateDb.open, createSnapshotStore and createMeteringStore wait by themselves)`,
        );
      }
    },
  };
}

/**
 * `Class` (a wasm-bindgen class) whose constructor throws NOT_READY until the wasm is loaded,
 * with `asyncStatics` waiting for it and `syncStatics` checking it; `instanceof` holds for every
 * instance of `Class`, however it was made.
 */
export function guardClass(Class, name, wasm, { asyncStatics = [], syncStatics = [] } = {}) {
  const Guarded = class extends Class {
    constructor(...args) {
      wasm.check(`new ${name}()`);
      super(...args);
    }
  };
  Object.defineProperty(Guarded, "name", { value: name });
  Object.defineProperty(Guarded, Symbol.hasInstance, { value: (v) => v instanceof Class });
  for (const method of asyncStatics) {
    Object.defineProperty(Guarded, method, {
      value: async (...args) => {
        await wasm.ready();
        return Class[method](...args);
      },
      writable: true,
      configurable: true,
    });
  }
  for (const method of syncStatics) {
    Object.defineProperty(Guarded, method, {
      value: (...args) => {
        wasm.check(`${name}.${method}()`);
        return Class[method](...args);
      },
      writable: true,
      configurable: true,
    });
  }
  return Guarded;
}

/** `fn` throwing NOT_READY until the wasm is loaded. */
export function guardFunction(fn, name, wasm) {
  return Object.defineProperty(
    (...args) => {
      wasm.check(`${name}()`);
      return fn(...args);
    },
    "name",
    { value: name },
  );
}

/** `fn` (an async API) waiting for the wasm first. */
export function afterReady(fn, name, wasm) {
  return Object.defineProperty(
    async (...args) => {
      await wasm.ready();
      return fn(...args);
    },
    "name",
    { value: name },
  );
}
