// ASAP state messages (handleStateEnvelope / handleAsapRequest) and copyState through the built
// package, as users import it: "asap-state" and "asap-state/memory", on memory stores of both
// entries and on a SQLite store from SqliteStateDb.open(). The messages of the agreed API end to
// end, JSON-RPC requests as text and as objects, garbage of every kind -> an error object (never
// an exception) with the store unchanged and still usable, and copies memory -> SQLite -> memory
// with ids preserved, idempotent. Run with `node --test tests/js/envelope.test.mjs` after `make pkg`.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import * as full from "asap-state";
import * as memory from "asap-state/memory";

const COORD = "urn:asap:agent:coordinator";
const BACKUP = "urn:asap:agent:backup";
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/;
const REPLY_KEYS = ["id", "asap_version", "timestamp", "sender", "recipient", "payload_type", "payload", "correlation_id", "trace_id", "requires_ack", "extensions"];

/** The stores the cases run on: memory stores of both entries, and a SQLite image. */
const BACKENDS = [
  ["asap-state MemorySnapshotStore", full, async () => ({ snapshots: new full.MemorySnapshotStore(), metering: new full.MemoryMeteringStore() })],
  ["asap-state/memory MemorySnapshotStore", memory, async () => ({ snapshots: new memory.MemorySnapshotStore(), metering: new memory.MemoryMeteringStore() })],
  ["asap-state SqliteStateDb.open()", full, async () => full.SqliteStateDb.open()],
];

function envelope(payloadType, payload, extra = {}) {
  return { id: "msg-1", asap_version: "0.1", sender: COORD, recipient: BACKUP, payload_type: payloadType, payload, trace_id: "trace-1", ...extra };
}

function rpc(env, id = "req-1") {
  return { jsonrpc: "2.0", method: "asap.send", params: { envelope: env }, id };
}

/** Every snapshot a store holds, for "a failed call changes nothing". */
function dump(store) {
  return store.listTasks().flatMap((t) => store.listVersions(t.task_id).map((v) => store.get(t.task_id, v)));
}

/** Calls fn, which must not throw, and returns its answer. */
function noThrow(fn) {
  let answer;
  assert.doesNotThrow(() => {
    answer = fn();
  });
  return answer;
}

/** The reply envelope of a message that must succeed. */
function reply(entry, stores, env) {
  const answer = noThrow(() => entry.handleStateEnvelope(stores, env));
  assert.deepEqual(Object.keys(answer), ["envelope"], `expected a reply, got ${JSON.stringify(answer)}`);
  return answer.envelope;
}

/** The JSON-RPC error of a message that must fail, checked for shape, code and message text. */
function rpcError(answer, code, stateCode, text) {
  assert.ok(answer.error, `expected an error, got ${JSON.stringify(answer)}`);
  const e = answer.error;
  assert.deepEqual(Object.keys(e), ["code", "message", "data"]);
  assert.equal(e.code, code, JSON.stringify(e));
  assert.equal(e.message, { "-32700": "Parse error", "-32600": "Invalid request", "-32601": "Method not found", "-32602": "Invalid params", "-32603": "Internal error" }[code]);
  assert.deepEqual(Object.keys(e.data), ["error", "code"]);
  assert.equal(e.data.code, stateCode, JSON.stringify(e));
  if (text !== undefined) assert.ok(e.data.error.includes(text), `"${e.data.error}" lacks "${text}"`);
  return e;
}

/** The store still answers and saves after a failed call. */
function stillWorks(entry, stores) {
  const task = `alive-${Math.random()}`;
  const saved = reply(entry, stores, envelope("state_save", { snapshot: { task_id: task, data: { ok: true } } }));
  assert.equal(saved.payload.ok, true);
  assert.deepEqual(stores.snapshots.get(task).data, { ok: true });
  assert.equal(stores.snapshots.delete(task), true);
}

