// A table of bad inputs for every method of both memory stores (CONTRACT.md §2, §4, §5).
// Each case must throw a StateError with the exact code and a message that names the field; the
// store's observable state must be identical before and after; and the store must still work.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { MemorySnapshotStore, MemoryMeteringStore, StateError } from "asap-state";
import { throwingGetter, throwingProxy } from "./helpers.mjs";

// ---- hostile values -------------------------------------------------------------------------

const cyclic = { a: 1 };
cyclic.self = cyclic;
const cyclicArray = [];
cyclicArray.push({ arr: cyclicArray });
class Point {
  constructor() {
    this.x = 1;
  }
}
const deeplyNested = (n) => {
  const root = {};
  let d = root;
  for (let i = 1; i < n; i++) {
    d.x = {};
    d = d.x;
  }
  return root;
};

const snap = (o = {}) => ({ task_id: "t", data: { k: 1 }, ...o });
const ev = (o = {}) => ({ task_id: "t", agent_id: "a", consumer_id: "c", ...o });
const FAR = Date.UTC(2100, 0, 1);

// ---- the matrix -----------------------------------------------------------------------------
// [store, name, call, expected code, text the message must contain, todo?]
const S = (name, call, code, field, todo) => ({ store: "snapshot", name, call, code, field, todo });
const M = (name, call, code, field, todo) => ({ store: "metering", name, call, code, field, todo });

