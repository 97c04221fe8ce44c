// The machine, the versions and the Markdown report.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { table } from "./harness.mjs";
import { REPO, packageVersion } from "./paths.mjs";

export function environment() {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {}
  let miniflare = "unknown";
  try {
    miniflare = packageVersion("miniflare");
  } catch {}
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    commit,
    cpu: `${os.cpus()[0]?.model ?? "unknown"} × ${os.cpus().length}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    versions: {
      "asap-state": JSON.parse(readFileSync(join(REPO, "pkg/package.json"), "utf8")).version,
      "sql.js": packageVersion("sql.js"),
      "better-sqlite3": packageVersion("better-sqlite3"),
      "@sqlite.org/sqlite-wasm": packageVersion("@sqlite.org/sqlite-wasm"),
      "@langchain/langgraph-checkpoint": packageVersion("@langchain/langgraph-checkpoint"),
      miniflare,
    },
  };
}

export function renderReport({ env, config, results, seconds }) {
  const out = [];
  out.push(config.smoke ? "# asap-state benchmarks (smoke run: one small round, figures meaningless)" : "# asap-state benchmarks");
  out.push("");
  out.push("Written by `make bench` (`bench/run.mjs`); see `bench/README.md` for what each part measures. Times are per operation: the median of the rounds, with the fastest and slowest round in brackets. A ratio is asap-state's median time ÷ the peer's, measured in the same process on the same data: below 1× asap-state is faster.");
  out.push("");
  out.push(`- **Date:** ${env.date}, commit \`${env.commit}\`, ${seconds.toFixed(0)} s`);
  out.push(`- **Machine:** ${env.cpu}, ${env.memory}, ${env.os}`);
  out.push(`- **Runtime:** Node ${env.node}`);
  out.push(`- **Versions:** ${Object.entries(env.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  out.push(`- **Rounds:** ${config.rounds} measured after ${config.warmup} warm-up`);
  out.push("");
  const goals = Object.values(results).flatMap((r) => r.goals ?? []);
  if (goals.length) {
    out.push("## Goals");
    out.push("");
    out.push(table(["goal", "met", "measured"], goals.map((g) => [g.goal, g.met ? "yes" : "**no**", g.detail])));
    out.push("");
  }
  for (const section of Object.values(results)) {
    out.push(`## ${section.title}`);
    out.push("");
    if (section.intro) out.push(section.intro, "");
    for (const t of section.tables) {
      if (t.caption) out.push(`**${t.caption}**`, "");
      out.push(table(t.header, t.rows), "");
    }
  }
  return out.join("\n");
}
