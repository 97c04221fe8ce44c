// Durable Objects in workerd (Miniflare): save, getLatest and record through Worker → object RPC,
// for DurableObjectStateDb against a hand-written JavaScript Durable Object running the same SQL
// on the same storage (the floor: no validation, no canonical JSON, nothing but the statements)
// and against the KV example's way (a SQLite image in the isolate, written to KV after each save),
// each store in a workerd of its own; per operation in a warm isolate (the goal) and a fresh one.
// Plus the size of examples/durable-objects/ as wrangler bundles it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { check, fmtStats, fmtBytes, progress, ratio, stats } from "../lib/harness.mjs";
import { REPO, workerdOptions } from "../lib/paths.mjs";

/**
 * The benchmark workers, one per store, each as it would be deployed (the Durable Object worker
 * without the embedded engine, the hand-written one without any wasm): each operation run `n`
 * times in a row inside workerd. Every worker runs in a workerd of its own, so that no store
 * shares its isolate (its heap, its compiled code) with another's.
 */
const HEAD = 'import { DurableObject } from "cloudflare:workers";\n';
const STORES = {
  asap: `
import { DurableObjectStateDb } from "PKG/durable-object/workerd.js";

export class AsapObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.db = DurableObjectStateDb.open(ctx.storage);
  }
  save(input) { return this.db.snapshots.save(input); }
  getLatest(taskId) { return this.db.snapshots.get(taskId); }
  record(event) { return this.db.metering.record(event); }
}

const store = (env, task) => env.STORE.get(env.STORE.idFromName(task));
`,
  raw: `
const DDL = [
  "CREATE TABLE IF NOT EXISTS snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version))",
  "CREATE TABLE IF NOT EXISTS usage_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, consumer_id TEXT NOT NULL, metrics TEXT NOT NULL, timestamp TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp ON usage_events (agent_id, timestamp)",
  "CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp ON usage_events (consumer_id, timestamp)",
];
const COLUMNS = "task_id, id, version, data, checkpoint, created_at";

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

const store = (env, task) => env.STORE.get(env.STORE.idFromName(task));
`,
  kv: `
import { SqliteStateDb } from "PKG/workerd.js";

/** The KV example's way: one image per isolate, written to KV after each save. */
let kvDb;
async function store(env) {
  kvDb ??= await SqliteStateDb.open();
  return {
    async save(input) { const s = kvDb.snapshots.save(input); await env.STATE.put("state.db", kvDb.exportBytes()); return s; },
    async getLatest(taskId) { return kvDb.snapshots.get(taskId); },
    async record(event) { return kvDb.metering.record(event); },
  };
}

`,
};
const FETCH = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const op = url.searchParams.get("op");
    const n = Number(url.searchParams.get("n"));
    const data = JSON.parse(url.searchParams.get("data"));
    const task = "task-" + url.searchParams.get("round");
    const target = await store(env, task);
    const call = (name, arg) => target[name](arg);
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

/** One timed request: `n` calls of `op` on `kind`'s store for task `round`; per call ms and the answer. */
async function timed(mfs, kind, op, n, round, data) {
  const q = new URLSearchParams({ op, n: String(n), round, data: JSON.stringify(data) });
  const res = await mfs[kind].dispatchFetch(`http://localhost/?${q}`);
  const body = await res.json();
  check(res.status === 200, `durable ${kind} ${op}: ${JSON.stringify(body)}`);
  return { ms: Math.max(body.ms, 1) / n, answer: body.answer };
}

/**
 * Rounds of `n` calls per store, interleaved, each round in another order, so that a slow moment
 * of the machine falls on every store alike; the first `warmup` rounds are not kept. Every
 * store's last answer must be the same.
 */
async function interleaved(mfs, kinds, op, { n, rounds, warmup, label, data }) {
  const samples = Object.fromEntries(kinds.map((k) => [k, []]));
  const answers = {};
  for (let round = 0; round < rounds + warmup; round++) {
    progress(`workerd durable objects: ${label} ${op} round ${round + 1}/${rounds + warmup}`);
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(k + round) % kinds.length];
      const { ms, answer } = await timed(mfs, kind, op, n, `${label}-${op}-${round}`, data);
      if (round >= warmup) samples[kind].push(ms);
      answers[kind] = answer;
    }
  }
  const distinct = new Set(Object.values(answers));
  check(distinct.size === 1, `durable ${label} ${op}: the stores answered ${JSON.stringify(answers)}`);
  return Object.fromEntries(kinds.map((k) => [k, stats(samples[k])]));
}

const OPS = ["save", "getLatest", "record"];

/** Warm-up calls go in requests of at most this many. */
const WARM_CHUNK = 5_000;

