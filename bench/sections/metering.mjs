// Usage metering: record N events one call each, then query windows, aggregate and series,
// on asap-state (memory, SQLite image, SQLite file) and the SQL peers running the same SQL.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rng } from "../lib/data.mjs";
import { check, fmtStats, measure, progress, ratio, settle } from "../lib/harness.mjs";
import { SqlStatementStore, betterSqlite, sqlJs } from "../lib/sql-peers.mjs";
import { packageVersion } from "../lib/paths.mjs";

const T0 = Date.UTC(2026, 10, 1);
const AGENTS = 10;
const HOUR = 3_600_000;

/** The same events for every store: ten agents, spread evenly over about two days. */
function events(count) {
  const rand = rng(7);
  const spacing = Math.max(1, Math.floor((48 * HOUR) / count));
  return Array.from({ length: count }, (_, i) => ({
    task_id: `task-${i % 997}`,
    agent_id: `urn:asap:agent:bench-${i % AGENTS}`,
    consumer_id: `consumer-${i % 3}`,
    metrics: { tokens_in: Math.floor(rand() * 2000), tokens_out: Math.floor(rand() * 800), duration_ms: Math.floor(rand() * 5000), api_calls: 1 + Math.floor(rand() * 4) },
    timestamp: T0 + i * spacing,
  }));
}

async function meteringStores(tmp) {
  const { SqliteStateDb, MemoryMeteringStore } = await import("asap-state");
  const bs = packageVersion("better-sqlite3");
  const sql = (d) => {
    const s = new SqlStatementStore(d);
    s.close = () => d.close();
    return s;
  };
  return [
    ["asap-state memory", async () => {
      const s = new MemoryMeteringStore();
      s.close = () => s.free();
      return s;
    }],
    ["asap-state SQLite image", async () => {
      const db = await SqliteStateDb.open();
      const s = db.metering;
      s.close = () => db.close();
      return s;
    }],
    ["asap-state SQLite file (Node)", async () => {
      const db = await SqliteStateDb.open({ path: join(tmp, "asap.db") });
      const s = db.metering;
      s.close = () => db.close();
      return s;
    }],
    [`sql.js ${packageVersion("sql.js")}`, async () => sql(await sqlJs())],
    [`better-sqlite3 ${bs} in memory (native)`, async () => sql(betterSqlite())],
    [`better-sqlite3 ${bs} file, WAL (native)`, async () => {
      const d = betterSqlite(join(tmp, "native.db"));
      d.db.pragma("journal_mode = WAL");
      d.db.pragma("synchronous = FULL");
      return sql(d);
    }],
  ];
}

export async function meteringSection(config) {
  const all = events(config.events);
  const end = all.at(-1).timestamp;
  const chunks = config.rounds + config.warmup;
  const perChunk = Math.floor(all.length / chunks);
  const rand = rng(9);
  const queries = Array.from({ length: Math.min(config.ops, 200) }, () => {
    const start = T0 + Math.floor(rand() * (end - T0 - HOUR));
    return [`urn:asap:agent:bench-${Math.floor(rand() * AGENTS)}`, start, start + HOUR];
  });
  const agents = Array.from({ length: AGENTS }, (_, i) => `urn:asap:agent:bench-${i}`);
  const tmp = mkdtempSync(join(tmpdir(), "asap-bench-metering-"));
  const results = [];
  try {
    for (const [name, open] of await meteringStores(tmp)) {
      progress(`metering ${all.length} events: ${name}`);
      settle();
      const store = await open();
      try {
        const r = {};
        r.record = await measure({
          rounds: config.rounds,
          warmup: config.warmup,
          ops: perChunk,
          round: (k) => {
            for (let i = k * perChunk; i < (k + 1) * perChunk; i++) store.record(all[i]);
          },
        });
        r.query = await measure({ rounds: config.rounds, warmup: config.warmup, ops: queries.length, round: () => { for (const [a, s, e] of queries) store.query(a, s, e, { limit: 100 }); } });
        r.aggregate = await measure({ rounds: config.rounds, warmup: config.warmup, ops: AGENTS, round: () => { for (const a of agents) store.aggregate(a, "bench"); } });
        r.series = await measure({ rounds: config.rounds, warmup: config.warmup, ops: AGENTS, round: () => { for (const a of agents) store.series(a, { bucket: "hour", start: T0, end: end + 1 }); } });
        r.fingerprint = JSON.stringify({
          aggregates: agents.map((a) => {
            const { total_tokens, total_duration, total_tasks, total_api_calls } = store.aggregate(a, "bench");
            return [total_tokens, total_duration, total_tasks, total_api_calls];
          }),
          series: agents.map((a) => store.series(a, { bucket: "hour", start: T0, end: end + 1 }).filter((b) => b.total_tasks > 0).map((b) => [b.start, b.total_tokens, b.total_tasks])),
          query: queries.map(([a, s, e]) => store.query(a, s, e, { limit: 100 }).map((ev) => ev.timestamp).join()),
        });
        results.push([name, r]);
      } finally {
        store.close();
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const [name, r] of results.slice(1)) check(r.fingerprint === results[0][1].fingerprint, `${name} meters like asap-state memory`);
  const by = Object.fromEntries(results);
  const names = results.map(([n]) => n);
  const [, image, file, sqljs, bmem, bfile] = names;
  const measured = chunks * perChunk;
  const rows = ["record", "query", "aggregate", "series"].map((op) => [
    op,
    ...results.map(([, r]) => fmtStats(r[op])),
    ratio(by[image][op], by[sqljs][op]),
    ratio(by[image][op], by[bmem][op]),
    ratio(by[file][op], by[bfile][op]),
  ]);
  const agg = by[image].aggregate.median / by[sqljs].aggregate.median;
  return {
    title: `Metering: ${measured.toLocaleString("en")} events`,
    intro: `\`record\` one event per call (${measured.toLocaleString("en")} in ${chunks} rounds), then \`query\` of one-hour windows (limit 100), \`aggregate\` of each agent's ${Math.round(measured / AGENTS).toLocaleString("en")} events, and \`series\` by hour over the two days. Every store must give the same aggregates, buckets and windows.`,
    tables: [{ header: ["operation", ...names, "image ÷ sql.js", "image ÷ better-sqlite3", "file ÷ better-sqlite3 file"], rows }],
    goals: [{ goal: "SQLite aggregate at least as fast as sql.js", met: agg <= 1, detail: `${agg.toFixed(2)}× sql.js's time` }],
    data: by,
  };
}
