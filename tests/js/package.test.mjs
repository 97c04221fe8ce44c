// The memory stores of the npm package, through its public entries "asap-state" and
// "asap-state/memory" (Node ESM, no flags): CONTRACT.md §2–§5.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MemorySnapshotStore, MemoryMeteringStore, StateError } from "asap-state";
import * as memoryEntry from "asap-state/memory";
import { throwsCode } from "./helpers.mjs";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/;
const ULID = "[0-9ABCDEFGHJKMNPQRSTVWXYZ]{26}";

function event(id, agent, timestamp, metrics = {}, extra = {}) {
  return { id, task_id: extra.task_id ?? `task_${id}`, agent_id: agent, consumer_id: extra.consumer_id ?? "consumer_1", metrics, timestamp };
}

describe("entries", () => {
  test("both entries export the same classes and the same StateError", () => {
    assert.equal(typeof MemorySnapshotStore, "function");
    assert.equal(typeof MemoryMeteringStore, "function");
    assert.equal(typeof StateError, "function");
    assert.equal(memoryEntry.StateError, StateError);
    assert.equal(typeof memoryEntry.MemorySnapshotStore, "function");
    assert.equal(typeof memoryEntry.MemoryMeteringStore, "function");
    // No SQLite in the light entry.
    assert.equal(memoryEntry.SqliteStateDb, undefined);
  });

  test("each entry's wasm is shipped once, in web/, and the Node glue loads that file", () => {
    const pkg = fileURLToPath(new URL("../../pkg/", import.meta.url));
    const wasmFiles = readdirSync(pkg, { recursive: true }).filter((f) => f.endsWith(".wasm")).sort();
    assert.deepEqual(wasmFiles, ["wasm/durable-object/web/asap_state_bg.wasm", "wasm/full/web/asap_state_bg.wasm", "wasm/memory/web/asap_state_bg.wasm"]);
    for (const entry of ["durable-object", "full", "memory"]) {
      const glue = readFileSync(`${pkg}wasm/${entry}/node/asap_state.js`, "utf8");
      assert.ok(glue.includes("new URL('../web/asap_state_bg.wasm', import.meta.url)"), `${entry}: the Node glue reads web/'s wasm`);
    }
    // The entries this process imported work, so the Node glue found its wasm.
    assert.equal(new MemorySnapshotStore().save({ task_id: "t", data: {} }).version, 1);
    assert.equal(new memoryEntry.MemorySnapshotStore().save({ task_id: "t", data: {} }).version, 1);
  });

  test("StateError is a real Error subclass with name and code", () => {
    const e = new StateError("INVALID_ARGUMENT", "x must be y");
    assert.ok(e instanceof Error);
    assert.ok(e instanceof StateError);
    assert.equal(e.name, "StateError");
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.equal(e.message, "x must be y");
    assert.match(String(e), /^StateError: x must be y$/);
    assert.equal(typeof e.stack, "string");
  });

  test("a StateError thrown by asap-state/memory is instanceof asap-state's StateError", () => {
    const store = new memoryEntry.MemorySnapshotStore();
    let err;
    try {
      store.save({ data: {} });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof StateError);
    assert.ok(err instanceof memoryEntry.StateError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "StateError");
    assert.equal(err.code, "INVALID_SNAPSHOT");
    assert.match(err.message, /task_id/);
    assert.match(String(err), /^StateError: /);
  });

  test("a StateError thrown by asap-state names the field", () => {
    const m = new MemoryMeteringStore();
    const e = throwsCode(() => m.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: -1 } }), "INVALID_EVENT");
    assert.match(e.message, /tokens_in/);
    const e2 = throwsCode(() => new MemorySnapshotStore().save({ task_id: "t", data: {}, version: "2" }), "INVALID_SNAPSHOT");
    assert.match(e2.message, /version/);
  });
});

