// diffSnapshots / diffJson through the built package, in both entries ("asap-state" and
// "asap-state/memory"): exact diffs of saved versions, the README example, the shape of each
// change, applying the changes in order, and bad input -> StateError naming the field, with the
// store unchanged and still usable. Run with `node --test tests/js/diff.test.mjs` after `make pkg`.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import * as full from "asap-state";
import * as memory from "asap-state/memory";
import { rng } from "../../bench/lib/data.mjs"; // mulberry32, so the random cases are reproducible
import { throwsCode as throwsStateError } from "./helpers.mjs";

const ENTRIES = [
  ["asap-state", full],
  ["asap-state/memory", memory],
];

/** Runs fn, which must throw the StateError of this code that `entry` exports too (one shared class). */
function throwsCode(entry, fn, code, messagePart) {
  const caught = throwsStateError(fn, code, messagePart);
  assert.ok(caught instanceof entry.StateError, `expected ${entry.StateError.name} of the entry, got ${caught}`);
  return caught;
}

/** Applies changes in order, checking the ordering promises (appends at the end, removals of the last element). */
function apply(doc, changes) {
  let root = structuredClone(doc);
  for (const c of changes) {
    if (c.segments.length === 0) {
      assert.equal(c.op, "changed");
      root = structuredClone(c.new);
      continue;
    }
    let parent = root;
    for (const s of c.segments.slice(0, -1)) parent = parent[s];
    const last = c.segments.at(-1);
    if (Array.isArray(parent)) {
      assert.equal(typeof last, "number");
      if (c.op === "added") {
        assert.equal(last, parent.length, "an added index is the end of the array");
        parent.push(structuredClone(c.new));
      } else if (c.op === "removed") {
        assert.equal(last, parent.length - 1, "a removed index is the last element");
        parent.pop();
      } else {
        parent[last] = structuredClone(c.new);
      }
    } else {
      assert.equal(typeof last, "string");
      assert.equal(Object.hasOwn(parent, last), c.op !== "added", `${c.op} ${c.path}`);
      if (c.op === "removed") delete parent[last];
      else parent[last] = structuredClone(c.new);
    }
  }
  return root;
}

/** A JSON Pointer from segments (RFC 6901). */
const pointer = (segments) => segments.map((s) => "/" + String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("");

/** Deep equality that ignores the key order of objects (as the diff does). */
function sameJson(a, b) {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return Object.is(a, b) || a === b;
}

function randomJson(r, depth = 0) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const kind = depth >= 3 ? Math.floor(r() * 4) : Math.floor(r() * 6);
  switch (kind) {
    case 0: return pick([null, true, false]);
    case 1: return pick([0, 1, 2, -1, 0.5, 1e300]);
    case 2: return pick(["", "a", "b", "~/", "ключ"]);
    case 3: return pick([[], {}]);
    case 4: return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
    default: {
      const o = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[pick(["a", "b", "c", "a/b", "~0", ""])] = randomJson(r, depth + 1);
      return o;
    }
  }
}

/** A copy of `v` with random edits: values replaced, keys dropped or added, arrays shortened or grown. */
function mutate(r, v) {
  if (Array.isArray(v)) {
    const out = v.map((x) => (r() < 0.8 ? mutate(r, x) : randomJson(r, 2)));
    if (r() < 0.25) out.pop();
    if (r() < 0.25) out.push(randomJson(r, 2));
    return out;
  }
  if (v !== null && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const p = r();
      if (p < 0.15) continue;
      out[k] = p < 0.85 ? mutate(r, x) : randomJson(r, 2);
    }
    if (r() < 0.3) out[["a", "d", "~1", "/"][Math.floor(r() * 4)]] = randomJson(r, 2);
    return out;
  }
  return r() < 0.8 ? v : randomJson(r, 3);
}

