// "asap-state/langgraph" (AsapCheckpointSaver) beyond LangGraph's own conformance suite (which
// tests/langgraph/ runs on every backend): a real graph with an interrupt, a resume, its history
// and a fork, answered exactly as MemorySaver answers, on the memory store, a SQLite image and a
// Node file (which sqlite3 and the Python reference then open); storage that grows with what
// changes; typed values through a file byte for byte; writes that arrive before their checkpoint;
// pruning; compare-and-swap against a concurrent writer; bad arguments.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { Command, MemorySaver } from "@langchain/langgraph";
import { JsonPlusSerializer, TASKS, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { MemorySnapshotStore, SqliteStateDb, StateError } from "asap-state";
import { AsapCheckpointSaver, DEFAULT_PREFIX } from "asap-state/langgraph";
import { reviewCommand } from "../../examples/langgraph/commands.mjs";
import { buildEssayGraph, buildReviewGraph } from "../../examples/langgraph/graph.mjs";
import { bundleSaverWorker, callObject, saverMiniflare } from "../langgraph/worker/workerd.mjs";
import { readWithReference } from "./helpers.mjs";

const tmp = mkdtempSync(join(tmpdir(), "asap-state-langgraph-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fileSeq = 0;
const newFile = () => join(tmp, `state-${++fileSeq}.db`);

const backends = {
  memory: async () => ({ snapshots: new MemorySnapshotStore(), close() {} }),
  "SQLite image": async () => {
    const db = await SqliteStateDb.open();
    return { snapshots: db.snapshots, close: () => db.close() };
  },
  "SQLite Node file": async () => {
    const db = await SqliteStateDb.open({ path: newFile() });
    return { snapshots: db.snapshots, close: () => db.close() };
  },
};

/** The essay graph run to its interrupt, resumed, its history read, then forked at the review. */
async function essayRun(checkpointer) {
  const graph = buildEssayGraph(checkpointer);
  const config = { configurable: { thread_id: "essay-1" } };
  const first = await graph.invoke({ topic: "edge agents" }, config);
  const resumed = await graph.invoke(new Command({ resume: "yes" }), config);
  const history = [];
  for await (const s of graph.getStateHistory(config)) history.push(s);
  const atReview = history.find((s) => s.next.includes("review"));
  const forkInterrupted = await graph.invoke(null, atReview.config);
  const forked = await graph.invoke(new Command({ resume: "no" }), config);
  const after = [];
  for await (const s of graph.getStateHistory(config)) after.push(s);
  const ids = new Map(after.map((s, i) => [s.config.configurable.checkpoint_id, i]));
  // Checkpoint ids differ from run to run: compare the shape (which entry is whose parent).
  const shape = after.map((s) => ({
    step: s.metadata.step,
    source: s.metadata.source,
    next: s.next,
    values: s.values,
    parent: s.parentConfig ? ids.get(s.parentConfig.configurable.checkpoint_id) : null,
    interrupts: s.tasks.flatMap((t) => t.interrupts.map((i) => i.value)),
  }));
  return {
    interrupt: first.__interrupt__.map((i) => i.value),
    resumed,
    forkInterrupt: forkInterrupted.__interrupt__.map((i) => i.value),
    forked,
    shape,
    latest: (await graph.getState(config)).values,
  };
}

describe("a real LangGraph graph", () => {
  let expected;
  test("MemorySaver's answers (the yardstick)", async () => {
    expected = await essayRun(new MemorySaver());
    assert.deepEqual(expected.resumed.log, ["plan", "review:yes", "write"]);
    assert.deepEqual(expected.forked.log, ["plan", "review:no", "write"]);
    assert.equal(expected.shape.length, 8);
  });
  for (const [name, open] of Object.entries(backends)) {
    test(`${name}: interrupt, resume, history and fork answer exactly as MemorySaver`, async () => {
      const store = await open();
      try {
        const got = await essayRun(new AsapCheckpointSaver(store.snapshots));
        assert.deepEqual(got, expected);
        assert.match(got.interrupt[0].question, /Approve/);
        assert.equal(got.resumed.draft, "Plan for edge agents: research, outline, write -> written");
        assert.equal(got.latest.approved, false, "the fork is the thread's newest state");
      } finally {
        store.close();
      }
    });
  }

  test("a Node file of the thread: sqlite3 finds it intact, the Python reference reads the same snapshots", async () => {
    const file = newFile();
    let db = await SqliteStateDb.open({ path: file });
    await essayRun(new AsapCheckpointSaver(db.snapshots));
    db.close();
    db = await SqliteStateDb.open({ path: file });
    const saver = new AsapCheckpointSaver(db.snapshots);
    const task = saver.taskId("essay-1");
    assert.equal(task, `${DEFAULT_PREFIX}essay-1`);
    const ours = Object.fromEntries(db.snapshots.listVersions(task).map((v) => [v, db.snapshots.get(task, v)]));
    assert.equal(Object.keys(ours).length, 8);
    const tuple = await saver.getTuple({ configurable: { thread_id: "essay-1" } });
    assert.equal(tuple.checkpoint.channel_values.approved, false, "reopened, the newest checkpoint is the fork's end");
    db.close();
    const copy = `${file}.copy`;
    copyFileSync(file, copy);
    const check = spawnSync("/usr/bin/sqlite3", [copy, "PRAGMA integrity_check;"], { encoding: "utf8" });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stdout.trim(), "ok");
    const theirs = readWithReference(copy, { tasks: [task] });
    if (theirs) {
      assert.deepEqual(theirs.tasks[task].versions, Object.keys(ours).map(Number));
      for (const [v, snapshot] of Object.entries(ours)) {
        assert.deepEqual(theirs.tasks[task].each[v].data, snapshot.data, `version ${v}`);
        assert.equal(theirs.tasks[task].each[v].id, snapshot.id);
      }
    }
  });
});

test("examples/langgraph/node.mjs: paused in one process, resumed, listed and forked in others", () => {
  const file = newFile();
  const run = (...args) => JSON.parse(execFileSync(process.execPath, [new URL("../../examples/langgraph/node.mjs", import.meta.url).pathname, file, ...args], { encoding: "utf8" }));
  assert.deepEqual(run("start", "edge agents"), { paused: [{ question: "Approve this plan?", draft: "Plan for edge agents: research, outline, write" }] });
  assert.deepEqual(run("resume", "yes").done.log, ["plan", "review:yes", "write"]);
  assert.deepEqual(run("history").history.map((s) => s.step), [3, 2, 1, 0, -1]);
  const forked = run("fork", "no").forked;
  assert.equal(forked.draft, "Plan for edge agents: research, outline, write -> rejected");
  const history = run("history").history;
  assert.deepEqual(history.map((s) => s.step), [4, 3, 2, 3, 2, 1, 0, -1], "the fork's three checkpoints, then the first branch's");
  assert.deepEqual(history[0].log, ["plan", "review:no", "write"]);
  assert.deepEqual(history[3].log, ["plan", "review:yes", "write"]);
});

describe("the essay graph in workerd, in a Durable Object", () => {
  let mf;
  const call = (method, ...args) => callObject(mf, "essay-thread", method, ...args);
  after(() => mf?.dispose());

  test("paused, workerd restarted, resumed, listed and forked: the same answers as on a Node file", async () => {
    const outDir = bundleSaverWorker(tmp);
    const persist = join(tmp, "essay-objects");
    const start = () => saverMiniflare(outDir, persist);
    const file = newFile();
    const node = (...args) => JSON.parse(execFileSync(process.execPath, [new URL("../../examples/langgraph/node.mjs", import.meta.url).pathname, file, ...args], { encoding: "utf8" }));
    mf = start();
    assert.deepEqual(await call("essay", "start", "edge agents"), node("start", "edge agents"));
    // The pause is in the object's SQLite storage: a new workerd on the same directory resumes it.
    await mf.dispose();
    mf = start();
    const resumed = await call("essay", "resume", "yes");
    assert.deepEqual(resumed, node("resume", "yes"));
    assert.deepEqual(resumed.done.log, ["plan", "review:yes", "write"]);
    assert.deepEqual(await call("essay", "history"), node("history"));
    assert.deepEqual(await call("essay", "fork", "no"), node("fork", "no"));
    const history = await call("essay", "history");
    assert.deepEqual(history, node("history"));
    assert.equal(history.history.length, 8);
    assert.deepEqual(await call("tasks"), [["langgraph:essay", 8]]);
  });
});

describe("the essay graph in headless Chromium, on an OPFS file", () => {
  const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };
  const out = join(tmp, "browser");
  let server;
  let origin;

  before(async () => {
    // The worker bundled as an app would bundle it: LangGraph's browser build, the saver, the
    // example; the package's no-bundler entry stays a separate module.
    mkdirSync(out, { recursive: true });
    await build({
      entryPoints: [join(REPO, "tests/js/fixtures/langgraph-opfs/worker.js")],
      bundle: true,
      format: "esm",
      platform: "browser",
      outfile: join(out, "worker.js"),
      external: ["/pkg/web.js"],
      logLevel: "error",
    });
    copyFileSync(join(REPO, "tests/js/fixtures/langgraph-opfs/page.html"), join(out, "page.html"));
    const roots = { "/pkg/": join(REPO, "pkg"), "/langgraph/": out };
    server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      const prefix = Object.keys(roots).find((p) => path.startsWith(p));
      const base = prefix && roots[prefix];
      const file = base && resolve(base, "." + path.slice(prefix.length - 1));
      if (!file || !file.startsWith(base + sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return res.writeHead(404).end("not found");
      res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(readFileSync(file));
    });
    await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
    origin = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((ok) => (server ? server.close(ok) : ok())));

  /** `commands` run in the worker of a browser on `profile`, which is then closed. */
  async function inBrowser(profile, commands) {
    const context = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", args: ARGS });
    try {
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${origin}/langgraph/page.html`);
      await page.waitForFunction(() => window.ready === true);
      await page.evaluate(() => window.start());
      const ask = async (cmd) => {
        const r = await page.evaluate((c) => window.ask(c), cmd);
        assert.ok(r.ok, r.message);
        return r.value;
      };
      await ask({ op: "open", path: "essay.db" });
      const answers = [];
      for (const [command, arg] of commands) answers.push(command === "tasks" ? await ask({ op: "tasks" }) : await ask({ op: "essay", command, arg }));
      await ask({ op: "close" });
      assert.deepEqual(errors, []);
      return answers;
    } finally {
      await context.close();
    }
  }

  test("paused, the browser closed and started again, resumed, listed and forked: the same answers as in Node", async () => {
    // The same commands in Node on a file: the answers the browser must give.
    const db = await SqliteStateDb.open({ path: newFile() });
    const graph = buildReviewGraph(new AsapCheckpointSaver(db.snapshots));
    const script = [["start", "edge agents"], ["resume", "yes"], ["history"], ["fork", "no"], ["history"]];
    const want = [];
    for (const [command, arg] of script) want.push(await reviewCommand(graph, "essay", command, arg));
    db.close();
    assert.deepEqual(want[0], { paused: ["review"] });
    assert.deepEqual(want[3].forked.log, ["plan", "review:no", "write"]);

    const profile = mkdtempSync(join(tmpdir(), "asap-state-langgraph-profile-"));
    try {
      const [paused] = await inBrowser(profile, script.slice(0, 1));
      assert.deepEqual(paused, want[0]);
      // A new browser on the same profile finds the paused thread in OPFS.
      const rest = await inBrowser(profile, [...script.slice(1), ["tasks"]]);
      assert.deepEqual(rest.slice(0, 4), want.slice(1));
      assert.deepEqual(rest[4], [["langgraph:essay", want[4].history.length]]);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

/** A checkpoint with ten channels, `values` of them, at `versions`. */
function checkpointOf(values, versions) {
  return { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
}

describe("storage grows with what changes", () => {
  test("a channel's value is stored once per version; every checkpoint still reads all ten", async () => {
    const store = new MemorySnapshotStore();
    const saver = new AsapCheckpointSaver(store);
    const channels = Array.from({ length: 10 }, (_, i) => `ch${i}`);
    const values = Object.fromEntries(channels.map((c) => [c, { text: `${c} `.repeat(50), step: 0 }]));
    const versions = Object.fromEntries(channels.map((c) => [c, 1]));
    let config = { configurable: { thread_id: "t" } };
    config = await saver.put(config, checkpointOf(values, versions), { source: "input", step: -1, parents: {} }, versions);
    const expected = [structuredClone(values)];
    for (let step = 0; step < 30; step += 1) {
      const c = channels[step % 10];
      values[c] = { text: `${c} `.repeat(50), step: step + 1 };
      versions[c] += 1;
      config = await saver.put(config, checkpointOf(values, versions), { source: "loop", step, parents: {} }, { [c]: versions[c] });
      expected.push(structuredClone(values));
    }
    const task = saver.taskId("t");
    const stored = store.listVersions(task).map((v) => store.get(task, v));
    assert.equal(Object.keys(stored[0].data.channel_values).length, 10);
    for (const s of stored.slice(1)) assert.equal(Object.keys(s.data.channel_values).length, 1, "one changed channel per step");
    const history = [];
    for await (const t of saver.list({ configurable: { thread_id: "t" } })) history.push(t.checkpoint.channel_values);
    assert.deepEqual(history.reverse(), expected);
  });
});

describe("forks", () => {
  test("a branch reads its own values when another branch holds the same channel version", async () => {
    const saver = new AsapCheckpointSaver(new MemorySnapshotStore());
    const meta = (step) => ({ source: "loop", step, parents: {} });
    const root = await saver.put({ configurable: { thread_id: "f" } }, checkpointOf({ x: "base" }, { x: 1 }), meta(-1), { x: 1 });
    const a1 = await saver.put(root, checkpointOf({ x: "A" }, { x: 2 }), meta(0), { x: 2 });
    const b1 = await saver.put(root, checkpointOf({ x: "B" }, { x: 2 }), meta(0), { x: 2 });
    // Back on branch A: x is unchanged at version 2, which branch B's newer checkpoint also has.
    const a2 = await saver.put(a1, checkpointOf({ x: "A", y: 1 }, { x: 2, y: 1 }), meta(1), { y: 1 });
    const b2 = await saver.put(b1, checkpointOf({ x: "B", y: 2 }, { x: 2, y: 1 }), meta(1), { y: 1 });
    assert.deepEqual((await saver.getTuple(a2)).checkpoint.channel_values, { x: "A", y: 1 });
    assert.deepEqual((await saver.getTuple(b2)).checkpoint.channel_values, { x: "B", y: 2 });
    assert.equal((await saver.getTuple(a2)).parentConfig.configurable.checkpoint_id, a1.configurable.checkpoint_id);
    const latest = await saver.getTuple({ configurable: { thread_id: "f" } });
    assert.equal(latest.config.configurable.checkpoint_id, b2.configurable.checkpoint_id, "the newest checkpoint id");
  });

  test("checkpoints stored out of id order are listed and found newest id first", async () => {
    const store = new MemorySnapshotStore();
    const saver = new AsapCheckpointSaver(store);
    const ids = Array.from({ length: 5 }, () => uuid6(-1));
    const order = [2, 0, 4, 1, 3];
    for (const i of order) {
      await saver.put({ configurable: { thread_id: "o" } }, { ...checkpointOf({ i }, { i: 1 }), id: ids[i] }, { source: "loop", step: i, parents: {} }, { i: 1 });
    }
    const listed = [];
    for await (const t of saver.list({ configurable: { thread_id: "o" } })) listed.push(t.checkpoint.channel_values.i);
    assert.deepEqual(listed, [4, 3, 2, 1, 0]);
    assert.equal((await saver.getTuple({ configurable: { thread_id: "o" } })).checkpoint.channel_values.i, 4);
    const two = [];
    for await (const t of saver.list({ configurable: { thread_id: "o" } }, { before: { configurable: { checkpoint_id: ids[3] } }, limit: 2 })) two.push(t.checkpoint.channel_values.i);
    assert.deepEqual(two, [2, 1]);
  });
});

describe("the value cache", () => {
  test("a thread deleted and started again elsewhere is read afresh, never from what was cached", async () => {
    const store = new MemorySnapshotStore();
    const reader = new AsapCheckpointSaver(store); // one process
    const writer = new AsapCheckpointSaver(store); // another
    const meta = { source: "loop", step: 0, parents: {} };
    const write = async (x, y) => {
      const first = await writer.put({ configurable: { thread_id: "c" } }, checkpointOf({ x, y }, { x: 1, y: 1 }), meta, { x: 1, y: 1 });
      return writer.put(first, checkpointOf({ x, y: `${y}!` }, { x: 1, y: 2 }), meta, { y: 2 });
    };
    const before = await write("old x", "old y");
    assert.deepEqual((await reader.getTuple(before)).checkpoint.channel_values, { x: "old x", y: "old y!" });
    await writer.deleteThread("c");
    const after = await write("new x", "new y");
    assert.deepEqual(store.listVersions(reader.taskId("c")), [1, 2], "the same version numbers again");
    assert.deepEqual((await reader.getTuple(after)).checkpoint.channel_values, { x: "new x", y: "new y!" });
    assert.deepEqual((await reader.getTuple({ configurable: { thread_id: "c" } })).checkpoint.channel_values, { x: "new x", y: "new y!" });
  });

  test("a prune by another saver moves values into a checkpoint this one remembers: it reads it again", async () => {
    const store = new MemorySnapshotStore();
    const reader = new AsapCheckpointSaver(store);
    const pruner = new AsapCheckpointSaver(store);
    const versions = { fixed: 1, counter: 1 };
    const values = { fixed: "set once", counter: 0 };
    let config = await reader.put({ configurable: { thread_id: "h" } }, checkpointOf(values, versions), { source: "input", step: -1, parents: {} }, versions);
    const configs = [];
    for (let i = 1; i <= 5; i += 1) {
      values.counter = i;
      versions.counter += 1;
      config = await reader.put(config, checkpointOf(values, versions), { source: "loop", step: i, parents: {} }, { counter: versions.counter });
      configs.push(config);
    }
    for (const c of configs) await reader.getTuple(c); // everything remembered
    assert.equal(await pruner.prune("h", { keepLast: 2 }), 4);
    for (const c of configs.slice(-2)) {
      assert.equal((await reader.getTuple(c)).checkpoint.channel_values.fixed, "set once");
    }
  });

  test("with cacheSize 0 every read goes to the store, with the same answers", async () => {
    const store = new MemorySnapshotStore();
    const cached = new AsapCheckpointSaver(store);
    const uncached = new AsapCheckpointSaver(store, { cacheSize: 0 });
    let config = { configurable: { thread_id: "u" } };
    const values = {};
    const versions = {};
    for (let i = 0; i < 12; i += 1) {
      const c = `ch${i % 4}`;
      values[c] = i;
      versions[c] = (versions[c] ?? 0) + 1;
      config = await cached.put(config, checkpointOf({ ...values }, { ...versions }), { source: "loop", step: i, parents: {} }, { [c]: versions[c] });
    }
    /** The store, counting the calls of `get` (reads by version: how holders are read). */
    const counted = () => {
      const calls = { get: 0 };
      const proxy = new Proxy(store, {
        get(target, key) {
          const v = target[key];
          if (key === "get") return (...a) => ((calls.get += 1), v.apply(target, a));
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      return { proxy, calls };
    };
    const off = counted();
    const on = counted();
    const uncachedReader = new AsapCheckpointSaver(off.proxy, { cacheSize: 0 });
    const cachedReader = new AsapCheckpointSaver(on.proxy);
    const want = { ch0: 8, ch1: 9, ch2: 10, ch3: 11 };
    for (const reader of [uncachedReader, cachedReader]) {
      for (let i = 0; i < 2; i += 1) assert.deepEqual((await reader.getTuple(config)).checkpoint.channel_values, want);
    }
    assert.equal(off.calls.get, 6, "uncached: the three other holders, read on each call");
    assert.equal(on.calls.get, 3, "cached: read once");
    assert.deepEqual(await uncached.getTuple(config), await cachedReader.getTuple(config));
    assert.throws(() => new AsapCheckpointSaver(store, { cacheSize: -1 }), (e) => e.code === "INVALID_ARGUMENT" && /options.cacheSize/.test(e.message));
  });
});

/**
 * A serializer that hands out fixed [type, bytes] pairs for `{ fixed }` values and gives them back
 * as `{ fixed: [type, bytes] }` when it is handed exactly those bytes again; everything else goes
 * through LangGraph's JsonPlusSerializer.
 */
class FixedSerde {
  inner = new JsonPlusSerializer();
  known = new Set();
  async dumpsTyped(value) {
    if (!value?.fixed) return this.inner.dumpsTyped(value);
    this.known.add(`${value.fixed[0]}:${Buffer.from(value.fixed[1]).toString("hex")}`);
    return value.fixed;
  }
  async loadsTyped(type, data) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    if (this.known.has(`${type}:${Buffer.from(bytes).toString("hex")}`)) return { fixed: [type, bytes] };
    return this.inner.loadsTyped(type, data);
  }
}

describe("typed values", () => {
  const enc = (text) => new TextEncoder().encode(text);
  const deep = `${"[".repeat(200)}"~"${"]".repeat(200)}`;
  const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256);
  const cases = {
    plain: ["json", enc('"~plain json, stored as JSON"'), "json"],
    keyOrder: ["json", enc('["~", {"z": 1, "a": [1.5, {"y": null}]}]'.replace(/ /g, "")), "json"],
    bytes: ["bytes", random, "base64"],
    loneSurrogate: ["json", enc('"~\\ud800 alone"'), "base64"],
    bigInteger: ["json", enc('["~",12345678901234567890]'), "base64"],
    negativeZero: ["json", enc('["~",-0]'), "base64"],
    spaced: ["json", enc('[ "~" ]'), "base64"],
    deep: ["json", enc(deep), "base64"],
    invalidUtf8: ["json", Uint8Array.from([0x22, 0x7e, 0xff, 0x22]), "base64"],
    customType: ["msgpack", Uint8Array.from([0x92, 0x01, 0x02]), "base64"],
  };

  test("every [type, bytes] survives a SQLite file byte for byte (JSON kept as JSON only when exact)", async () => {
    const file = newFile();
    const serde = new FixedSerde();
    let db = await SqliteStateDb.open({ path: file });
    let saver = new AsapCheckpointSaver(db.snapshots, { serde });
    const names = Object.keys(cases);
    const values = Object.fromEntries(names.map((n) => [n, { fixed: cases[n].slice(0, 2) }]));
    const versions = Object.fromEntries(names.map((n) => [n, 1]));
    const config = await saver.put({ configurable: { thread_id: "typed" } }, checkpointOf(values, versions), { source: "input", step: -1, parents: {} }, versions);
    await saver.putWrites(config, [["bytes", { fixed: cases.bytes.slice(0, 2) }]], "task-1");
    db.close();

    db = await SqliteStateDb.open({ path: file });
    saver = new AsapCheckpointSaver(db.snapshots, { serde });
    const raw = db.snapshots.get(saver.taskId("typed")).data;
    for (const n of names) {
      const form = Object.hasOwn(raw.channel_values[n].value, "json") ? "json" : "base64";
      assert.equal(form, cases[n][2], `${n} is stored as ${cases[n][2]}`);
    }
    const tuple = await saver.getTuple(config);
    for (const n of names) {
      const [type, bytes] = tuple.checkpoint.channel_values[n].fixed;
      assert.equal(type, cases[n][0], n);
      assert.equal(Buffer.from(bytes).toString("hex"), Buffer.from(cases[n][1]).toString("hex"), `${n}: the same bytes`);
    }
    assert.equal(Buffer.from(tuple.pendingWrites[0][2].fixed[1]).toString("hex"), Buffer.from(random).toString("hex"));
    db.close();
  });

  test("LangGraph's own types (Map, Set, Date, Uint8Array, undefined inside) come back as themselves", async () => {
    const saver = new AsapCheckpointSaver(new MemorySnapshotStore());
    const value = { map: new Map([["a", 1]]), set: new Set([1, 2]), bytes: Uint8Array.from([1, 2, 3]), missing: undefined, when: new Date(0).toISOString() };
    const config = await saver.put({ configurable: { thread_id: "types" } }, checkpointOf({ value }, { value: 1 }), { source: "input", step: -1, parents: {} }, { value: 1 });
    const tuple = await saver.getTuple(config);
    assert.deepEqual(tuple.checkpoint.channel_values.value, value);
    assert.ok(tuple.checkpoint.channel_values.value.map instanceof Map);
  });
});

describe("pending writes", () => {
  test("writes sent before their checkpoint is stored are held, then taken over by put", async () => {
    const store = new MemorySnapshotStore();
    const saver = new AsapCheckpointSaver(store);
    const checkpoint = checkpointOf({}, {});
    const config = { configurable: { thread_id: "early", checkpoint_ns: "", checkpoint_id: checkpoint.id } };
    await saver.putWrites(config, [["a", 1], ["b", 2]], "task-b", "~b");
    await saver.putWrites(config, [["a", 9]], "task-a", "~a");
    assert.deepEqual(store.listTasks().map((t) => t.task_id), ["langgraph:early#writes"]);
    assert.equal(await saver.getTuple(config), undefined, "no checkpoint yet");
    const stored = await saver.put({ configurable: { thread_id: "early" } }, checkpoint, { source: "input", step: -1, parents: {} }, {});
    assert.deepEqual(store.listTasks().map((t) => t.task_id), ["langgraph:early"], "the held writes moved into the checkpoint");
    await saver.putWrites(stored, [["a", 100]], "task-a", "~a");
    await saver.putWrites(stored, [[TASKS, "x"], ["__error__", "boom"]], "task-c");
    await saver.putWrites(stored, [["__error__", "boom again"]], "task-c");
    const tuple = await saver.getTuple(stored);
    assert.deepEqual(tuple.pendingWrites, [
      ["task-c", "__error__", "boom again"],
      ["task-c", TASKS, "x"],
      ["task-a", "a", 9],
      ["task-b", "a", 1],
      ["task-b", "b", 2],
    ], "sorted by (task path, task id, index); a regular write is kept, a special one replaced");
    await saver.deleteThread("early");
    assert.deepEqual(store.listTasks(), []);
  });
});

describe("a value written by a step is stored once", () => {
  /** A graph of ten ~1 KiB channels; each of `steps` steps rewrites one (the bench's workload). */
  async function tenChannels(saver, steps) {
    const { Annotation, END, START, StateGraph } = await import("@langchain/langgraph");
    const spec = { step: Annotation() };
    for (let c = 0; c < 10; c += 1) spec[`c${c}`] = Annotation();
    const graph = new StateGraph(Annotation.Root(spec))
      .addNode("work", (s) => {
        const step = (s.step ?? 0) + 1;
        return { [`c${step % 10}`]: `step ${step} `.padEnd(1024, "notes "), step };
      })
      .addEdge(START, "work")
      .addConditionalEdges("work", (s) => (s.step < steps ? "work" : END))
      .compile({ checkpointer: saver });
    await graph.invoke({ step: 0 }, { configurable: { thread_id: "ten" }, recursionLimit: 200 });
  }

  test("as the pending write that produced it, referenced by the next checkpoint; pruning inlines what it must", async () => {
    const store = new MemorySnapshotStore();
    await tenChannels(new AsapCheckpointSaver(store), 30);
    const reader = new AsapCheckpointSaver(store, { cacheSize: 0 });
    const task = reader.taskId("ten");
    const stored = store.listVersions(task).map((v) => store.get(task, v));
    const refs = stored.flatMap((s) => Object.entries(s.data.channel_values).filter(([, v]) => Array.isArray(v.write)).map(([c]) => c));
    assert.ok(refs.length >= 29, `${refs.length} values stored as references to writes`);
    for (const s of stored) assert.ok(JSON.stringify(s.data).length < 2 * 1024 + 1500, `version ${s.version}: ${JSON.stringify(s.data).length} B, one 1 KiB value and one 1 KiB write at most`);
    const before = [];
    for await (const t of reader.list({ configurable: { thread_id: "ten" } })) before.push(t);
    assert.equal(before[0].checkpoint.channel_values.c0, `step 30 `.padEnd(1024, "notes "));
    assert.equal(Object.keys(before[0].checkpoint.channel_values).filter((k) => /^c\d$/.test(k)).length, 10);

    assert.ok((await reader.prune("ten", { keepLast: 2 })) > 0);
    const after = [];
    for await (const t of reader.list({ configurable: { thread_id: "ten" } })) after.push(t);
    const kept = new Set(after.map((t) => t.checkpoint.id));
    for (const t of before.filter((b) => kept.has(b.checkpoint.id))) {
      assert.deepEqual(after.find((a) => a.checkpoint.id === t.checkpoint.id).checkpoint, t.checkpoint, "a kept checkpoint reads as before");
    }
    for (const version of store.listVersions(task)) {
      for (const v of Object.values(store.get(task, version).data.channel_values)) {
        if (Array.isArray(v.write)) assert.ok(store.listVersions(task).includes(v.at), "no reference to a deleted checkpoint");
      }
    }
  });
});

describe("pruning", () => {
  test("keeps the newest; the values they read from deleted checkpoints move into the oldest kept", async () => {
    const store = new MemorySnapshotStore();
    const saver = new AsapCheckpointSaver(store);
    const versions = { fixed: 1, counter: 1 };
    const values = { fixed: "set once", counter: 0 };
    let config = await saver.put({ configurable: { thread_id: "p" } }, checkpointOf(values, versions), { source: "input", step: -1, parents: {} }, versions);
    for (let i = 1; i <= 9; i += 1) {
      values.counter = i;
      versions.counter += 1;
      config = await saver.put(config, checkpointOf(values, versions), { source: "loop", step: i, parents: {} }, { counter: versions.counter });
    }
    await saver.put({ configurable: { thread_id: "p", checkpoint_ns: "sub" } }, checkpointOf({}, {}), { source: "input", step: -1, parents: {} }, {});
    assert.equal(await saver.prune("p", { keepLast: 3, checkpointNs: "" }), 7, "10 checkpoints, 3 kept");
    assert.deepEqual(store.listVersions(saver.taskId("p")), [8, 9, 10]);
    assert.deepEqual(Object.keys(store.get(saver.taskId("p"), 8).data.channel_values).sort(), ["counter", "fixed"], "the first checkpoint's value moved");
    const latest = await saver.getTuple({ configurable: { thread_id: "p" } });
    assert.deepEqual(latest.checkpoint.channel_values, { fixed: "set once", counter: 9 });
    const listed = [];
    for await (const t of saver.list({ configurable: { thread_id: "p", checkpoint_ns: "" } })) listed.push(t.checkpoint.channel_values.counter);
    assert.deepEqual(listed, [9, 8, 7]);
    const reread = new AsapCheckpointSaver(store, { cacheSize: 0 });
    for await (const t of reread.list({ configurable: { thread_id: "p", checkpoint_ns: "" } })) assert.equal(t.checkpoint.channel_values.fixed, "set once");
    assert.equal(await saver.prune("p", { keepLast: 1 }), 2, "both namespaces");
    assert.equal(store.listVersions(saver.taskId("p", "sub")).length, 1);
  });
});

describe("concurrency", () => {
  test("a put that loses a race to another writer retries on VERSION_CONFLICT and keeps both", async () => {
    const store = new MemorySnapshotStore();
    const other = new AsapCheckpointSaver(store);
    let raced = false;
    const racing = new Proxy(store, {
      get(target, key) {
        if (key !== "save") return typeof target[key] === "function" ? target[key].bind(target) : target[key];
        return (snapshot, options) => {
          if (!raced && snapshot.data.checkpoint_id !== undefined) {
            raced = true;
            // Another writer (another isolate, another process) saves in between.
            store.save({ id: "intruder", task_id: snapshot.task_id, data: { note: "not a checkpoint" } });
          }
          return target.save(snapshot, options);
        };
      },
    });
    const saver = new AsapCheckpointSaver(racing);
    const base = await other.put({ configurable: { thread_id: "race" } }, checkpointOf({}, {}), { source: "input", step: -1, parents: {} }, {});
    const mine = await saver.put(base, checkpointOf({ v: 1 }, { v: 1 }), { source: "loop", step: 0, parents: {} }, { v: 1 });
    assert.ok(raced);
    const task = saver.taskId("race");
    assert.deepEqual(store.listVersions(task), [1, 2, 3], "the intruder's version 2 is kept; the put landed at 3");
    assert.equal(store.get(task, 2).id, "intruder");
    assert.deepEqual((await saver.getTuple(mine)).checkpoint.channel_values, { v: 1 });
    const listed = [];
    for await (const t of saver.list({ configurable: { thread_id: "race" } })) listed.push(t.checkpoint.id);
    assert.equal(listed.length, 2, "the foreign snapshot is not listed as a checkpoint");
  });
});

describe("bad arguments", () => {
  const saver = new AsapCheckpointSaver(new MemorySnapshotStore());
  const meta = { source: "input", step: -1, parents: {} };
  const cases = [
    ["a non-store", () => new AsapCheckpointSaver({}), "snapshots"],
    ["an unknown option", () => new AsapCheckpointSaver(new MemorySnapshotStore(), { prefx: "x" }), "options.prefx"],
    ["a prefix with a slash", () => new AsapCheckpointSaver(new MemorySnapshotStore(), { prefix: "a/b" }), "options.prefix"],
    ["a numeric thread id", () => saver.put({ configurable: { thread_id: 7 } }, emptyCheckpoint(), meta, {}), "thread_id"],
    ["a missing thread id", () => saver.put({ configurable: {} }, emptyCheckpoint(), meta, {}), "thread_id"],
    ["a lone surrogate in a thread id", () => saver.put({ configurable: { thread_id: "\ud800" } }, emptyCheckpoint(), meta, {}), "thread_id"],
    ["a checkpoint without id", () => saver.put({ configurable: { thread_id: "t" } }, { ...emptyCheckpoint(), id: undefined }, meta, {}), "checkpoint.id"],
    ["writes that are not pairs", () => saver.putWrites({ configurable: { thread_id: "t", checkpoint_id: "c" } }, ["x"], "task"), "writes[0]"],
    ["a prune without keepLast", () => saver.prune("t", {}), "policy.keepLast"],
    ["a prune keeping 0", () => saver.prune("t", { keepLast: 0 }), "policy.keepLast"],
  ];
  for (const [name, fn, field] of cases) {
    test(`${name} → StateError INVALID_ARGUMENT naming ${field}; nothing stored`, async () => {
      await assert.rejects(async () => fn(), (e) => e instanceof StateError && e.code === "INVALID_ARGUMENT" && e.message.includes(field));
      assert.deepEqual(saver.snapshots.listTasks(), []);
    });
  }

  test("the store's own limits pass through: a checkpoint over 32 MiB is TOO_LARGE and stores nothing", async () => {
    const big = "x".repeat(33 * 1024 * 1024);
    await assert.rejects(
      saver.put({ configurable: { thread_id: "big" } }, checkpointOf({ big }, { big: 1 }), meta, { big: 1 }),
      (e) => e instanceof StateError && e.code === "TOO_LARGE",
    );
    assert.deepEqual(saver.snapshots.listTasks(), []);
  });

  test("thread ids and namespaces of any text map to task ids and back", async () => {
    const odd = ["a/b", "50%", "#writes", "ns:child|x", "__proto__", "é 😀"];
    for (const t of odd) {
      for (const ns of ["", ...odd]) {
        const task = saver.taskId(t, ns);
        assert.deepEqual(saver.parseTaskId(task), { threadId: t, checkpointNs: ns, early: false });
        assert.deepEqual(saver.parseTaskId(task + "#writes"), { threadId: t, checkpointNs: ns, early: true });
      }
    }
    assert.equal(saver.parseTaskId("other:task"), undefined);
    const config = await saver.put({ configurable: { thread_id: "__proto__", checkpoint_ns: "#writes" } }, checkpointOf({ ["__proto__"]: 1 }, { ["__proto__"]: 1 }), meta, { ["__proto__"]: 1 });
    const tuple = await saver.getTuple(config);
    assert.equal(tuple.config.configurable.thread_id, "__proto__");
    await saver.deleteThread("__proto__");
    assert.deepEqual(saver.snapshots.listTasks(), []);
  });
});

