// The SQLite backend of the npm package, through its public entry exactly as users import it
// (CONTRACT.md §3 SqliteStateDb and the factories, §4 errors, §5 timestamps, §6 the file):
// fresh images checked by the real sqlite3 CLI, the Python reference's files (expected.json),
// files by path across processes, shared handles, the factories, bad files and bad options,
// and the same validation errors as the memory stores.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  SqliteStateDb,
  createSnapshotStore,
  createMeteringStore,
  StateError,
  MemorySnapshotStore,
  MemoryMeteringStore,
} from "asap-state";
import * as memoryEntry from "asap-state/memory";
import { dumpDb, dumpStores } from "./fixtures/sqlite/dump.mjs";
import { rejectsCode, throwsCode } from "./helpers.mjs";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURES = path.join(REPO, "tests", "fixtures", "python-ref-2.5.10");
const REOPEN = path.join(REPO, "tests/js/fixtures/sqlite/reopen.mjs");
const SQLITE3 = "/usr/bin/sqlite3";
const NO_SQLITE3 = fs.existsSync(SQLITE3) ? false : `${SQLITE3} is not installed`;
const NO_FIXTURES = fs.existsSync(path.join(FIXTURES, "expected.json")) ? false : `no fixtures at ${FIXTURES}`;

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/;
const MISSING_TASK = "task_missing_0000000000000000";
const PAGE = 4096; // the fixtures' page size
const MAGIC = "SQLite format 3\0";

// The schema of CONTRACT.md §6, as `PRAGMA table_info` reports it: [name, type, notnull, pk].
const tableInfo = (...columns) => columns.map(([name, type, notnull, pk], cid) => ({ cid, name, type, notnull, dflt_value: null, pk }));
const SNAPSHOTS_COLUMNS = tableInfo(
  ["task_id", "TEXT", 1, 1], ["id", "TEXT", 1, 0], ["version", "INTEGER", 1, 2],
  ["data", "TEXT", 1, 0], ["checkpoint", "INTEGER", 1, 0], ["created_at", "TEXT", 1, 0],
);
const USAGE_EVENTS_COLUMNS = tableInfo(
  ["id", "TEXT", 0, 1], ["task_id", "TEXT", 1, 0], ["agent_id", "TEXT", 1, 0],
  ["consumer_id", "TEXT", 1, 0], ["metrics", "TEXT", 1, 0], ["timestamp", "TEXT", 1, 0],
);
const SCHEMA_SQL = `
CREATE TABLE snapshots (
    task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version));
CREATE TABLE usage_events (
    id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, consumer_id TEXT NOT NULL,
    metrics TEXT NOT NULL, timestamp TEXT NOT NULL);
CREATE INDEX idx_usage_agent_timestamp ON usage_events (agent_id, timestamp);
CREATE INDEX idx_usage_consumer_timestamp ON usage_events (consumer_id, timestamp);
`;

// ---- helpers --------------------------------------------------------------------------------

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-sqlite-js-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
let dirCount = 0;
/** A new empty directory inside this run's temp dir. */
function tempDir(label) {
  const dir = path.join(TMP, `${String(++dirCount).padStart(3, "0")}-${label}`);
  fs.mkdirSync(dir);
  return dir;
}

const sha = (bytes) => createHash("sha256").update(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes).digest("hex");
const fixture = (name) => fs.readFileSync(path.join(FIXTURES, name));

/** Runs the sqlite3 CLI on `file` with `sql` on stdin; `json` returns the rows of one statement. */
function sqlite3(file, sql, { json = false } = {}) {
  const r = spawnSync(SQLITE3, [...(json ? ["-json"] : []), "-bail", file], { input: sql, encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, `sqlite3 ${file} failed (${r.status}): ${r.stderr}`);
  if (!json) return r.stdout;
  return r.stdout.trim() === "" ? [] : JSON.parse(r.stdout);
}
const integrity = (file) => sqlite3(file, "PRAGMA integrity_check;").trim();
/** A new file written by sqlite3 (rollback-journal mode, sqlite3's default). */
function sqlite3File(dir, name, sql) {
  const file = path.join(dir, name);
  sqlite3(file, sql);
  return file;
}

/** The wasm instance still works: a fresh database saves, reads and records. */
async function assertStillWorks() {
  const db = await SqliteStateDb.open();
  const saved = db.snapshots.save({ task_id: "alive", data: { ok: true } });
  assert.equal(saved.version, 1);
  assert.deepEqual(db.snapshots.get("alive"), saved);
  db.metering.record({ task_id: "alive", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 1 } });
  assert.deepEqual(db.metering.agents(), ["a"]);
  assert.equal(db.exportBytes().length % PAGE, 0);
  db.close();
}

