// The error class of asap-state. Every copy of this module (one per build target, one per
// entry) resolves to the same class through a global symbol, so `instanceof StateError` holds
// whichever entry of the package threw the error.
const KEY = Symbol.for("asap-state.StateError");

class StateError extends Error {
  /**
   * @param {string} code one of the stable codes, e.g. "VERSION_CONFLICT" (see `StateError.codes`)
   * @param {string} message what went wrong, naming the offending field or value
   */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
Object.defineProperty(StateError.prototype, "name", {
  value: "StateError",
  writable: true,
  configurable: true,
  enumerable: false,
});

const Shared = globalThis[KEY] ?? StateError;
if (globalThis[KEY] === undefined) {
  Object.defineProperty(globalThis, KEY, { value: Shared, enumerable: false });
}

export { Shared as StateError };

/** Called by the wasm bindings to build the error they throw. */
export function makeStateError(code, message) {
  return new Shared(code, message);
}

/**
 * Called by each wasm instance when it starts, with the core's list of codes (Rust's
 * `ERROR_CODES`, the one place they are written): `StateError.codes`, frozen, set once.
 */
export function defineCodes(codes) {
  if (!Object.prototype.hasOwnProperty.call(Shared, "codes")) {
    Object.defineProperty(Shared, "codes", { value: Object.freeze([...codes]), enumerable: true });
  }
}
