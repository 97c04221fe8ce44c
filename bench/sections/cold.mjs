// Cold start: import + instantiate + open an empty store, each run in a fresh process (Node)
// or a fresh workerd (Miniflare from the installed wrangler).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { check, fmtStats, progress, ratio, stats } from "../lib/harness.mjs";
import { BENCH, REPO, packageVersion, workerdOptions } from "../lib/paths.mjs";

const PROBES = [
  ["asap-state/memory", "asap-memory", "new MemorySnapshotStore()"],
  ["asap-state (full)", "asap-full", "await SqliteStateDb.open()"],
  [`sql.js ${packageVersion("sql.js")}`, "sql.js", "await initSqlJs(); new Database()"],
  [`@sqlite.org/sqlite-wasm ${packageVersion("@sqlite.org/sqlite-wasm")}`, "sqlite-wasm", "await sqlite3InitModule(); new oo1.DB()"],
  [`better-sqlite3 ${packageVersion("better-sqlite3")} (native)`, "better-sqlite3", "new Database(':memory:')"],
  [`LangGraph MemorySaver ${packageVersion("@langchain/langgraph-checkpoint")}`, "langgraph", "new MemorySaver()"],
];

function probeOnce(which) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(BENCH, "lib/coldstart-probe.mjs"), which], { encoding: "utf8", timeout: 60_000 });
  const wall = performance.now() - t0;
  check(r.status === 0, `cold start probe ${which}: ${r.stderr}`);
  const { ms } = JSON.parse(r.stdout.trim().split("\n").at(-1));
  check(ms > 0, `cold start probe ${which} timed`);
  return { ms, wall };
}

export async function coldSection(config) {
  const rows = [];
  const byKey = {};
  for (const [name, key, what] of PROBES) {
    progress(`cold start ${name}`);
    const runs = Array.from({ length: config.coldRuns }, () => probeOnce(key));
    const s = stats(runs.map((r) => r.ms));
    const w = stats(runs.map((r) => r.wall));
    byKey[key] = s;
    rows.push([name, `\`${what}\``, fmtStats(s), fmtStats(w)]);
  }
  const mem = byKey["asap-memory"];
  const full = byKey["asap-full"];
  for (const r of rows.slice(2)) r.push("");
  rows[0].push(ratio(mem, byKey["sql.js"]));
  rows[1].push(ratio(full, byKey["sql.js"]));
  return {
    title: "Cold start in Node",
    intro: `From before \`import()\` to the first answer of an empty store, in a fresh \`node\` process each run (${config.coldRuns} runs); the process's own wall time beside it.`,
    tables: [{ header: ["what", "work", "import → store ready", "whole process", "vs sql.js"], rows }],
    goals: [
      { goal: "cold start < 20 ms in Node (memory entry)", met: mem.median < 20, detail: `median ${mem.median.toFixed(1)} ms` },
      { goal: "cold start < 20 ms in Node (full entry, SQLite)", met: full.median < 20, detail: `median ${full.median.toFixed(1)} ms` },
    ],
    data: byKey,
  };
}

const WORKERS = {
  baseline: `export default { async fetch() { return new Response("1"); } };`,
  memory: `import { MemorySnapshotStore } from "PKG/memory/workerd.js";
export default { async fetch() { const s = new MemorySnapshotStore(); s.save({ task_id: "t", data: { a: 1 } }); return new Response(String(s.get("t").version)); } };`,
  full: `import { SqliteStateDb } from "PKG/workerd.js";
export default { async fetch() { const db = await SqliteStateDb.open(); db.snapshots.save({ task_id: "t", data: { a: 1 } }); return new Response(String(db.snapshots.get("t").version)); } };`,
};

export async function workerdSection(config) {
  const { Miniflare } = await import("miniflare");
  const tmp = mkdtempSync(join(REPO, "bench/.work-"));
  const rows = [];
  const byKey = {};
  try {
    for (const [key, source] of Object.entries(WORKERS)) {
      const script = join(tmp, `${key}.js`);
      writeFileSync(script, source.replace("PKG", "../../pkg"));
      const samples = [];
      for (let i = 0; i < config.workerdRuns; i++) {
        progress(`workerd cold start ${key} ${i + 1}/${config.workerdRuns}`);
        const t0 = performance.now();
        const mf = new Miniflare(workerdOptions(script));
        try {
          const res = await mf.dispatchFetch("http://localhost/");
          const body = await res.text();
          samples.push(performance.now() - t0);
          check(res.status === 200 && body === "1", `workerd ${key} answered ${res.status} ${body}`);
        } finally {
          await mf.dispose();
        }
      }
      byKey[key] = stats(samples);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const base = byKey.baseline.median;
  const extra = (s) => `+${(s.median - base).toFixed(0)} ms`;
  rows.push(["empty worker (baseline)", fmtStats(byKey.baseline), "–"]);
  rows.push(["asap-state/memory: save + get", fmtStats(byKey.memory), extra(byKey.memory)]);
  rows.push(["asap-state (SQLite image): open + save + get", fmtStats(byKey.full), extra(byKey.full)]);
  return {
    title: "Cold start in workerd (Miniflare)",
    intro: `\`new Miniflare()\` to the first response of a worker that imports the package's \`workerd\` entry, ${config.workerdRuns} runs; the empty worker shows what workerd itself costs.`,
    tables: [{ header: ["worker", "to first response", "over the empty worker"], rows }],
    goals: [],
    data: byKey,
  };
}
