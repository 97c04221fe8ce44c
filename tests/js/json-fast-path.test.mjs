// `data` crosses into wasm by one of two paths: plain JSON data as one JSON text built in
// JavaScript (wasm/js/json-text.js), anything else through the exact converter, which walks the
// value and names what is wrong. Both must store exactly the same thing. The exact path is
// forced here with a property whose first read throws (the fast path gives up on it; the exact
// converter reads it again).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemorySnapshotStore, SqliteStateDb, diffJson } from "asap-state";
import { jsonText as jsonBytes } from "../../wasm/js/json-text.js";
import { rng } from "../../bench/lib/data.mjs";

/** The fast path's text (it hands wasm UTF-8 bytes), or undefined where it gives up. */
const jsonText = (value, limit) => {
  const bytes = jsonBytes(value, limit);
  return bytes && new TextDecoder().decode(bytes);
};

const NUMBERS = [0, -0, 1, -1, 1.5, 0.1 + 0.2, 1e-7, 3.2610714435e-6, -1.2e-6, 1e-6, 9.99e-6, 1e-5, 1.5e-5, 5e-324, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1e21, 1e300, -1e-300, 123456789.125, 2 ** 31, -(2 ** 31)];
const STRINGS = ["", "plain", 'quote " and \\ backslash', "\n\r\t\b\f", "\u0000\u001f\u007f", "\u2028\u2029", "é ü 中文", "😀 pair", "</script>", "__proto__"];

function value(rand, depth) {
  const r = rand();
  if (depth > 4 || r < 0.35) {
    const k = Math.floor(rand() * 5);
    if (k === 0) return NUMBERS[Math.floor(rand() * NUMBERS.length)];
    if (k === 1) return STRINGS[Math.floor(rand() * STRINGS.length)];
    if (k === 2) return rand() < 0.5;
    if (k === 3) return null;
    // A double of any magnitude from 1e-25 to 1e15.
    return (rand() - 0.5) * 10 ** (Math.floor(rand() * 40) - 25);
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 5) }, () => value(rand, depth + 1));
  const o = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[STRINGS[Math.floor(rand() * STRINGS.length)] + i] = value(rand, depth + 1);
  return o;
}

/** `data` with one more key whose first read throws: the fast path refuses it. */
function forceExact(data, extra) {
  const copy = { ...data };
  let reads = 0;
  Object.defineProperty(copy, "zz_extra", {
    enumerable: true,
    get() {
      if (reads++ === 0) throw new Error("first read");
      return extra;
    },
  });
  return copy;
}

test("the fast path gives up on everything that is not plain JSON data", () => {
  const cyclic = {};
  cyclic.self = cyclic;
  const refused = [
    { a: undefined },
    [1, , 3],
    { d: new Date(0) },
    { n: NaN },
    { i: -Infinity },
    { s: "lone \uD800" },
    { ["key \uDC00"]: 1 },
    { big: 2 ** 53 },
    { big: -(2 ** 64) },
    { f() {} },
    { b: 10n },
    { s: Symbol("x") },
    new (class Foo {})(),
    new Map(),
    cyclic,
    { get boom() { throw new Error("x"); } },
  ];
  for (const v of refused) assert.equal(jsonText(v, 128), undefined, String(Object.keys(v)));
  let deep = 1;
  for (let i = 0; i < 10; i++) deep = [deep];
  // Ten levels of nesting pass a limit of ten, as in the exact converter.
  assert.equal(jsonText(deep, 9), undefined);
  assert.equal(jsonText(deep, 10), "[[[[[[[[[[1]]]]]]]]]]");
  assert.equal(jsonText({ a: [1, "x", null, true, { b: -0 }] }, 128), '{"a":[1,"x",null,true,{"b":0}]}');
  assert.equal(jsonText(Object.create(null), 128), "{}");
});

test("fast and exact paths store the same data, in memory and in SQLite", async () => {
  const db = await SqliteStateDb.open();
  const stores = [new MemorySnapshotStore(), db.snapshots];
  const rand = rng(2026);
  let fastOnes = 0;
  for (let i = 0; i < 400; i++) {
    const data = { v: value(rand, 0), w: value(rand, 1) };
    const extra = value(rand, 2);
    // Integers beyond 2^53 - 1 (2 ** 53, 1e21) send the whole value the exact way.
    if (jsonText({ ...data, zz_extra: extra }, 128) === undefined) continue;
    fastOnes++;
    for (const store of stores) {
      const fast = store.save({ task_id: `fast-${i}`, data: { ...data, zz_extra: extra } }).data;
      const exact = store.save({ task_id: `exact-${i}`, data: forceExact(data, extra) }).data;
      assert.deepEqual(store.get(`fast-${i}`).data, store.get(`exact-${i}`).data);
      assert.deepEqual(fast, exact);
      assert.deepEqual(diffJson(fast, exact), []);
      // What comes back is the input, as JSON sees it (-0 is 0).
      assert.deepEqual(store.get(`fast-${i}`).data, JSON.parse(JSON.stringify({ ...data, zz_extra: extra })));
    }
  }
  assert.ok(fastOnes > 200, `${fastOnes} of 400 took the fast path`);
  db.close();
});

test("files written through either path are byte for byte the same (the fast text is serde_json's)", async () => {
  const fast = await SqliteStateDb.open();
  const exact = await SqliteStateDb.open();
  const rand = rng(7);
  let compared = 0;
  for (let i = 0; i < 300; i++) {
    const data = { v: value(rand, 0), w: value(rand, 1), s: STRINGS[i % STRINGS.length] };
    const extra = value(rand, 2);
    if (jsonText({ ...data, zz_extra: extra }, 128) === undefined) continue;
    const meta = { id: `snap-${i}`, task_id: `task-${i % 7}`, version: i + 1, created_at: "2026-11-26T09:00:00.123456+00:00", checkpoint: i % 3 === 0 };
    fast.snapshots.save({ ...meta, data: { ...data, zz_extra: extra } });
    exact.snapshots.save({ ...meta, data: forceExact(data, extra) });
    compared++;
  }
  assert.ok(compared > 150, `${compared} compared`);
  assert.deepEqual(fast.exportBytes(), exact.exportBytes());
  fast.close();
  exact.close();
});

test("errors still name the field when the fast path gives up", () => {
  const s = new MemorySnapshotStore();
  assert.throws(() => s.save({ task_id: "t", data: { a: { b: [1, NaN] } } }), (e) => e.code === "INVALID_SNAPSHOT" && /data\.a\.b\[1\]/.test(e.message));
  assert.throws(() => s.save({ task_id: "t", data: { when: new Date(0) } }), (e) => e.code === "INVALID_SNAPSHOT" && /data\.when/.test(e.message));
  let deep = {};
  const root = deep;
  for (let i = 0; i < 200; i++) deep = deep.x = {};
  assert.throws(() => s.save({ task_id: "t", data: root }), (e) => e.code === "TOO_LARGE");
  assert.deepEqual(s.listVersions("t"), []);
});
