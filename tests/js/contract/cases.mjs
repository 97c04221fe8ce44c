// The contract cases in JavaScript: what every backend's stores must answer, written once and
// run against each of them — the memory stores and SqliteStateDb in Node (which shows the cases
// themselves are right), DurableObjectStateDb over a storage of a Durable Object's shape in Node,
// and DurableObjectStateDb inside real workerd (tests/js/durable-object.test.mjs, where this
// module is bundled into the test worker).
//
// Portable on purpose: no Node API. Each case is `{ name, run(stores, assert) }` with
// `stores = { snapshots, metering, StateError }` (fresh, empty) and `assert` = node:assert/strict.

export const DATA = {
  text: 'héllo "quoted"\nline 結果 ключ \u0000 \u{1F600}',
  nested: { list: [1, 2.5, -3e-7, null, true, false, "x", [], {}], deep: { a: { b: { c: [0] } } } },
  big: 9007199254740991,
  negative: -42,
  float: 0.1,
  tiny: 5e-324,
  huge: 1.7976931348623157e308,
  empty_object: {},
  empty_array: [],
  "key with spaces": "v",
};

/** Saves a few snapshots and records a few events; returns what the calls returned. */
export function seed({ snapshots, metering }) {
  const saved = [
    snapshots.save({ id: "snap_a1", task_id: "task_a", version: 1, data: DATA, checkpoint: true, created_at: "2026-03-01T12:00:00+02:00" }),
    snapshots.save({ id: "snap_a2", task_id: "task_a", data: { step: 2 }, created_at: "2026-03-01T10:00:00.123456Z" }),
    snapshots.save({ id: "snap_a5", task_id: "task_a", version: 5, data: { step: 5 }, created_at: "2026-03-01T11:00:00.250Z" }),
    snapshots.save({ id: "snap_b7", task_id: "task_b", version: 7, data: { only: "b" }, checkpoint: false, created_at: "2026-03-02T00:00:00Z" }),
  ];
  const events = [
    metering.record({ id: "evt_1", task_id: "task_a", agent_id: "agent_x", consumer_id: "c1", metrics: { tokens_in: 1200, tokens_out: 300, duration_ms: 4500, api_calls: 3 }, timestamp: "2026-03-01T10:00:00Z" }),
    metering.record({ id: "evt_2", task_id: "task_a", agent_id: "agent_x", consumer_id: "c2", metrics: { tokens_in: 5 }, timestamp: "2026-03-01T12:30:00.5+01:00" }),
    metering.record({ id: "evt_3", task_id: "task_b", agent_id: "agent_y", consumer_id: "c1", timestamp: "2026-03-01T13:00:00Z" }),
    metering.record({ id: "evt_4", task_id: "task_b", agent_id: "agent_x", consumer_id: "c1", metrics: { tokens_out: 7, duration_ms: 1, api_calls: 0 }, timestamp: "2026-03-02T00:00:00+00:00" }),
  ];
  return { saved, events };
}

const FAR = { start: "2000-01-01T00:00:00Z", end: "2100-01-01T00:00:00Z" };

/** Everything observable in the stores (for "a failed call changes nothing"). */
export function dump({ snapshots, metering }) {
  const tasks = snapshots.listTasks();
  return {
    tasks,
    snapshots: tasks.flatMap((t) => snapshots.listVersions(t.task_id).map((v) => snapshots.get(t.task_id, v))),
    agents: metering.agents(),
    events: metering.export("json"),
  };
}

/** Calls `f`, which must throw a StateError with `code` whose message contains `part`. */
function throwsCode(assert, StateError, f, code, part) {
  let caught;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected ${code}, nothing was thrown`);
  assert.ok(caught instanceof StateError, `expected a StateError, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.includes(part), `${JSON.stringify(caught.message)} does not name ${JSON.stringify(part)}`);
  return caught;
}

/**
 * Text of at least `n` (at most n + 3) bytes of UTF-8 from a mix of 1-, 2-, 3- and 4-byte
 * characters, none of which JSON escapes (deterministic).
 */
export function mixedText(n) {
  const parts = ["a", "é", "€", "😀", "z", "ß", "漢"];
  const sizes = [1, 2, 3, 4, 1, 2, 3];
  // Whole runs of the 7 characters (16 bytes), then single ones up to n.
  const run = parts.join("");
  const runs = Math.floor(n / 16);
  let out = run.repeat(runs);
  let bytes = runs * 16;
  for (let i = 0; bytes < n; i++) {
    out += parts[i];
    bytes += sizes[i];
  }
  return out;
}

