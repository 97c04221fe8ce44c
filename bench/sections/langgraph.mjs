// LangGraph checkpointers during a real graph run: AsapCheckpointSaver ("asap-state/langgraph")
// on the memory store and on a SQLite Node file, against LangGraph's MemorySaver and
// @langchain/langgraph-checkpoint-sqlite's SqliteSaver (better-sqlite3, a WAL file). The graph
// has ten channels of ~1 KiB; each step changes one of them. Every saver runs the same graph;
// their final states, histories and every checkpoint's values are compared, and a saver that
// answers differently fails the run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { check, fmtBytes, fmtStats, progress, ratio, settle, stats } from "../lib/harness.mjs";
import { packageVersion } from "../lib/paths.mjs";

const CHANNELS = 10;
const VALUE_BYTES = 1024;

/** The value a step writes: `bytes` of text that differs per step. */
function valueAt(step, bytes = VALUE_BYTES) {
  const head = `step ${step}: `;
  return head + "agent notes, tool output and scores ".repeat(Math.ceil(bytes / 36)).slice(0, bytes - head.length);
}

/** A graph of one node looping `steps` times; step k rewrites channel k mod 10 (`bytes` long). */
async function buildGraph(checkpointer, steps, bytes = VALUE_BYTES) {
  const { Annotation, END, START, StateGraph } = await import("@langchain/langgraph");
  const spec = {};
  for (let c = 0; c < CHANNELS; c += 1) spec[`c${c}`] = Annotation();
  spec.step = Annotation();
  const State = Annotation.Root(spec);
  return new StateGraph(State)
    .addNode("work", (s) => {
      const step = (s.step ?? 0) + 1;
      return { [`c${step % CHANNELS}`]: valueAt(step, bytes), step };
    })
    .addEdge(START, "work")
    .addConditionalEdges("work", (s) => (s.step < steps ? "work" : END))
    .compile({ checkpointer });
}

