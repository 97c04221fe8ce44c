// Durable Objects in workerd (Miniflare): save, getLatest and record through Worker → object RPC,
// for DurableObjectStateDb against a hand-written JavaScript Durable Object running the same SQL
// on the same storage (the floor: no validation, no canonical JSON, nothing but the statements)
// and against the KV example's way (a SQLite image in the isolate, written to KV after each save).
// Plus the size of examples/durable-objects/ as wrangler bundles it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { check, fmtStats, fmtBytes, progress, ratio, stats } from "../lib/harness.mjs";
import { REPO } from "../lib/paths.mjs";

/** The benchmark worker: the three stores, each operation run `n` times in a row inside workerd. */
const WORKER = `
import { DurableObject } from "cloudflare:workers";
import { DurableObjectStateDb } from "PKG/durable-object/workerd.js";
import { SqliteStateDb } from "PKG/workerd.js";

const DDL = [
  "CREATE TABLE IF NOT EXISTS snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version))",
  "CREATE TABLE IF NOT EXISTS usage_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, consumer_id TEXT NOT NULL, metrics TEXT NOT NULL, timestamp TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp ON usage_events (agent_id, timestamp)",
  "CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp ON usage_events (consumer_id, timestamp)",
];
const COLUMNS = "task_id, id, version, data, checkpoint, created_at";

export class AsapObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.db = DurableObjectStateDb.open(ctx.storage);
  }
  save(input) { return this.db.snapshots.save(input); }
  getLatest(taskId) { return this.db.snapshots.get(taskId); }
  record(event) { return this.db.metering.record(event); }
}

/** The floor: the same statements, written by hand, nothing checked. */
export class RawObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const ddl of DDL) this.sql.exec(ddl);
  }
  save(input) {
    return this.ctx.storage.transactionSync(() => {
      const latest = this.sql.exec("SELECT version FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1", input.task_id).toArray()[0];
      const snapshot = { id: "snap_" + crypto.randomUUID(), task_id: input.task_id, version: (latest?.version ?? 0) + 1, data: input.data, checkpoint: false, created_at: new Date().toISOString() };
      this.sql.exec("INSERT INTO snapshots (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?)", snapshot.task_id, snapshot.id, snapshot.version, JSON.stringify(snapshot.data), 0, snapshot.created_at);
      return snapshot;
    });
  }
  getLatest(taskId) {
    const r = this.sql.exec("SELECT " + COLUMNS + " FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1", taskId).toArray()[0];
    return r && { id: r.id, task_id: r.task_id, version: r.version, data: JSON.parse(r.data), checkpoint: r.checkpoint !== 0, created_at: r.created_at };
  }
  record(e) {
    return this.ctx.storage.transactionSync(() => {
      const event = { id: "evt_" + crypto.randomUUID(), ...e, metrics: { tokens_in: 0, tokens_out: 0, duration_ms: 0, api_calls: 0, ...e.metrics }, timestamp: new Date().toISOString() };
      this.sql.exec("SELECT 1 FROM usage_events WHERE id = ?", event.id).toArray();
      this.sql.exec("INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, timestamp) VALUES (?, ?, ?, ?, ?, ?)", event.id, event.task_id, event.agent_id, event.consumer_id, JSON.stringify(event.metrics), event.timestamp);
      return event;
    });
  }
}

/** The KV example's way: one image per isolate, written to KV after each save. */
let kvDb;
const kv = {
  async save(env, input) { const s = kvDb.snapshots.save(input); await env.STATE.put("state.db", kvDb.exportBytes()); return s; },
  async getLatest(env, taskId) { return kvDb.snapshots.get(taskId); },
  async record(env, event) { return kvDb.metering.record(event); },
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const kind = url.searchParams.get("kind");
    const op = url.searchParams.get("op");
    const n = Number(url.searchParams.get("n"));
    const data = JSON.parse(url.searchParams.get("data"));
    const task = "task-" + url.searchParams.get("round");
    kvDb ??= await SqliteStateDb.open();
    const target = kind === "kv" ? null : (kind === "asap" ? env.ASAP : env.RAW).get((kind === "asap" ? env.ASAP : env.RAW).idFromName(task));
    const call = (name, arg) => (target ? target[name](arg) : kv[name](env, arg));
    if (op === "getLatest") await call("save", { task_id: task, data });
    const event = { task_id: task, agent_id: "agent", consumer_id: "consumer", metrics: { tokens_in: 3, api_calls: 1 } };
    const t0 = Date.now();
    let last;
    for (let i = 0; i < n; i++) {
      last = op === "save" ? await call("save", { task_id: task, data }) : op === "getLatest" ? await call("getLatest", task) : await call("record", event);
    }
    const ms = Date.now() - t0;
    const answer = op === "record" ? last.metrics.tokens_in + "/" + last.agent_id : last.version + ":" + JSON.stringify(last.data).length;
    return Response.json({ ms, answer });
  },
};
`;