for (const [name, entry] of ENTRIES) {
  const { MemorySnapshotStore, diffSnapshots, diffJson } = entry;

  describe(`${name}: diffSnapshots`, () => {
    test("is exported as a function, beside diffJson", () => {
      assert.equal(typeof diffSnapshots, "function");
      assert.equal(typeof diffJson, "function");
    });

    test("the README example", () => {
      const store = new MemorySnapshotStore();
      store.save({ task_id: "task-1", data: { step: 1, plan: ["search", "read"], notes: {} } });
      store.save({ task_id: "task-1", data: { step: 2, plan: ["search"], notes: { "a/b": null } } });
      const v1 = store.get("task-1", 1);
      const v2 = store.get("task-1");
      assert.deepEqual(diffSnapshots(v1, v2), {
        task_id: "task-1", from_version: 1, to_version: 2, from_id: v1.id, to_id: v2.id,
        added: 1, removed: 1, changed: 1,
        changes: [
          { op: "changed", path: "/step", segments: ["step"], old: 1, new: 2 },
          { op: "removed", path: "/plan/1", segments: ["plan", 1], old: "read" },
          { op: "added", path: "/notes/a~1b", segments: ["notes", "a/b"], new: null },
        ],
      });
      assert.deepEqual(diffJson({ a: 1, b: [1, 2] }, { a: "1", b: [1, 2, 3] }), [
        { op: "changed", path: "/a", segments: ["a"], old: 1, new: "1" },
        { op: "added", path: "/b/2", segments: ["b", 2], new: 3 },
      ]);
    });

    test("two saved versions: the exact changes, counts, ids and shape", () => {
      const store = new MemorySnapshotStore();
      const d1 = { step: 1, plan: ["search", "read", "write"], memory: { facts: ["a"], "k~": 1 }, tool: { name: "x" }, gone: null };
      const d2 = { step: 2, plan: ["search"], memory: { facts: ["a", "b"], "k~": 1 }, tool: ["x"], result: { ok: true } };
      const s1 = store.save({ task_id: "t", data: d1 });
      const s2 = store.save({ task_id: "t", data: d2, checkpoint: true }, { expectedVersion: 1 });
      const diff = diffSnapshots(store.get("t", 1), store.get("t", 2));
      assert.deepEqual(Object.keys(diff), ["task_id", "from_version", "to_version", "from_id", "to_id", "added", "removed", "changed", "changes"]);
      assert.deepEqual(diff, {
        task_id: "t",
        from_version: 1,
        to_version: 2,
        from_id: s1.id,
        to_id: s2.id,
        added: 2,
        removed: 3,
        changed: 2,
        changes: [
          { op: "changed", path: "/step", segments: ["step"], old: 1, new: 2 },
          { op: "removed", path: "/plan/2", segments: ["plan", 2], old: "write" },
          { op: "removed", path: "/plan/1", segments: ["plan", 1], old: "read" },
          { op: "added", path: "/memory/facts/1", segments: ["memory", "facts", 1], new: "b" },
          { op: "changed", path: "/tool", segments: ["tool"], old: { name: "x" }, new: ["x"] },
          { op: "removed", path: "/gone", segments: ["gone"], old: null },
          { op: "added", path: "/result", segments: ["result"], new: { ok: true } },
        ],
      });
      for (const c of diff.changes) {
        const keys = { added: ["op", "path", "segments", "new"], removed: ["op", "path", "segments", "old"], changed: ["op", "path", "segments", "old", "new"] }[c.op];
        assert.deepEqual(Object.keys(c), keys, c.path);
      }
      assert.ok(sameJson(apply(d1, diff.changes), d2));
      // Backwards, and against itself.
      const back = diffSnapshots(s2, s1);
      assert.deepEqual([back.from_version, back.to_version, back.added, back.removed, back.changed], [2, 1, 3, 2, 2]);
      assert.ok(sameJson(apply(d2, back.changes), d1));
      assert.deepEqual(diffSnapshots(s2, s2).changes, []);
      // Different tasks may be compared; task_id is from's. Only data is compared.
      const other = store.save({ task_id: "other", data: d2 });
      const across = diffSnapshots(other, s2);
      assert.equal(across.task_id, "other");
      assert.deepEqual([across.added, across.removed, across.changed, across.changes.length], [0, 0, 0, 0]);
      // The result is a fresh plain object.
      diff.changes[0].new = 99;
      assert.equal(diffSnapshots(s1, s2).changes[0].new, 2);
      assert.equal(Object.getPrototypeOf(diff), Object.prototype);
    });

    test("bad arguments: StateError naming the argument and field; the store unchanged and usable", () => {
      const store = new MemorySnapshotStore();
      const s1 = store.save({ task_id: "t", data: { a: 1 } });
      const s2 = store.save({ task_id: "t", data: { a: 2 } });
      const before = JSON.stringify([store.listTasks(), store.get("t", 1), store.get("t", 2)]);
      const without = (s, key) => {
        const copy = { ...s };
        delete copy[key];
        return copy;
      };
      const cases = [
        [() => diffSnapshots(null, s2), "INVALID_ARGUMENT", "from must be an object, got null"],
        [() => diffSnapshots(undefined, s2), "INVALID_ARGUMENT", "from must be an object"],
        [() => diffSnapshots(s1), "INVALID_ARGUMENT", "to must be an object"],
        [() => diffSnapshots(s1, 5), "INVALID_ARGUMENT", "to must be an object, got number 5"],
        [() => diffSnapshots("t", s2), "INVALID_ARGUMENT", "from must be an object"],
        [() => diffSnapshots([s1], s2), "INVALID_ARGUMENT", "from must be an object, got an array"],
        [() => diffSnapshots(without(s1, "data"), s2), "INVALID_ARGUMENT", "from.data is required"],
        [() => diffSnapshots(s1, { ...s2, data: undefined }), "INVALID_ARGUMENT", "to.data is required"],
        [() => diffSnapshots(s1, { ...s2, data: [1] }), "INVALID_ARGUMENT", "to.data must be a plain object"],
        [() => diffSnapshots(s1, { ...s2, data: "x" }), "INVALID_ARGUMENT", "to.data must be a plain object"],
        [() => diffSnapshots({ ...s1, data: { x: NaN } }, s2), "INVALID_ARGUMENT", "from.data.x: NaN"],
        [() => diffSnapshots({ ...s1, data: { x: new Date(0) } }, s2), "INVALID_ARGUMENT", "from.data.x"],
        [() => diffSnapshots(without(s1, "version"), s2), "INVALID_ARGUMENT", "from.version is required"],
        [() => diffSnapshots({ ...s1, version: "1" }, s2), "INVALID_ARGUMENT", "from.version must be an integer"],
        [() => diffSnapshots({ ...s1, version: 1.5 }, s2), "INVALID_ARGUMENT", "from.version must be an integer"],
        [() => diffSnapshots({ ...s1, version: 0 }, s2), "INVALID_ARGUMENT", "from.version must be an integer"],
        [() => diffSnapshots(s1, without(s2, "id")), "INVALID_ARGUMENT", "to.id is required"],
        [() => diffSnapshots(s1, { ...s2, id: 7 }), "INVALID_ARGUMENT", "to.id must be a string"],
        [() => diffSnapshots(s1, { ...s2, task_id: "" }), "INVALID_ARGUMENT", "to.task_id must be a non-empty string"],
        [() => diffSnapshots(s1, without(s2, "checkpoint")), "INVALID_ARGUMENT", "to.checkpoint is required"],
        [() => diffSnapshots(s1, { ...s2, checkpoint: "yes" }), "INVALID_ARGUMENT", "to.checkpoint must be a boolean"],
        [() => diffSnapshots(s1, without(s2, "created_at")), "INVALID_ARGUMENT", "to.created_at is required"],
        [() => diffSnapshots(s1, { ...s2, created_at: "2025-02-08T12:00:00" }), "INVALID_TIMESTAMP", "to.created_at"],
        [() => diffSnapshots(s1, { ...s2, created_at: true }), "INVALID_TIMESTAMP", "to.created_at"],
        [() => diffSnapshots({ ...s1, extra: 1 }, s2), "INVALID_ARGUMENT", 'from: unknown field "extra"'],
        [() => diffSnapshots(s1, new Map()), "INVALID_ARGUMENT", "to: a Map is not a plain object"],
      ];
      for (const [fn, code, part] of cases) throwsCode(entry, fn, code, part);
      assert.equal(JSON.stringify([store.listTasks(), store.get("t", 1), store.get("t", 2)]), before);
      // Still usable.
      const s3 = store.save({ task_id: "t", data: { a: 3, b: [] } }, { expectedVersion: 2 });
      assert.deepEqual(diffSnapshots(s2, s3).changes, [
        { op: "changed", path: "/a", segments: ["a"], old: 2, new: 3 },
        { op: "added", path: "/b", segments: ["b"], new: [] },
      ]);
      assert.deepEqual(store.listVersions("t"), [1, 2, 3]);
    });
  });

  describe(`${name}: diffJson`, () => {
    test("cases", () => {
      const cases = [
        ["equal", { a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }, []],
        ["empty objects", {}, {}, []],
        ["root scalars", 1, 2, [{ op: "changed", path: "", segments: [], old: 1, new: 2 }]],
        ["root: equal strings", "x", "x", []],
        ["root type change", {}, [], [{ op: "changed", path: "", segments: [], old: {}, new: [] }]],
        ["null root", null, null, []],
        ["added and removed keys", { a: 1, b: 2 }, { b: 2, c: 3 }, [
          { op: "removed", path: "/a", segments: ["a"], old: 1 },
          { op: "added", path: "/c", segments: ["c"], new: 3 },
        ]],
        ["nested", { a: { b: { c: [1] } } }, { a: { b: { c: [2] } } }, [
          { op: "changed", path: "/a/b/c/0", segments: ["a", "b", "c", 0], old: 1, new: 2 },
        ]],
        ["array longer", [1], [1, 2, 3], [
          { op: "added", path: "/1", segments: [1], new: 2 },
          { op: "added", path: "/2", segments: [2], new: 3 },
        ]],
        ["array shorter: highest index first", [1, 2, 3], [1], [
          { op: "removed", path: "/2", segments: [2], old: 3 },
          { op: "removed", path: "/1", segments: [1], old: 2 },
        ]],
        ["type change", { a: 1, b: "1", c: [], d: false }, { a: "1", b: 1, c: {}, d: 0 }, [
          { op: "changed", path: "/a", segments: ["a"], old: 1, new: "1" },
          { op: "changed", path: "/b", segments: ["b"], old: "1", new: 1 },
          { op: "changed", path: "/c", segments: ["c"], old: [], new: {} },
          { op: "changed", path: "/d", segments: ["d"], old: false, new: 0 },
        ]],
        ["null values present as null", { a: null, b: null }, { b: 0, c: null }, [
          { op: "removed", path: "/a", segments: ["a"], old: null },
          { op: "changed", path: "/b", segments: ["b"], old: null, new: 0 },
          { op: "added", path: "/c", segments: ["c"], new: null },
        ]],
        ["escaping ~ and /", { "a/b": { "~": 1 } }, { "a/b": { "~": 2 }, "~1/": 0 }, [
          { op: "changed", path: "/a~1b/~0", segments: ["a/b", "~"], old: 1, new: 2 },
          { op: "added", path: "/~01~1", segments: ["~1/"], new: 0 },
        ]],
        ["numeric-looking keys stay strings", { 0: "a" }, { 0: "b" }, [
          { op: "changed", path: "/0", segments: ["0"], old: "a", new: "b" },
        ]],
        ["unicode keys", { "結果": 1, "😀": [] }, { "結果": 2, "😀": ["🙂"] }, [
          { op: "changed", path: "/結果", segments: ["結果"], old: 1, new: 2 },
          { op: "added", path: "/😀/0", segments: ["😀", 0], new: "🙂" },
        ]],
        ["-0 and 0", [0, 1.5, 2 ** 53 - 1], [-0, 1.5, 2 ** 53 - 1], []],
        ["big integers exactly", [2 ** 53 - 1], [2 ** 53 - 2], [
          { op: "changed", path: "/0", segments: [0], old: 2 ** 53 - 1, new: 2 ** 53 - 2 },
        ]],
      ];
      for (const [label, a, b, expected] of cases) {
        const got = diffJson(a, b);
        assert.deepEqual(got, expected, label);
        assert.ok(sameJson(apply(a, got), b), `${label}: applied`);
        assert.deepEqual(diffJson(a, a), [], `${label}: a vs a`);
        assert.ok(sameJson(apply(b, diffJson(b, a)), a), `${label}: backwards`);
      }
    });

    test("applying the changes in order to old yields new (random values)", () => {
      const r = rng(20250208);
      for (let i = 0; i < 300; i++) {
        const a = randomJson(r);
        const b = r() < 0.3 ? randomJson(r) : mutate(r, a);
        const changes = diffJson(a, b);
        assert.ok(sameJson(apply(a, changes), b), JSON.stringify({ a, b, changes }));
        for (const c of changes) {
          assert.equal(c.path, pointer(c.segments));
          assert.equal("old" in c, c.op !== "added");
          assert.equal("new" in c, c.op !== "removed");
        }
        assert.deepEqual(diffJson(b, b), []);
      }
    });

    test("values that are not JSON: StateError naming where", () => {
      const cyclic = { a: 1 };
      cyclic.self = cyclic;
      let deep = 1;
      for (let i = 0; i < 200; i++) deep = [deep];
      const cases = [
        [() => diffJson(undefined, {}), "INVALID_ARGUMENT", "oldValue: undefined is not a JSON value"],
        [() => diffJson({}), "INVALID_ARGUMENT", "newValue: undefined is not a JSON value"],
        [() => diffJson({ a: undefined }, {}), "INVALID_ARGUMENT", "oldValue.a: undefined is not a JSON value"],
        [() => diffJson({}, [1, undefined]), "INVALID_ARGUMENT", "newValue[1]: undefined"],
        [() => diffJson({}, { x: [NaN] }), "INVALID_ARGUMENT", "newValue.x[0]: NaN is not a JSON number"],
        [() => diffJson(Infinity, 1), "INVALID_ARGUMENT", "oldValue: Infinity"],
        [() => diffJson(10n, 1), "INVALID_ARGUMENT", "oldValue: a BigInt"],
        [() => diffJson(() => 1, 1), "INVALID_ARGUMENT", "oldValue: a function"],
        [() => diffJson(Symbol("s"), 1), "INVALID_ARGUMENT", "oldValue: a symbol"],
        [() => diffJson({ d: new Date(0) }, {}), "INVALID_ARGUMENT", "oldValue.d: a Date is not a plain object"],
        [() => diffJson(new Map(), {}), "INVALID_ARGUMENT", "oldValue: a Map is not a plain object"],
        [() => diffJson({}, cyclic), "INVALID_ARGUMENT", "newValue.self: the value refers to itself"],
        [() => diffJson({ s: "\ud800" }, {}), "INVALID_ARGUMENT", "oldValue.s: the string holds a lone UTF-16 surrogate"],
        [() => diffJson(deep, []), "TOO_LARGE", "oldValue"],
        [() => diffJson({ get x() { throw new Error("boom"); } }, {}), "INVALID_ARGUMENT", "oldValue.x: reading it threw: boom"],
      ];
      for (const [fn, code, part] of cases) throwsCode(entry, fn, code, part);
      // Still usable.
      assert.deepEqual(diffJson({ a: [1] }, { a: [1, 2] }), [{ op: "added", path: "/a/1", segments: ["a", 1], new: 2 }]);
      const store = new MemorySnapshotStore();
      store.save({ task_id: "t", data: { n: 1 } });
      assert.equal(store.get("t").version, 1);
    });
  });
}

describe("asap-state: diffSnapshots with the SQLite stores", () => {
  test("versions saved in a SqliteStateDb diff like memory ones", async () => {
    const db = await full.SqliteStateDb.open();
    try {
      const a = db.snapshots.save({ task_id: "t", data: { x: 1, l: [1, 2] } });
      const b = db.snapshots.save({ task_id: "t", data: { x: 1, l: [1], y: "new" } });
      const diff = full.diffSnapshots(db.snapshots.get("t", 1), db.snapshots.get("t", 2));
      assert.deepEqual(diff, {
        task_id: "t", from_version: 1, to_version: 2, from_id: a.id, to_id: b.id, added: 1, removed: 1, changed: 0,
        changes: [
          { op: "removed", path: "/l/1", segments: ["l", 1], old: 2 },
          { op: "added", path: "/y", segments: ["y"], new: "new" },
        ],
      });
      // A memory snapshot against a SQLite one.
      const m = new full.MemorySnapshotStore().save({ task_id: "m", data: { x: 2 } });
      assert.equal(full.diffSnapshots(m, a).changed, 1);
    } finally {
      db.close();
    }
  });
});