/** Times every call of `method` on `saver` (awaited), in `into[method]` (ms). */
function timeCalls(saver, into) {
  for (const method of ["put", "putWrites", "getTuple"]) {
    const original = saver[method].bind(saver);
    into[method] = [];
    saver[method] = async (...args) => {
      const t0 = performance.now();
      try {
        return await original(...args);
      } finally {
        into[method].push(performance.now() - t0);
      }
    };
  }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** One round: the graph run, then every checkpoint read by id, then the whole history listed. */
async function round(saver, steps) {
  const calls = {};
  timeCalls(saver, calls);
  const graph = await buildGraph(saver, steps);
  const config = { configurable: { thread_id: "bench-thread" }, recursionLimit: steps * 2 + 10 };
  const final = await graph.invoke({ step: 0 }, config);
  const runCalls = { put: calls.put.slice(), putWrites: calls.putWrites.slice() };
  const ids = [];
  const t0 = performance.now();
  let listed = 0;
  for await (const tuple of saver.list({ configurable: { thread_id: "bench-thread" } })) {
    ids.push(tuple.config.configurable.checkpoint_id);
    listed += 1;
  }
  const listMs = (performance.now() - t0) / listed;
  calls.getTuple = [];
  const values = [];
  for (const id of ids) {
    const tuple = await saver.getTuple({ configurable: { thread_id: "bench-thread", checkpoint_ns: "", checkpoint_id: id } });
    // The versioned channels, in one key order (MemorySaver also keeps unversioned empty ones,
    // such as the empty task queue, which a saver that stores only `newVersions` does not).
    const { channel_values: v, channel_versions: versions } = tuple.checkpoint;
    values.push(Object.keys(versions).filter((k) => Object.hasOwn(v, k)).sort().map((k) => [k, v[k]]));
  }
  return {
    put: mean(runCalls.put),
    putWrites: mean(runCalls.putWrites),
    getTuple: mean(calls.getTuple),
    list: listMs,
    checkpoints: listed,
    fingerprint: JSON.stringify([final, values]),
  };
}

export async function langgraphSection(config) {
  const steps = config.langgraphSteps;
  const rounds = config.rounds;
  const { MemorySaver } = await import("@langchain/langgraph-checkpoint");
  const { SqliteSaver } = await import("@langchain/langgraph-checkpoint-sqlite");
  const { MemorySnapshotStore, SqliteStateDb } = await import("asap-state");
  const { AsapCheckpointSaver } = await import("asap-state/langgraph");
  const dir = mkdtempSync(join(tmpdir(), "asap-state-bench-langgraph-"));
  let seq = 0;
  const savers = [
    ["asap-state memory", async () => ({ saver: new AsapCheckpointSaver(new MemorySnapshotStore()), close() {} })],
    [`MemorySaver ${packageVersion("@langchain/langgraph-checkpoint")}`, async () => ({ saver: new MemorySaver(), close() {} })],
    ["asap-state SQLite Node file", async () => {
      const db = await SqliteStateDb.open({ path: join(dir, `asap-${++seq}.db`) });
      return { saver: new AsapCheckpointSaver(db.snapshots), close: () => db.close() };
    }],
    [`SqliteSaver ${packageVersion("@langchain/langgraph-checkpoint-sqlite")} (better-sqlite3 WAL file, its default synchronous=NORMAL)`, async () => {
      const saver = SqliteSaver.fromConnString(join(dir, `peer-${++seq}.db`));
      return { saver, close: () => saver.db.close() };
    }],
    ["SqliteSaver, synchronous=FULL (durable on commit, as asap-state)", async () => {
      const saver = SqliteSaver.fromConnString(join(dir, `peer-${++seq}.db`));
      saver.db.pragma("synchronous = FULL");
      return { saver, close: () => saver.db.close() };
    }],
  ];
  const results = [];
  try {
    for (const [name, make] of savers) {
      progress(`langgraph ${steps} steps: ${name}`);
      const samples = { put: [], putWrites: [], getTuple: [], list: [] };
      let last;
      for (let r = 0; r < config.warmup + rounds; r += 1) {
        settle();
        const { saver, close } = await make();
        try {
          last = await round(saver, steps);
        } finally {
          close();
        }
        if (r >= config.warmup) for (const op of Object.keys(samples)) samples[op].push(last[op]);
      }
      results.push([name, { ...Object.fromEntries(Object.entries(samples).map(([op, s]) => [op, stats(s)])), fingerprint: last.fingerprint, checkpoints: last.checkpoints }]);
    }

    // Bytes stored per step: both SQLite stores as images in memory, the same graph, with
    // ~1 KiB and ~4 KiB channel values.
    const bytes = {};
    for (const size of [VALUE_BYTES, 4 * VALUE_BYTES]) {
      progress(`langgraph ${steps} steps: bytes stored, ${fmtBytes(size)} values`);
      const run = { configurable: { thread_id: "bytes" }, recursionLimit: steps * 2 + 10 };
      const ours = await SqliteStateDb.open();
      const emptyOurs = ours.exportBytes().length;
      await (await buildGraph(new AsapCheckpointSaver(ours.snapshots), steps, size)).invoke({ step: 0 }, run);
      const oursBytes = ours.exportBytes().length - emptyOurs;
      ours.close();
      const peer = SqliteSaver.fromConnString(":memory:");
      await peer.getTuple({ configurable: { thread_id: "none" } }); // creates its tables
      const emptyPeer = peer.db.serialize().length;
      await (await buildGraph(peer, steps, size)).invoke({ step: 0 }, run);
      const peerBytes = peer.db.serialize().length - emptyPeer;
      peer.db.close();
      bytes[size] = { ours: oursBytes / steps, peer: peerBytes / steps };
    }
    const [mem, memorySaver, file, sqliteSaver, sqliteSaverFull] = results;
    for (const [name, r] of results.slice(1)) check(r.fingerprint === mem[1].fingerprint, `${name} answers like asap-state's memory saver`);
    const ops = ["put", "getTuple", "list"];
    const rows = [...ops, "putWrites"].map((op) => [
      op === "list" ? "list (per checkpoint)" : op,
      ...results.map(([, r]) => fmtStats(r[op])),
      ratio(mem[1][op], memorySaver[1][op]),
      ratio(file[1][op], sqliteSaver[1][op]),
      ratio(file[1][op], sqliteSaverFull[1][op]),
    ]);
    const worstMemory = Math.max(...ops.map((op) => mem[1][op].median / memorySaver[1][op].median));
    const worstFile = Math.max(...ops.map((op) => file[1][op].median / sqliteSaver[1][op].median));
    const worstFileFull = Math.max(...ops.map((op) => file[1][op].median / sqliteSaverFull[1][op].median));
    const smaller = Object.fromEntries(Object.entries(bytes).map(([size, b]) => [size, b.peer / b.ours]));
    const bytesDetail = (size) => `${fmtBytes(Math.round(bytes[size].ours))} vs ${fmtBytes(Math.round(bytes[size].peer))} (${smaller[size].toFixed(1)}×)`;
    return {
      title: "LangGraph checkpointers during a graph run",
      intro: `A StateGraph of ten channels (~${fmtBytes(VALUE_BYTES)} each) loops ${steps} steps, each rewriting one channel; then every checkpoint is listed (\`list\`, time per checkpoint) and read by id (\`getTuple\`). \`put\` and \`putWrites\` are the calls the graph made while running (mean per call per round). Every saver's final state and every checkpoint's values are compared. Bytes per step: the SQLite image's growth over the run ÷ steps (asap-state \`exportBytes()\`, SqliteSaver \`db.serialize()\`, both in memory), with ~1 KiB and ~4 KiB channel values: SQLite keeps a row of asap-state's (a checkpoint with its one changed value, or a reference to the write that produced it, and its pending writes) on a 4 KiB page of its own, so at 1 KiB half of each page is unused.`,
      tables: [
        {
          caption: `${steps}-step graph run; ${mem[1].checkpoints} checkpoints; time per call`,
          header: ["operation", ...results.map(([n]) => n), "asap memory ÷ MemorySaver", "asap file ÷ SqliteSaver", "asap file ÷ SqliteSaver FULL"],
          rows,
        },
        {
          caption: "bytes stored per step (one channel of ten changes)",
          header: ["channel values", "asap-state", "SqliteSaver", "SqliteSaver ÷ asap-state"],
          rows: Object.keys(bytes).map((size) => [`~${fmtBytes(Number(size))}`, fmtBytes(Math.round(bytes[size].ours)), fmtBytes(Math.round(bytes[size].peer)), `${smaller[size].toFixed(1)}×`]),
        },
      ],
      goals: [
        { goal: "LangGraph: memory backend within 2× of MemorySaver (put, getTuple, list)", met: worstMemory <= 2, detail: `worst ${worstMemory.toFixed(2)}×` },
        { goal: "LangGraph: SQLite file no slower than 2× SqliteSaver as it comes (synchronous=NORMAL: not durable on power loss; put, getTuple, list)", met: worstFile <= 2, detail: `worst ${worstFile.toFixed(2)}×` },
        { goal: "LangGraph: SQLite file no slower than 2× SqliteSaver durable on commit (synchronous=FULL, as asap-state; put, getTuple, list)", met: worstFileFull <= 2, detail: `worst ${worstFileFull.toFixed(2)}×` },
        ...Object.keys(bytes).map((size) => ({
          goal: `LangGraph: bytes stored per step at least 5× smaller than SqliteSaver's (~${fmtBytes(Number(size))} channel values)`,
          met: smaller[size] >= 5,
          detail: bytesDetail(size),
        })),
      ],
      data: { results: Object.fromEntries(results), bytes },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
