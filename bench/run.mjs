#!/usr/bin/env node
// asap-state benchmarks against the peers users would pick instead (see bench/README.md).
//
//   node --expose-gc bench/run.mjs            full run (make bench), writes bench/RESULTS.md
//   node --expose-gc bench/run.mjs --smoke    one small round of everything (make test)
//   options: --out FILE   --only sizes,cold,memory,sqlite,metering,bytes,workerd,durable,langgraph   --rounds N
//
// Every store's answers are checked against the others' as it runs: a store that returns
// something else makes the run fail, so a fast wrong answer never becomes a good figure.

import { writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { progress } from "./lib/harness.mjs";
import { environment, renderReport } from "./lib/report.mjs";
import { sizesSection } from "./sections/sizes.mjs";
import { coldSection, workerdSection } from "./sections/cold.mjs";
import { memorySection } from "./sections/memory.mjs";
import { sqliteSection, bytesSection } from "./sections/sqlite.mjs";
import { meteringSection } from "./sections/metering.mjs";
import { durableSection } from "./sections/durable.mjs";
import { langgraphSection } from "./sections/langgraph.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const args = { smoke: false, out: null, only: null, rounds: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--smoke") args.smoke = true;
    else if (a === "--out") args.out = argv[++i];
    else if (a === "--only") args.only = new Set(argv[++i].split(","));
    else if (a === "--rounds") args.rounds = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
/** The workload: the full one of make bench, or one small round of each part for make test. */
const config = args.smoke
  ? {
      smoke: true,
      rounds: 1,
      warmup: 0,
      memoryCells: [{ bytes: 1024, n: 100 }, { bytes: 65536, n: 20 }],
      sqliteCells: [{ bytes: 1024, n: 100 }],
      perTask: 10,
      ops: 20,
      events: 500,
      bytesFileMiB: 1,
      coldRuns: 1,
      workerdRuns: 1,
      durableOps: 20,
      durableWarmCalls: 20,
      durableWarmOps: 20,
      langgraphSteps: 10,
    }
  : {
      smoke: false,
      rounds: args.rounds ?? 5,
      warmup: 1,
      memoryCells: [
        { bytes: 1024, n: 1_000 },
        { bytes: 1024, n: 10_000 },
        { bytes: 1024, n: 100_000 },
        { bytes: 65536, n: 1_000 },
        { bytes: 65536, n: 10_000 },
      ],
      sqliteCells: [
        { bytes: 1024, n: 1_000 },
        { bytes: 1024, n: 10_000 },
        { bytes: 1024, n: 100_000 },
        { bytes: 65536, n: 1_000 },
      ],
      perTask: 10,
      ops: 500,
      events: 100_000,
      bytesFileMiB: 50,
      coldRuns: 7,
      workerdRuns: 3,
      durableOps: 300,
      durableWarmCalls: 20_000,
      durableWarmOps: 1_000,
      langgraphSteps: 100,
    };

const sections = [
  ["sizes", sizesSection],
  ["cold", coldSection],
  ["memory", memorySection],
  ["sqlite", sqliteSection],
  ["metering", meteringSection],
  ["bytes", bytesSection],
  ["workerd", workerdSection],
  ["durable", durableSection],
  ["langgraph", langgraphSection],
];

const started = Date.now();
const results = {};
for (const [key, run] of sections) {
  if (args.only && !args.only.has(key)) continue;
  progress(`section ${key}`);
  results[key] = await run(config);
}
const report = renderReport({ env: environment(), config, results, seconds: (Date.now() - started) / 1000 });
const out = args.out ?? (args.smoke ? null : join(HERE, "RESULTS.md"));
if (out) {
  writeFileSync(out, report);
  progress(`wrote ${out}`);
}
process.stdout.write(report);
