// The Durable Objects backend ("asap-state/durable-object": DurableObjectStateDb on a Durable
// Object's own SQLite storage) — the JS contract cases (tests/js/contract/cases.mjs):
//  1. in Node, against the memory stores and SqliteStateDb (which shows the cases are right),
//     and against DurableObjectStateDb over a storage of a Durable Object's shape backed by
//     better-sqlite3 (the same C SQLite), which refuses BEGIN and values above 2 MB as the
//     platform does;
//  2. in real workerd (Miniflare from the installed wrangler, SQLite-backed objects persisted to
//     a temporary directory): a test worker bundled the way `wrangler deploy` bundles it runs
//     every case inside a Durable Object of its own, then the objects' tables are checked and
//     workerd is restarted on the same directory to see nothing acknowledged was lost.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { MemorySnapshotStore, MemoryMeteringStore, SqliteStateDb, StateError, mergeStateImages } from "asap-state";
import * as durableObject from "asap-state/durable-object";
import { cases, mixedText } from "./contract/cases.mjs";
import { readWithReference, wranglerDryRun } from "./helpers.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURE = join(REPO, "tests/js/fixtures/durable-object/index.js");
const COMPAT_DATE = "2025-01-01";
const Database = createRequire(join(REPO, "bench/package.json"))("better-sqlite3");

/** A Durable Object's storage API over better-sqlite3, with the platform's refusals. */
function sqliteStorage(db = new Database(":memory:")) {
  const LIMIT = 2_000_000;
  return {
    db,
    sql: {
      exec(sql, ...bindings) {
        if (/^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b/i.test(sql)) {
          throw new Error(`To execute a transaction, please use the state.storage.transaction() API instead of the SQL ${sql.trim().split(/\s/)[0]} statement.`);
        }
        if (bindings.length > 100) throw new Error("too many SQL variables");
        for (const b of bindings) {
          if (typeof b === "string" && Buffer.byteLength(b) > LIMIT) throw new Error("string or blob too big: SQLITE_TOOBIG");
        }
        const stmt = db.prepare(sql);
        if (stmt.reader) {
          const rows = stmt.raw(true).all(...bindings);
          return { raw: () => rows[Symbol.iterator](), rowsWritten: 0 };
        }
        const info = stmt.run(...bindings);
        return { raw: () => [][Symbol.iterator](), rowsWritten: info.changes };
      },
    },
    transactionSync(fn) {
      return db.transaction(fn)();
    },
  };
}

describe("the contract cases in Node", () => {
  const backends = {
    memory: () => ({ snapshots: new MemorySnapshotStore(), metering: new MemoryMeteringStore(), StateError }),
    "SqliteStateDb image": async () => {
      const db = await SqliteStateDb.open();
      return { snapshots: db.snapshots, metering: db.metering, StateError };
    },
    "DurableObjectStateDb over better-sqlite3": () => {
      const db = durableObject.DurableObjectStateDb.open(sqliteStorage());
      return { snapshots: db.snapshots, metering: db.metering, StateError: durableObject.StateError };
    },
  };
  for (const [backend, make] of Object.entries(backends)) {
    for (const c of cases) {
      test(`${backend}: ${c.name}`, async () => c.run(await make(), assert));
    }
  }
});