describe("MemorySnapshotStore", () => {
  test("save returns the stored snapshot with defaults", () => {
    const s = new MemorySnapshotStore();
    const before = Date.now();
    const snap = s.save({ task_id: "t1", data: { a: 1 } });
    const after = Date.now();
    assert.deepEqual(Object.keys(snap), ["id", "task_id", "version", "data", "checkpoint", "created_at"]);
    assert.match(snap.id, new RegExp(`^snap_${ULID}$`));
    assert.equal(snap.task_id, "t1");
    assert.equal(snap.version, 1);
    assert.deepEqual(snap.data, { a: 1 });
    assert.equal(snap.checkpoint, false);
    assert.match(snap.created_at, TS_RE);
    const created = Date.parse(snap.created_at);
    assert.ok(created >= before - 1 && created <= after + 1, `created_at ${snap.created_at} is not now`);
    assert.deepEqual(s.get("t1"), snap);
    // Two generated ids differ.
    assert.notEqual(s.save({ task_id: "t1", data: {} }).id, snap.id);
  });

  test("explicit fields are kept", () => {
    const s = new MemorySnapshotStore();
    const snap = s.save({ id: "snap_x", task_id: "t", version: 7, data: { k: "v" }, checkpoint: true, created_at: "2025-02-08T12:00:00Z" });
    assert.deepEqual(snap, { id: "snap_x", task_id: "t", version: 7, data: { k: "v" }, checkpoint: true, created_at: "2025-02-08T12:00:00+00:00" });
    assert.deepEqual(s.get("t", 7), snap);
  });

  test("save upserts on (task_id, version): same key replaces silently", () => {
    const s = new MemorySnapshotStore();
    s.save({ id: "A", task_id: "t", version: 2, data: { who: "A" } });
    const b = s.save({ id: "B", task_id: "t", version: 2, data: { who: "B" }, checkpoint: true });
    s.save({ id: "C", task_id: "t", version: 1, data: { who: "C" } });
    assert.deepEqual(s.get("t"), b);
    assert.equal(s.get("t").id, "B");
    assert.deepEqual(s.listVersions("t"), [1, 2]);
    assert.equal(s.get("t", 1).id, "C");
    assert.equal(s.listTasks()[0].versions, 2);
  });

  test("get: latest is the max version; exact version or undefined", () => {
    const s = new MemorySnapshotStore();
    for (const v of [1, 3, 2]) s.save({ task_id: "t", version: v, data: { step: v } });
    assert.equal(s.get("t").version, 3);
    assert.equal(s.get("t").data.step, 3);
    assert.equal(s.get("t", null).version, 3);
    assert.equal(s.get("t", undefined).version, 3);
    assert.equal(s.get("t", 1).data.step, 1);
    assert.equal(s.get("t", 2).data.step, 2);
    assert.equal(s.get("t", 999), undefined);
    assert.equal(s.get("unknown"), undefined);
    assert.equal(s.get("unknown", 1), undefined);
  });

  test("listVersions is ascending, [] for unknown tasks, tasks isolated", () => {
    const s = new MemorySnapshotStore();
    for (const v of [5, 1, 3, 2, 10]) s.save({ task_id: "t", version: v, data: {} });
    s.save({ task_id: "u", version: 4, data: { task: "u" } });
    assert.deepEqual(s.listVersions("t"), [1, 2, 3, 5, 10]);
    assert.deepEqual(s.listVersions("u"), [4]);
    assert.deepEqual(s.listVersions("nope"), []);
  });

  test("delete one version: true iff it existed; latest moves down; last one removes the task", () => {
    const s = new MemorySnapshotStore();
    for (const v of [1, 2, 3]) s.save({ task_id: "t", version: v, data: { v } });
    s.save({ task_id: "other", version: 1, data: {} });
    assert.equal(s.delete("t", 999), false);
    assert.equal(s.delete("nope", 1), false);
    assert.deepEqual(s.listVersions("t"), [1, 2, 3]);
    assert.equal(s.delete("t", 3), true);
    assert.equal(s.delete("t", 3), false);
    assert.equal(s.get("t", 3), undefined);
    assert.equal(s.get("t").version, 2);
    assert.deepEqual(s.listVersions("t"), [1, 2]);
    assert.equal(s.delete("t", 1), true);
    assert.equal(s.delete("t", 2), true);
    assert.equal(s.get("t"), undefined);
    assert.deepEqual(s.listVersions("t"), []);
    assert.deepEqual(s.listTasks().map((x) => x.task_id), ["other"]);
    assert.equal(s.delete("t"), false, "the task is gone after its last version was deleted");
  });

  test("delete all versions: true iff anything was deleted", () => {
    const s = new MemorySnapshotStore();
    for (const v of [1, 2]) s.save({ task_id: "t", version: v, data: {} });
    s.save({ task_id: "keep", version: 1, data: { task: 2 } });
    assert.equal(s.delete("nope"), false);
    assert.equal(s.delete("t"), true);
    assert.equal(s.get("t"), undefined);
    assert.equal(s.get("t", 1), undefined);
    assert.deepEqual(s.listVersions("t"), []);
    assert.equal(s.delete("t"), false);
    assert.equal(s.delete("t", null), false);
    assert.deepEqual(s.get("keep").data, { task: 2 });
    s.save({ task_id: "t", version: 1, data: {} });
    assert.equal(s.delete("t", null), true, "null version = all");
    assert.deepEqual(s.listVersions("t"), []);
  });

  test("version auto-increments from the latest", () => {
    const s = new MemorySnapshotStore();
    assert.equal(s.save({ task_id: "t", data: {} }).version, 1);
    assert.equal(s.save({ task_id: "t", data: {} }).version, 2);
    s.save({ task_id: "t", version: 10, data: {} });
    assert.equal(s.save({ task_id: "t", data: {} }).version, 11);
    s.save({ task_id: "t", version: 5, data: {} }); // lower explicit version does not move latest
    assert.equal(s.save({ task_id: "t", data: {} }).version, 12);
    assert.equal(s.delete("t", 12), true);
    assert.equal(s.save({ task_id: "t", data: {} }).version, 12, "latest + 1 after deleting the latest");
    assert.equal(s.save({ task_id: "new", data: {} }).version, 1);
    assert.deepEqual(s.listVersions("t"), [1, 2, 5, 10, 11, 12]);
  });

  test("expectedVersion: the latest must equal it; 0 and null mean the task must not exist", () => {
    const s = new MemorySnapshotStore();
    assert.equal(s.save({ task_id: "t", data: {} }, { expectedVersion: 0 }).version, 1);
    assert.equal(s.save({ task_id: "u", data: {} }, { expectedVersion: null }).version, 1);
    assert.equal(s.save({ task_id: "t", data: { n: 2 } }, { expectedVersion: 1 }).version, 2);
    const e = throwsCode(() => s.save({ task_id: "t", data: { n: 3 } }, { expectedVersion: 1 }), "VERSION_CONFLICT");
    assert.match(e.message, /"t"/);
    throwsCode(() => s.save({ task_id: "t", data: {} }, { expectedVersion: 0 }), "VERSION_CONFLICT");
    throwsCode(() => s.save({ task_id: "t", data: {} }, { expectedVersion: null }), "VERSION_CONFLICT");
    throwsCode(() => s.save({ task_id: "t", data: {} }, { expectedVersion: 3 }), "VERSION_CONFLICT");
    throwsCode(() => s.save({ task_id: "fresh", data: {} }, { expectedVersion: 5 }), "VERSION_CONFLICT");
    assert.deepEqual(s.listVersions("t"), [1, 2]);
    assert.deepEqual(s.get("t").data, { n: 2 });
    assert.deepEqual(s.listVersions("fresh"), []);
    // With an explicit version too.
    assert.equal(s.save({ task_id: "t", version: 7, data: {} }, { expectedVersion: 2 }).version, 7);
    // No option / undefined / empty options: no check.
    assert.equal(s.save({ task_id: "t", data: {} }, {}).version, 8);
    assert.equal(s.save({ task_id: "t", data: {} }, { expectedVersion: undefined }).version, 9);
    assert.equal(s.save({ task_id: "t", data: {} }, undefined).version, 10);
  });

  test("getById returns the task's snapshot with that id (highest version if shared)", () => {
    const s = new MemorySnapshotStore();
    s.save({ id: "snap_a", task_id: "t", version: 1, data: { v: 1 } });
    s.save({ id: "snap_b", task_id: "t", version: 2, data: { v: 2 } });
    s.save({ id: "snap_a", task_id: "t", version: 3, data: { v: 3 } });
    s.save({ id: "snap_c", task_id: "u", version: 1, data: {} });
    assert.equal(s.getById("t", "snap_b").version, 2);
    assert.deepEqual(s.getById("t", "snap_a").data, { v: 3 });
    assert.equal(s.getById("t", "snap_c"), undefined, "scoped to the task");
    assert.equal(s.getById("t", "nope"), undefined);
    assert.equal(s.getById("nope", "snap_a"), undefined);
  });

  test("listTasks: ordered by task_id, with counts, latest version and its created_at, checkpoints", () => {
    const s = new MemorySnapshotStore();
    assert.deepEqual(s.listTasks(), []);
    s.save({ task_id: "b", version: 1, data: {}, checkpoint: true, created_at: "2024-01-01T00:00:00Z" });
    s.save({ task_id: "b", version: 3, data: {}, checkpoint: true, created_at: "2024-01-03T00:00:00.25+01:00" });
    s.save({ task_id: "b", version: 2, data: {}, created_at: "2024-01-05T00:00:00Z" });
    s.save({ task_id: "a", version: 1, data: {}, created_at: "2023-12-31T23:00:00-01:00" });
    s.save({ task_id: "C", version: 4, data: {}, created_at: 0 });
    assert.deepEqual(s.listTasks(), [
      { task_id: "C", versions: 1, latest_version: 4, latest_created_at: "1970-01-01T00:00:00+00:00", checkpoints: 0 },
      { task_id: "a", versions: 1, latest_version: 1, latest_created_at: "2024-01-01T00:00:00+00:00", checkpoints: 0 },
      { task_id: "b", versions: 3, latest_version: 3, latest_created_at: "2024-01-02T23:00:00.250000+00:00", checkpoints: 2 },
    ]);
    assert.deepEqual(Object.keys(s.listTasks()[0]), ["task_id", "versions", "latest_version", "latest_created_at", "checkpoints"]);
  });

  describe("prune", () => {
    const mk = () => {
      const s = new MemorySnapshotStore();
      for (let v = 1; v <= 6; v++) s.save({ task_id: "p", version: v, data: { v }, checkpoint: v === 2, created_at: `2024-01-0${v}T00:00:00Z` });
      s.save({ task_id: "other", version: 1, data: {}, created_at: "2000-01-01T00:00:00Z" });
      return s;
    };
    test("keepLast", () => {
      const s = mk();
      assert.equal(s.prune("p", { keepLast: 2 }), 4);
      assert.deepEqual(s.listVersions("p"), [5, 6]);
      assert.deepEqual(s.listVersions("other"), [1]);
      assert.equal(s.prune("p", { keepLast: 2 }), 0);
    });
    test("keepLast + keepCheckpoints", () => {
      const s = mk();
      assert.equal(s.prune("p", { keepLast: 2, keepCheckpoints: true }), 3);
      assert.deepEqual(s.listVersions("p"), [2, 5, 6]);
    });
    test("olderThan (strictly before)", () => {
      const s = mk();
      assert.equal(s.prune("p", { olderThan: "2024-01-03T01:00:00+01:00" }), 2);
      assert.deepEqual(s.listVersions("p"), [3, 4, 5, 6]);
    });
    test("olderThan and keepLast both apply", () => {
      const s = mk();
      assert.equal(s.prune("p", { olderThan: new Date("2024-01-05T00:00:00Z"), keepLast: 4 }), 2);
      assert.deepEqual(s.listVersions("p"), [3, 4, 5, 6]);
    });
    test("the latest version is never pruned", () => {
      const s = mk();
      assert.equal(s.prune("p", { olderThan: Date.UTC(2030, 0, 1) }), 5);
      assert.deepEqual(s.listVersions("p"), [6]);
      const s2 = mk();
      assert.equal(s2.prune("p", { keepLast: 0 }), 5);
      assert.deepEqual(s2.listVersions("p"), [6]);
    });
    test("unknown task prunes nothing; empty policy is rejected", () => {
      const s = mk();
      assert.equal(s.prune("nope", { keepLast: 0 }), 0);
      throwsCode(() => s.prune("p", {}), "INVALID_ARGUMENT");
      assert.deepEqual(s.listVersions("p"), [1, 2, 3, 4, 5, 6]);
    });
  });

  test("returned objects are copies", () => {
    const s = new MemorySnapshotStore();
    const input = { task_id: "t", version: 1, data: { list: [1, 2], nested: { x: "y" } } };
    const saved = s.save(input);
    input.data.list.push(3);
    input.data.nested.x = "mutated-input";
    input.version = 99;
    saved.data.list.push(4);
    saved.data.nested.x = "mutated-saved";
    saved.version = 42;
    saved.task_id = "zzz";
    const got = s.get("t");
    assert.deepEqual(got, { ...got, task_id: "t", version: 1, data: { list: [1, 2], nested: { x: "y" } } });
    got.data.list.length = 0;
    got.data.added = true;
    got.checkpoint = true;
    assert.deepEqual(s.get("t", 1).data, { list: [1, 2], nested: { x: "y" } });
    assert.equal(s.get("t", 1).checkpoint, false);
    assert.notEqual(s.get("t"), s.get("t"), "each call returns a new object");
    const byId = s.getById("t", saved.id);
    byId.data.nested.x = "mutated-byId";
    assert.equal(s.get("t").data.nested.x, "y");
    const versions = s.listVersions("t");
    versions.push(7);
    assert.deepEqual(s.listVersions("t"), [1]);
    const tasks = s.listTasks();
    tasks[0].versions = 100;
    tasks.push({ task_id: "fake" });
    assert.deepEqual(s.listTasks().map((x) => [x.task_id, x.versions]), [["t", 1]]);
  });

  test("data round-trips exactly: numbers, key order, unicode, nesting", () => {
    const s = new MemorySnapshotStore();
    const data = {
      zeta: 1,
      alpha: 2,
      "mid key": null,
      ключ: "значение",
      "🔑": "🗝️",
      日本語: { 中: [true, false, null] },
      "": "empty key",
      "a.b": { "c\"d": "quote", "e\\f": "backslash", "g\nh": "newline" },
      nums: [0.1, 1e-7, -1.25, 2 ** 53 - 1, -(2 ** 53 - 1), 1e300, 5e-324, Number.MAX_VALUE, 2 ** 64, 123456789.12345679, 0, -3],
      str: "\u0000\u001f \u2028 \ud83d\ude00 \"quoted\" \\",
      deep: [[[[{ a: [{}] }]]]],
    };
    const saved = s.save({ task_id: "t", data });
    const got = s.get("t");
    for (const snap of [saved, got]) {
      assert.deepEqual(snap.data, data);
      assert.deepEqual(Object.keys(snap.data), Object.keys(data), "key order preserved");
      assert.deepEqual(Object.keys(snap.data["a.b"]), ["c\"d", "e\\f", "g\nh"]);
      for (let i = 0; i < data.nums.length; i++) assert.ok(Object.is(snap.data.nums[i], data.nums[i]), `nums[${i}] ${snap.data.nums[i]} !== ${data.nums[i]}`);
      assert.equal(JSON.stringify(snap.data), JSON.stringify(data));
      assert.equal(Object.getPrototypeOf(snap.data), Object.prototype, "a plain object, not a Map");
      assert.ok(Array.isArray(snap.data.nums));
    }
    // A null-prototype object is a plain object too.
    const bare = Object.assign(Object.create(null), { b: 1, a: [2] });
    assert.deepEqual(s.save({ task_id: "bare", data: bare }).data, { b: 1, a: [2] });
  });

  test("strings with lone surrogates are rejected, never silently replaced", () => {
    for (const input of [{ task_id: "t", data: { s: "a\ud800b" } }, { task_id: "t", data: { ["k\udc00"]: 1 } }, { task_id: "t\ud800", data: {} }]) {
      const s = new MemorySnapshotStore();
      assert.throws(() => s.save(input), (e) => e instanceof StateError && e.code === "INVALID_SNAPSHOT" && /surrogate/.test(e.message));
      assert.deepEqual(s.listTasks(), []);
    }
    // A real U+FFFD is ordinary text and is kept.
    const s = new MemorySnapshotStore();
    assert.equal(s.save({ task_id: "t", data: { s: "a\ufffdb" } }).data.s, "a\ufffdb");
  });

  describe("timestamps", () => {
    const cases = [
      ["Z", "2025-02-08T12:00:00Z", "2025-02-08T12:00:00+00:00"],
      ["+00:00", "2025-02-08T12:00:00+00:00", "2025-02-08T12:00:00+00:00"],
      ["positive offset crossing midnight", "2024-01-01T01:30:00+02:00", "2023-12-31T23:30:00+00:00"],
      ["negative offset", "2025-02-08T09:00:00-03:00", "2025-02-08T12:00:00+00:00"],
      ["odd offset", "2024-06-30T23:59:59.000001-05:30", "2024-07-01T05:29:59.000001+00:00"],
      ["millis", "2024-01-01T12:00:00.5+02:00", "2024-01-01T10:00:00.500000+00:00"],
      ["zero fraction is dropped", "2024-06-30T23:59:59.000000Z", "2024-06-30T23:59:59+00:00"],
      ["micro", "2024-02-29T00:00:00.123456Z", "2024-02-29T00:00:00.123456+00:00"],
      ["Date", new Date("2024-03-10T08:07:06.789Z"), "2024-03-10T08:07:06.789000+00:00"],
      ["Date whole second", new Date(Date.UTC(1999, 11, 31, 23, 59, 59)), "1999-12-31T23:59:59+00:00"],
      ["epoch ms", 1700000000123, "2023-11-14T22:13:20.123000+00:00"],
      ["epoch 0", 0, "1970-01-01T00:00:00+00:00"],
      ["negative epoch ms", -1, "1969-12-31T23:59:59.999000+00:00"],
    ];
    for (const [name, input, expected] of cases) {
      test(`${name}: ${input instanceof Date ? "Date " + input.toISOString() : JSON.stringify(input)} -> ${expected}`, () => {
        const s = new MemorySnapshotStore();
        const snap = s.save({ task_id: "t", data: {}, created_at: input });
        assert.equal(snap.created_at, expected);
        assert.match(snap.created_at, TS_RE);
        assert.equal(s.get("t").created_at, expected);
        const m = new MemoryMeteringStore();
        const ev = m.record({ task_id: "t", agent_id: "a", consumer_id: "c", timestamp: input });
        assert.equal(ev.timestamp, expected);
      });
    }
    test("a string without an offset is INVALID_TIMESTAMP", () => {
      const s = new MemorySnapshotStore();
      const e = throwsCode(() => s.save({ task_id: "t", data: {}, created_at: "2025-02-08T12:00:00" }), "INVALID_TIMESTAMP");
      assert.match(e.message, /created_at/);
      const m = new MemoryMeteringStore();
      const e2 = throwsCode(() => m.record({ task_id: "t", agent_id: "a", consumer_id: "c", timestamp: "2025-02-08T12:00:00" }), "INVALID_TIMESTAMP");
      assert.match(e2.message, /timestamp/);
      throwsCode(() => m.query("a", "2025-02-08T12:00:00", "2025-02-08T13:00:00Z"), "INVALID_TIMESTAMP");
    });
  });
});