export const cases = [
  {
    name: "save/get/getById/listVersions/listTasks of the seed",
    run(stores, assert) {
      const { snapshots: s } = stores;
      assert.deepEqual(s.listTasks(), []);
      const { saved } = seed(stores);
      assert.deepEqual(saved[0], { id: "snap_a1", task_id: "task_a", version: 1, data: DATA, checkpoint: true, created_at: "2026-03-01T10:00:00+00:00" });
      assert.equal(saved[1].version, 2, "auto-increment after 1");
      assert.equal(saved[1].created_at, "2026-03-01T10:00:00.123456+00:00");
      assert.equal(saved[2].created_at, "2026-03-01T11:00:00.250000+00:00");
      assert.deepEqual(s.get("task_a"), saved[2]);
      assert.deepEqual(s.get("task_a", 1), saved[0]);
      assert.equal(s.get("task_a", 3), undefined);
      assert.equal(s.get("nobody"), undefined);
      assert.deepEqual(s.getById("task_a", "snap_a2"), saved[1]);
      assert.equal(s.getById("task_a", "snap_b7"), undefined, "ids are per task");
      assert.deepEqual(s.listVersions("task_a"), [1, 2, 5]);
      assert.deepEqual(s.listVersions("nobody"), []);
      assert.deepEqual(s.listTasks(), [
        { task_id: "task_a", versions: 3, latest_version: 5, latest_created_at: "2026-03-01T11:00:00.250000+00:00", checkpoints: 1 },
        { task_id: "task_b", versions: 1, latest_version: 7, latest_created_at: "2026-03-02T00:00:00+00:00", checkpoints: 0 },
      ]);
    },
  },
  {
    name: "defaults: an id, a timestamp, checkpoint false, version 1",
    run({ snapshots: s }, assert) {
      const before = Date.now();
      const saved = s.save({ task_id: "t", data: { a: 1 } });
      assert.equal(saved.version, 1);
      assert.equal(saved.checkpoint, false);
      assert.match(saved.id, /^snap_[0-9A-HJKMNP-TV-Z]{26}$/);
      const at = Date.parse(saved.created_at);
      assert.ok(at >= before - 1000 && at <= Date.now() + 1000, saved.created_at);
      assert.notEqual(s.save({ task_id: "t", data: {} }).id, saved.id, "each save a new id");
    },
  },
  {
    name: "returned objects are copies",
    run(stores, assert) {
      seed(stores);
      const { snapshots: s } = stores;
      s.get("task_a", 1).data.nested.list.push("mutated");
      assert.deepEqual(s.get("task_a", 1).data, DATA);
    },
  },
  {
    name: "an explicit version replaces that version (upsert)",
    run({ snapshots: s }, assert) {
      s.save({ task_id: "t", data: { n: 1 } });
      s.save({ task_id: "t", data: { n: 2 } });
      const replaced = s.save({ task_id: "t", version: 1, data: { n: "one" }, id: "snap_x" });
      assert.equal(replaced.version, 1);
      assert.deepEqual(s.get("t", 1).data, { n: "one" });
      assert.equal(s.get("t", 1).id, "snap_x");
      assert.deepEqual(s.listVersions("t"), [1, 2]);
      assert.equal(s.save({ task_id: "t", data: {} }).version, 3);
    },
  },
  {
    name: "expectedVersion: the latest admits, anything else is VERSION_CONFLICT and changes nothing",
    run(stores, assert) {
      const { snapshots: s, StateError } = stores;
      assert.equal(s.save({ task_id: "t", data: { n: 1 } }, { expectedVersion: null }).version, 1);
      assert.equal(s.save({ task_id: "t", data: { n: 2 } }, { expectedVersion: 1 }).version, 2);
      const before = dump(stores);
      throwsCode(assert, StateError, () => s.save({ task_id: "t", data: { lost: true } }, { expectedVersion: 1 }), "VERSION_CONFLICT", "t");
      throwsCode(assert, StateError, () => s.save({ task_id: "t", data: {} }, { expectedVersion: null }), "VERSION_CONFLICT", "t");
      throwsCode(assert, StateError, () => s.save({ task_id: "t", data: {} }, { expectedVersion: 0 }), "VERSION_CONFLICT", "t");
      throwsCode(assert, StateError, () => s.save({ task_id: "new", data: {} }, { expectedVersion: 3 }), "VERSION_CONFLICT", "new");
      assert.deepEqual(dump(stores), before);
      assert.equal(s.save({ task_id: "t", data: { n: 3 } }, { expectedVersion: 2 }).version, 3);
    },
  },
  {
    name: "delete one version, then the task",
    run({ snapshots: s }, assert) {
      for (let i = 0; i < 3; i++) s.save({ task_id: "t", data: { i } });
      s.save({ task_id: "u", data: {} });
      assert.equal(s.delete("t", 2), true);
      assert.equal(s.delete("t", 2), false);
      assert.deepEqual(s.listVersions("t"), [1, 3]);
      assert.equal(s.delete("t"), true);
      assert.equal(s.delete("t"), false);
      assert.deepEqual(s.listVersions("t"), []);
      assert.deepEqual(s.listVersions("u"), [1], "other tasks untouched");
      assert.equal(s.save({ task_id: "t", data: {} }).version, 1, "a deleted task starts again at 1");
    },
  },
  {
    name: "prune: keep_last, keep_checkpoints, older_than, never the latest",
    run({ snapshots: s }, assert) {
      for (let i = 1; i <= 6; i++) {
        s.save({ task_id: "t", data: { i }, checkpoint: i === 2, created_at: `2026-01-0${i}T00:00:00Z` });
      }
      assert.equal(s.prune("t", { keepLast: 3, keepCheckpoints: true }), 2);
      assert.deepEqual(s.listVersions("t"), [2, 4, 5, 6]);
      assert.equal(s.prune("t", { olderThan: "2026-01-05T00:00:00Z" }), 2);
      assert.deepEqual(s.listVersions("t"), [5, 6]);
      assert.equal(s.prune("t", { olderThan: "2030-01-01T00:00:00Z" }), 1);
      assert.deepEqual(s.listVersions("t"), [6], "the latest is never pruned");
      assert.equal(s.prune("nobody", { keepLast: 1 }), 0);
    },
  },
  {
    name: "data round-trips exactly: unicode, numbers at the edges, deep nesting",
    run({ snapshots: s }, assert) {
      let deep = { leaf: true };
      for (let i = 0; i < 60; i++) deep = { d: [deep] }; // 122 levels with the object around it
      const data = { ...DATA, deep, keys: { "": 1, "\u2028": 2, "a.b": 3 } };
      s.save({ task_id: "t", data });
      assert.deepEqual(s.get("t").data, data);
    },
  },
  {
    name: "large data (1.5 MB, 5 MB) round-trips exactly, and a save after it too",
    run({ snapshots: s }, assert) {
      for (const [i, n] of [1_500_000, 5_000_000].entries()) {
        const text = mixedText(n);
        const saved = s.save({ task_id: "big", data: { i, text } });
        const back = s.get("big", saved.version);
        assert.equal(back.data.text.length, text.length);
        assert.ok(back.data.text === text, `${n} bytes: the text came back changed`);
        assert.deepEqual(s.getById("big", saved.id).data, { i, text });
      }
      assert.deepEqual(s.listVersions("big"), [1, 2]);
      s.save({ task_id: "big", version: 2, data: { small: true } });
      assert.deepEqual(s.get("big").data, { small: true });
      assert.equal(s.delete("big"), true);
      assert.deepEqual(s.listTasks(), []);
    },
  },
  {
    name: "record/query/aggregate/series/agents/export of the seed",
    run(stores, assert) {
      const { metering: m } = stores;
      assert.deepEqual(m.agents(), []);
      const { events } = seed(stores);
      assert.deepEqual(events[1], {
        id: "evt_2", task_id: "task_a", agent_id: "agent_x", consumer_id: "c2",
        metrics: { tokens_in: 5, tokens_out: 0, duration_ms: 0, api_calls: 0 },
        timestamp: "2026-03-01T11:30:00.500000+00:00",
      });
      assert.deepEqual(m.query("agent_x", "2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z").map((e) => e.id), ["evt_1", "evt_2", "evt_4"], "inclusive on both ends, ascending");
      assert.deepEqual(m.query("agent_x", "2026-03-01T10:00:00.000001Z", "2026-03-01T23:59:59Z").map((e) => e.id), ["evt_2"]);
      assert.deepEqual(m.query("agent_x", FAR.start, FAR.end, { limit: 1, offset: 1 }).map((e) => e.id), ["evt_2"]);
      assert.deepEqual(m.aggregate("agent_x", "all"), { agent_id: "agent_x", period: "all", total_tokens: 1512, total_duration: 4501, total_tasks: 3, total_api_calls: 3 });
      assert.deepEqual(m.aggregate("agent_x", "day", { start: "2026-03-02T00:00:00Z" }), { agent_id: "agent_x", period: "day", total_tokens: 7, total_duration: 1, total_tasks: 1, total_api_calls: 0 });
      assert.deepEqual(m.aggregate("nobody", "all"), { agent_id: "nobody", period: "all", total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 });
      const series = m.series("agent_x", { bucket: "hour", start: "2026-03-01T00:00:00Z", end: "2026-03-03T00:00:00Z" });
      assert.deepEqual(series.map((b) => [b.start, b.total_tokens]), [
        ["2026-03-01T10:00:00+00:00", 1500],
        ["2026-03-01T11:00:00+00:00", 5],
        ["2026-03-02T00:00:00+00:00", 7],
      ]);
      assert.deepEqual(m.agents(), ["agent_x", "agent_y"]);
      const csv = m.export("csv", { agentId: "agent_y" }).trim().split(/\r?\n/);
      assert.equal(csv[0], "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp");
      assert.equal(csv.length, 2);
      assert.deepEqual(JSON.parse(m.export("json")).map((e) => e.id), ["evt_1", "evt_2", "evt_3", "evt_4"]);
    },
  },
  {
    name: "record is idempotent by id; default ids are evt_ + a ULID",
    run(stores, assert) {
      const { metering: m } = stores;
      const { events } = seed(stores);
      assert.deepEqual(m.record({ id: "evt_1", task_id: "other", agent_id: "agent_z", consumer_id: "c9" }), events[0]);
      assert.deepEqual(m.agents(), ["agent_x", "agent_y"]);
      const fresh = m.record({ task_id: "t", agent_id: "agent_z", consumer_id: "c" });
      assert.match(fresh.id, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.deepEqual(fresh.metrics, { tokens_in: 0, tokens_out: 0, duration_ms: 0, api_calls: 0 });
    },
  },
  {
    name: "query ties keep recording order",
    run({ metering: m }, assert) {
      for (const id of ["e3", "e1", "e2"]) m.record({ id, task_id: "t", agent_id: "a", consumer_id: "c", timestamp: "2026-01-01T00:00:00Z" });
      assert.deepEqual(m.query("a", FAR.start, FAR.end).map((e) => e.id), ["e3", "e1", "e2"]);
    },
  },
];

// [name, call(stores), code, message part]: each must throw and change nothing.
const BAD = [
  ["save: version \"2\"", ({ snapshots: s }) => s.save({ task_id: "task_a", data: {}, version: "2" }), "INVALID_SNAPSHOT", "version"],
  ["save: version 1.5", ({ snapshots: s }) => s.save({ task_id: "task_a", data: {}, version: 1.5 }), "INVALID_SNAPSHOT", "version"],
  ["save: naive created_at", ({ snapshots: s }) => s.save({ task_id: "task_a", data: {}, created_at: "2026-03-01T10:00:00" }), "INVALID_TIMESTAMP", "created_at"],
  ["save: NaN inside data", ({ snapshots: s }) => s.save({ task_id: "task_a", data: { ok: 1, bad: [NaN] } }), "INVALID_SNAPSHOT", "data"],
  ["save: an unknown field", ({ snapshots: s }) => s.save({ task_id: "task_a", data: {}, extra: 1 }), "INVALID_SNAPSHOT", "extra"],
  ["save: empty task_id", ({ snapshots: s }) => s.save({ task_id: "", data: {} }), "INVALID_SNAPSHOT", "task_id"],
  ["save: data an array", ({ snapshots: s }) => s.save({ task_id: "task_a", data: [1] }), "INVALID_SNAPSHOT", "data"],
  ["save: expectedVersion behind the latest", ({ snapshots: s }) => s.save({ task_id: "task_a", data: { lost: true } }, { expectedVersion: 2 }), "VERSION_CONFLICT", "task_a"],
  ["get: version 0", ({ snapshots: s }) => s.get("task_a", 0), "INVALID_ARGUMENT", "version"],
  ["delete: version -1", ({ snapshots: s }) => s.delete("task_a", -1), "INVALID_ARGUMENT", "version"],
  ["prune: an empty policy", ({ snapshots: s }) => s.prune("task_a", {}), "INVALID_ARGUMENT", "policy"],
  ["record: negative tokens_in", ({ metering: m }) => m.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c", metrics: { tokens_in: -1 } }), "INVALID_EVENT", "tokens_in"],
  ["record: naive timestamp", ({ metering: m }) => m.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c", timestamp: "2026-03-01 10:00:00" }), "INVALID_TIMESTAMP", "timestamp"],
  ["record: missing consumer_id", ({ metering: m }) => m.record({ task_id: "t", agent_id: "agent_x" }), "INVALID_EVENT", "consumer_id"],
  ["query: negative offset", ({ metering: m }) => m.query("agent_x", FAR.start, FAR.end, { offset: -1 }), "INVALID_ARGUMENT", "offset"],
  ["series: bucket week", ({ metering: m }) => m.series("agent_x", { bucket: "week", start: FAR.start, end: FAR.end }), "INVALID_ARGUMENT", "bucket"],
  ["export: xml", ({ metering: m }) => m.export("xml"), "INVALID_ARGUMENT", "format"],
];

for (const [name, call, code, part] of BAD) {
  cases.push({
    name: `${name} → ${code}, and nothing changes`,
    run(stores, assert) {
      seed(stores);
      const before = dump(stores);
      throwsCode(assert, stores.StateError, () => call(stores), code, part);
      assert.deepEqual(dump(stores), before);
      assert.equal(stores.snapshots.save({ task_id: "task_a", data: { after: true } }).version, 6, "the store still works");
    },
  });
}
