// Timing, statistics and Markdown tables for the benchmarks. Every figure is the median of
// several rounds, with the spread (min–max of the rounds) beside it; ratios compare medians
// measured in the same process on the same data.

import { performance } from "node:perf_hooks";

/** Median of a non-empty list of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** { median, min, max, rounds } of per-operation times in milliseconds. */
export function stats(samples) {
  return {
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    rounds: samples.length,
  };
}

/** Lets the collector run between measurements, when Node exposes it (--expose-gc). */
export function settle() {
  if (typeof globalThis.gc === "function") globalThis.gc();
}

/**
 * Runs `round(i)` `rounds` times (after `warmup` unmeasured rounds); each round performs `ops`
 * operations and returns nothing or a promise. Returns stats of milliseconds per operation.
 */
export async function measure({ rounds, warmup = 1, ops, round }) {
  const samples = [];
  for (let r = 0; r < warmup + rounds; r++) {
    settle();
    const t0 = performance.now();
    const p = round(r);
    if (p && typeof p.then === "function") await p;
    const ms = performance.now() - t0;
    if (r >= warmup) samples.push(ms / ops);
  }
  return stats(samples);
}

/** A duration for people: µs below 1 ms, ms below 10 s. */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 0.001) return `${(ms * 1e6).toFixed(0)} ns`;
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 2 : 1)} µs`;
  if (ms < 10_000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** "median (min–max)". */
export function fmtStats(s) {
  if (!s) return "–";
  if (s.rounds <= 1) return fmtTime(s.median);
  return `${fmtTime(s.median)} (${fmtTime(s.min)}–${fmtTime(s.max)})`;
}

/** asap-state's time ÷ the peer's: below 1 asap-state is faster. */
export function ratio(ours, peer) {
  if (!ours || !peer || !(peer.median > 0)) return "–";
  const r = ours.median / peer.median;
  return `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}×`;
}

export function fmtBytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A Markdown table. */
export function table(header, rows) {
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

/** Throws unless `cond`: the benchmarks check that every store gave the same answers. */
export function check(cond, what) {
  if (!cond) throw new Error(`benchmark self-check failed: ${what}`);
}

/** Progress on stderr, so stdout stays the report. */
export function progress(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