const cases = [
  // save: the snapshot itself
  S("save() without an argument", (s) => s.save(), "INVALID_SNAPSHOT", "snapshot"),
  S("save(null)", (s) => s.save(null), "INVALID_SNAPSHOT", "snapshot"),
  S("save(string)", (s) => s.save("t"), "INVALID_SNAPSHOT", "snapshot"),
  S("save(array)", (s) => s.save([{ task_id: "t", data: {} }]), "INVALID_SNAPSHOT", "snapshot"),
  S("save(Map)", (s) => s.save(new Map([["task_id", "t"], ["data", {}]])), "INVALID_SNAPSHOT", "Map"),
  S("save(object with a prototype)", (s) => s.save(Object.create({ task_id: "t", data: {} })), "INVALID_SNAPSHOT", "snapshot"),
  S("missing task_id", (s) => s.save({ data: {} }), "INVALID_SNAPSHOT", "task_id"),
  S("missing data", (s) => s.save({ task_id: "t" }), "INVALID_SNAPSHOT", "data"),
  S("empty task_id", (s) => s.save(snap({ task_id: "" })), "INVALID_SNAPSHOT", "task_id"),
  S("task_id number", (s) => s.save(snap({ task_id: 5 })), "INVALID_SNAPSHOT", "task_id"),
  S("task_id boxed String", (s) => s.save(snap({ task_id: new String("t") })), "INVALID_SNAPSHOT", "task_id"),
  S("extra field", (s) => s.save(snap({ extra: 1 })), "INVALID_SNAPSHOT", "extra"),
  S("extra field: camelCase taskId", (s) => s.save({ taskId: "t", task_id: "t", data: {} }), "INVALID_SNAPSHOT", "taskId"),
  S("id number", (s) => s.save(snap({ id: 5 })), "INVALID_SNAPSHOT", "id"),
  S("id empty", (s) => s.save(snap({ id: "" })), "INVALID_SNAPSHOT", "id"),
  S("checkpoint 'true'", (s) => s.save(snap({ checkpoint: "true" })), "INVALID_SNAPSHOT", "checkpoint"),
  S("checkpoint 1", (s) => s.save(snap({ checkpoint: 1 })), "INVALID_SNAPSHOT", "checkpoint"),
  // save: version
  S("version 0", (s) => s.save(snap({ version: 0 })), "INVALID_SNAPSHOT", "version"),
  S("version -0", (s) => s.save(snap({ version: -0 })), "INVALID_SNAPSHOT", "version"),
  S("version -1", (s) => s.save(snap({ version: -1 })), "INVALID_SNAPSHOT", "version"),
  S("version 1.5", (s) => s.save(snap({ version: 1.5 })), "INVALID_SNAPSHOT", "version"),
  S('version "2"', (s) => s.save(snap({ version: "2" })), "INVALID_SNAPSHOT", "version"),
  S("version 2**60", (s) => s.save(snap({ version: 2 ** 60 })), "INVALID_SNAPSHOT", "version"),
  S("version 2**53", (s) => s.save(snap({ version: 2 ** 53 })), "INVALID_SNAPSHOT", "version"),
  S("version NaN", (s) => s.save(snap({ version: NaN })), "INVALID_SNAPSHOT", "version"),
  S("version Infinity", (s) => s.save(snap({ version: Infinity })), "INVALID_SNAPSHOT", "version"),
  S("version BigInt 2n", (s) => s.save(snap({ version: 2n })), "INVALID_SNAPSHOT", "version"),
  S("version true", (s) => s.save(snap({ version: true })), "INVALID_SNAPSHOT", "version"),
  // save: data is not a plain object
  S("data array", (s) => s.save(snap({ data: [1] })), "INVALID_SNAPSHOT", "data"),
  S("data string", (s) => s.save(snap({ data: "{}" })), "INVALID_SNAPSHOT", "data"),
  S("data null", (s) => s.save(snap({ data: null })), "INVALID_SNAPSHOT", "data"),
  S("data number", (s) => s.save(snap({ data: 5 })), "INVALID_SNAPSHOT", "data"),
  S("data Map", (s) => s.save(snap({ data: new Map([["a", 1]]) })), "INVALID_SNAPSHOT", "data"),
  S("data Date", (s) => s.save(snap({ data: new Date(0) })), "INVALID_SNAPSHOT", "data"),
  S("data class instance", (s) => s.save(snap({ data: new Point() })), "INVALID_SNAPSHOT", "data"),
  S("data object with a prototype", (s) => s.save(snap({ data: Object.create({ inherited: 1 }) })), "INVALID_SNAPSHOT", "data"),
  // save: values JSON cannot hold inside data
  S("data: nested Map", (s) => s.save(snap({ data: { m: new Map() } })), "INVALID_SNAPSHOT", "data.m"),
  S("data: nested Date", (s) => s.save(snap({ data: { d: new Date(0) } })), "INVALID_SNAPSHOT", "data.d"),
  S("data: nested Set", (s) => s.save(snap({ data: { set: new Set([1]) } })), "INVALID_SNAPSHOT", "data.set"),
  S("data: nested class instance", (s) => s.save(snap({ data: { p: new Point() } })), "INVALID_SNAPSHOT", "data.p"),
  S("data: Uint8Array", (s) => s.save(snap({ data: { bytes: new Uint8Array(2) } })), "INVALID_SNAPSHOT", "data.bytes"),
  S("data: boxed Number", (s) => s.save(snap({ data: { n: new Number(1) } })), "INVALID_SNAPSHOT", "data.n"),
  S("data: BigInt", (s) => s.save(snap({ data: { n: 1n } })), "INVALID_SNAPSHOT", "data.n"),
  S("data: cyclic object", (s) => s.save(snap({ data: cyclic })), "INVALID_SNAPSHOT", "data.self"),
  S("data: cyclic array", (s) => s.save(snap({ data: { a: cyclicArray } })), "INVALID_SNAPSHOT", "data.a"),
  S("data: function", (s) => s.save(snap({ data: { f() {} } })), "INVALID_SNAPSHOT", "data.f"),
  S("data: toJSON function is not called", (s) => s.save(snap({ data: { d: { toJSON: () => 1 } } })), "INVALID_SNAPSHOT", "data.d"),
  S("data: symbol", (s) => s.save(snap({ data: { sym: Symbol("x") } })), "INVALID_SNAPSHOT", "data.sym"),
  S("data: undefined", (s) => s.save(snap({ data: { u: undefined } })), "INVALID_SNAPSHOT", "data.u"),
  S("data: undefined in an array", (s) => s.save(snap({ data: { u: [1, undefined] } })), "INVALID_SNAPSHOT", "data.u[1]"),
  S("data: sparse array hole", (s) => s.save(snap({ data: { u: [1, , 3] } })), "INVALID_SNAPSHOT", "data.u[1]"), // eslint-disable-line no-sparse-arrays
  S("data: NaN", (s) => s.save(snap({ data: { n: NaN } })), "INVALID_SNAPSHOT", "data.n"),
  S("data: Infinity in an array", (s) => s.save(snap({ data: { n: [Infinity] } })), "INVALID_SNAPSHOT", "data.n[0]"),
  S("data: -Infinity deep", (s) => s.save(snap({ data: { a: { b: { c: -Infinity } } } })), "INVALID_SNAPSHOT", "data.a.b.c"),
  S("version null (null is a value, not an absence)", (s) => s.save(snap({ version: null })), "INVALID_SNAPSHOT", "version"),
  S("checkpoint null", (s) => s.save(snap({ checkpoint: null })), "INVALID_SNAPSHOT", "checkpoint"),
  S("created_at null", (s) => s.save(snap({ created_at: null })), "INVALID_TIMESTAMP", "created_at"),
  S("data: a lone surrogate in a string", (s) => s.save(snap({ data: { s: "a\ud800b" } })), "INVALID_SNAPSHOT", "surrogate"),
  S("data: a lone surrogate in a key", (s) => s.save(snap({ data: { ["k\udc00"]: 1 } })), "INVALID_SNAPSHOT", "surrogate"),
  S("data: nested 100000 deep (no stack overflow)", (s) => s.save(snap({ data: deeplyNested(100000) })), "TOO_LARGE", "nests deeper than 128"),
  S("data: a getter that throws", (s) => s.save(snap({ data: throwingGetter({ a: 1 }, "b") })), "INVALID_SNAPSHOT", "data.b"),
  S("data: a Proxy that throws", (s) => s.save(snap({ data: throwingProxy({ a: 1 }) })), "INVALID_SNAPSHOT", "data"),
  S("snapshot: a getter that throws", (s) => s.save(throwingGetter({ data: {} }, "task_id")), "INVALID_SNAPSHOT", "task_id"),
  S("snapshot: a Proxy that throws", (s) => s.save(throwingProxy(snap())), "INVALID_SNAPSHOT", "snapshot"),
  // save: created_at
  S("created_at naive", (s) => s.save(snap({ created_at: "2025-02-08T12:00:00" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at date only", (s) => s.save(snap({ created_at: "2025-02-08" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at garbage", (s) => s.save(snap({ created_at: "yesterday" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at empty string", (s) => s.save(snap({ created_at: "" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at month 13", (s) => s.save(snap({ created_at: "2025-13-08T12:00:00Z" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at February 30", (s) => s.save(snap({ created_at: "2025-02-30T12:00:00Z" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at hour 25", (s) => s.save(snap({ created_at: "2025-02-08T25:00:00Z" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at offset +24:00", (s) => s.save(snap({ created_at: "2025-02-08T12:00:00+24:00" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at offset +0100 (no colon)", (s) => s.save(snap({ created_at: "2025-02-08T12:00:00+0100" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at year 10000", (s) => s.save(snap({ created_at: "10000-01-01T00:00:00Z" })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at invalid Date", (s) => s.save(snap({ created_at: new Date(NaN) })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at epoch ms 1.5", (s) => s.save(snap({ created_at: 1.5 })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at epoch ms beyond year 9999", (s) => s.save(snap({ created_at: 8.64e15 })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at boolean", (s) => s.save(snap({ created_at: true })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at object", (s) => s.save(snap({ created_at: {} })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at NaN", (s) => s.save(snap({ created_at: NaN })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at Infinity", (s) => s.save(snap({ created_at: Infinity })), "INVALID_TIMESTAMP", "created_at"),
  S("created_at BigInt", (s) => s.save(snap({ created_at: 5n })), "INVALID_TIMESTAMP", "created_at"),
  // save: options
  S("options: unknown key", (s) => s.save(snap(), { expected: 1 }), "INVALID_ARGUMENT", "expected"),
  S("options: string", (s) => s.save(snap(), "x"), "INVALID_ARGUMENT", "options"),
  S('expectedVersion "3"', (s) => s.save(snap(), { expectedVersion: "3" }), "INVALID_ARGUMENT", "expectedVersion"),
  S("expectedVersion -1", (s) => s.save(snap(), { expectedVersion: -1 }), "INVALID_ARGUMENT", "expectedVersion"),
  S("expectedVersion 1.5", (s) => s.save(snap(), { expectedVersion: 1.5 }), "INVALID_ARGUMENT", "expectedVersion"),
  S("expectedVersion NaN", (s) => s.save(snap(), { expectedVersion: NaN }), "INVALID_ARGUMENT", "expectedVersion"),
  S("expectedVersion conflict (latest is 3)", (s) => s.save(snap(), { expectedVersion: 2 }), "VERSION_CONFLICT", '"t"'),
  S("expectedVersion conflict with explicit version", (s) => s.save(snap({ version: 9 }), { expectedVersion: 4 }), "VERSION_CONFLICT", "t"),
  S("expectedVersion 0 on an existing task", (s) => s.save(snap(), { expectedVersion: 0 }), "VERSION_CONFLICT", "t"),
  S("expectedVersion null on an existing task", (s) => s.save(snap(), { expectedVersion: null }), "VERSION_CONFLICT", "t"),
  S("expectedVersion on a new task", (s) => s.save(snap({ task_id: "new" }), { expectedVersion: 1 }), "VERSION_CONFLICT", "new"),
  // get / getById / listVersions / delete
  S("get() without a task id", (s) => s.get(), "INVALID_ARGUMENT", "taskId"),
  S("get(number)", (s) => s.get(5), "INVALID_ARGUMENT", "taskId"),
  S("get version 0", (s) => s.get("t", 0), "INVALID_ARGUMENT", "version"),
  S('get version "1"', (s) => s.get("t", "1"), "INVALID_ARGUMENT", "version"),
  S("get version 1.5", (s) => s.get("t", 1.5), "INVALID_ARGUMENT", "version"),
  S("get version 2**60", (s) => s.get("t", 2 ** 60), "INVALID_ARGUMENT", "version"),
  S("getById without a snapshot id", (s) => s.getById("t"), "INVALID_ARGUMENT", "snapshotId"),
  S("getById(number)", (s) => s.getById("t", 5), "INVALID_ARGUMENT", "snapshotId"),
  S("listVersions(null)", (s) => s.listVersions(null), "INVALID_ARGUMENT", "taskId"),
  S("listVersions(object)", (s) => s.listVersions({ task_id: "t" }), "INVALID_ARGUMENT", "taskId"),
  S("delete() without a task id", (s) => s.delete(), "INVALID_ARGUMENT", "taskId"),
  S("delete version -1", (s) => s.delete("t", -1), "INVALID_ARGUMENT", "version"),
  S('delete version "1"', (s) => s.delete("t", "1"), "INVALID_ARGUMENT", "version"),
  S("delete version NaN", (s) => s.delete("t", NaN), "INVALID_ARGUMENT", "version"),
  // prune
  S("prune without a policy", (s) => s.prune("t"), "INVALID_ARGUMENT", "policy"),
  S("prune with an empty policy", (s) => s.prune("t", {}), "INVALID_ARGUMENT", "policy"),
  S("prune policy array", (s) => s.prune("t", []), "INVALID_ARGUMENT", "policy"),
  S("prune task id number", (s) => s.prune(1, { keepLast: 1 }), "INVALID_ARGUMENT", "taskId"),
  S("prune keepLast -1", (s) => s.prune("t", { keepLast: -1 }), "INVALID_ARGUMENT", "keepLast"),
  S("prune keepLast 1.5", (s) => s.prune("t", { keepLast: 1.5 }), "INVALID_ARGUMENT", "keepLast"),
  S('prune keepLast "1"', (s) => s.prune("t", { keepLast: "1" }), "INVALID_ARGUMENT", "keepLast"),
  S('prune keepCheckpoints "yes"', (s) => s.prune("t", { keepLast: 1, keepCheckpoints: "yes" }), "INVALID_ARGUMENT", "keepCheckpoints"),
  S("prune unknown policy key", (s) => s.prune("t", { keepLast: 1, keep_last: 1 }), "INVALID_ARGUMENT", "keep_last"),
  S("prune policy getter that throws", (s) => s.prune("t", throwingGetter({}, "keepLast")), "INVALID_ARGUMENT", "keepLast"),
  S("prune olderThan naive", (s) => s.prune("t", { olderThan: "2030-01-01T00:00:00" }), "INVALID_TIMESTAMP", "olderThan"),
  S("prune olderThan invalid Date", (s) => s.prune("t", { olderThan: new Date("x") }), "INVALID_TIMESTAMP", "olderThan"),
  S("prune olderThan NaN", (s) => s.prune("t", { olderThan: NaN }), "INVALID_TIMESTAMP", "olderThan"),

  // record: the event itself
  M("record() without an argument", (m) => m.record(), "INVALID_EVENT", "event"),
  M("record(null)", (m) => m.record(null), "INVALID_EVENT", "event"),
  M("record(array)", (m) => m.record([ev()]), "INVALID_EVENT", "event"),
  M("record(string)", (m) => m.record("evt"), "INVALID_EVENT", "event"),
  M("missing task_id", (m) => m.record({ agent_id: "a", consumer_id: "c" }), "INVALID_EVENT", "task_id"),
  M("missing agent_id", (m) => m.record({ task_id: "t", consumer_id: "c" }), "INVALID_EVENT", "agent_id"),
  M("missing consumer_id", (m) => m.record({ task_id: "t", agent_id: "a" }), "INVALID_EVENT", "consumer_id"),
  M("empty task_id", (m) => m.record(ev({ task_id: "" })), "INVALID_EVENT", "task_id"),
  M("empty agent_id", (m) => m.record(ev({ agent_id: "" })), "INVALID_EVENT", "agent_id"),
  M("agent_id number", (m) => m.record(ev({ agent_id: 1 })), "INVALID_EVENT", "agent_id"),
  M("id number", (m) => m.record(ev({ id: 7 })), "INVALID_EVENT", "id"),
  M("extra field (PRD name 'agent')", (m) => m.record(ev({ agent: "a" })), "INVALID_EVENT", "agent"),
  M("a getter that throws", (m) => m.record(throwingGetter(ev(), "agent_id")), "INVALID_EVENT", "agent_id"),
  M("a Proxy that throws", (m) => m.record(throwingProxy(ev())), "INVALID_EVENT", "event"),
  // record: metrics
  M("metrics negative", (m) => m.record(ev({ metrics: { tokens_in: -1 } })), "INVALID_EVENT", "tokens_in"),
  M("metrics non-integer", (m) => m.record(ev({ metrics: { tokens_out: 1.5 } })), "INVALID_EVENT", "tokens_out"),
  M('metrics "5"', (m) => m.record(ev({ metrics: { duration_ms: "5" } })), "INVALID_EVENT", "duration_ms"),
  M("metrics NaN", (m) => m.record(ev({ metrics: { api_calls: NaN } })), "INVALID_EVENT", "api_calls"),
  M("metrics Infinity", (m) => m.record(ev({ metrics: { api_calls: Infinity } })), "INVALID_EVENT", "api_calls"),
  M("metrics 2**53", (m) => m.record(ev({ metrics: { tokens_in: 2 ** 53 } })), "INVALID_EVENT", "tokens_in"),
  M("metrics BigInt", (m) => m.record(ev({ metrics: { tokens_in: 5n } })), "INVALID_EVENT", "tokens_in"),
  M("metrics unknown key", (m) => m.record(ev({ metrics: { tokens: 5 } })), "INVALID_EVENT", "tokens"),
  M("metrics array", (m) => m.record(ev({ metrics: [1, 2, 3, 4] })), "INVALID_EVENT", "metrics"),
  M("metrics getter that throws", (m) => m.record(ev({ metrics: throwingGetter({}, "tokens_in") })), "INVALID_EVENT", "tokens_in"),
  // record: timestamp
  M("timestamp naive", (m) => m.record(ev({ timestamp: "2025-02-08T12:00:00" })), "INVALID_TIMESTAMP", "timestamp"),
  M("timestamp malformed", (m) => m.record(ev({ timestamp: "12:00" })), "INVALID_TIMESTAMP", "timestamp"),
  M("timestamp invalid Date", (m) => m.record(ev({ timestamp: new Date("nope") })), "INVALID_TIMESTAMP", "timestamp"),
  M("timestamp object", (m) => m.record(ev({ timestamp: {} })), "INVALID_TIMESTAMP", "timestamp"),
  M("timestamp NaN", (m) => m.record(ev({ timestamp: NaN })), "INVALID_TIMESTAMP", "timestamp"),
  M("timestamp Infinity", (m) => m.record(ev({ timestamp: Infinity })), "INVALID_TIMESTAMP", "timestamp"),
  // query
  M("query negative offset", (m) => m.query("a", 0, FAR, { offset: -1 }), "INVALID_ARGUMENT", "offset must be non-negative"),
  M("query negative limit", (m) => m.query("a", 0, FAR, { limit: -1 }), "INVALID_ARGUMENT", "limit"),
  M("query limit 1.5", (m) => m.query("a", 0, FAR, { limit: 1.5 }), "INVALID_ARGUMENT", "limit"),
  M('query limit "2"', (m) => m.query("a", 0, FAR, { limit: "2" }), "INVALID_ARGUMENT", "limit"),
  M("query offset NaN", (m) => m.query("a", 0, FAR, { offset: NaN }), "INVALID_ARGUMENT", "offset"),
  M("query unknown option key", (m) => m.query("a", 0, FAR, { page: 1 }), "INVALID_ARGUMENT", "page"),
  M("query options string", (m) => m.query("a", 0, FAR, "limit=1"), "INVALID_ARGUMENT", "options"),
  M("query agent id number", (m) => m.query(1, 0, FAR), "INVALID_ARGUMENT", "agentId"),
  M("query start naive", (m) => m.query("a", "2025-01-01T00:00:00", FAR), "INVALID_TIMESTAMP", "start"),
  M("query end malformed", (m) => m.query("a", 0, "2025-01-01Tfoo"), "INVALID_TIMESTAMP", "end"),
  M("query end missing", (m) => m.query("a", 0), "INVALID_ARGUMENT", "end is required"),
  M("query end beyond year 9999", (m) => m.query("a", 0, 8.64e15 + 1), "INVALID_TIMESTAMP", "end"),
  M("query start NaN", (m) => m.query("a", NaN, FAR), "INVALID_TIMESTAMP", "start"),
  // aggregate
  M("aggregate period number", (m) => m.aggregate("a", 1), "INVALID_ARGUMENT", "period"),
  M("aggregate period missing", (m) => m.aggregate("a"), "INVALID_ARGUMENT", "period"),
  M("aggregate agent id missing", (m) => m.aggregate(undefined, "day"), "INVALID_ARGUMENT", "agentId"),
  M("aggregate window string", (m) => m.aggregate("a", "p", "day"), "INVALID_ARGUMENT", "window"),
  M("aggregate window unknown key", (m) => m.aggregate("a", "p", { from: 0 }), "INVALID_ARGUMENT", "from"),
  M("aggregate window start naive", (m) => m.aggregate("a", "p", { start: "2025-01-01T00:00:00" }), "INVALID_TIMESTAMP", "start"),
  M("aggregate window start -Infinity", (m) => m.aggregate("a", "p", { start: -Infinity }), "INVALID_TIMESTAMP", "start"),
  // series
  M('series bucket "week"', (m) => m.series("a", { bucket: "week", start: 0, end: FAR }), "INVALID_ARGUMENT", "bucket"),
  M('series bucket "Hour"', (m) => m.series("a", { bucket: "Hour", start: 0, end: FAR }), "INVALID_ARGUMENT", "bucket"),
  M("series bucket number", (m) => m.series("a", { bucket: 3600, start: 0, end: FAR }), "INVALID_ARGUMENT", "bucket"),
  M("series bucket missing", (m) => m.series("a", { start: 0, end: FAR }), "INVALID_ARGUMENT", "bucket"),
  M("series options missing", (m) => m.series("a"), "INVALID_ARGUMENT", "options"),
  M("series unknown option key", (m) => m.series("a", { bucket: "day", start: 0, end: FAR, tz: "UTC" }), "INVALID_ARGUMENT", "tz"),
  M("series start naive", (m) => m.series("a", { bucket: "day", start: "2025-01-01T00:00", end: FAR }), "INVALID_TIMESTAMP", "start"),
  M("series end invalid Date", (m) => m.series("a", { bucket: "day", start: 0, end: new Date("") }), "INVALID_TIMESTAMP", "end"),
  M("series start BigInt", (m) => m.series("a", { bucket: "day", start: 1n, end: FAR }), "INVALID_TIMESTAMP", "start"),
  // export
  M('export format "xml"', (m) => m.export("xml"), "INVALID_ARGUMENT", "format"),
  M('export format "JSON"', (m) => m.export("JSON"), "INVALID_ARGUMENT", "format"),
  M("export format missing", (m) => m.export(), "INVALID_ARGUMENT", "format"),
  M("export filter unknown key", (m) => m.export("json", { agent_id: "a" }), "INVALID_ARGUMENT", "agent_id"),
  M("export filter agentId number", (m) => m.export("csv", { agentId: 1 }), "INVALID_ARGUMENT", "agentId"),
  M("export filter start malformed", (m) => m.export("csv", { start: "x" }), "INVALID_TIMESTAMP", "start"),
  M("export filter end NaN", (m) => m.export("json", { end: NaN }), "INVALID_TIMESTAMP", "end"),
];

// ---- seeded stores and their observable state ------------------------------------------------

function seededSnapshots() {
  const s = new MemorySnapshotStore();
  s.save({ id: "s1", task_id: "t", version: 1, data: { step: 1 }, created_at: "2025-01-01T00:00:00Z" });
  s.save({ id: "s2", task_id: "t", version: 2, data: { step: 2, nested: [1, { a: null }] }, checkpoint: true, created_at: "2025-01-02T00:00:00Z" });
  s.save({ id: "s3", task_id: "t", version: 3, data: { step: 3 }, created_at: "2025-01-03T00:00:00.123456Z" });
  s.save({ id: "u1", task_id: "u", version: 1, data: { other: true }, created_at: "2025-01-04T00:00:00Z" });
  return s;
}

function seededMetering() {
  const m = new MemoryMeteringStore();
  m.record({ id: "e1", task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 1, tokens_out: 2, duration_ms: 3, api_calls: 4 }, timestamp: "2025-01-01T00:00:00Z" });
  m.record({ id: "e2", task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 10 }, timestamp: "2025-01-01T01:00:00Z" });
  m.record({ id: "e3", task_id: "u", agent_id: "b", consumer_id: "d", timestamp: "2025-01-02T00:00:00Z" });
  return m;
}

function snapshotState(s) {
  const tasks = s.listTasks();
  const probe = ["t", "u", "new", ""]; // tasks a failed call could have created
  return {
    tasks,
    detail: [...new Set([...tasks.map((t) => t.task_id), ...probe])].map((id) => ({
      id,
      versions: s.listVersions(id),
      latest: s.get(id) ?? null,
      all: s.listVersions(id).map((v) => s.get(id, v)),
    })),
  };
}

function meteringState(m) {
  return { json: m.export("json"), csv: m.export("csv"), agents: m.agents(), a: m.aggregate("a", "p"), b: m.aggregate("b", "p") };
}

const state = (c, store) => (c.store === "snapshot" ? snapshotState(store) : meteringState(store));

function assertStillWorks(c, store, label = "") {
  if (c.store === "snapshot") {
    const latest = store.get("t").version;
    const saved = store.save({ task_id: "t", data: { after: c.name } });
    assert.equal(saved.version, latest + 1, `${label}auto-increment after the failed call`);
    assert.deepEqual(store.get("t").data, { after: c.name });
    assert.equal(store.delete("t", saved.version), true);
  } else {
    const before = JSON.parse(store.export("json")).length;
    const rec = store.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 1 }, timestamp: "2025-01-01T00:30:00Z" });
    assert.equal(JSON.parse(store.export("json")).length, before + 1, `${label}record after the failed call`);
    assert.ok(store.query("a", "2025-01-01T00:30:00Z", "2025-01-01T00:30:00Z").some((e) => e.id === rec.id));
  }
}

function runCase(c, store) {
  try {
    c.call(store);
  } catch (e) {
    return e;
  }
  return undefined;
}

// ---- the tests --------------------------------------------------------------------------------

test(`the matrix has at least 40 cases (${cases.length})`, (t) => {
  t.diagnostic(`bad-input cases: ${cases.length} (${cases.filter((c) => c.store === "snapshot").length} snapshot, ${cases.filter((c) => c.store === "metering").length} metering)`);
  assert.ok(cases.length >= 40, `only ${cases.length} cases`);
  const methods = new Set(cases.map((c) => `${c.store}.${/\b(save|get|getById|listVersions|delete|prune|record|query|aggregate|series|export)\(/.exec(c.call.toString())?.[1]}`));
  for (const m of ["snapshot.save", "snapshot.get", "snapshot.getById", "snapshot.listVersions", "snapshot.delete", "snapshot.prune", "metering.record", "metering.query", "metering.aggregate", "metering.series", "metering.export"]) {
    assert.ok(methods.has(m), `no case for ${m}`);
  }
});

for (const kind of ["snapshot", "metering"]) {
  describe(`${kind} store`, () => {
    for (const c of cases.filter((x) => x.store === kind)) {
      test(c.name, () => {
        const store = kind === "snapshot" ? seededSnapshots() : seededMetering();
        const before = state(c, store);
        const err = runCase(c, store);
        assert.ok(err !== undefined, "expected a throw, the call returned");
        assert.ok(err instanceof StateError, `expected a StateError, got ${err?.constructor?.name}: ${err}`);
        assert.ok(err instanceof Error);
        assert.equal(err.name, "StateError");
        assert.equal(typeof err.code, "string");
        if (!c.todo) assert.equal(err.code, c.code, `code (message: ${err.message})`);
        assert.ok(err.message.includes(c.field), `message "${err.message}" does not name "${c.field}"`);
        assert.deepEqual(state(c, store), before, "the failed call changed the store");
        assert.equal(runCase(c, store)?.code, err.code, "a retry fails the same way");
        assert.deepEqual(state(c, store), before, "the retried call changed the store");
        assertStillWorks(c, store);
      });
      if (c.todo) {
        test(`${c.name}: code is ${c.code}`, { todo: c.todo }, () => {
          const err = runCase(c, kind === "snapshot" ? seededSnapshots() : seededMetering());
          assert.equal(err?.code, c.code, `code (message: ${err?.message})`);
        });
      }
    }
  });
}

test("every case in sequence on one pair of stores: nothing changes, nothing traps", () => {
  const s = seededSnapshots();
  const m = seededMetering();
  const before = { s: snapshotState(s), m: meteringState(m) };
  for (const c of cases) {
    const err = runCase(c, c.store === "snapshot" ? s : m);
    assert.ok(err instanceof StateError, `${c.name}: ${err}`);
  }
  assert.deepEqual({ s: snapshotState(s), m: meteringState(m) }, before);
  assertStillWorks({ store: "snapshot", name: "shared" }, s);
  assertStillWorks({ store: "metering", name: "shared" }, m);
  // The wasm instance is healthy: a brand-new store works too.
  const fresh = new MemorySnapshotStore();
  assert.equal(fresh.save({ task_id: "x", data: { ok: true } }).version, 1);
  assert.deepEqual(fresh.get("x").data, { ok: true });
});