describe("DurableObjectStateDb in Node", () => {
  test("the reference's tables, with the reference's DDL, in the object's storage; chunks only where needed", () => {
    const storage = sqliteStorage();
    const db = durableObject.DurableObjectStateDb.open(storage);
    const sql = storage.db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid").all();
    assert.deepEqual(sql.map((r) => r.name), ["snapshots", "usage_events", "idx_usage_agent_timestamp", "idx_usage_consumer_timestamp", "asap_snapshot_chunks"]);
    assert.equal(sql[0].sql, "CREATE TABLE snapshots (\n    task_id TEXT NOT NULL,\n    id TEXT NOT NULL,\n    version INTEGER NOT NULL,\n    data TEXT NOT NULL,\n    checkpoint INTEGER NOT NULL,\n    created_at TEXT NOT NULL,\n    PRIMARY KEY (task_id, version)\n)");
    const text = mixedText(3_000_000);
    db.snapshots.save({ task_id: "t", data: { text } });
    db.snapshots.save({ task_id: "t", data: { small: 1 } });
    const rows = storage.db.prepare("SELECT version, length(data) AS n FROM snapshots ORDER BY version").all();
    assert.deepEqual(rows, [{ version: 1, n: 0 }, { version: 2, n: 11 }]);
    const chunks = storage.db.prepare("SELECT seq, length(CAST(chunk AS BLOB)) AS bytes FROM asap_snapshot_chunks WHERE version = 1 ORDER BY seq").all();
    assert.equal(chunks.length, 3, "about 3 MB of data in chunks of at most 1 MiB");
    assert.ok(chunks.every((c) => c.bytes <= 1 << 20), JSON.stringify(chunks));
    assert.equal(db.snapshots.get("t", 1).data.text, text);
  });

  test("a storage without sql.exec / transactionSync is refused with INVALID_ARGUMENT", () => {
    for (const bad of [undefined, null, {}, { sql: {} }, { sql: { exec() {} } }]) {
      assert.throws(() => durableObject.DurableObjectStateDb.open(bad), (e) => e instanceof durableObject.StateError && e.code === "INVALID_ARGUMENT" && /new_sqlite_classes/.test(e.message));
    }
  });

  test("a write the storage refuses rolls back whole; close() makes calls throw CLOSED and keeps the data", () => {
    const storage = sqliteStorage();
    const db = durableObject.DurableObjectStateDb.open(storage);
    db.snapshots.save({ task_id: "t", data: { n: 1 } });
    const exec = storage.sql.exec;
    let calls = 0;
    storage.sql.exec = (sql, ...b) => {
      if (sql.startsWith("INSERT INTO asap_snapshot_chunks") && ++calls === 2) throw new Error("disk full");
      return exec(sql, ...b);
    };
    assert.throws(() => db.snapshots.save({ task_id: "t", data: { text: mixedText(2_500_000) } }), (e) => e.code === "STORAGE_IO" && /disk full/.test(e.message));
    storage.sql.exec = exec;
    assert.deepEqual(db.snapshots.listVersions("t"), [1]);
    assert.equal(storage.db.prepare("SELECT COUNT(*) AS n FROM asap_snapshot_chunks").get().n, 0, "the chunk written before the failure is gone too");
    db.close();
    assert.throws(() => db.snapshots.get("t"), (e) => e.code === "CLOSED");
    db.close();
    const again = durableObject.DurableObjectStateDb.open(storage);
    assert.deepEqual(again.snapshots.get("t").data, { n: 1 });
  });
});

describe("the host connection's rows", () => {
  test("rows of text (every UTF-16 length), numbers and NULLs cross whole; a value the stores cannot read is STORAGE_IO, and the store works on", () => {
    const storage = sqliteStorage();
    const db = durableObject.DurableObjectStateDb.open(storage);
    // Many rows at once, ids and data mixing 1-, 2-, 3- and 4-byte characters.
    const ids = Array.from({ length: 300 }, (_, i) => `task-${i}-${mixedText(i % 37)}`);
    for (const [i, id] of ids.entries()) db.snapshots.save({ task_id: id, data: { i, text: mixedText(i * 3) } });
    assert.deepEqual(db.snapshots.listTasks().map((t) => t.task_id).sort(), [...ids].sort());
    for (const [i, id] of ids.entries()) assert.deepEqual(db.snapshots.get(id).data, { i, text: mixedText(i * 3) });
    const exec = storage.sql.exec;
    storage.sql.exec = (sql, ...b) => {
      const cursor = exec(sql, ...b);
      if (!sql.startsWith("SELECT")) return cursor;
      const rows = [...cursor.raw()].map((r) => r.map((v) => (typeof v === "number" ? BigInt(v) : v)));
      return { raw: () => rows[Symbol.iterator](), rowsWritten: 0 };
    };
    assert.throws(() => db.snapshots.get(ids[5]), (e) => e instanceof durableObject.StateError && e.code === "STORAGE_IO" && /bigint/.test(e.message));
    storage.sql.exec = exec;
    assert.deepEqual(db.snapshots.get(ids[5]).data, { i: 5, text: mixedText(15) });
  });
});