for (const [name, entry, make] of BACKENDS) {
  describe(`state messages on ${name}`, () => {
    test("state_query: the latest, a version, not found", async () => {
      const stores = await make();
      const s = stores.snapshots;
      const v1 = s.save({ task_id: "task-1", data: { step: 1 } });
      const v2 = s.save({ task_id: "task-1", data: { step: 2, plan: ["a", { b: null }] } });
      const latest = reply(entry, stores, envelope("state_query", { task_id: "task-1" }));
      assert.equal(latest.payload_type, "state_query.response");
      assert.deepEqual(latest.payload, { found: true, snapshot: v2 });
      assert.deepEqual(Object.keys(latest.payload.snapshot), ["id", "task_id", "version", "data", "checkpoint", "created_at"]);
      assert.deepEqual(reply(entry, stores, envelope("state_query", { task_id: "task-1", version: null })).payload.snapshot, v2);
      assert.deepEqual(reply(entry, stores, envelope("state_query", { task_id: "task-1", version: 1 })).payload, { found: true, snapshot: v1 });
      assert.deepEqual(reply(entry, stores, envelope("state_query", { task_id: "task-1", version: 3 })).payload, { found: false, task_id: "task-1", version: 3, error: "snapshot not found" });
      assert.deepEqual(reply(entry, stores, envelope("state_query", { task_id: "other" })).payload, { found: false, task_id: "other", version: null, error: "snapshot not found" });
    });

    test("state_restore finds any version by id, not only the latest", async () => {
      const stores = await make();
      const s = stores.snapshots;
      const v1 = s.save({ task_id: "task-1", data: { step: 1 } });
      const v2 = s.save({ task_id: "task-1", data: { step: 2 } });
      s.save({ task_id: "task-1", data: { step: 3 } });
      for (const snap of [v1, v2]) {
        const r = reply(entry, stores, envelope("state_restore", { task_id: "task-1", snapshot_id: snap.id }));
        assert.equal(r.payload_type, "state_restore.ack");
        assert.deepEqual(r.payload, { ok: true, task_id: "task-1", snapshot_id: snap.id, version: snap.version });
      }
      for (const [task, id] of [["task-1", "snap_nope"], ["task-2", v1.id]]) {
        assert.deepEqual(reply(entry, stores, envelope("state_restore", { task_id: task, snapshot_id: id })).payload, { ok: false, task_id: task, snapshot_id: id, error: "snapshot not found" });
      }
    });

    test("state_save then state_query round trip; automatic versions; expected_version conflicts save nothing", async () => {
      const stores = await make();
      const s = stores.snapshots;
      const snapshot = { id: "snap_fixed", task_id: "task-1", version: 5, data: { n: 2 ** 53 - 1, f: 0.1, s: "é\u{1F600}", list: [true, null] }, checkpoint: true, created_at: "2025-02-08T09:00:00.25-03:00" };
      const ack = reply(entry, stores, envelope("state_save", { snapshot }));
      assert.equal(ack.payload_type, "state_save.ack");
      assert.deepEqual(ack.payload, { ok: true, task_id: "task-1", snapshot_id: "snap_fixed", version: 5 });
      const back = reply(entry, stores, envelope("state_query", { task_id: "task-1" })).payload.snapshot;
      assert.deepEqual(back, { ...snapshot, created_at: "2025-02-08T12:00:00.250000+00:00" });
      assert.deepEqual(s.get("task-1"), back);
      // Without a version: latest + 1.
      const auto = reply(entry, stores, envelope("state_save", { snapshot: { task_id: "task-1", data: {} }, expected_version: 5 }));
      assert.equal(auto.payload.version, 6);
      assert.equal(s.get("task-1").id, auto.payload.snapshot_id);
      // A stale writer gets a VERSION_CONFLICT ack, and nothing is saved.
      const before = dump(s);
      for (const stale of [5, 0, 99]) {
        const conflict = reply(entry, stores, envelope("state_save", { snapshot: { task_id: "task-1", data: { lost: true } }, expected_version: stale }));
        assert.deepEqual(Object.keys(conflict.payload), ["ok", "task_id", "error", "message"]);
        assert.equal(conflict.payload.ok, false);
        assert.equal(conflict.payload.error, "VERSION_CONFLICT");
        assert.match(conflict.payload.message, /task-1/);
        assert.deepEqual(dump(s), before);
      }
      // 0 on a new task, null = no check.
      assert.equal(reply(entry, stores, envelope("state_save", { snapshot: { task_id: "new", data: {} }, expected_version: 0 })).payload.version, 1);
      assert.equal(reply(entry, stores, envelope("state_save", { snapshot: { task_id: "new", data: {} }, expected_version: null })).payload.version, 2);
    });

    test("the reply envelope: fresh ULID, now, sender/recipient swapped, correlation_id = request id, trace_id copied", async () => {
      const stores = await make();
      const t0 = Date.now();
      const r = reply(entry, stores, envelope("state_query", { task_id: "x" }, { asap_version: "2.2" }));
      const t1 = Date.now();
      assert.deepEqual(Object.keys(r), REPLY_KEYS);
      assert.match(r.id, ULID_RE);
      assert.match(r.timestamp, TS_RE);
      const at = Date.parse(r.timestamp);
      assert.ok(at >= t0 - 1 && at <= t1 + 1, `${r.timestamp} not within [${t0}, ${t1}]`);
      assert.equal(r.asap_version, "2.2");
      assert.equal(r.sender, BACKUP);
      assert.equal(r.recipient, COORD);
      assert.equal(r.correlation_id, "msg-1");
      assert.equal(r.trace_id, "trace-1");
      assert.equal(r.requires_ack, false);
      assert.equal(r.extensions, null);
      const again = reply(entry, stores, envelope("state_query", { task_id: "x" }));
      assert.notEqual(again.id, r.id);
      // No id, no trace: null.
      const bare = reply(entry, stores, { asap_version: "0.1", sender: "urn:asap:agent:a:b", recipient: "urn:asap:agent:c", payload_type: "state_query", payload: { task_id: "x" } });
      assert.equal(bare.correlation_id, null);
      assert.equal(bare.trace_id, null);
      assert.equal(bare.sender, "urn:asap:agent:c");
      assert.equal(bare.recipient, "urn:asap:agent:a:b");
      // Replies are fresh objects.
      r.payload.found = "mutated";
      assert.equal(reply(entry, stores, envelope("state_query", { task_id: "x" })).payload.found, false);
    });

    test("JSON-RPC: a request as an object and as text", async () => {
      const stores = await make();
      const saved = stores.snapshots.save({ task_id: "task-1", data: { step: 1 } });
      for (const id of ["req-1", 7, null]) {
        for (const request of [rpc(envelope("state_query", { task_id: "task-1" }), id), JSON.stringify(rpc(envelope("state_query", { task_id: "task-1" }), id))]) {
          const response = noThrow(() => entry.handleAsapRequest(stores, request));
          assert.deepEqual(Object.keys(response), ["jsonrpc", "id", "result"]);
          assert.equal(response.jsonrpc, "2.0");
          assert.equal(response.id, id);
          assert.deepEqual(Object.keys(response.result), ["envelope"]);
          assert.deepEqual(response.result.envelope.payload, { found: true, snapshot: saved });
          assert.equal(response.result.envelope.correlation_id, "msg-1");
        }
      }
      // A save through JSON-RPC text, read back.
      const response = entry.handleAsapRequest(stores, JSON.stringify(rpc(envelope("state_save", { snapshot: { task_id: "task-1", data: { step: 2 } }, expected_version: 1 }))));
      assert.equal(response.result.envelope.payload.version, 2);
      assert.deepEqual(stores.snapshots.listVersions("task-1"), [1, 2]);
    });

    test("malformed envelopes and payloads: -32602 / -32601 naming the field, nothing changed", async () => {
      const stores = await make();
      stores.snapshots.save({ task_id: "task-1", data: { step: 1 } });
      const before = dump(stores.snapshots);
      const good = envelope("state_save", { snapshot: { task_id: "task-1", data: { step: 99 } } });
      const without = (key) => {
        const e = { ...good };
        delete e[key];
        return e;
      };
      const cases = [
        [null, -32602, "INVALID_ARGUMENT", "envelope must be an object, got null"],
        [[good], -32602, "INVALID_ARGUMENT", "envelope must be an object, got an array"],
        ["text", -32602, "INVALID_ARGUMENT", "envelope must be an object"],
        [undefined, -32602, "INVALID_ARGUMENT", "envelope: undefined is not a JSON value"],
        ...["asap_version", "sender", "recipient", "payload_type", "payload"].map((k) => [without(k), -32602, "INVALID_ARGUMENT", `envelope.${k} is required`]),
        [{ ...good, sender: "coordinator" }, -32602, "INVALID_ARGUMENT", "envelope.sender must follow 'urn:asap:agent:{name}'"],
        [{ ...good, recipient: "urn:asap:agent:UPPER" }, -32602, "INVALID_ARGUMENT", "envelope.recipient must follow 'urn:asap:agent:{name}'"],
        [{ ...good, sender: `urn:asap:agent:${"a".repeat(300)}` }, -32602, "INVALID_ARGUMENT", "envelope.sender must be at most 256 characters, got 315"],
        [{ ...good, asap_version: 1 }, -32602, "INVALID_ARGUMENT", "envelope.asap_version must be a string, got number 1"],
        [{ ...good, payload: [] }, -32602, "INVALID_ARGUMENT", "envelope.payload must be an object, got an array"],
        [{ ...good, id: 5 }, -32602, "INVALID_ARGUMENT", "envelope.id must be a string or null"],
        [{ ...good, timestamp: "2025-02-08T12:00:00" }, -32602, "INVALID_TIMESTAMP", "envelope.timestamp: \"2025-02-08T12:00:00\" has no UTC offset"],
        [{ ...good, timestamp: new Date() }, -32602, "INVALID_ARGUMENT", "envelope.timestamp: a Date is not a plain object"],
        [{ ...good, trace_id: 1 }, -32602, "INVALID_ARGUMENT", "envelope.trace_id must be a string or null"],
        [{ ...good, requires_ack: "yes" }, -32602, "INVALID_ARGUMENT", "envelope.requires_ack must be a boolean"],
        [{ ...good, extensions: [] }, -32602, "INVALID_ARGUMENT", "envelope.extensions must be an object or null"],
        [{ ...good, extra: 1 }, -32602, "INVALID_ARGUMENT", 'envelope: unknown field "extra"'],
        [{ ...good, payload_type: "task.request" }, -32601, "INVALID_ARGUMENT", 'envelope.payload_type "task.request" is not handled'],
        [envelope("state_query", {}), -32602, "INVALID_ARGUMENT", "envelope.payload.task_id is required"],
        [envelope("state_query", { task_id: "t", version: "2" }), -32602, "INVALID_ARGUMENT", "envelope.payload.version must be an integer from 1"],
        [envelope("state_query", { task_id: "t", version: 1.5 }), -32602, "INVALID_ARGUMENT", "envelope.payload.version must be an integer from 1"],
        [envelope("state_restore", { task_id: "task-1" }), -32602, "INVALID_ARGUMENT", "envelope.payload.snapshot_id is required"],
        [envelope("state_restore", { task_id: "task-1", snapshot_id: "s", x: 1 }), -32602, "INVALID_ARGUMENT", 'envelope.payload: unknown field "x"'],
        [envelope("state_save", {}), -32602, "INVALID_ARGUMENT", "envelope.payload.snapshot is required"],
        [envelope("state_save", { snapshot: { data: {} } }), -32602, "INVALID_SNAPSHOT", "envelope.payload.snapshot.task_id is required"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: [] } }), -32602, "INVALID_SNAPSHOT", "envelope.payload.snapshot.data must be a plain object"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: {}, created_at: "yesterday" } }), -32602, "INVALID_TIMESTAMP", "envelope.payload.snapshot.created_at"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: {} }, expected_version: -1 }), -32602, "INVALID_ARGUMENT", "envelope.payload.expected_version must be an integer from 0"],
      ];
      for (const [env, code, stateCode, text] of cases) {
        const answer = noThrow(() => entry.handleStateEnvelope(stores, env));
        assert.deepEqual(Object.keys(answer), ["error"]);
        rpcError(answer, code, stateCode, text);
        assert.deepEqual(dump(stores.snapshots), before, `${JSON.stringify(env)} changed the store`);
        // The same inside a JSON-RPC request keeps the request id.
        if (env !== undefined) {
          const response = noThrow(() => entry.handleAsapRequest(stores, rpc(env, "r9")));
          assert.equal(response.id, "r9");
          rpcError(response, code, stateCode, text);
        }
      }
      stillWorks(entry, stores);
    });

    test("garbage never throws: an error object, the store unchanged and still usable", async () => {
      const stores = await make();
      stores.snapshots.save({ task_id: "task-1", data: { step: 1 } });
      const before = dump(stores.snapshots);
      const cyclic = envelope("state_query", { task_id: "task-1" });
      cyclic.payload.self = cyclic;
      const throwingProxy = new Proxy({}, { ownKeys() { throw new Error("ownKeys trap"); }, get() { throw new Error("get trap"); } });
      const { proxy: revoked, revoke } = Proxy.revocable({}, {});
      revoke();
      const getter = { ...envelope("state_query", { task_id: "task-1" }) };
      Object.defineProperty(getter, "trace_id", { enumerable: true, get() { throw new Error("getter threw"); } });
      let deep = { task_id: "task-1" };
      for (let i = 0; i < 200; i++) deep = { nested: deep };
      const garbage = [
        [envelope("state_query", { task_id: 1n }), "a BigInt is not a JSON value"],
        [{ ...envelope("state_query", { task_id: "task-1" }), id: 10n }, "envelope.id: a BigInt"],
        [cyclic, "envelope.payload.self: the value refers to itself (a cycle)"],
        [throwingProxy, "envelope: reading it threw"],
        [revoked, "envelope"],
        [getter, "envelope.trace_id: reading it threw: getter threw"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: { x: NaN } } }), "envelope.payload.snapshot.data.x: NaN is not a JSON number"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: { x: undefined } } }), "envelope.payload.snapshot.data.x: undefined is not a JSON value"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: { f() {} } } }), "a function is not a JSON value"],
        [envelope("state_save", { snapshot: { task_id: "task-1", data: { m: new Map() } } }), "a Map is not a plain object"],
        [envelope("state_query", { task_id: "\ud800" }), "lone UTF-16 surrogate"],
        [envelope("state_query", { task_id: Symbol("x") }), "a symbol is not a JSON value"],
        [envelope("state_query", deep), "nests deeper than 128 levels"],
      ];
      for (const [value, text] of garbage) {
        const answer = noThrow(() => entry.handleStateEnvelope(stores, value));
        const e = rpcError(answer, -32602, answer.error.data.code, text);
        assert.ok(["INVALID_ARGUMENT", "TOO_LARGE"].includes(e.data.code), e.data.code);
        const response = noThrow(() => entry.handleAsapRequest(stores, rpc(value, "g1")));
        assert.equal(response.jsonrpc, "2.0");
        assert.equal(response.id, "g1", "the id is read even when the envelope cannot be");
        rpcError(response, -32602, e.data.code);
        assert.deepEqual(dump(stores.snapshots), before);
      }
      // Requests that are not requests.
      const requests = [
        ["{", -32700, null, "the request body is not JSON"],
        ["", -32700, null, "the request body is not JSON"],
        ['{"jsonrpc": "2.0",}', -32700, null, "the request body is not JSON"],
        ["[]", -32600, null, "request must be a JSON-RPC 2.0 request object, got an array"],
        ["null", -32600, null, "request must be a JSON-RPC 2.0 request object, got null"],
        [[], -32600, null, "request must be a JSON-RPC 2.0 request object, got an array"],
        [null, -32600, null, "request must be a JSON-RPC 2.0 request object, got null"],
        [42, -32600, null, "request must be a JSON-RPC 2.0 request object, got number 42"],
        [undefined, -32602, null, "request: undefined is not a JSON value"],
        [{ ...rpc(envelope("state_query", { task_id: "x" })), jsonrpc: "1.0" }, -32600, "req-1", 'request.jsonrpc must be "2.0"'],
        [{ ...rpc(envelope("state_query", { task_id: "x" })), method: "tasks/call" }, -32601, "req-1", 'request.method "tasks/call" is not supported; use "asap.send"'],
        [{ ...rpc(envelope("state_query", { task_id: "x" })), id: { a: 1 } }, -32600, null, "request.id must be a string, a number or null"],
        [{ ...rpc(envelope("state_query", { task_id: "x" })), extra: true }, -32600, "req-1", 'request: unknown field "extra"'],
        [{ jsonrpc: "2.0", method: "asap.send", id: 3 }, -32602, 3, "request.params is required"],
        [{ jsonrpc: "2.0", method: "asap.send", id: 3, params: [] }, -32602, 3, "request.params must be an object, got an array"],
        [{ jsonrpc: "2.0", method: "asap.send", id: 3, params: {} }, -32602, 3, "request.params.envelope is required"],
        [{ jsonrpc: "2.0", method: "asap.send", id: 3n, params: {} }, -32602, null, "request.id: a BigInt"],
        [throwingProxy, -32602, null, "request: reading it threw"],
      ];
      for (const [request, code, id, text] of requests) {
        const response = noThrow(() => entry.handleAsapRequest(stores, request));
        assert.deepEqual(Object.keys(response), ["jsonrpc", "id", "error"], JSON.stringify(response));
        assert.equal(response.jsonrpc, "2.0");
        assert.equal(response.id, id);
        rpcError(response, code, "INVALID_ARGUMENT", text);
        assert.deepEqual(dump(stores.snapshots), before);
      }
      stillWorks(entry, stores);
    });

    test("stores that are not snapshot stores of the package: -32603 INVALID_ARGUMENT, never thrown", async () => {
      const stores = await make();
      const env = envelope("state_query", { task_id: "x" });
      const throwing = new Proxy({}, { get() { throw new Error("stores trap"); } });
      const bad = [undefined, null, 1, "stores", {}, { snapshots: null }, { snapshots: {} }, { snapshots: stores.metering }, { snapshots: { handleStateEnvelope: 1 } }, throwing, { get snapshots() { throw new Error("getter"); } }];
      for (const s of bad) {
        rpcError(noThrow(() => entry.handleStateEnvelope(s, env)), -32603, "INVALID_ARGUMENT", "stores");
        const response = noThrow(() => entry.handleAsapRequest(s, rpc(env, 5)));
        assert.equal(response.id, 5);
        rpcError(response, -32603, "INVALID_ARGUMENT", "stores");
        const fromText = noThrow(() => entry.handleAsapRequest(s, JSON.stringify(rpc(env, "t"))));
        assert.equal(fromText.id, "t");
        rpcError(fromText, -32603, "INVALID_ARGUMENT");
      }
      // Text that is not JSON is a parse error before anything else.
      rpcError(entry.handleAsapRequest(undefined, "{"), -32700, "INVALID_ARGUMENT");
      stillWorks(entry, stores);
    });
  });
}