/** examples/durable-objects/ bundled as `wrangler deploy` bundles it: total gzip bytes. */
function exampleBundleGzip(tmp) {
  const config = join(tmp, "wrangler.json");
  const example = join(REPO, "examples/durable-objects");
  const jsonc = readFileSync(join(example, "wrangler.jsonc"), "utf8").replace(/^\s*\/\/.*$/gm, "");
  const { $schema, ...rest } = JSON.parse(jsonc);
  writeFileSync(config, JSON.stringify({ ...rest, main: join(example, rest.main) }));
  const out = join(tmp, "bundle");
  const r = spawnSync(process.execPath, [join(REPO, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", out, "--config", config], {
    cwd: tmp,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: join(tmp, "logs"), XDG_CONFIG_HOME: join(tmp, "config") },
  });
  check(r.status === 0, `wrangler deploy --dry-run of examples/durable-objects failed: ${r.stderr}`);
  let gzip = 0;
  for (const f of readdirSync(out).filter((f) => !f.endsWith(".map") && !f.endsWith(".txt"))) gzip += gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
  return gzip;
}

export async function durableSection(config) {
  const { Miniflare } = await import("miniflare");
  const tmp = mkdtempSync(join(REPO, "bench/.work-"));
  const n = config.durableOps;
  const data = { text: "x".repeat(1000), step: 1 };
  const by = { asap: {}, raw: {}, kv: {} };
  let bundle;
  try {
    const script = join(tmp, "durable.js");
    writeFileSync(script, WORKER.replaceAll("PKG", "../../pkg"));
    const mf = new Miniflare({
      modules: true,
      scriptPath: script,
      modulesRoot: REPO,
      modulesRules: [
        { type: "ESModule", include: ["**/*.js"] },
        { type: "CompiledWasm", include: ["**/*.wasm"] },
      ],
      compatibilityDate: "2025-01-01",
      durableObjects: { ASAP: { className: "AsapObject", useSQLite: true }, RAW: { className: "RawObject", useSQLite: true } },
      kvNamespaces: ["STATE"],
    });
    try {
      const kinds = ["asap", "raw", "kv"];
      for (const op of ["save", "getLatest", "record"]) {
        const answers = {};
        const samples = { asap: [], raw: [], kv: [] };
        // Rounds interleave the three stores, each round in another order, so that a slow
        // moment of the machine (or the first round's warm-up) falls on all of them alike.
        for (let round = 0; round < config.rounds + config.warmup; round++) {
          progress(`workerd durable objects: ${op} round ${round + 1}/${config.rounds + config.warmup}`);
          for (let k = 0; k < kinds.length; k++) {
            const kind = kinds[(k + round) % kinds.length];
            const q = new URLSearchParams({ kind, op, n: String(n), round: `${op}-${round}`, data: JSON.stringify(data) });
            const res = await mf.dispatchFetch(`http://localhost/?${q}`);
            const body = await res.json();
            check(res.status === 200, `durable ${kind} ${op}: ${JSON.stringify(body)}`);
            if (round >= config.warmup) samples[kind].push(Math.max(body.ms, 1) / n);
            answers[kind] = body.answer;
          }
        }
        for (const kind of kinds) by[kind][op] = stats(samples[kind]);
        check(answers.asap === answers.raw && answers.raw === answers.kv, `durable ${op}: the stores answered ${JSON.stringify(answers)}`);
      }
    } finally {
      await mf.dispose();
    }
    progress("workerd durable objects: bundle of examples/durable-objects");
    bundle = exampleBundleGzip(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const rows = ["save", "getLatest", "record"].map((op) => [
    `\`${op}\``,
    fmtStats(by.asap[op]),
    fmtStats(by.raw[op]),
    fmtStats(by.kv[op]),
    ratio(by.asap[op], by.raw[op]),
    ratio(by.asap[op], by.kv[op]),
  ]);
  const goals = ["save", "getLatest", "record"].map((op) => {
    const r = by.asap[op].median / by.raw[op].median;
    return { goal: `Durable Objects ${op} within 1.5× of a hand-written object`, met: r <= 1.5, detail: `${r.toFixed(2)}×` };
  });
  goals.push({ goal: "examples/durable-objects bundled ≤ 250 KB gzip", met: bundle <= 250 * 1024, detail: fmtBytes(bundle) });
  return {
    title: "Durable Objects in workerd (Miniflare)",
    intro:
      `Per operation, through Worker → Durable Object RPC in one workerd (${n} operations in a row per round, timed inside the worker with the workers clock, which advances with each RPC; 1 KiB of data). ` +
      "The hand-written object runs the same SQL on the same storage with nothing checked: the floor. KV is the KV example's way: one SQLite image in the isolate, the whole image written to KV after each save (`record` writes nothing to KV, as in the example). " +
      `examples/durable-objects/ as \`wrangler deploy\` bundles it: ${fmtBytes(bundle)} gzip.`,
    tables: [{ header: ["operation", "DurableObjectStateDb", "hand-written object (floor)", "KV image", "vs floor", "vs KV"], rows }],
    goals,
    data: { ...by, bundleGzip: bundle },
  };
}
