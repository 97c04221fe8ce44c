// The fast path of converting `data` to JSON: plain JSON data (plain objects, arrays, strings,
// finite numbers, booleans, null) becomes its JSON text in one pass of JavaScript, reading each
// property exactly once, so Rust takes one string instead of crossing into JavaScript for
// every value. Anything else — undefined, NaN, a Date or class instance, a cycle, a lone
// surrogate, an integer beyond 2^53 - 1, nesting past `limit`, a getter that throws — gives
// `undefined`, and Rust's exact converter (wasm/src/convert.rs) walks the value again to name
// what is wrong. The fast path may only ever accept what that converter accepts, as it would.
//
// The text is byte for byte what serde_json writes for the same value (compact, keys in
// order, the same escapes, the same shortest number forms), so the stores keep it as it is:
// tests/js/json-fast-path.test.mjs checks that files written through either path are equal.

const OBJECT_PROTOTYPE = Object.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const keysOf = Object.keys;
const isArray = Array.isArray;
const quote = JSON.stringify;
const isFinite = Number.isFinite;
const MAX_EXACT = 9007199254740991;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed =
  typeof String.prototype.isWellFormed === "function" ? (s) => s.isWellFormed() : (s) => !LONE_SURROGATE.test(s);

const BAIL = new Error("not plain JSON");

/** Longer strings go to `JSON.stringify` at once (its native scan beats a loop here). */
const SHORT = 128;

/** `s` (well-formed) as a JSON string: `JSON.stringify`'s text, without calling it for the
 * usual short string that needs no escape (a call per string was most of this file's time). */
function quoted(s) {
  if (s.length > SHORT) return quote(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return quote(s);
  }
  return '"' + s + '"';
}

// A cycle needs no check of its own: it nests until `limit` and gives up there.
function text(v, depth, limit) {
  switch (typeof v) {
    case "string":
      if (!wellFormed(v)) throw BAIL;
      return quoted(v);
    case "number":
      // Integers beyond 2^53 - 1 are kept as doubles by the exact converter; their text
      // would parse as integers here.
      if (!isFinite(v) || (v > MAX_EXACT && v % 1 === 0) || (v < -MAX_EXACT && v % 1 === 0)) throw BAIL;
      // serde_json writes 1e-6 <= |v| < 1e-5 in exponent form, where JavaScript does not.
      if (v % 1 !== 0 && ((v < 1e-5 && v >= 1e-6) || (v > -1e-5 && v <= -1e-6))) return v.toExponential();
      return "" + v;
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (v === null) return "null";
      if (depth >= limit) throw BAIL;
      let out;
      if (isArray(v)) {
        const n = v.length;
        out = "[";
        for (let i = 0; i < n; i++) {
          const item = v[i];
          if (item === undefined) throw BAIL;
          out += (i ? "," : "") + text(item, depth + 1, limit);
        }
        out += "]";
      } else {
        const proto = getPrototypeOf(v);
        if (proto !== OBJECT_PROTOTYPE && proto !== null) throw BAIL;
        const keys = keysOf(v);
        out = "{";
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          const item = v[key];
          if (item === undefined || !wellFormed(key)) throw BAIL;
          out += (i ? "," : "") + quoted(key) + ":" + text(item, depth + 1, limit);
        }
        out += "}";
      }
      return out;
    }
    default:
      throw BAIL;
  }
}

const encoder = new TextEncoder();

/**
 * The JSON text of `value` if it is plain JSON data nesting at most `limit` levels, else
 * undefined. As UTF-8 bytes: wasm-bindgen copies a Uint8Array into wasm memory natively,
 * where a string would be encoded by a JavaScript loop over its characters.
 */
export function jsonText(value, limit) {
  let out;
  try {
    out = text(value, 0, limit);
  } catch {
    return undefined;
  }
  return encoder.encode(out);
}

/** A plain array of the numbers in `view` (a Float64Array over wasm memory, read at once). */
export function numberArray(view) {
  const out = new Array(view.length);
  for (let i = 0; i < view.length; i++) out[i] = view[i];
  return out;
}