describe("stores of one entry answer through the other entry's functions", () => {
  test("a memory-entry store through asap-state, and a full-entry store through asap-state/memory", () => {
    const mem = new memory.MemorySnapshotStore();
    mem.save({ task_id: "t", data: { a: 1 } });
    assert.equal(full.handleStateEnvelope({ snapshots: mem }, envelope("state_query", { task_id: "t" })).envelope.payload.found, true);
    const fullStore = new full.MemorySnapshotStore();
    assert.equal(memory.handleAsapRequest({ snapshots: fullStore }, rpc(envelope("state_save", { snapshot: { task_id: "t", data: {} } }))).result.envelope.payload.ok, true);
    assert.deepEqual(fullStore.listVersions("t"), [1]);
  });
});

describe("SQLite specifics", () => {
  test("a SqliteStateDb is itself a stores object; a closed one answers -32603 CLOSED", async () => {
    const db = await full.SqliteStateDb.open();
    db.snapshots.save({ task_id: "t", data: { a: 1 } });
    assert.equal(full.handleStateEnvelope(db, envelope("state_query", { task_id: "t" })).envelope.payload.found, true);
    const store = db.snapshots;
    db.close();
    rpcError(noThrow(() => full.handleStateEnvelope({ snapshots: store }, envelope("state_query", { task_id: "t" }))), -32603, "CLOSED", "closed");
    const response = noThrow(() => full.handleAsapRequest({ snapshots: store }, JSON.stringify(rpc(envelope("state_query", { task_id: "t" }), 1))));
    assert.equal(response.id, 1);
    rpcError(response, -32603, "CLOSED");
    // The envelope is checked first: a malformed one is still -32602.
    rpcError(full.handleStateEnvelope({ snapshots: store }, envelope("state_query", {})), -32602, "INVALID_ARGUMENT", "envelope.payload.task_id is required");
  });

  test("a freed store answers -32603 instead of throwing", () => {
    const s = new full.MemorySnapshotStore();
    s.free();
    rpcError(noThrow(() => full.handleStateEnvelope({ snapshots: s }, envelope("state_query", { task_id: "t" }))), -32603, "INVALID_ARGUMENT", "the snapshot store threw");
  });
});