describe("MemoryMeteringStore", () => {
  test("record returns the stored event with defaults", () => {
    const m = new MemoryMeteringStore();
    const before = Date.now();
    const ev = m.record({ task_id: "t", agent_id: "a", consumer_id: "c" });
    const after = Date.now();
    assert.deepEqual(Object.keys(ev), ["id", "task_id", "agent_id", "consumer_id", "metrics", "timestamp"]);
    assert.match(ev.id, new RegExp(`^evt_${ULID}$`));
    assert.deepEqual(ev.metrics, { tokens_in: 0, tokens_out: 0, duration_ms: 0, api_calls: 0 });
    assert.deepEqual(Object.keys(ev.metrics), ["tokens_in", "tokens_out", "duration_ms", "api_calls"]);
    assert.match(ev.timestamp, TS_RE);
    const ts = Date.parse(ev.timestamp);
    assert.ok(ts >= before - 1 && ts <= after + 1);
    const ev2 = m.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_out: 5, api_calls: 2 } });
    assert.deepEqual(ev2.metrics, { tokens_in: 0, tokens_out: 5, duration_ms: 0, api_calls: 2 });
    assert.notEqual(ev2.id, ev.id);
    const big = m.record({ task_id: "t", agent_id: "b", consumer_id: "c", metrics: { tokens_in: 2 ** 53 - 1 } });
    assert.equal(big.metrics.tokens_in, 2 ** 53 - 1);
  });

  test("query: agent filter, inclusive window, ascending, ties in recording order", () => {
    const m = new MemoryMeteringStore();
    m.record(event("late", "a", "2025-02-08T12:00:00Z"));
    m.record(event("early", "a", "2025-02-08T11:00:00Z"));
    m.record(event("tie1", "a", "2025-02-08T11:30:00Z"));
    m.record(event("tie2", "a", "2025-02-08T13:30:00+02:00")); // same instant as tie1
    m.record(event("tie3", "a", new Date("2025-02-08T11:30:00Z")));
    m.record(event("before", "a", "2025-02-08T10:59:59.999999Z"));
    m.record(event("after", "a", "2025-02-08T12:00:00.000001Z"));
    m.record(event("otheragent", "b", "2025-02-08T11:30:00Z"));
    const ids = (evs) => evs.map((e) => e.id);
    assert.deepEqual(ids(m.query("a", "2025-02-08T11:00:00Z", "2025-02-08T12:00:00Z")), ["early", "tie1", "tie2", "tie3", "late"]);
    // Bounds in other forms: offset strings, Date, epoch ms.
    assert.deepEqual(ids(m.query("a", "2025-02-08T08:00:00-03:00", new Date("2025-02-08T12:00:00Z"))), ["early", "tie1", "tie2", "tie3", "late"]);
    assert.deepEqual(ids(m.query("a", Date.UTC(2025, 1, 8, 11, 30), Date.UTC(2025, 1, 8, 11, 30))), ["tie1", "tie2", "tie3"]);
    assert.deepEqual(ids(m.query("a", "2025-02-08T10:59:59.999999Z", "2025-02-08T12:00:00.000001Z")), ["before", "early", "tie1", "tie2", "tie3", "late", "after"]);
    assert.deepEqual(ids(m.query("b", 0, Date.UTC(2100, 0, 1))), ["otheragent"]);
    assert.deepEqual(m.query("nobody", 0, Date.UTC(2100, 0, 1)), []);
    assert.deepEqual(m.query("a", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), []);
    assert.deepEqual(m.query("a", "2025-02-08T12:00:00Z", "2025-02-08T11:00:00Z"), [], "start after end: empty");
    const tie2 = m.query("a", "2025-02-08T11:30:00Z", "2025-02-08T11:30:00Z")[1];
    assert.deepEqual(tie2, { id: "tie2", task_id: "task_tie2", agent_id: "a", consumer_id: "consumer_1", metrics: { tokens_in: 0, tokens_out: 0, duration_ms: 0, api_calls: 0 }, timestamp: "2025-02-08T11:30:00+00:00" });
  });

  test("query: limit / offset page the result", () => {
    const m = new MemoryMeteringStore();
    for (let i = 4; i >= 0; i--) m.record(event(`e${i}`, "a", `2025-02-08T12:0${i}:00Z`));
    const q = (opts) => m.query("a", "2025-02-08T00:00:00Z", "2025-02-09T00:00:00Z", opts).map((e) => e.id);
    assert.deepEqual(q(), ["e0", "e1", "e2", "e3", "e4"]);
    assert.deepEqual(q({ limit: 2 }), ["e0", "e1"]);
    assert.deepEqual(q({ limit: 2, offset: 0 }), ["e0", "e1"]);
    assert.deepEqual(q({ limit: 2, offset: 2 }), ["e2", "e3"]);
    assert.deepEqual(q({ limit: 2, offset: 4 }), ["e4"]);
    assert.deepEqual(q({ offset: 3 }), ["e3", "e4"]);
    assert.deepEqual(q({ limit: 0 }), []);
    assert.deepEqual(q({ offset: 5 }), []);
    assert.deepEqual(q({ offset: 100, limit: 3 }), []);
    assert.deepEqual(q({ limit: 100 }), ["e0", "e1", "e2", "e3", "e4"]);
    assert.deepEqual(q({}), ["e0", "e1", "e2", "e3", "e4"]);
  });

  test("query: negative offset -> INVALID_ARGUMENT 'offset must be non-negative'", () => {
    const m = new MemoryMeteringStore();
    m.record(event("e", "a", "2025-02-08T12:00:00Z"));
    throwsCode(() => m.query("a", 0, Date.UTC(2100, 0, 1), { offset: -1 }), "INVALID_ARGUMENT", "offset must be non-negative");
    throwsCode(() => m.query("a", 0, Date.UTC(2100, 0, 1), { offset: -5, limit: 1 }), "INVALID_ARGUMENT", "offset must be non-negative");
  });

  test("aggregate: echoes period, sums, counts events, zeros for unknown agent", () => {
    const m = new MemoryMeteringStore();
    m.record(event("1", "agent_01", "2025-02-08T12:00:00Z", { tokens_in: 10, tokens_out: 20, duration_ms: 100, api_calls: 1 }, { task_id: "same" }));
    m.record(event("2", "agent_01", "2025-02-08T13:00:00Z", { tokens_in: 5, tokens_out: 5, api_calls: 2 }, { task_id: "same" }));
    m.record(event("3", "agent_02", "2025-02-08T13:00:00Z", { tokens_in: 1000 }));
    const agg = m.aggregate("agent_01", "day");
    assert.deepEqual(agg, { agent_id: "agent_01", period: "day", total_tokens: 40, total_duration: 100, total_tasks: 2, total_api_calls: 3 });
    assert.deepEqual(Object.keys(agg), ["agent_id", "period", "total_tokens", "total_duration", "total_tasks", "total_api_calls"]);
    assert.equal(m.aggregate("agent_01", "whatever").period, "whatever");
    assert.equal(m.aggregate("agent_01", "").period, "");
    assert.equal(m.aggregate("agent_01", "Hour  ").period, "Hour  ");
    assert.deepEqual(m.aggregate("ghost", "hour"), { agent_id: "ghost", period: "hour", total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 });
  });

  test("aggregate: window bounds are inclusive, either side optional", () => {
    const m = new MemoryMeteringStore();
    m.record(event("1", "a", "2025-02-08T10:00:00Z", { tokens_in: 1, duration_ms: 1 }));
    m.record(event("2", "a", "2025-02-08T11:00:00Z", { tokens_in: 10, duration_ms: 10 }));
    m.record(event("3", "a", "2025-02-08T12:00:00Z", { tokens_out: 100, duration_ms: 100, api_calls: 7 }));
    const tot = (w) => m.aggregate("a", "p", w).total_tokens;
    assert.equal(tot(undefined), 111);
    assert.equal(tot({}), 111);
    assert.equal(tot({ start: "2025-02-08T11:00:00Z", end: "2025-02-08T12:00:00Z" }), 110);
    assert.equal(tot({ start: "2025-02-08T11:00:00.000001Z" }), 100);
    assert.equal(tot({ end: "2025-02-08T13:00:00+02:00" }), 11);
    assert.equal(tot({ start: Date.UTC(2025, 1, 8, 10), end: new Date(Date.UTC(2025, 1, 8, 10)) }), 1);
    assert.deepEqual(m.aggregate("a", "p", { start: "2025-02-08T11:00:00Z" }), { agent_id: "a", period: "p", total_tokens: 110, total_duration: 110, total_tasks: 2, total_api_calls: 7 });
    assert.deepEqual(m.aggregate("a", "p", { start: "2030-01-01T00:00:00Z" }), { agent_id: "a", period: "p", total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 });
  });

  test("record with a known id stores nothing and returns the stored event", () => {
    const m = new MemoryMeteringStore();
    const first = m.record(event("evt_same", "a", "2025-02-08T12:00:00Z", { tokens_in: 5 }));
    const again = m.record(event("evt_same", "b", "2025-02-09T12:00:00Z", { tokens_in: 999 }));
    assert.deepEqual(again, first);
    assert.equal(again.agent_id, "a");
    assert.equal(again.metrics.tokens_in, 5);
    assert.deepEqual(m.agents(), ["a"]);
    assert.equal(m.aggregate("a", "x").total_tasks, 1);
    assert.equal(JSON.parse(m.export("json")).length, 1);
  });

  test("series: UTC hour buckets in [start, end), only non-empty, ascending", () => {
    const m = new MemoryMeteringStore();
    m.record(event("s", "a", "2025-02-08T10:00:00Z", { tokens_in: 1, api_calls: 1 }));
    m.record(event("x", "a", "2025-02-08T12:45:00+02:00", { tokens_in: 2, duration_ms: 5 })); // 10:45Z
    m.record(event("y", "a", "2025-02-08T13:59:59.999999Z", { tokens_out: 4 }));
    m.record(event("z", "a", "2025-02-08T13:00:00Z", { tokens_out: 8, duration_ms: 1 }));
    m.record(event("end", "a", "2025-02-08T14:00:00Z", { tokens_in: 1000 })); // excluded: end is exclusive
    m.record(event("early", "a", "2025-02-08T09:59:59Z", { tokens_in: 1000 })); // before start
    m.record(event("b", "b", "2025-02-08T11:00:00Z", { tokens_in: 1000 }));
    const buckets = m.series("a", { bucket: "hour", start: "2025-02-08T10:00:00Z", end: "2025-02-08T14:00:00Z" });
    assert.deepEqual(buckets, [
      { start: "2025-02-08T10:00:00+00:00", total_tokens: 3, total_duration: 5, total_tasks: 2, total_api_calls: 1 },
      { start: "2025-02-08T13:00:00+00:00", total_tokens: 12, total_duration: 1, total_tasks: 2, total_api_calls: 0 },
    ]);
    assert.deepEqual(Object.keys(buckets[0]), ["start", "total_tokens", "total_duration", "total_tasks", "total_api_calls"]);
    assert.deepEqual(m.series("nobody", { bucket: "hour", start: 0, end: Date.UTC(2100, 0, 1) }), []);
  });

  test("series: UTC day buckets", () => {
    const m = new MemoryMeteringStore();
    m.record(event("1", "a", "2025-02-08T23:30:00-05:00", { tokens_in: 1 })); // 2025-02-09T04:30Z
    m.record(event("2", "a", "2025-02-09T00:30:00+01:00", { tokens_in: 2 })); // 2025-02-08T23:30Z
    m.record(event("3", "a", "2025-02-08T00:00:00Z", { tokens_in: 4 }));
    m.record(event("4", "a", "2025-02-11T00:00:00Z", { tokens_in: 8 }));
    const buckets = m.series("a", { bucket: "day", start: new Date("2025-02-08T00:00:00Z"), end: Date.UTC(2025, 1, 11) });
    assert.deepEqual(buckets, [
      { start: "2025-02-08T00:00:00+00:00", total_tokens: 6, total_duration: 0, total_tasks: 2, total_api_calls: 0 },
      { start: "2025-02-09T00:00:00+00:00", total_tokens: 1, total_duration: 0, total_tasks: 1, total_api_calls: 0 },
    ]);
  });

  test("agents() is sorted and distinct", () => {
    const m = new MemoryMeteringStore();
    assert.deepEqual(m.agents(), []);
    for (const a of ["zed", "Alpha", "mid", "alpha", "zed", "mid"]) m.record({ task_id: "t", agent_id: a, consumer_id: "c" });
    assert.deepEqual(m.agents(), ["Alpha", "alpha", "mid", "zed"]);
  });

  test("export json: array of UsageEvent, ascending, with filter", () => {
    const m = new MemoryMeteringStore();
    m.record(event("e2", "b", "2024-01-02T00:00:00Z", { tokens_in: 2 }));
    m.record(event("e1", "a", "2024-01-03T00:00:00+01:00", { tokens_out: 1 }));
    m.record(event("e3", "a", "2024-01-01T00:00:00Z"));
    const all = JSON.parse(m.export("json"));
    assert.deepEqual(all.map((e) => e.id), ["e3", "e2", "e1"]);
    assert.deepEqual(all[2], { id: "e1", task_id: "task_e1", agent_id: "a", consumer_id: "consumer_1", metrics: { tokens_in: 0, tokens_out: 1, duration_ms: 0, api_calls: 0 }, timestamp: "2024-01-02T23:00:00+00:00" });
    assert.deepEqual(JSON.parse(m.export("json", { agentId: "a" })), m.query("a", 0, Date.UTC(2100, 0, 1)));
    assert.deepEqual(JSON.parse(m.export("json", { start: "2024-01-02T00:00:00Z" })).map((e) => e.id), ["e2", "e1"]);
    assert.deepEqual(JSON.parse(m.export("json", { end: "2024-01-02T00:00:00Z" })).map((e) => e.id), ["e3", "e2"]);
    assert.deepEqual(JSON.parse(m.export("json", { agentId: "b", start: "2024-01-02T00:00:00Z", end: "2024-01-02T00:00:00Z" })).map((e) => e.id), ["e2"]);
    assert.equal(m.export("json", { agentId: "nobody" }), "[]");
    assert.equal(new MemoryMeteringStore().export("json"), "[]");
  });

  test("export csv: exact header and rows, CRLF line ends, RFC 4180 quoting", () => {
    const header = "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp";
    const m = new MemoryMeteringStore();
    // Like Python's csv module (the reference's language): rows end with CRLF.
    assert.equal(m.export("csv"), `${header}\r\n`);
    m.record({ id: "e1", task_id: "t1", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 1, tokens_out: 2, duration_ms: 3, api_calls: 4 }, timestamp: "2024-01-01T00:00:00.5Z" });
    m.record({ id: "e2", task_id: "t,2", agent_id: "a\"q", consumer_id: "c\nx", timestamp: "2024-01-02T00:00:00Z" });
    const row1 = "e1,t1,a,c,1,2,3,4,2024-01-01T00:00:00.500000+00:00";
    const row2 = 'e2,"t,2","a""q","c\nx",0,0,0,0,2024-01-02T00:00:00+00:00';
    assert.equal(m.export("csv"), `${header}\r\n${row1}\r\n${row2}\r\n`);
    assert.equal(m.export("csv", { agentId: "a" }), `${header}\r\n${row1}\r\n`);
    assert.equal(m.export("csv", { start: "2024-01-01T00:00:00.500001Z" }), `${header}\r\n${row2}\r\n`);
  });

  test("returned events are copies", () => {
    const m = new MemoryMeteringStore();
    const input = event("e", "a", "2024-01-01T00:00:00Z", { tokens_in: 1 });
    const rec = m.record(input);
    input.metrics.tokens_in = 50;
    rec.metrics.tokens_in = 100;
    rec.agent_id = "hacked";
    const [q] = m.query("a", 0, Date.UTC(2100, 0, 1));
    assert.equal(q.metrics.tokens_in, 1);
    q.metrics.tokens_in = 200;
    assert.equal(m.aggregate("a", "p").total_tokens, 1);
    const agents = m.agents();
    agents.push("x");
    assert.deepEqual(m.agents(), ["a"]);
  });
});
