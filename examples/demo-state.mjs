// Writes the inspector's demo state file: several agent tasks, each with many versions of its
// state (plans, findings, messages; checkpoints at milestones), and three days of usage events
// from three agents. `node examples/demo-state.mjs [out.db]` (default: www/dist/demo.db).
// The same seed gives the same data; only the generated ids differ between runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteStateDb } from "asap-state";

const out = resolve(process.argv[2] ?? fileURLToPath(new URL("../www/dist/demo.db", import.meta.url)));

// A small deterministic PRNG (mulberry32), so the demo looks the same every time.
let seed = 0x5eed;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (items) => items[Math.floor(random() * items.length)];

const START = Date.parse("2026-11-20T08:00:00Z");
const MINUTE = 60_000;
const iso = (ms) => new Date(ms).toISOString();

const TASKS = [
  { id: "task_research_market_sizing", agent: "agent_researcher", goal: "Size the EU market for edge inference", steps: 42 },
  { id: "task_code_review_pr_1842", agent: "agent_reviewer", goal: "Review PR #1842 (storage layer)", steps: 18 },
  { id: "task_support_ticket_5521", agent: "agent_support", goal: "Resolve ticket 5521: export fails on Safari", steps: 27 },
  { id: "task_research_competitors", agent: "agent_researcher", goal: "Compare three agent-state stores", steps: 35 },
  { id: "task_release_notes_v2", agent: "agent_reviewer", goal: "Draft release notes for v2.0", steps: 12 },
  { id: "task_support_ticket_5530", agent: "agent_support", goal: "Explain a billing spike to a customer", steps: 9 },
  { id: "task_data_cleanup_q4", agent: "agent_researcher", goal: "Deduplicate the Q4 lead list", steps: 60 },
];
const PHASES = ["planning", "gathering", "analysing", "drafting", "reviewing", "completed"];
const FINDINGS = [
  "Workers caps a script at 3 MB gzip on the free plan",
  "two of five sources disagree on the 2025 figure",
  "the Safari failure is a missing Blob type",
  "the PR drops an fsync on the WAL path",
  "cold starts dominate p95 latency",
  "customer was billed twice for retried calls",
  "duplicate leads share an e-mail but not a company id",
];

const db = await SqliteStateDb.open();
let snapshots = 0;
for (const [n, task] of TASKS.entries()) {
  let t = START + n * 97 * MINUTE;
  const state = { goal: task.goal, agent: task.agent, phase: "planning", progress: 0, plan: [], findings: [], messages: [], budget: { tokens_used: 0, tokens_limit: 200_000 } };
  for (let step = 1; step <= task.steps; step++) {
    t += int(3, 55) * MINUTE;
    const phase = PHASES[Math.min(PHASES.length - 1, Math.floor((step / task.steps) * (PHASES.length - 1)))];
    const milestone = phase !== state.phase || step === task.steps;
    state.phase = step === task.steps ? "completed" : phase;
    state.progress = Math.round((step / task.steps) * 100) / 100;
    state.budget.tokens_used += int(800, 9000);
    if (step <= 4) state.plan.push({ step, action: pick(["search", "read", "summarise", "ask the user", "run tests", "write"]), done: false });
    for (const item of state.plan) if (random() < 0.25) item.done = true;
    if (random() < 0.3) state.findings.push(pick(FINDINGS));
    state.messages.push({ role: step % 2 ? "assistant" : "tool", content: `step ${step}: ${pick(["looked up", "compared", "checked", "wrote", "asked about"])} ${pick(["sources", "the diff", "the logs", "the invoice", "the schema"])}` });
    if (state.messages.length > 6) state.messages.shift(); // a sliding context window
    if (step === Math.floor(task.steps / 2)) state.handoff = { reason: "agent restarted", from: `${task.agent}-a`, to: `${task.agent}-b` };
    db.snapshots.save({ task_id: task.id, data: structuredClone(state), checkpoint: milestone, created_at: iso(t) });
    snapshots += 1;
  }
}

let events = 0;
const AGENTS = [...new Set(TASKS.map((t) => t.agent))];
for (let t = START; t < START + 3 * 24 * 60 * MINUTE; t += 15 * MINUTE) {
  const hour = new Date(t).getUTCHours();
  const busy = hour >= 8 && hour <= 19 ? 0.85 : 0.2; // office hours
  for (const agent of AGENTS) {
    if (random() > busy) continue;
    const task = pick(TASKS.filter((x) => x.agent === agent));
    db.metering.record({
      task_id: task.id,
      agent_id: agent,
      consumer_id: pick(["consumer_acme", "consumer_globex", "consumer_initech"]),
      metrics: { tokens_in: int(200, 6000), tokens_out: int(50, 2500), duration_ms: int(300, 45_000), api_calls: int(1, 12) },
      timestamp: iso(t + int(0, 14) * MINUTE),
    });
    events += 1;
  }
}

mkdirSync(dirname(out), { recursive: true });
const bytes = db.exportBytes();
// The export is one self-contained image (its WAL checkpointed in) whose header still says WAL
// mode (bytes 18-19 = 2), so a reader would look for a -wal file beside it. Say rollback-journal
// mode (1), as `PRAGMA journal_mode=DELETE` writes it: nothing else in the file changes.
bytes[18] = 1;
bytes[19] = 1;
writeFileSync(out, bytes);
db.close();
console.log(`==> wrote ${out}: ${TASKS.length} tasks, ${snapshots} snapshots, ${events} usage events from ${AGENTS.length} agents (${bytes.length} bytes)`);