// ---------------------------------------------------------------------------------------------
// copyState
// ---------------------------------------------------------------------------------------------

/** Fills a pair of stores with 3 tasks (6 versions, explicit times) and 5 events of 2 agents. */
function fill({ snapshots, metering }) {
  for (const [task, n] of [["task-a", 3], ["task-b", 1], ["task-c", 2]]) {
    for (let v = 1; v <= n; v++) {
      snapshots.save({ task_id: task, data: { task, v, list: [v, null, "x"] }, checkpoint: v === 1, created_at: `2025-01-0${v}T10:00:00.00012${v}Z` });
    }
  }
  for (let i = 0; i < 5; i++) {
    metering.record({ task_id: `task-${i}`, agent_id: i % 2 ? "agent-b" : "agent-a", consumer_id: "me", metrics: { tokens_in: i, tokens_out: 2 * i, duration_ms: 10 * i, api_calls: 1 }, timestamp: i < 2 ? "2025-02-08T12:00:00Z" : "2025-02-09T00:00:00.5Z" });
  }
}

function allEvents(metering) {
  return metering.agents().flatMap((a) => metering.query(a, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"));
}

describe("copyState", () => {
  test("stores exactly what the core's copy_state stores: same answers, byte-identical files", async () => {
    // The core's copy, reachable through a test-only export of the full entry's glue.
    const glue = await import(new URL("../../pkg/wasm/full/node/asap_state.js", import.meta.url));
    assert.equal(full.__asapStateCoreCopy, undefined, "no entry exports it");
    const source = await full.SqliteStateDb.open();
    fill(source);
    // The destinations already hold a version the copy replaces and one it must leave alone.
    const destination = async () => {
      const db = await full.SqliteStateDb.open();
      db.snapshots.save({ id: "snap_old", task_id: "task-a", version: 2, data: { stale: true }, created_at: "2024-12-31T00:00:00Z" });
      db.snapshots.save({ id: "snap_own", task_id: "task-z", version: 1, data: { own: true }, created_at: "2024-12-31T00:00:00Z" });
      return db;
    };
    const [byJs, byCore] = [await destination(), await destination()];
    assert.deepEqual(full.copyState(source, byJs), { snapshots: 6, events: 5 });
    assert.deepEqual(Array.from(glue.__asapStateCoreCopy(source, byCore)), [6, 5]);
    assert.deepEqual(dump(byJs.snapshots), dump(byCore.snapshots));
    assert.deepEqual(byJs.snapshots.listTasks(), byCore.snapshots.listTasks());
    assert.equal(byJs.metering.export("json"), byCore.metering.export("json"));
    assert.deepEqual(Buffer.from(byJs.exportBytes()), Buffer.from(byCore.exportBytes()));
    // Again: both idempotent, still the same.
    full.copyState(source, byJs);
    glue.__asapStateCoreCopy(source, byCore);
    assert.deepEqual(Buffer.from(byJs.exportBytes()), Buffer.from(byCore.exportBytes()));
    for (const db of [source, byJs, byCore]) db.close();
  });

  test("memory -> SQLite -> memory: ids, versions, data, checkpoints, times and events preserved", async () => {
    const source = { snapshots: new full.MemorySnapshotStore(), metering: new full.MemoryMeteringStore() };
    fill(source);
    const db = await full.SqliteStateDb.open();
    assert.deepEqual(full.copyState(source, db), { snapshots: 6, events: 5 });
    assert.deepEqual(dump(db.snapshots), dump(source.snapshots));
    assert.deepEqual(db.snapshots.listTasks(), source.snapshots.listTasks());
    assert.deepEqual(allEvents(db.metering), allEvents(source.metering));
    assert.equal(db.metering.export("csv"), source.metering.export("csv"));
    // Through the file image, back into memory stores of the other entry.
    const reopened = await full.SqliteStateDb.open({ bytes: db.exportBytes() });
    const back = { snapshots: new memory.MemorySnapshotStore(), metering: new memory.MemoryMeteringStore() };
    assert.deepEqual(memory.copyState(reopened, back), { snapshots: 6, events: 5 });
    assert.deepEqual(dump(back.snapshots), dump(source.snapshots));
    assert.deepEqual(allEvents(back.metering), allEvents(source.metering));
    for (const agent of ["agent-a", "agent-b"]) assert.deepEqual(back.metering.aggregate(agent, "all"), source.metering.aggregate(agent, "all"));
    db.close();
    reopened.close();
  });

  test("idempotent: copying again changes nothing", async () => {
    const source = { snapshots: new memory.MemorySnapshotStore(), metering: new memory.MemoryMeteringStore() };
    fill(source);
    const db = await full.SqliteStateDb.open();
    full.copyState(source, db);
    const [snaps, events, bytes] = [dump(db.snapshots), allEvents(db.metering), db.exportBytes()];
    assert.deepEqual(full.copyState(source, db), { snapshots: 6, events: 5 });
    assert.deepEqual(dump(db.snapshots), snaps);
    assert.deepEqual(allEvents(db.metering), events);
    assert.equal(db.metering.aggregate("agent-a", "p").total_tasks, 3);
    const first = await full.SqliteStateDb.open({ bytes });
    assert.deepEqual(dump(first.snapshots), dump(db.snapshots));
    db.close();
    first.close();
  });

  test("only what both sides have; the same (task_id, version) is replaced, a known event id is kept", () => {
    const from = { snapshots: new full.MemorySnapshotStore(), metering: new full.MemoryMeteringStore() };
    const to = { snapshots: new full.MemorySnapshotStore(), metering: new full.MemoryMeteringStore() };
    from.snapshots.save({ task_id: "t", data: { from: 1 } });
    to.snapshots.save({ task_id: "t", data: { to: 1 } });
    to.snapshots.save({ task_id: "t", data: { to: 2 } });
    from.metering.record({ id: "evt-1", task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 1 } });
    to.metering.record({ id: "evt-1", task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 100 } });
    assert.deepEqual(full.copyState(from, to), { snapshots: 1, events: 1 });
    assert.deepEqual(to.snapshots.get("t", 1).data, { from: 1 });
    assert.deepEqual(to.snapshots.listVersions("t"), [1, 2]);
    assert.equal(allEvents(to.metering).length, 1);
    assert.equal(allEvents(to.metering)[0].metrics.tokens_in, 100);
    assert.deepEqual(full.copyState({ snapshots: from.snapshots }, to), { snapshots: 1, events: 0 });
    assert.deepEqual(full.copyState(from, { metering: null }), { snapshots: 0, events: 0 });
  });

  test("bad arguments throw StateError INVALID_ARGUMENT naming them; a closed store throws CLOSED", async () => {
    const ok = { snapshots: new full.MemorySnapshotStore() };
    const cases = [
      [() => full.copyState(undefined, ok), "from must be an object"],
      [() => full.copyState(ok, null), "to must be an object"],
      [() => full.copyState({ snapshots: {} }, ok), "from.snapshots must be a store with listTasks, listVersions, get, save (missing listTasks)"],
      [() => full.copyState(ok, { metering: new full.MemorySnapshotStore() }), "to.metering must be a store with export, record (missing export)"],
      [() => full.copyState(ok, { snapshots: 5 }), "to.snapshots must be a store"],
      [() => full.copyState({ get snapshots() { throw new Error("trap"); } }, ok), "reading from.snapshots threw: trap"],
    ];
    for (const [fn, text] of cases) {
      assert.throws(fn, (e) => e instanceof full.StateError && e.code === "INVALID_ARGUMENT" && e.message.includes(text), text);
    }
    const db = await full.SqliteStateDb.open();
    const store = db.snapshots;
    db.close();
    ok.snapshots.save({ task_id: "t", data: {} });
    assert.throws(() => full.copyState(ok, { snapshots: store }), (e) => e instanceof full.StateError && e.code === "CLOSED");
  });
});