/** Deterministic pseudo-random bytes (xorshift32). */
function randomBytes(n, seed) {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
const asciiBytes = (text) => new TextEncoder().encode(text);

/** Copies of `bytes` written to `dir/name`. */
function writeCopy(dir, name, bytes) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

// ---- sample data ----------------------------------------------------------------------------

const DATA_A = {
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
function seed(snapshots, metering) {
  const saved = [
    snapshots.save({ id: "snap_a1", task_id: "task_a", version: 1, data: DATA_A, checkpoint: true, created_at: "2026-03-01T12:00:00+02:00" }),
    snapshots.save({ id: "snap_a2", task_id: "task_a", data: { step: 2 }, created_at: "2026-03-01T10:00:00.123456Z" }),
    snapshots.save({ id: "snap_a5", task_id: "task_a", version: 5, data: { step: 5 }, created_at: new Date(Date.UTC(2026, 2, 1, 11, 0, 0, 250)) }),
    snapshots.save({ id: "snap_b7", task_id: "task_b", version: 7, data: { only: "b" }, checkpoint: false, created_at: Date.UTC(2026, 2, 2) }),
  ];
  const events = [
    metering.record({ id: "evt_1", task_id: "task_a", agent_id: "agent_x", consumer_id: "c1", metrics: { tokens_in: 1200, tokens_out: 300, duration_ms: 4500, api_calls: 3 }, timestamp: "2026-03-01T10:00:00Z" }),
    metering.record({ id: "evt_2", task_id: "task_a", agent_id: "agent_x", consumer_id: "c2", metrics: { tokens_in: 5 }, timestamp: "2026-03-01T12:30:00.5+01:00" }),
    metering.record({ id: "evt_3", task_id: "task_b", agent_id: "agent_y", consumer_id: "c1", timestamp: Date.UTC(2026, 2, 1, 13) }),
    metering.record({ id: "evt_4", task_id: "task_b", agent_id: "agent_x", consumer_id: "c1", metrics: { tokens_out: 7, duration_ms: 1, api_calls: 0 }, timestamp: "2026-03-02T00:00:00+00:00" }),
  ];
  return { saved, events };
}

// ---- 1. a fresh image -----------------------------------------------------------------------

describe("SqliteStateDb.open() — a fresh image", () => {
  test("save/get/list/record/query/aggregate work", async () => {
    const db = await SqliteStateDb.open();
    assert.ok(db instanceof SqliteStateDb);
    const s = db.snapshots;
    const m = db.metering;
    assert.equal(s.constructor.name, "SqliteSnapshotStore");
    assert.equal(m.constructor.name, "SqliteMeteringStore");
    assert.deepEqual(s.listTasks(), []);
    assert.deepEqual(m.agents(), []);

    const { saved, events } = seed(s, m);
    assert.deepEqual(saved[0], { id: "snap_a1", task_id: "task_a", version: 1, data: DATA_A, checkpoint: true, created_at: "2026-03-01T10:00:00+00:00" });
    assert.equal(saved[1].version, 2, "auto-increment after 1");
    assert.equal(saved[1].created_at, "2026-03-01T10:00:00.123456+00:00");
    assert.equal(saved[2].created_at, "2026-03-01T11:00:00.250000+00:00");
    assert.equal(saved[3].created_at, "2026-03-02T00:00:00+00:00");
    assert.equal(s.save({ task_id: "task_a", data: {} }).version, 6, "auto-increment after 5");
    assert.ok(s.delete("task_a", 6));

    assert.deepEqual(s.get("task_a"), saved[2]);
    assert.deepEqual(s.get("task_a", 1), saved[0]);
    assert.deepEqual(s.get("task_a", 1).data, DATA_A);
    assert.equal(s.get("task_a", 3), undefined);
    assert.equal(s.get(MISSING_TASK), undefined);
    assert.deepEqual(s.getById("task_a", "snap_a2"), saved[1]);
    assert.deepEqual(s.listVersions("task_a"), [1, 2, 5]);
    assert.deepEqual(s.listVersions(MISSING_TASK), []);
    assert.deepEqual(s.listTasks(), [
      { task_id: "task_a", versions: 3, latest_version: 5, latest_created_at: "2026-03-01T11:00:00.250000+00:00", checkpoints: 1 },
      { task_id: "task_b", versions: 1, latest_version: 7, latest_created_at: "2026-03-02T00:00:00+00:00", checkpoints: 0 },
    ]);
    // Returned objects are copies.
    s.get("task_a", 1).data.nested.list.push("mutated");
    assert.deepEqual(s.get("task_a", 1).data, DATA_A);

    assert.deepEqual(events[1], {
      id: "evt_2", task_id: "task_a", agent_id: "agent_x", consumer_id: "c2",
      metrics: { tokens_in: 5, tokens_out: 0, duration_ms: 0, api_calls: 0 },
      timestamp: "2026-03-01T11:30:00.500000+00:00",
    });
    assert.equal(events[2].timestamp, "2026-03-01T13:00:00+00:00");
    const all = m.query("agent_x", "2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z");
    assert.deepEqual(all.map((e) => e.id), ["evt_1", "evt_2", "evt_4"], "inclusive on both ends, ascending");
    assert.deepEqual(m.query("agent_x", "2026-03-01T10:00:00.000001Z", "2026-03-01T23:59:59Z").map((e) => e.id), ["evt_2"]);
    assert.deepEqual(m.query("agent_x", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", { limit: 1, offset: 1 }).map((e) => e.id), ["evt_2"]);
    assert.deepEqual(m.aggregate("agent_x", "all"), { agent_id: "agent_x", period: "all", total_tokens: 1512, total_duration: 4501, total_tasks: 3, total_api_calls: 3 });
    assert.deepEqual(m.aggregate("agent_y", "day"), { agent_id: "agent_y", period: "day", total_tokens: 0, total_duration: 0, total_tasks: 1, total_api_calls: 0 });
    assert.deepEqual(m.aggregate("nobody", "all"), { agent_id: "nobody", period: "all", total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 });
    assert.deepEqual(m.agents(), ["agent_x", "agent_y"]);
    // A retried record with a stored id stores nothing and returns the stored event.
    assert.deepEqual(m.record({ id: "evt_1", task_id: "other", agent_id: "agent_z", consumer_id: "c9" }), events[0]);
    assert.deepEqual(m.agents(), ["agent_x", "agent_y"]);
    db.close();
  });

  test("exportBytes() is a file sqlite3 accepts, with exactly the tables of CONTRACT §6 and the same data", { skip: NO_SQLITE3 }, async () => {
    const db = await SqliteStateDb.open();
    const { saved, events } = seed(db.snapshots, db.metering);
    const bytes = db.exportBytes();
    assert.ok(bytes instanceof Uint8Array, "a Uint8Array");
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 16)), MAGIC);
    assert.ok(bytes.length > 0 && bytes.length % 512 === 0, `length ${bytes.length}`);
    // Each call is a new, independent copy.
    const again = db.exportBytes();
    assert.notEqual(again, bytes);
    assert.equal(sha(again), sha(bytes));
    again.fill(0);
    assert.equal(sha(db.exportBytes()), sha(bytes));

    const dir = tempDir("export");
    const file = writeCopy(dir, "export.db", bytes);
    assert.equal(integrity(file), "ok");

    assert.deepEqual(sqlite3(file, "PRAGMA table_info(snapshots);", { json: true }), SNAPSHOTS_COLUMNS);
    assert.deepEqual(sqlite3(file, "PRAGMA table_info(usage_events);", { json: true }), USAGE_EVENTS_COLUMNS);
    const indexes = sqlite3(file, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name;", { json: true });
    const ours = indexes.filter((i) => i.tbl_name === "usage_events" || i.tbl_name === "snapshots");
    assert.deepEqual(ours, [
      { name: "idx_usage_agent_timestamp", tbl_name: "usage_events" },
      { name: "idx_usage_consumer_timestamp", tbl_name: "usage_events" },
    ]);
    assert.deepEqual(sqlite3(file, "PRAGMA index_info(idx_usage_agent_timestamp);", { json: true }).map((c) => c.name), ["agent_id", "timestamp"]);
    assert.deepEqual(sqlite3(file, "PRAGMA index_info(idx_usage_consumer_timestamp);", { json: true }).map((c) => c.name), ["consumer_id", "timestamp"]);
    // The primary keys: (task_id, version) and id.
    const pk = sqlite3(file, "SELECT name FROM pragma_index_list('snapshots') WHERE origin = 'pk';", { json: true });
    assert.equal(pk.length, 1, "snapshots has one primary-key index");
    assert.deepEqual(sqlite3(file, `PRAGMA index_info("${pk[0].name}");`, { json: true }).map((c) => c.name), ["task_id", "version"]);
    const tables = sqlite3(file, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;", { json: true }).map((t) => t.name);
    assert.ok(tables.includes("snapshots") && tables.includes("usage_events"), `tables: ${tables}`);

    // The rows as sqlite3 reads them.
    const rows = sqlite3(file, "SELECT task_id, id, version, data, checkpoint, created_at, typeof(data) AS t_data, typeof(checkpoint) AS t_cp, typeof(version) AS t_v FROM snapshots ORDER BY task_id, version;", { json: true });
    assert.equal(rows.length, saved.length);
    const byKey = new Map(saved.map((snap) => [`${snap.task_id}/${snap.version}`, snap]));
    for (const row of rows) {
      const snap = byKey.get(`${row.task_id}/${row.version}`);
      assert.ok(snap, `unexpected row ${row.task_id}/${row.version}`);
      assert.equal(row.t_data, "text");
      assert.equal(row.t_cp, "integer");
      assert.equal(row.t_v, "integer");
      assert.equal(row.id, snap.id);
      assert.deepEqual(JSON.parse(row.data), snap.data, `data of ${row.task_id}/${row.version}`);
      assert.equal(row.checkpoint, snap.checkpoint ? 1 : 0);
      assert.match(row.created_at, TS_RE);
      assert.equal(row.created_at, snap.created_at);
    }
    const evRows = sqlite3(file, "SELECT id, task_id, agent_id, consumer_id, metrics, timestamp, typeof(metrics) AS t_m FROM usage_events ORDER BY id;", { json: true });
    assert.equal(evRows.length, events.length);
    for (const [i, row] of evRows.entries()) {
      const ev = events[i];
      assert.equal(row.id, ev.id);
      assert.equal(row.task_id, ev.task_id);
      assert.equal(row.agent_id, ev.agent_id);
      assert.equal(row.consumer_id, ev.consumer_id);
      assert.equal(row.t_m, "text");
      const { tokens_in, tokens_out, duration_ms, api_calls } = ev.metrics;
      assert.equal(row.metrics, `{"tokens_in":${tokens_in},"tokens_out":${tokens_out},"duration_ms":${duration_ms},"api_calls":${api_calls}}`);
      assert.match(row.timestamp, TS_RE);
      assert.equal(row.timestamp, ev.timestamp);
    }
    // sqlite3 can use the file as a database too: the (agent_id, timestamp) query of the reference.
    const viaSql = sqlite3(file, "SELECT id FROM usage_events WHERE agent_id = 'agent_x' AND timestamp >= '2026-03-01T10:00:00+00:00' AND timestamp <= '2026-03-02T00:00:00+00:00' ORDER BY timestamp;", { json: true });
    assert.deepEqual(viaSql.map((r) => r.id), ["evt_1", "evt_2", "evt_4"]);

    // The image opens again as bytes, with the same answers.
    const copy = await SqliteStateDb.open({ bytes });
    assert.deepEqual(dumpDb(copy), dumpDb(db));
    copy.close();
    db.close();
  });
});

// ---- 2. the Python reference's files --------------------------------------------------------

/** Asks `db` every question of expected.json; returns { matched, total, events, mismatches }. */
function checkExpected(db, doc) {
  const s = db.snapshots;
  const m = db.metering;
  let matched = 0;
  let events = 0;
  const mismatches = [];
  const check = (label, got, want) => {
    try {
      assert.deepStrictEqual(got, want);
      matched++;
    } catch {
      mismatches.push(`${label}:\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`);
    }
  };
  for (const [task, want] of Object.entries(doc.tasks)) {
    check(`tasks[${task}].versions`, s.listVersions(task), want.versions);
    check(`tasks[${task}].latest`, s.get(task) ?? null, want.latest);
    for (const [v, snap] of Object.entries(want.each)) check(`tasks[${task}].each[${v}]`, s.get(task, Number(v)) ?? null, snap);
  }
  doc.queries.forEach((q, i) => {
    const got = m.query(q.agent_id, q.start, q.end);
    for (const e of got) assert.match(e.id, /^evt_/, "every event has its stored id");
    assert.equal(new Set(got.map((e) => e.id)).size, got.length, "ids are unique");
    // The reference's events carry no id.
    check(`queries[${i}] (${q.agent_id} ${q.start}..${q.end})`, got.map(({ id, ...rest }) => rest), q.events);
    events += q.events.length;
  });
  for (const [agent, want] of Object.entries(doc.aggregates)) check(`aggregates[${agent}]`, m.aggregate(agent, "all"), want);
  check("missing.get", s.get(MISSING_TASK) ?? null, doc.missing.get);
  check("missing.versions", s.listVersions(MISSING_TASK), doc.missing.versions);
  return { matched, total: matched + mismatches.length, events, mismatches };
}
const summaryLine = (label, r, doc) =>
  `expected.json on ${label}: ${r.matched}/${r.total} answers matched ` +
  `(${Object.keys(doc.tasks).length} tasks, ${Object.values(doc.tasks).reduce((n, t) => n + Object.keys(t.each).length, 0)} versions, ` +
  `${doc.queries.length} queries with ${r.events} events, ${Object.keys(doc.aggregates).length} aggregates, 2 missing-task answers)`;

describe("the Python reference's files (fixtures/python-ref-2.5.10)", { skip: NO_FIXTURES }, () => {
  const doc = NO_FIXTURES ? null : JSON.parse(fs.readFileSync(path.join(FIXTURES, "expected.json"), "utf8"));

  for (const name of ["state-wal.db", "state-rollback.db"]) {
    test(`open({ bytes }) of ${name} reproduces every answer of expected.json; the input is unchanged`, async () => {
      const input = fixture(name);
      assert.equal(input[18], name === "state-wal.db" ? 2 : 1, "the fixture's journal mode (header byte 18)");
      const before = sha(input);
      const db = await SqliteStateDb.open({ bytes: input });
      assert.equal(sha(input), before, "open changed the input buffer");
      const r = checkExpected(db, doc);
      console.log(summaryLine(`${name} (bytes)`, r, doc));
      assert.deepEqual(r.mismatches, [], `${r.mismatches.length} answers differ`);
      assert.equal(r.total, 51);
      // Writing to the opened database never touches the caller's buffer.
      db.snapshots.save({ task_id: "task_new", data: { x: 1 } });
      db.metering.record({ task_id: "task_new", agent_id: "agent_0", consumer_id: "c1", metrics: { tokens_in: 1 }, timestamp: "2026-03-01T00:00:00Z" });
      assert.equal(db.snapshots.get("task_new").version, 1);
      assert.equal(sha(input), before, "writes changed the input buffer");
      assert.equal(sha(fixture(name)), before, "the fixture file changed");
      db.close();
    });
  }

  test("open({ bytes }) accepts an ArrayBuffer and a Uint8Array view inside a larger buffer", async () => {
    const file = fixture("state-wal.db");
    const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length);
    assert.ok(ab instanceof ArrayBuffer);
    const before = sha(ab);
    const db = await SqliteStateDb.open({ bytes: ab });
    const r = checkExpected(db, doc);
    console.log(summaryLine("state-wal.db (ArrayBuffer)", r, doc));
    assert.deepEqual(r.mismatches, []);
    db.snapshots.save({ task_id: "task_new", data: {} });
    assert.equal(sha(ab), before, "the ArrayBuffer changed");
    db.close();

    // A view with a byteOffset: exactly the view's bytes are read.
    const big = new Uint8Array(file.length + 300).fill(0xee);
    big.set(file, 100);
    const view = new Uint8Array(big.buffer, 100, file.length);
    const bigBefore = sha(big);
    const db2 = await SqliteStateDb.open({ bytes: view });
    assert.deepEqual(checkExpected(db2, doc).mismatches, []);
    assert.equal(sha(big), bigBefore);
    db2.close();
  });

  test("open({ path }) of copies of both files gives the same answers; sqlite3 still accepts them after close", { skip: NO_SQLITE3 }, async () => {
    const dir = tempDir("fixtures-by-path");
    for (const name of ["state-wal.db", "state-rollback.db"]) {
      const file = writeCopy(dir, name, fixture(name));
      const db = await SqliteStateDb.open({ path: file });
      const r = checkExpected(db, doc);
      console.log(summaryLine(`a copy of ${name} (path)`, r, doc));
      assert.deepEqual(r.mismatches, []);
      db.close();
      assert.equal(integrity(file), "ok");
      assert.deepEqual(sqlite3(file, "SELECT (SELECT count(*) FROM snapshots) AS s, (SELECT count(*) FROM usage_events) AS e;", { json: true }), [{ s: 26, e: 300 }]);
    }
  });

  test("exportBytes() of a reference file keeps every row and passes sqlite3's integrity_check", { skip: NO_SQLITE3 }, async () => {
    const db = await SqliteStateDb.open({ bytes: fixture("state-rollback.db") });
    const dir = tempDir("fixture-export");
    const file = writeCopy(dir, "exported.db", db.exportBytes());
    db.close();
    assert.equal(integrity(file), "ok");
    assert.deepEqual(sqlite3(file, "SELECT (SELECT count(*) FROM snapshots) AS s, (SELECT count(*) FROM usage_events) AS e;", { json: true }), [{ s: 26, e: 300 }]);
    const again = await SqliteStateDb.open({ bytes: fs.readFileSync(file) });
    assert.deepEqual(checkExpected(again, doc).mismatches, []);
    again.close();
  });
});

// ---- 3. files by path -----------------------------------------------------------------------

describe("SqliteStateDb.open({ path }) in Node", () => {
  test("what one process writes and closes, a new Node process reads (and the other way round)", { skip: NO_SQLITE3 }, async () => {
    const dir = tempDir("reopen");
    const file = path.join(dir, "state.db");
    assert.equal(fs.existsSync(file), false);
    const db = await SqliteStateDb.open({ path: file });
    assert.ok(fs.existsSync(file), "open({ path }) creates the file");
    const { saved, events } = seed(db.snapshots, db.metering);
    for (let i = 0; i < 50; i++) db.metering.record({ id: `evt_bulk_${String(i).padStart(2, "0")}`, task_id: "task_bulk", agent_id: "agent_bulk", consumer_id: "c", metrics: { tokens_in: i, api_calls: 1 }, timestamp: Date.UTC(2026, 2, 3, 0, i) });
    // While open, exportBytes() is a complete image (the WAL included).
    const imageFile = writeCopy(dir, "image.db", db.exportBytes());
    const expected = dumpDb(db);
    db.close();

    assert.equal(integrity(file), "ok", "integrity_check of the closed file");
    assert.equal(integrity(imageFile), "ok", "integrity_check of exportBytes() of the open file");
    // After close the file alone holds everything (no -wal needed).
    const alone = path.join(dir, "alone.db");
    fs.copyFileSync(file, alone);
    assert.deepEqual(sqlite3(alone, "SELECT (SELECT count(*) FROM snapshots) AS s, (SELECT count(*) FROM usage_events) AS e;", { json: true }), [{ s: saved.length, e: events.length + 50 }]);

    const r = spawnSync(process.execPath, [REOPEN, file, "--append"], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `child failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    const child = JSON.parse(r.stdout);
    assert.notEqual(child.pid, process.pid);
    assert.deepEqual(child.before, expected, "the new process reads exactly what this one wrote");
    for (const snap of saved) assert.deepEqual(child.before.perTask[snap.task_id].each.find((x) => x.version === snap.version), snap);
    assert.equal(child.before.events.length, events.length + 50);

    // What the child wrote and closed, this process reads.
    assert.equal(integrity(file), "ok");
    const again = await SqliteStateDb.open({ path: file });
    assert.deepEqual(again.snapshots.get("task_child"), child.appended.snapshot);
    assert.deepEqual(child.appended.snapshot.created_at, "2026-03-05T00:00:00.000001+00:00");
    assert.deepEqual(again.metering.query("agent_child", "2026-03-05T00:00:00Z", "2026-03-05T00:00:00Z"), [child.appended.event]);
    const now = dumpDb(again);
    assert.deepEqual(now.perTask.task_a, expected.perTask.task_a);
    assert.deepEqual(now.agents, ["agent_bulk", "agent_child", "agent_x", "agent_y"]);
    again.close();
  });

  test("a file written by sqlite3 (schema + rows, rollback-journal mode) opens and reads correctly by path", { skip: NO_SQLITE3 }, async () => {
    const dir = tempDir("from-sqlite3");
    const file = sqlite3File(dir, "cli.db", `${SCHEMA_SQL}
INSERT INTO snapshots VALUES ('t1', 's1', 1, '{"a": 1, "b": [true, null, "x"], "u": "\\u00e9"}', 0, '2026-03-01T10:00:00+00:00');
INSERT INTO snapshots VALUES ('t1', 's2', 2, '{"a": 2}', 1, '2026-03-01T12:30:00+02:00');
INSERT INTO snapshots VALUES ('t1', 's3', 3, '{}', 0, '2026-03-01T11:00:00Z');
INSERT INTO snapshots VALUES ('t2', 's4', 5, '{"n": 1.5}', 1, '2026-03-01T10:00:00.250000');
INSERT INTO usage_events VALUES ('e1', 't1', 'ag', 'c1', '{"tokens_in": 5, "tokens_out": 7, "duration_ms": 100, "api_calls": 1}', '2026-03-01T10:00:00+00:00');
INSERT INTO usage_events VALUES ('e2', 't1', 'ag', 'c2', '{"tokens_in":1,"tokens_out":2,"duration_ms":3,"api_calls":4}', '2026-03-01T11:00:00Z');
INSERT INTO usage_events VALUES ('e3', 't2', 'ag', 'c1', '{"tokens_in":0,"tokens_out":0,"duration_ms":0,"api_calls":0}', '2026-03-01T10:30:00.5+00:00');
INSERT INTO usage_events VALUES ('e4', 't2', 'other', 'c1', '{"tokens_in":9,"tokens_out":9,"duration_ms":9,"api_calls":9}', '2026-03-01T10:30:00+00:00');
`);
    const header = fs.readFileSync(file);
    assert.equal(header[18], 1, "rollback-journal mode (header byte 18)");
    assert.equal(header[19], 1, "rollback-journal mode (header byte 19)");

    const db = await SqliteStateDb.open({ path: file });
    const s = db.snapshots;
    const m = db.metering;
    assert.deepEqual(s.listVersions("t1"), [1, 2, 3]);
    assert.deepEqual(s.get("t1", 1), { id: "s1", task_id: "t1", version: 1, data: { a: 1, b: [true, null, "x"], u: "é" }, checkpoint: false, created_at: "2026-03-01T10:00:00+00:00" });
    // Z, other offsets and offset-less text are read as UTC instants and printed the reference's way.
    assert.deepEqual(s.get("t1", 2), { id: "s2", task_id: "t1", version: 2, data: { a: 2 }, checkpoint: true, created_at: "2026-03-01T10:30:00+00:00" });
    assert.equal(s.get("t1", 3).created_at, "2026-03-01T11:00:00+00:00");
    assert.deepEqual(s.get("t2"), { id: "s4", task_id: "t2", version: 5, data: { n: 1.5 }, checkpoint: true, created_at: "2026-03-01T10:00:00.250000+00:00" });
    assert.deepEqual(s.get("t1"), s.get("t1", 3));
    assert.deepEqual(s.listTasks().map((t) => [t.task_id, t.versions, t.latest_version, t.checkpoints]), [["t1", 3, 3, 1], ["t2", 1, 5, 1]]);
    const got = m.query("ag", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z");
    assert.deepEqual(got.map((e) => e.id), ["e1", "e3", "e2"]);
    assert.deepEqual(got[0], { id: "e1", task_id: "t1", agent_id: "ag", consumer_id: "c1", metrics: { tokens_in: 5, tokens_out: 7, duration_ms: 100, api_calls: 1 }, timestamp: "2026-03-01T10:00:00+00:00" });
    assert.equal(got[1].timestamp, "2026-03-01T10:30:00.500000+00:00");
    assert.equal(got[2].timestamp, "2026-03-01T11:00:00+00:00");
    assert.deepEqual(m.aggregate("ag", "all"), { agent_id: "ag", period: "all", total_tokens: 15, total_duration: 103, total_tasks: 3, total_api_calls: 5 });
    assert.deepEqual(m.agents(), ["ag", "other"]);
    // And it takes new writes, which sqlite3 then reads.
    s.save({ id: "s5", task_id: "t1", data: { added: true }, created_at: "2026-03-02T00:00:00Z" });
    m.record({ id: "e5", task_id: "t1", agent_id: "ag", consumer_id: "c1", metrics: { api_calls: 2 }, timestamp: "2026-03-02T00:00:00Z" });
    db.close();
    assert.equal(integrity(file), "ok");
    assert.deepEqual(sqlite3(file, "SELECT task_id, version, checkpoint, created_at FROM snapshots WHERE id = 's5';", { json: true }), [
      { task_id: "t1", version: 4, checkpoint: 0, created_at: "2026-03-02T00:00:00+00:00" },
    ]);
    assert.deepEqual(JSON.parse(sqlite3(file, "SELECT data FROM snapshots WHERE id = 's5';", { json: true })[0].data), { added: true });
    assert.deepEqual(sqlite3(file, "SELECT metrics FROM usage_events WHERE id = 'e5';", { json: true }), [{ metrics: '{"tokens_in":0,"tokens_out":0,"duration_ms":0,"api_calls":2}' }]);
    assert.equal(sqlite3(file, "SELECT count(*) AS n FROM usage_events;", { json: true })[0].n, 5);
  });

  test("a zero-length file by path is a fresh empty database (by design)", { skip: NO_SQLITE3 }, async () => {
    const dir = tempDir("zero-length-file");
    const file = writeCopy(dir, "empty.db", new Uint8Array(0));
    const db = await SqliteStateDb.open({ path: file });
    assert.deepEqual(db.snapshots.listTasks(), []);
    assert.deepEqual(db.metering.agents(), []);
    db.snapshots.save({ id: "s", task_id: "t", data: { k: 1 }, created_at: "2026-03-01T00:00:00Z" });
    db.close();
    assert.equal(integrity(file), "ok");
    assert.deepEqual(sqlite3(file, "PRAGMA table_info(snapshots);", { json: true }), SNAPSHOTS_COLUMNS);
    assert.deepEqual(sqlite3(file, "SELECT task_id, id, version, checkpoint, created_at FROM snapshots;", { json: true }), [
      { task_id: "t", id: "s", version: 1, checkpoint: 0, created_at: "2026-03-01T00:00:00+00:00" },
    ]);
  });

  test("a path that cannot be a database file: STORAGE_IO, and nothing is created", async () => {
    const dir = tempDir("io");
    await rejectsCode(() => SqliteStateDb.open({ path: dir }), "STORAGE_IO");
    await rejectsCode(() => SqliteStateDb.open({ path: path.join(dir, "no-such-dir", "x.db") }), "STORAGE_IO");
    assert.deepEqual(fs.readdirSync(dir), []);
    await assertStillWorks();
  });
});

// ---- 4. handles ------------------------------------------------------------------------------

describe("handles", () => {
  test("opens of one path (however spelled) share one database; close() of one leaves the others working", async () => {
    const dir = tempDir("share");
    const file = path.join(dir, "shared.db");
    const a = await SqliteStateDb.open({ path: file });
    const b = await SqliteStateDb.open({ path: path.join(dir, "..", path.basename(dir), ".", "shared.db") });
    assert.ok(b !== a);
    const c = await SqliteStateDb.open({ path: path.relative(process.cwd(), file) });
    fs.symlinkSync(file, path.join(dir, "link.db"));
    const d = await SqliteStateDb.open({ path: path.join(dir, "link.db") });

    const snap = a.snapshots.save({ task_id: "t", data: { by: "a" } });
    assert.deepEqual(b.snapshots.get("t"), snap, "a write through one handle is visible through another");
    assert.deepEqual(c.snapshots.get("t"), snap);
    assert.deepEqual(d.snapshots.get("t"), snap);
    const ev = b.metering.record({ task_id: "t", agent_id: "ag", consumer_id: "c", metrics: { tokens_in: 3 }, timestamp: "2026-03-01T00:00:00Z" });
    assert.deepEqual(a.metering.query("ag", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"), [ev]);
    // Auto-versioning is shared too.
    assert.equal(c.snapshots.save({ task_id: "t", data: { by: "c" } }).version, 2);
    assert.deepEqual(a.snapshots.listVersions("t"), [1, 2]);

    const aSnaps = a.snapshots;
    const aMeter = a.metering;
    a.close();
    throwsCode(() => aSnaps.get("t"), "CLOSED");
    throwsCode(() => aSnaps.save({ task_id: "t", data: { by: "closed" } }), "CLOSED");
    throwsCode(() => aSnaps.listTasks(), "CLOSED");
    throwsCode(() => aSnaps.listVersions("t"), "CLOSED");
    throwsCode(() => aSnaps.delete("t"), "CLOSED");
    throwsCode(() => aMeter.record({ task_id: "t", agent_id: "ag", consumer_id: "c" }), "CLOSED");
    throwsCode(() => aMeter.query("ag", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"), "CLOSED");
    throwsCode(() => aMeter.aggregate("ag", "all"), "CLOSED");
    throwsCode(() => aMeter.agents(), "CLOSED");
    throwsCode(() => a.snapshots.get("t"), "CLOSED");
    throwsCode(() => a.exportBytes(), "CLOSED");
    a.close(); // twice: harmless
    a.close();

    // The other handles still work and see everything (and nothing of the refused calls).
    assert.deepEqual(b.snapshots.listVersions("t"), [1, 2]);
    b.snapshots.save({ task_id: "t", data: { by: "b" } });
    assert.deepEqual(d.snapshots.listVersions("t"), [1, 2, 3]);
    assert.deepEqual(d.metering.agents(), ["ag"]);
    assert.equal(b.exportBytes().length % PAGE, 0);
    b.close();
    c.close();
    assert.equal(d.snapshots.get("t").data.by, "b");
    d.close();
    d.close();
    throwsCode(() => d.exportBytes(), "CLOSED");

    // All handles closed: a new open reads the file again.
    const e = await SqliteStateDb.open({ path: file });
    assert.deepEqual(e.snapshots.listVersions("t"), [1, 2, 3]);
    assert.deepEqual(e.metering.query("ag", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"), [ev]);
    e.close();
  });

  test("an in-memory database: close() makes every call throw CLOSED; close() twice is harmless", async () => {
    const db = await SqliteStateDb.open();
    const s = db.snapshots;
    const m = db.metering;
    s.save({ task_id: "t", data: {} });
    db.close();
    throwsCode(() => s.get("t"), "CLOSED");
    throwsCode(() => s.prune("t", { keepLast: 1 }), "CLOSED");
    throwsCode(() => m.export("json"), "CLOSED");
    throwsCode(() => m.series("a", { bucket: "day", start: 0, end: 1 }), "CLOSED");
    throwsCode(() => db.exportBytes(), "CLOSED");
    db.close();
    await assertStillWorks();
  });

  test("two images opened from the same bytes are independent", async () => {
    const first = await SqliteStateDb.open();
    first.snapshots.save({ task_id: "t", data: { v: 1 } });
    const bytes = first.exportBytes();
    first.close();
    const x = await SqliteStateDb.open({ bytes });
    const y = await SqliteStateDb.open({ bytes });
    x.snapshots.save({ task_id: "t", data: { v: 2 } });
    assert.deepEqual(x.snapshots.listVersions("t"), [1, 2]);
    assert.deepEqual(y.snapshots.listVersions("t"), [1]);
    x.close();
    y.close();
  });
});

// ---- 5. factories ---------------------------------------------------------------------------

describe("createSnapshotStore / createMeteringStore", () => {
  test("{} and an undefined backend give the memory stores", async () => {
    const s = await createSnapshotStore({});
    const m = await createMeteringStore({});
    assert.equal(s.constructor.name, "MemorySnapshotStore");
    assert.equal(m.constructor.name, "MemoryMeteringStore");
    assert.ok(s instanceof MemorySnapshotStore);
    assert.ok(m instanceof MemoryMeteringStore);
    assert.equal((await createSnapshotStore({ ASAP_STORAGE_BACKEND: undefined })).constructor.name, "MemorySnapshotStore");
    assert.equal((await createSnapshotStore({ ASAP_STORAGE_BACKEND: " Memory\n" })).constructor.name, "MemorySnapshotStore");
  });

  test('"  SQLite " on a path: the two factories\' stores share one database file', { skip: NO_SQLITE3 }, async () => {
    const dir = tempDir("factory");
    const file = path.join(dir, "factory.db");
    const s = await createSnapshotStore({ ASAP_STORAGE_BACKEND: "  SQLite ", ASAP_STORAGE_PATH: file });
    // The reference strips the path too.
    const m = await createMeteringStore({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: `  ${file}\t` });
    assert.equal(s.constructor.name, "SqliteSnapshotStore");
    assert.equal(m.constructor.name, "SqliteMeteringStore");
    assert.ok(fs.existsSync(file), "the file exists");
    const snap = s.save({ task_id: "t", data: { from: "factory" } });
    const ev = m.record({ task_id: "t", agent_id: "ag", consumer_id: "c", metrics: { tokens_in: 2 }, timestamp: "2026-03-01T00:00:00Z" });
    // A second factory store on the path joins the same database.
    const s2 = await createSnapshotStore({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: path.join(dir, ".", "factory.db") });
    assert.deepEqual(s2.get("t"), snap);

    // One file: an explicit handle on the path sees both tables' rows.
    const db = await SqliteStateDb.open({ path: file });
    assert.deepEqual(db.snapshots.get("t"), snap);
    assert.deepEqual(db.metering.query("ag", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"), [ev]);
    const image = writeCopy(dir, "image.db", db.exportBytes());
    db.close();
    assert.equal(integrity(image), "ok");
    assert.deepEqual(sqlite3(image, "SELECT (SELECT count(*) FROM snapshots) AS s, (SELECT count(*) FROM usage_events) AS e;", { json: true }), [{ s: 1, e: 1 }]);
    // Closing that handle leaves the factory stores working.
    assert.equal(s.save({ task_id: "t", data: {} }).version, 2);
    assert.deepEqual(m.agents(), ["ag"]);
    assert.deepEqual(s2.listVersions("t"), [1, 2]);
  });

  test("unknown backends reject with UNKNOWN_BACKEND and the reference's exact message", async () => {
    for (const create of [createSnapshotStore, createMeteringStore]) {
      const e = await rejectsCode(() => create({ ASAP_STORAGE_BACKEND: "redis" }), "UNKNOWN_BACKEND");
      assert.equal(e.message, "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
      const e2 = await rejectsCode(() => create({ ASAP_STORAGE_BACKEND: "" }), "UNKNOWN_BACKEND");
      assert.equal(e2.message, "Unknown ASAP_STORAGE_BACKEND=''. Use 'memory' or 'sqlite'.");
      // The value in the message is the normalised one, like the reference.
      const e3 = await rejectsCode(() => create({ ASAP_STORAGE_BACKEND: "  Redis " }), "UNKNOWN_BACKEND");
      assert.equal(e3.message, "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
    }
  });

  test("without an argument the factories read process.env", async () => {
    const dir = tempDir("process-env");
    const file = path.join(dir, "env.db");
    const saved = { backend: process.env.ASAP_STORAGE_BACKEND, path: process.env.ASAP_STORAGE_PATH };
    const restore = () => {
      for (const [k, v] of [["ASAP_STORAGE_BACKEND", saved.backend], ["ASAP_STORAGE_PATH", saved.path]]) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
    try {
      process.env.ASAP_STORAGE_BACKEND = " sqlite";
      process.env.ASAP_STORAGE_PATH = file;
      const s = await createSnapshotStore();
      const m = await createMeteringStore();
      assert.equal(s.constructor.name, "SqliteSnapshotStore");
      assert.equal(m.constructor.name, "SqliteMeteringStore");
      const snap = s.save({ task_id: "t", data: { env: true } });
      const db = await SqliteStateDb.open({ path: file });
      assert.deepEqual(db.snapshots.get("t"), snap);
      db.close();

      process.env.ASAP_STORAGE_BACKEND = "redis";
      const e = await rejectsCode(() => createSnapshotStore(), "UNKNOWN_BACKEND");
      assert.equal(e.message, "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
      await rejectsCode(() => createMeteringStore(), "UNKNOWN_BACKEND");

      delete process.env.ASAP_STORAGE_BACKEND;
      delete process.env.ASAP_STORAGE_PATH;
      assert.equal((await createSnapshotStore()).constructor.name, "MemorySnapshotStore");
      assert.equal((await createMeteringStore()).constructor.name, "MemoryMeteringStore");
    } finally {
      restore();
    }
  });

  test("sqlite without ASAP_STORAGE_PATH uses asap_state.db in the current directory", async () => {
    const dir = tempDir("default-path");
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      const s = await createSnapshotStore({ ASAP_STORAGE_BACKEND: "sqlite" });
      assert.equal(s.constructor.name, "SqliteSnapshotStore");
      s.save({ task_id: "t", data: {} });
    } finally {
      process.chdir(cwd);
    }
    assert.ok(fs.existsSync(path.join(dir, "asap_state.db")), `files: ${fs.readdirSync(dir)}`);
    const db = await SqliteStateDb.open({ path: path.join(dir, "asap_state.db") });
    assert.deepEqual(db.snapshots.listVersions("t"), [1]);
    db.close();
  });

  test('"asap-state/memory": no SqliteStateDb, and its factories reject sqlite with STORAGE_IO', async () => {
    assert.equal(memoryEntry.SqliteStateDb, undefined);
    assert.equal(memoryEntry.SqliteSnapshotStore, undefined);
    assert.equal(memoryEntry.SqliteMeteringStore, undefined);
    assert.equal(memoryEntry.StateError, StateError);
    assert.equal((await memoryEntry.createSnapshotStore({})).constructor.name, "MemorySnapshotStore");
    assert.equal((await memoryEntry.createMeteringStore({})).constructor.name, "MemoryMeteringStore");
    const dir = tempDir("memory-entry");
    const file = path.join(dir, "never.db");
    for (const create of [memoryEntry.createSnapshotStore, memoryEntry.createMeteringStore]) {
      const e = await rejectsCode(() => create({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: file }), "STORAGE_IO");
      assert.match(e.message, /asap-state/);
      const u = await rejectsCode(() => create({ ASAP_STORAGE_BACKEND: "redis" }), "UNKNOWN_BACKEND");
      assert.equal(u.message, "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
    }
    assert.deepEqual(fs.readdirSync(dir), [], "the memory entry created no file");
  });
});

// ---- 6. bad files and bad options -----------------------------------------------------------

// Files made by sqlite3, built once on first use.
let cliFiles;
function cliFile(name) {
  if (cliFiles === undefined) {
    const dir = tempDir("cli-files");
    cliFiles = {
      otherTables: fs.readFileSync(sqlite3File(dir, "other.db", "CREATE TABLE foo (a, b); INSERT INTO foo VALUES (1, 2); CREATE TABLE bar (x TEXT);")),
      snapshotsOtherColumns: fs.readFileSync(sqlite3File(dir, "snapcols.db", `
CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (task_id, version));
INSERT INTO snapshots VALUES ('t', 'i', 1, '{}');`)),
      usageOtherColumns: fs.readFileSync(sqlite3File(dir, "usagecols.db", `
${SCHEMA_SQL.split("CREATE TABLE usage_events")[0]}
CREATE TABLE usage_events (id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, tokens INTEGER NOT NULL, timestamp TEXT NOT NULL);`)),
    };
  }
  return cliFiles[name];
}

const walFixture = () => fixture("state-wal.db");
const rollbackFixture = () => fixture("state-rollback.db");

// [name, bytes(), code, needs, todoByPath]
const BAD_FILES = [
  ["random bytes (8 KiB)", () => randomBytes(8192, 7), "CORRUPT_DATABASE"],
  ["the SQLite magic followed by random bytes", () => {
    const b = randomBytes(3 * PAGE, 11);
    b.set(asciiBytes(MAGIC));
    return b;
  }, "CORRUPT_DATABASE"],
  ["zero-length bytes", () => new Uint8Array(0), "CORRUPT_DATABASE", null, "by-design: a zero-length file by path is a fresh database"],
  ["an HTML page", () => asciiBytes("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n".repeat(50)), "CORRUPT_DATABASE"],
  ["a truncated fixture (mid-page)", () => walFixture().subarray(0, 5 * PAGE + 1234), "CORRUPT_DATABASE", "fixtures"],
  ["a truncated fixture (at a page boundary)", () => walFixture().subarray(0, 16 * PAGE), "CORRUPT_DATABASE", "fixtures"],
  ["a truncated rollback-mode fixture (at a page boundary)", () => rollbackFixture().subarray(0, 20 * PAGE), "CORRUPT_DATABASE", "fixtures"],
  ["the fixture cut to its 100-byte header", () => walFixture().subarray(0, 100), "CORRUPT_DATABASE", "fixtures"],
  ["a fixture whose header has an impossible page size", () => {
    const b = Buffer.from(walFixture());
    b[16] = 0x03;
    b[17] = 0x00; // 768: not a power of two
    return b;
  }, "CORRUPT_DATABASE", "fixtures"],
  ["a SQLite file with other tables only", () => cliFile("otherTables"), "SCHEMA_MISMATCH", "sqlite3"],
  ["a SQLite file whose snapshots table has other columns", () => cliFile("snapshotsOtherColumns"), "SCHEMA_MISMATCH", "sqlite3"],
  ["a SQLite file whose usage_events table has other columns", () => cliFile("usageOtherColumns"), "SCHEMA_MISMATCH", "sqlite3"],
];
const skipFor = (needs) => (needs === "fixtures" ? NO_FIXTURES : needs === "sqlite3" ? NO_SQLITE3 : false);

describe("bad files: open({ bytes })", () => {
  for (const [name, make, code, needs] of BAD_FILES) {
    test(`${name} → ${code}; the input is unchanged; the instance still works`, { skip: skipFor(needs) }, async () => {
      const input = make();
      const before = sha(input);
      await rejectsCode(() => SqliteStateDb.open({ bytes: input }), code);
      assert.equal(sha(input), before, "the input buffer changed");
      // As an ArrayBuffer too.
      const ab = input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength);
      await rejectsCode(() => SqliteStateDb.open({ bytes: ab }), code);
      assert.equal(sha(ab), before);
      await assertStillWorks();
    });
  }

  test("damaged b-tree pages of state-wal.db (every page 2..N, two places each) → CORRUPT_DATABASE", { skip: NO_FIXTURES || NO_SQLITE3 }, async () => {
    const wal = walFixture();
    const pages = wal.length / PAGE;
    const dir = tempDir("damaged-bytes");
    let damaged = 0;
    let acceptedBySqlite3 = 0;
    for (let page = 2; page <= pages; page++) {
      // 8: the cell-pointer array right after a leaf page's header; PAGE - 100: the cell contents.
      for (const offset of [8, PAGE - 100]) {
        const bytes = Buffer.from(wal);
        for (let i = 0; i < 16; i++) bytes[(page - 1) * PAGE + offset + i] ^= 0xa5;
        // The premise: sqlite3 itself finds the damage (else the variant proves nothing).
        const probe = writeCopy(dir, "probe.db", bytes);
        let verdict;
        const r = spawnSync(SQLITE3, [probe, "PRAGMA integrity_check;"], { encoding: "utf8", timeout: 20_000 });
        verdict = r.status === 0 ? r.stdout.trim() : `error: ${r.stderr.trim()}`;
        for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
        if (verdict === "ok") {
          acceptedBySqlite3++;
          continue;
        }
        damaged++;
        const before = sha(bytes);
        await rejectsCode(() => SqliteStateDb.open({ bytes }), "CORRUPT_DATABASE").catch((e) => {
          throw new Error(`page ${page} offset ${offset} (sqlite3: ${verdict.split("\n")[0]}): ${e.message}`);
        });
        assert.equal(sha(bytes), before);
      }
    }
    console.log(`damaged pages of state-wal.db: ${damaged} variants sqlite3 rejects, all CORRUPT_DATABASE (${acceptedBySqlite3} variants sqlite3 accepts were not asserted)`);
    assert.ok(damaged >= pages - 1, `only ${damaged} damaged variants (${acceptedBySqlite3} were accepted by sqlite3)`);
    await assertStillWorks();
  });
});

describe("bad files: open({ path }) of temp-file copies", () => {
  for (const [name, make, code, needs, note] of BAD_FILES) {
    if (note?.startsWith("by-design")) continue;
    const todo = note?.startsWith("bug") ? note : undefined;
    test(`${name} → ${code}; the file is unchanged and nothing is left beside it`, { skip: skipFor(needs), todo }, async () => {
      const dir = tempDir("bad-path");
      const file = writeCopy(dir, "bad.db", make());
      const before = sha(fs.readFileSync(file));
      await rejectsCode(() => SqliteStateDb.open({ path: file }), code);
      // A failed open is not remembered: the same error again (not a shared half-open database).
      await rejectsCode(() => SqliteStateDb.open({ path: file }), code);
      await assertStillWorks();
      const after = fs.readFileSync(file);
      assert.equal(sha(after), before, `the file changed (header bytes 18-19 now ${after[18]},${after[19]})`);
      assert.deepEqual(fs.readdirSync(dir), ["bad.db"], "files beside the database");
    });
  }

  test("damaged pages by path (every page 2..N of a copy of state-wal.db) → CORRUPT_DATABASE, file unchanged", { skip: NO_FIXTURES }, async () => {
    const wal = walFixture();
    const pages = wal.length / PAGE;
    const dir = tempDir("damaged-path");
    for (let page = 2; page <= pages; page++) {
      const bytes = Buffer.from(wal);
      for (let i = 0; i < 16; i++) bytes[(page - 1) * PAGE + 8 + i] ^= 0xa5;
      const file = writeCopy(dir, `page-${page}.db`, bytes);
      await rejectsCode(() => SqliteStateDb.open({ path: file }), "CORRUPT_DATABASE");
      assert.equal(sha(fs.readFileSync(file)), sha(bytes), `page ${page}: the file changed`);
    }
    await assertStillWorks();
  });
});

describe("bad options", () => {
  const cases = [
    ["{ bytes: 'x' }", { bytes: "x" }, "bytes"],
    ["{ bytes: [1, 2, 3] }", { bytes: [1, 2, 3] }, "bytes"],
    ["{ bytes: null }", { bytes: null }, "bytes"],
    ["{ path: 5 }", { path: 5 }, "path"],
    ["{ path: '' }", { path: "" }, "path"],
    ["{ path: 'a', bytes: new Uint8Array() }", { path: "a", bytes: new Uint8Array() }, "path"],
    ["{ nope: 1 }", { nope: 1 }, "nope"],
    ["{ path: 'a', nope: 1 }", { path: "a", nope: 1 }, "nope"],
    ["a string", "state.db", "options"],
    ["an array", [], "options"],
  ];
  for (const [label, options, field] of cases) {
    test(`open(${label}) → INVALID_ARGUMENT naming ${field}`, async () => {
      const cwdFiles = fs.readdirSync(process.cwd());
      const bytesBefore = options?.bytes instanceof Uint8Array ? sha(options.bytes) : undefined;
      await rejectsCode(() => SqliteStateDb.open(options), "INVALID_ARGUMENT", field);
      if (bytesBefore !== undefined) assert.equal(sha(options.bytes), bytesBefore);
      assert.deepEqual(fs.readdirSync(process.cwd()), cwdFiles, "no file was created in the current directory");
      await assertStillWorks();
    });
  }

  test("{ path: undefined } and {} are a fresh image like no options", async () => {
    for (const options of [undefined, {}, { path: undefined }, { bytes: undefined }]) {
      const db = await SqliteStateDb.open(options);
      assert.deepEqual(db.snapshots.listTasks(), []);
      db.snapshots.save({ task_id: "t", data: {} });
      db.close();
    }
  });
});

// ---- 7. the same validation as the memory stores ----------------------------------------------

describe("the SQLite stores validate like the memory stores; a failed call changes nothing", () => {
  const FAR = { start: "2000-01-01T00:00:00Z", end: "2100-01-01T00:00:00Z" };
  // [name, call(snapshots, metering), code, message part]
  const cases = [
    ["save: version \"2\"", (s) => s.save({ task_id: "task_a", data: {}, version: "2" }), "INVALID_SNAPSHOT", "version"],
    ["save: version 1.5", (s) => s.save({ task_id: "task_a", data: {}, version: 1.5 }), "INVALID_SNAPSHOT", "version"],
    ["save: naive created_at", (s) => s.save({ task_id: "task_a", data: {}, created_at: "2026-03-01T10:00:00" }), "INVALID_TIMESTAMP", "created_at"],
    ["save: NaN inside data", (s) => s.save({ task_id: "task_a", data: { ok: 1, bad: [NaN] } }), "INVALID_SNAPSHOT", "data"],
    ["save: an unknown field", (s) => s.save({ task_id: "task_a", data: {}, extra: 1 }), "INVALID_SNAPSHOT", "extra"],
    ["save: empty task_id", (s) => s.save({ task_id: "", data: {} }), "INVALID_SNAPSHOT", "task_id"],
    ["save: expectedVersion behind the latest", (s) => s.save({ task_id: "task_a", data: { lost: true } }, { expectedVersion: 2 }), "VERSION_CONFLICT", "task_a"],
    ["save: expectedVersion null on an existing task", (s) => s.save({ task_id: "task_b", version: 99, data: {} }, { expectedVersion: null }), "VERSION_CONFLICT", "task_b"],
    ["get: version 0", (s) => s.get("task_a", 0), "INVALID_ARGUMENT", "version"],
    ["delete: version -1", (s) => s.delete("task_a", -1), "INVALID_ARGUMENT", "version"],
    ["prune: an empty policy", (s) => s.prune("task_a", {}), "INVALID_ARGUMENT", "policy"],
    ["record: negative tokens_in", (_, m) => m.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c", metrics: { tokens_in: -1 } }), "INVALID_EVENT", "tokens_in"],
    ["record: metrics \"5\"", (_, m) => m.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c", metrics: { api_calls: "5" } }), "INVALID_EVENT", "api_calls"],
    ["record: naive timestamp", (_, m) => m.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c", timestamp: "2026-03-01 10:00:00" }), "INVALID_TIMESTAMP", "timestamp"],
    ["record: missing consumer_id", (_, m) => m.record({ task_id: "t", agent_id: "agent_x" }), "INVALID_EVENT", "consumer_id"],
    ["query: negative offset", (_, m) => m.query("agent_x", FAR.start, FAR.end, { offset: -1 }), "INVALID_ARGUMENT", "offset must be non-negative"],
    ["query: limit 1.5", (_, m) => m.query("agent_x", FAR.start, FAR.end, { limit: 1.5 }), "INVALID_ARGUMENT", "limit"],
    ["query: naive start", (_, m) => m.query("agent_x", "2026-03-01T00:00:00", FAR.end), "INVALID_TIMESTAMP", "start"],
    ["aggregate: bad window", (_, m) => m.aggregate("agent_x", "all", { start: "yesterday" }), "INVALID_TIMESTAMP", "start"],
    ["series: bucket week", (_, m) => m.series("agent_x", { bucket: "week", start: FAR.start, end: FAR.end }), "INVALID_ARGUMENT", "bucket"],
    ["export: xml", (_, m) => m.export("xml"), "INVALID_ARGUMENT", "format"],
  ];

  for (const [name, call, code, part] of cases) {
    test(`${name} → ${code}`, async () => {
      const memS = new MemorySnapshotStore();
      const memM = new MemoryMeteringStore();
      const db = await SqliteStateDb.open();
      seed(memS, memM);
      seed(db.snapshots, db.metering);
      const before = dumpDb(db);
      assert.deepEqual(dumpStores(memS, memM), before, "both backends hold the same seed");

      const memErr = throwsCode(() => call(memS, memM), code, part);
      const sqlErr = throwsCode(() => call(db.snapshots, db.metering), code, part);
      assert.equal(sqlErr.message, memErr.message, "the same message as the memory store");

      assert.deepEqual(dumpDb(db), before, "the failed call changed the SQLite store");
      assert.deepEqual(dumpStores(memS, memM), before, "the failed call changed the memory store");
      // And the store still works.
      assert.equal(db.snapshots.save({ task_id: "task_a", data: { after: true } }).version, 6);
      assert.equal(db.metering.record({ task_id: "t", agent_id: "agent_x", consumer_id: "c" }).agent_id, "agent_x");
      db.close();
    });
  }

  test("a conflicting save through one handle changes nothing seen through another handle of the file", async () => {
    const dir = tempDir("conflict");
    const file = path.join(dir, "c.db");
    const a = await SqliteStateDb.open({ path: file });
    const b = await SqliteStateDb.open({ path: file });
    a.snapshots.save({ task_id: "t", data: { v: 1 } }, { expectedVersion: null });
    throwsCode(() => b.snapshots.save({ task_id: "t", data: { v: "b" } }, { expectedVersion: 0 }), "VERSION_CONFLICT");
    throwsCode(() => b.snapshots.save({ task_id: "t", data: { v: "b" } }, { expectedVersion: 2 }), "VERSION_CONFLICT");
    assert.deepEqual(a.snapshots.listVersions("t"), [1]);
    assert.equal(b.snapshots.save({ task_id: "t", data: { v: 2 } }, { expectedVersion: 1 }).version, 2);
    assert.deepEqual(a.snapshots.get("t").data, { v: 2 });
    a.close();
    b.close();
  });
});