describe("exportBytes and mergeStateImages", () => {
  test("an object's export is a SQLite file with the reference's tables, chunked data whole; merged exports hold every row once", async () => {
    const one = durableObject.DurableObjectStateDb.open(sqliteStorage());
    const two = durableObject.DurableObjectStateDb.open(sqliteStorage());
    const text = mixedText(2_500_000);
    one.snapshots.save({ task_id: "a", data: { text } });
    one.snapshots.save({ task_id: "a", data: { n: 2 }, checkpoint: true });
    one.metering.record({ id: "e1", task_id: "a", agent_id: "agent", consumer_id: "c", timestamp: "2026-01-01T00:00:00Z" });
    two.snapshots.save({ task_id: "b", data: { n: 1 } });
    two.metering.record({ id: "e2", task_id: "b", agent_id: "agent", consumer_id: "c", timestamp: "2026-01-01T00:00:00Z" });
    const [a, b] = [one.exportBytes(), two.exportBytes()];
    assert.ok(a instanceof Uint8Array && a.length % 4096 === 0);
    const fromA = await SqliteStateDb.open({ bytes: a });
    assert.equal(fromA.snapshots.get("a", 1).data.text, text);
    fromA.close();
    const merged = durableObject.mergeStateImages([a, b]);
    const db = await SqliteStateDb.open({ bytes: merged });
    assert.deepEqual(db.snapshots.listTasks().map((t) => [t.task_id, t.versions, t.checkpoints]), [["a", 2, 1], ["b", 1, 0]]);
    assert.deepEqual(db.snapshots.get("a"), one.snapshots.get("a"));
    assert.deepEqual(db.metering.query("agent", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z").map((e) => e.id), ["e1", "e2"], "ties in image order");
    db.close();
    // The full entry writes the same file from the same rows.
    assert.deepEqual(mergeStateImages([a, b]), merged);
    // Two owners' images with the same task ids: prefixed, both kept, nothing else changed.
    const three = durableObject.DurableObjectStateDb.open(sqliteStorage());
    three.snapshots.save({ task_id: "b", data: { n: 3 } });
    three.metering.record({ id: "e3", task_id: "b", agent_id: "agent", consumer_id: "c", timestamp: "2026-01-01T00:00:00Z" });
    assert.throws(() => durableObject.mergeStateImages([b, three.exportBytes()]), (e) => e.code === "INVALID_ARGUMENT", "unprefixed, the two b's collide");
    const both = await SqliteStateDb.open({ bytes: durableObject.mergeStateImages([{ bytes: b, taskIdPrefix: "alice/" }, { bytes: three.exportBytes(), taskIdPrefix: "bob/" }]) });
    assert.deepEqual(both.snapshots.listTasks().map((t) => t.task_id), ["alice/b", "bob/b"]);
    assert.deepEqual(both.snapshots.get("alice/b").data, { n: 1 });
    assert.deepEqual(both.snapshots.get("bob/b").data, { n: 3 });
    assert.deepEqual(both.metering.query("agent", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z").map((e) => e.task_id), ["alice/b", "bob/b"]);
    both.close();
    assert.deepEqual(durableObject.mergeStateImages([{ bytes: a }, b]), merged, "no prefix: as given");
    for (const [bad, code] of [[[a, a], "INVALID_ARGUMENT"], [[new Uint8Array(4096)], "CORRUPT_DATABASE"], ["x", "INVALID_ARGUMENT"], [[a, "b"], "INVALID_ARGUMENT"], [[{ bytes: "b" }], "INVALID_ARGUMENT"], [[{ bytes: b, taskIdPrefix: 7 }], "INVALID_ARGUMENT"]]) {
      assert.throws(() => durableObject.mergeStateImages(bad), (e) => e instanceof durableObject.StateError && e.code === code, String(code));
    }
  });
});

// ---- in workerd ------------------------------------------------------------------------------

let tmp;
let outDir;
let persist;
let mf;

function start() {
  return new Miniflare({
    modules: true,
    scriptPath: join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: COMPAT_DATE,
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: { CONTRACT: { className: "ContractObject", useSQLite: true } },
    durableObjectsPersist: persist,
    host: "127.0.0.1",
    port: 0,
  });
}

async function call(path, body) {
  const init = body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } };
  const res = await mf.dispatchFetch(`http://localhost${path}`, init);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

describe("DurableObjectStateDb in workerd", () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "asap-state-do-"));
    outDir = join(tmp, "out");
    persist = join(tmp, "do");
    const config = join(tmp, "wrangler.json");
    writeFileSync(config, JSON.stringify({
      name: "asap-state-do-test",
      main: FIXTURE,
      compatibility_date: COMPAT_DATE,
      compatibility_flags: ["nodejs_compat"],
      durable_objects: { bindings: [{ name: "CONTRACT", class_name: "ContractObject" }] },
      migrations: [{ tag: "v1", new_sqlite_classes: ["ContractObject"] }],
    }));
    wranglerDryRun(tmp, config, outDir);
    mf = start();
    await mf.ready;
  });

  after(async () => {
    try {
      await mf?.dispose();
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });

  test("every contract case passes inside a Durable Object of its own", async () => {
    const names = await call("/cases");
    assert.deepEqual(names, cases.map((c) => c.name), "the worker bundles the same cases");
    const failed = [];
    for (const name of names) {
      const r = await call(`/run?case=${encodeURIComponent(name)}`);
      if (!r.ok) failed.push(`${name}: ${r.error}`);
    }
    assert.deepEqual(failed, []);
  });

  test("the objects hold the reference's tables; a 31 MiB snapshot round-trips byte for byte in chunks", async () => {
    const tables = await call("/sql?object=big", { query: "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name" });
    assert.deepEqual(tables.map((r) => r[0]), ["asap_snapshot_chunks", "snapshots", "usage_events"]);
    const sizes = [1_500_000, 5_000_000, 31 * 1024 * 1024];
    for (const size of sizes) {
      const r = await call("/big?object=big", { size });
      const json = JSON.stringify({ text: mixedText(size) });
      assert.equal(r.bytes, Buffer.byteLength(json), `${size}: saved and read back ${r.bytes} bytes`);
      assert.equal(r.sha256, createHash("sha256").update(json).digest("hex"), `${size}: the data read back is the data saved`);
    }
    const chunks = await call("/sql?object=big", { query: "SELECT version, COUNT(*), MAX(length(CAST(chunk AS BLOB))) FROM asap_snapshot_chunks GROUP BY version ORDER BY version" });
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every(([, , max]) => max <= 1 << 20), JSON.stringify(chunks));
    assert.ok(chunks[2][1] >= 31, `31 MiB in ${chunks[2][1]} chunks`);
  });

  test("the object holding 1.5 MB, 5 MB and 31 MiB snapshots exports one SQLite file: sqlite3's integrity_check, the engine and the Python reference read them whole", async () => {
    const res = await mf.dispatchFetch("http://localhost/export?object=big");
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const dir = mkdtempSync(join(tmpdir(), "asap-do-big-export-"));
    try {
      const file = join(dir, "big.db");
      writeFileSync(file, bytes);
      const sqlite3 = spawnSync("sqlite3", [file, "PRAGMA integrity_check; SELECT version, length(CAST(data AS BLOB)) FROM snapshots ORDER BY version;"], { encoding: "utf8" });
      if (!sqlite3.error) {
        const lines = sqlite3.stdout.trim().split("\n");
        assert.equal(lines[0], "ok");
        const sizes = [1_500_000, 5_000_000, 31 * 1024 * 1024].map((n) => Buffer.byteLength(JSON.stringify({ text: mixedText(n) })));
        assert.deepEqual(lines.slice(1), sizes.map((n, i) => `${i + 1}|${n}`));
      }
      const db = await SqliteStateDb.open({ bytes });
      for (const [version, n] of [[1, 1_500_000], [2, 5_000_000], [3, 31 * 1024 * 1024]]) {
        assert.ok(db.snapshots.get("big", version).data.text === mixedText(n), `version ${version} read back whole`);
      }
      const theirs = readWithReference(file, { tasks: ["big"] });
      if (theirs) {
        assert.deepEqual(theirs.tasks.big.versions, [1, 2, 3]);
        for (const v of [1, 2, 3]) assert.ok(isDeepStrictEqual(theirs.tasks.big.each[String(v)], db.snapshots.get("big", v)), `the reference's version ${v}`);
      }
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nothing acknowledged is lost across workerd restarts", async () => {
    const acknowledged = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) {
        const r = await call("/save?object=restart", { task_id: "t", data: { round, i } });
        acknowledged.push(r.version);
      }
      await mf.dispose();
      mf = start();
      await mf.ready;
      const versions = await call("/versions?object=restart", { task_id: "t" });
      assert.deepEqual(versions, acknowledged);
    }
    assert.deepEqual(acknowledged, Array.from({ length: 15 }, (_, i) => i + 1));
  });
});