export async function durableSection(config) {
  const { Miniflare } = await import("miniflare");
  const tmp = mkdtempSync(join(REPO, "bench/.work-"));
  const data = { text: "x".repeat(1000), step: 1 };
  const fresh = {};
  const warm = {};
  const warmCalls = config.durableWarmCalls;
  const mfs = {};
  let bundle;
  try {
    try {
      // One workerd per store (see STORES).
      for (const kind of Object.keys(STORES)) {
        const script = join(tmp, `${kind}.js`);
        writeFileSync(script, (HEAD + STORES[kind] + FETCH).replaceAll("PKG", "../../pkg"));
        const bindings = kind === "kv" ? { kvNamespaces: ["STATE"] } : { durableObjects: { STORE: { className: kind === "asap" ? "AsapObject" : "RawObject", useSQLite: true } } };
        mfs[kind] = new Miniflare(workerdOptions(script, bindings));
      }
      // A fresh isolate: the first calls of each operation, while V8 still runs the code of
      // both objects unoptimised (WebAssembly as Liftoff code, JavaScript interpreted).
      for (const op of OPS) {
        fresh[op] = await interleaved(mfs, ["asap", "raw", "kv"], op, { n: config.durableOps, rounds: config.rounds, warmup: config.warmup, label: "fresh", data });
      }
      // The same isolate once warm, as one that has served a while is: each object's operation
      // called `warmCalls` more times first. The KV image is left out: every save writes the whole
      // image, which would grow by as many saves.
      for (const op of OPS) {
        for (const kind of ["asap", "raw"]) {
          progress(`workerd durable objects: warming ${kind} ${op} (${warmCalls} calls)`);
          for (let done = 0; done < warmCalls; done += WARM_CHUNK) {
            await timed(mfs, kind, op, Math.min(WARM_CHUNK, warmCalls - done), `warm-up-${op}-${done}`, data);
          }
        }
        warm[op] = await interleaved(mfs, ["asap", "raw"], op, { n: config.durableWarmOps, rounds: config.rounds, warmup: 0, label: "warm", data });
      }
    } finally {
      await Promise.all(Object.values(mfs).map((mf) => mf.dispose()));
    }
    progress("workerd durable objects: bundle of examples/durable-objects");
    bundle = exampleBundleGzip(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const freshCalls = config.durableOps * (config.rounds + config.warmup);
  const warmRows = OPS.map((op) => [`\`${op}\``, fmtStats(warm[op].asap), fmtStats(warm[op].raw), ratio(warm[op].asap, warm[op].raw)]);
  const freshRows = OPS.map((op) => [
    `\`${op}\``,
    fmtStats(fresh[op].asap),
    fmtStats(fresh[op].raw),
    fmtStats(fresh[op].kv),
    ratio(fresh[op].asap, fresh[op].raw),
    ratio(fresh[op].asap, fresh[op].kv),
  ]);
  const goals = OPS.map((op) => {
    const r = warm[op].asap.median / warm[op].raw.median;
    const f = fresh[op].asap.median / fresh[op].raw.median;
    return {
      goal: `Durable Objects ${op} within 1.5× of a hand-written object (warm isolate)`,
      met: r <= 1.5,
      detail: `${r.toFixed(2)}× (${f.toFixed(2)}× over a fresh isolate's first ${freshCalls} calls)`,
    };
  });
  goals.push({ goal: "examples/durable-objects bundled ≤ 250 KB gzip", met: bundle <= 250 * 1024, detail: fmtBytes(bundle) });
  return {
    title: "Durable Objects in workerd (Miniflare)",
    intro:
      `Per operation, through Worker → Durable Object RPC, each store's worker in a workerd of its own (timed inside the worker with the workers clock, which advances with each RPC; 1 KiB of data). ` +
      "The hand-written object runs the same SQL on the same storage with nothing checked: the floor. KV is the KV example's way: one SQLite image in the isolate, the whole image written to KV after each save (`record` writes nothing to KV, as in the example). " +
      `Two states of the isolate: warm (each object's operation called ${warmCalls} times first, then rounds of ${config.durableWarmOps} calls), as an isolate that has served a while is — Durable Objects of one class share their isolate and its compiled code, so this is the per-operation cost; ` +
      `and fresh (rounds of ${config.durableOps} calls from a new workerd, the first round not kept), where V8 has not yet optimised either object's code: the warm-up an isolate pays once. ` +
      `examples/durable-objects/ as \`wrangler deploy\` bundles it: ${fmtBytes(bundle)} gzip.`,
    tables: [
      { caption: "Warm isolate", header: ["operation", "DurableObjectStateDb", "hand-written object (floor)", "vs floor"], rows: warmRows },
      { caption: `Fresh isolate (its first ${freshCalls} calls of each operation)`, header: ["operation", "DurableObjectStateDb", "hand-written object (floor)", "KV image", "vs floor", "vs KV"], rows: freshRows },
    ],
    goals,
    data: { warm, fresh, warmCalls, bundleGzip: bundle },
  };
}
