// In-memory snapshot stores: asap-state's memory backend against a plain JavaScript Map store
// and LangGraph.js's MemorySaver, on the same payloads, at several store sizes.
import { rng, payloads, taskIds } from "../lib/data.mjs";
import { check, fmtBytes, fmtStats, measure, progress, ratio, settle } from "../lib/harness.mjs";
import { MapSnapshotStore, contractAdapter, langgraphAdapter } from "../lib/snapshot-peers.mjs";
import { packageVersion } from "../lib/paths.mjs";

export const OPS = ["save", "getLatest", "getVersion", "listVersions"];

/**
 * Fills `store` with `n` snapshots (`perTask` versions per task, saved round-robin) unless
 * `prefilled`, then measures each operation. Returns { fill, save, getLatest, getVersion, listVersions } stats
 * (ms per operation) and a fingerprint of answers for the cross-store check.
 */
export async function runSnapshotWorkload(store, { n, perTask, ops, rounds, warmup, pool, prefilled = false }) {
  const tasks = taskIds(n, perTask);
  const aw = store.async;
  const t0 = performance.now();
  let saved = prefilled ? n : 0;
  for (let v = 1; v <= perTask && saved < n; v++) {
    for (let t = 0; t < tasks.length && saved < n; t++) {
      const version = aw ? await store.save(tasks[t], pool[saved % pool.length]) : store.save(tasks[t], pool[saved % pool.length]);
      if (version !== v) throw new Error(`${store.name}: save gave version ${version}, expected ${v}`);
      saved++;
    }
  }
  const fill = prefilled ? undefined : { median: (performance.now() - t0) / n, min: NaN, max: NaN, rounds: 1 };
  const rand = rng(42);
  const picks = Array.from({ length: ops }, () => Math.floor(rand() * tasks.length));
  const versions = Array.from({ length: ops }, () => 1 + Math.floor(rand() * Math.min(perTask, Math.floor(n / tasks.length) || 1)));
  const out = { fill };
  const loop = aw
    ? (f) => async () => { for (let i = 0; i < ops; i++) await f(i); }
    : (f) => () => { for (let i = 0; i < ops; i++) f(i); };
  out.getLatest = await measure({ rounds, warmup, ops, round: loop((i) => store.getLatest(tasks[picks[i]])) });
  out.getVersion = await measure({ rounds, warmup, ops, round: loop((i) => store.getVersion(tasks[picks[i]], versions[i])) });
  out.listVersions = await measure({ rounds, warmup, ops, round: loop((i) => store.listVersions(tasks[picks[i]])) });
  // Fingerprint before the measured saves add versions: the same for every store.
  const probe = tasks[0];
  const latest = await store.getLatest(probe);
  const first = await store.getVersion(probe, 1);
  const list = await store.listVersions(probe);
  out.fingerprint = JSON.stringify([latest.version, list, first.data, latest.data]);
  let k = 0;
  out.save = await measure({ rounds, warmup, ops, round: loop((i) => store.save(tasks[picks[i]], pool[k++ % pool.length])) });
  return out;
}

export async function memorySection(config) {
  const { MemorySnapshotStore } = await import("asap-state/memory");
  const lg = packageVersion("@langchain/langgraph-checkpoint");
  const stores = [
    ["asap-state memory", () => contractAdapter("asap-state memory", new MemorySnapshotStore())],
    ["JS Map store (structuredClone in/out)", () => contractAdapter("JS Map store", new MapSnapshotStore())],
    [`LangGraph MemorySaver ${lg}`, () => langgraphAdapter()],
    ["JS Map store (JSON text in/out)", () => contractAdapter("JS Map store, JSON", new MapSnapshotStore({ copy: "json" }))],
    ["JS Map store, no copies (reference only)", () => contractAdapter("JS Map, no copies", new MapSnapshotStore({ copy: false }))],
  ];
  const tables = [];
  const goals = [];
  const data = [];
  for (const cell of config.memoryCells) {
    const pool = payloads(cell.bytes);
    const results = [];
    for (const [name, make] of stores) {
      progress(`memory ${fmtBytes(cell.bytes)} × ${cell.n}: ${name}`);
      settle();
      const store = await make();
      const r = await runSnapshotWorkload(store, { ...cell, perTask: config.perTask, ops: Math.min(config.ops, cell.n), rounds: config.rounds, warmup: config.warmup, pool });
      store.close();
      results.push([name, r]);
      settle();
    }
    const [ours] = results;
    for (const [name, r] of results.slice(1)) check(r.fingerprint === ours[1].fingerprint, `${name} answers like asap-state at ${cell.bytes} B × ${cell.n}`);
    const rows = [];
    for (const op of ["fill", ...OPS]) {
      const row = [op === "fill" ? "save while filling (1 round)" : op];
      for (const [, r] of results) row.push(fmtStats(r[op]));
      row.push(ratio(ours[1][op], results[1][1][op]), ratio(ours[1][op], results[3][1][op]), ratio(ours[1][op], results[2][1][op]));
      rows.push(row);
    }
    tables.push({
      caption: `${fmtBytes(cell.bytes)} snapshots, ${cell.n.toLocaleString("en")} stored (${config.perTask} versions per task); time per operation`,
      header: ["operation", ...results.map(([n]) => n), "asap ÷ Map store", "asap ÷ JSON Map store", "asap ÷ MemorySaver"],
      rows,
    });
    const worst = Math.max(...OPS.map((op) => ours[1][op].median / results[1][1][op].median));
    goals.push({ goal: `memory backend within 2× of the JS Map store (${fmtBytes(cell.bytes)} × ${cell.n.toLocaleString("en")})`, met: worst <= 2, detail: `worst operation ${worst.toFixed(2)}×` });
    const saveJson = ours[1].save.median / results[3][1].save.median;
    goals.push({ goal: `memory backend save within 2× of the JSON-copying Map store (${fmtBytes(cell.bytes)} × ${cell.n.toLocaleString("en")})`, met: saveJson <= 2, detail: `${saveJson.toFixed(2)}×` });
    data.push({ cell, results: Object.fromEntries(results.map(([n, r]) => [n, r])) });
  }
  return {
    title: "Memory backend vs plain JavaScript and LangGraph",
    intro:
      "Each store gets the same saves in the same order; then random tasks are read. The JS Map store gives the guarantees asap-state gives (checked task id, next version computed, data deep-copied in and out so callers cannot change history); the JSON Map store gives them too, keeping data as JSON text as asap-state does; the no-copy Map store is shown only as the floor of what JavaScript can do. MemorySaver is async: every call is awaited.",
    tables,
    goals,
    data,
  };
}
