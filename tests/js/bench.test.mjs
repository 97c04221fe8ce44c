// The benchmarks' smoke run (one small round of every part, as `make bench` runs them) and the
// harness's own checks: the statistics, and that a store giving a wrong answer fails the run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { median, stats, ratio } from "../../bench/lib/harness.mjs";
import { MapSnapshotStore, contractAdapter } from "../../bench/lib/snapshot-peers.mjs";
import { runSnapshotWorkload } from "../../bench/sections/memory.mjs";
import { payloads } from "../../bench/lib/data.mjs";
import { SCHEMA_SQL, SQL, SqlStatementStore, betterSqlite, isoMicros } from "../../bench/lib/sql-peers.mjs";
import { SqliteStateDb } from "asap-state";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));

test("statistics: median, spread and ratios", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.deepEqual(stats([2, 8, 4]), { median: 4, min: 2, max: 8, rounds: 3 });
  assert.equal(ratio({ median: 3 }, { median: 2 }), "1.50×");
  assert.equal(ratio({ median: 1 }, { median: 0 }), "–");
});

/**
 * The string constants of src/sql/schema.rs, evaluated: plain literals (with `\` line
 * continuations) and `concat!` of literals and the table macros' `columns` / `placeholders`.
 */
function rustStatements(source) {
  const tables = {};
  for (const m of source.matchAll(/table!\((\w+) = \w+\(([^;)]*)/g)) {
    const names = [...m[2].matchAll(/^\s*(\w+) "/gm)].map((c) => c[1]);
    tables[m[1]] = { columns: names.join(", "), placeholders: names.map(() => "?").join(", ") };
  }
  const literal = (t) => JSON.parse(`"${t.replace(/\\\n\s*/g, "")}"`);
  const consts = {};
  for (const m of source.matchAll(/pub const (\w+): &str =\s*(concat!\(([\s\S]*?)\);|"((?:[^"\\]|\\.)*)";|(\w+!\(\w+\));)/g)) {
    if (m[4] !== undefined) {
      consts[m[1]] = literal(m[4]);
      continue;
    }
    consts[m[1]] = [...(m[3] ?? m[5]).matchAll(/"((?:[^"\\]|\\.)*)"|(\w+)!\((\w+)\)/g)]
      .map((p) => (p[1] !== undefined ? literal(p[1]) : tables[p[2]][p[3]]))
      .join("");
  }
  return consts;
}

test("the SQL peers create the tables asap-state creates", async () => {
  // Each CREATE of the peers' script is one that asap-state left in a file.
  // (A file: the image is in WAL mode, which SQLite cannot open from bytes.)
  const db = await SqliteStateDb.open();
  const dir = mkdtempSync(join(tmpdir(), "asap-bench-schema-"));
  let stored;
  try {
    const path = join(dir, "x.db");
    (await import("node:fs")).writeFileSync(path, db.exportBytes());
    const peer = betterSqlite(path);
    stored = peer.db.prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid").all().map((r) => r.sql);
    peer.db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    db.close();
  }
  // The same statements, up to spacing (the engine stores its own rendering of the SQL it ran;
  // src/sql/schema.rs's text is the reference's to the byte, as tests/host_connection.rs checks).
  const norm = (t) => t.replace(" IF NOT EXISTS", "").replace(/\s+/g, " ").replace(/\( /g, "(").replace(/ \)/g, ")").trim();
  const ours = SCHEMA_SQL.split(";").map((s) => s.trim()).filter(Boolean);
  assert.deepEqual(stored.map(norm), ours.map(norm));
});

test("the SQL peers run asap-state's own statements", () => {
  const norm = (t) => t.replace(/\s+/g, " ").trim();
  const schema = rustStatements(readFileSync(join(REPO, "src/sql/schema.rs"), "utf8"));
  assert.equal(schema.SNAPSHOT_COLUMNS, "task_id, id, version, data, checkpoint, created_at");
  assert.ok(schema.INSERT_SNAPSHOT.startsWith("INSERT OR REPLACE INTO snapshots (task_id, id,"), schema.INSERT_SNAPSHOT);
  // Every statement of the peers is one the Rust store runs: a constant of src/sql/schema.rs,
  // or a statement src/sql/store.rs builds around a WHERE clause.
  const store = norm(readFileSync(join(REPO, "src/sql/store.rs"), "utf8"))
    .replaceAll("{EVENT_COLUMNS}", schema.EVENT_COLUMNS);
  const constants = Object.values(schema).map(norm);
  const clause = { agent: " WHERE agent_id = ?", window: " WHERE agent_id = ? AND timestamp >= ? AND timestamp <= ?" };
  for (const [name, sql] of Object.entries(SQL)) {
    const rust = sql.replace(clause.window, "{clause}").replace(clause.agent, "{clause}");
    assert.ok(constants.includes(norm(sql)) || store.includes(norm(rust)), `${name}: ${sql} is not a statement of src/sql/`);
  }
});

test("asap-state's timestamps and the SQL peers' are the same text", async () => {
  const db = await SqliteStateDb.open();
  for (const ms of [Date.UTC(2026, 10, 26, 9, 0, 0, 123), Date.UTC(2026, 0, 1)]) {
    const e = db.metering.record({ task_id: "t", agent_id: "a", consumer_id: "c", timestamp: ms });
    assert.equal(e.timestamp, isoMicros(ms));
  }
  db.close();
});

test("the SQL peers run asap-state's statements on asap-state's files", async () => {
  const db = await SqliteStateDb.open();
  db.snapshots.save({ task_id: "t", data: { a: 1 } });
  db.snapshots.save({ task_id: "t", data: { a: 2 } });
  const dir = mkdtempSync(join(tmpdir(), "asap-bench-test-"));
  try {
    const path = join(dir, "x.db");
    (await import("node:fs")).writeFileSync(path, db.exportBytes());
    const peer = new SqlStatementStore(betterSqlite(path));
    assert.deepEqual(peer.listVersions("t"), [1, 2]);
    assert.deepEqual(peer.get("t").data, { a: 2 });
    assert.equal(peer.save({ task_id: "t", data: { a: 3 } }).version, 3);
    peer.d.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    db.close();
  }
});

test("a store that answers wrongly gives another fingerprint than a right one", async () => {
  const opts = { n: 30, perTask: 3, ops: 5, rounds: 1, warmup: 0, pool: payloads(256, 3) };
  const right = await runSnapshotWorkload(contractAdapter("map", new MapSnapshotStore()), opts);
  const again = await runSnapshotWorkload(contractAdapter("map", new MapSnapshotStore()), opts);
  assert.equal(right.fingerprint, again.fingerprint);
  const wrong = contractAdapter("map", new MapSnapshotStore());
  const get = wrong.getVersion;
  wrong.getVersion = (t, v) => get(t, v === 1 ? 2 : v);
  const bad = await runSnapshotWorkload(wrong, opts);
  assert.notEqual(bad.fingerprint, right.fingerprint);
});

test("make bench's smoke run: every part runs, every store agrees, the report is complete", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "asap-bench-smoke-"));
  try {
    const out = join(dir, "RESULTS.md");
    const r = spawnSync(process.execPath, ["--expose-gc", join(REPO, "bench/run.mjs"), "--smoke", "--out", out], { encoding: "utf8", timeout: 280_000 });
    assert.equal(r.status, 0, `bench --smoke failed:\n${r.stderr.slice(-4000)}`);
    const md = readFileSync(out, "utf8");
    assert.equal(md, r.stdout);
    for (const heading of ["## Goals", "## Wasm sizes", "## Cold start in Node", "## Memory backend vs plain JavaScript and LangGraph", "## SQLite backend vs sql.js and better-sqlite3", "## Metering: ", "## Open from bytes and exportBytes", "## Cold start in workerd (Miniflare)", "## Durable Objects in workerd (Miniflare)", "## LangGraph checkpointers during a graph run"]) {
      assert.ok(md.includes(heading), `missing section ${heading}`);
    }
    for (const peer of ["JS Map store", "LangGraph MemorySaver", "sql.js", "better-sqlite3", "@sqlite.org/sqlite-wasm", "hand-written object (floor)", "KV image", "MemorySaver", "SqliteSaver"]) assert.ok(md.includes(peer), `missing peer ${peer}`);
    assert.doesNotMatch(md, /NaN|undefined|Infinity/);
    // Every row of every table has a figure in each cell but the first.
    const rows = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---"));
    assert.ok(rows.length > 40, `${rows.length} table rows`);
    const ratios = md.match(/\d+\.\d+×/g) ?? [];
    assert.ok(ratios.length > 40, `${ratios.length} ratios`);
    const goals = md.slice(md.indexOf("## Goals"), md.indexOf("## Wasm sizes"));
    assert.match(goals, /full wasm ≤ 2\.75 MB gzip \(budget; the Workers free plan allows 3 MB\) \| yes/);
    assert.match(goals, /memory-only wasm ≤ 150 KB gzip \| yes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
