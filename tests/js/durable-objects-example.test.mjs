// examples/durable-objects/ in real workerd: bundled from its own wrangler.jsonc the way
// `wrangler deploy` bundles it (offline), run by Miniflare from the installed wrangler with its
// two SQLite-backed Durable Object classes persisted to a temporary directory — so disposing
// Miniflare and starting it again on the same directory restarts every object from its storage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { SqliteStateDb } from "asap-state";
import { AUTH_BINDINGS, COORDINATOR, asapSend, bearer, bundleDurableObjectsExample, durableObjectsMiniflareOptions, readWithReference } from "./helpers.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
/** The whole bundled worker, gzip: the goal of issue 13. */
const BUNDLE_GZIP_BUDGET = 250 * 1024;

let tmp;
let bundle;
let config;
let outDir;
let persist;
let mf;
/** The headers of the tests' caller: tenant-a, every scope (the auth tests try the others). */
let AUTH;

function start() {
  return new Miniflare(durableObjectsMiniflareOptions(bundle, persist, AUTH_BINDINGS));
}

async function restart() {
  await mf.dispose();
  mf = start();
  await mf.ready;
}

async function post(body, headers = AUTH) {
  const res = await mf.dispatchFetch("http://localhost/asap", { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, body: await res.json() };
}

/** One ASAP envelope as a JSON-RPC `asap.send` request: the HTTP answer and the request. */
async function send(payload_type, payload) {
  const request = asapSend(config.vars.ASAP_AGENT_ID, payload_type, payload, { trace_id: "trace-do-1" });
  return { ...(await post(JSON.stringify(request))), request };
}

/** The reply payload of an answered request, with the envelope conventions checked. */
function reply(res, payloadType) {
  assert.equal(res.status, 200);
  assert.equal(res.body.error, undefined, JSON.stringify(res.body.error));
  const env = res.body.result.envelope;
  assert.equal(env.payload_type, payloadType);
  assert.match(env.id, ULID);
  assert.equal(env.sender, config.vars.ASAP_AGENT_ID);
  assert.equal(env.recipient, COORDINATOR);
  assert.equal(env.correlation_id, res.request.params.envelope.id);
  return env.payload;
}

const save = (snapshot, expected_version) => send("state_save", expected_version === undefined ? { snapshot } : { snapshot, expected_version });
const query = (task_id, version) => send("state_query", version === undefined ? { task_id } : { task_id, version });

async function listAll() {
  const tasks = [];
  let after = "";
  for (;;) {
    const res = await mf.dispatchFetch(`http://localhost/tasks?after=${encodeURIComponent(after)}&limit=1000`, { headers: AUTH });
    assert.equal(res.status, 200);
    const page = await res.json();
    tasks.push(...page.tasks);
    if (page.next === null) return tasks;
    after = page.next;
  }
}

before(async () => {
  AUTH = await bearer("tenant-a");
  tmp = mkdtempSync(join(tmpdir(), "asap-state-do-example-"));
  persist = join(tmp, "objects");
  bundle = bundleDurableObjectsExample(tmp);
  ({ config, outDir } = bundle);
  assert.match(bundle.stdout, /env\.TASKS\s+\(TaskState\)\s+Durable Object/);
  mf = start();
  await mf.ready;
});

after(async () => {
  try {
    await mf?.dispose();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
});

test("the bundled worker: the durable-object entry (no embedded SQL engine), within 250 KB gzip", () => {
  const files = readdirSync(outDir).filter((f) => !f.endsWith(".map") && !f.endsWith(".txt"));
  assert.equal(files.filter((f) => f.endsWith(".wasm")).length, 1, `one .wasm module in ${files}`);
  const sources = JSON.parse(readFileSync(join(outDir, "index.js.map"), "utf8")).sources.map((s) => resolve(outDir, s));
  assert.ok(sources.some((s) => s.endsWith("/durable-object/workerd.js")), "the durable-object entry is bundled");
  assert.ok(!sources.some((s) => /\/asap-state\/(workerd|node|browser)\.js$|\/pkg\/(workerd|node|browser)\.js$/.test(s)), "not the full entry");
  let gzip = 0;
  for (const f of files) gzip += gzipSync(readFileSync(join(outDir, f)), { level: 9 }).length;
  const wasm = files.find((f) => f.endsWith(".wasm"));
  console.log(`# bundled worker: ${files.length} files, ${gzip} B gzip (wasm ${statSync(join(outDir, wasm)).size} B raw)`);
  assert.ok(gzip <= BUNDLE_GZIP_BUDGET, `the bundled worker is ${gzip} B gzip, over ${BUNDLE_GZIP_BUDGET}`);
});

test("health, and state_save → state_query → state_restore through the task's object", async () => {
  const res = await mf.dispatchFetch("http://localhost/.well-known/asap/health");
  assert.equal(res.status, 200);
  const health = await res.json();
  assert.deepEqual(Object.keys(health).sort(), ["agent_id", "asap_version", "load", "status", "uptime_seconds", "version"]);
  assert.equal(health.agent_id, config.vars.ASAP_AGENT_ID);

  const ack = reply(await save({ task_id: "task-1", data: { step: 1 } }, 0), "state_save.ack");
  assert.equal(ack.ok, true);
  assert.equal(ack.version, 1);
  const second = reply(await save({ task_id: "task-1", data: { step: 2 } }, 1), "state_save.ack");
  assert.equal(second.version, 2);
  const stale = reply(await save({ task_id: "task-1", data: { step: "lost" } }, 1), "state_save.ack");
  assert.equal(stale.ok, false);
  assert.equal(stale.error, "VERSION_CONFLICT");
  const latest = reply(await query("task-1"), "state_query.response");
  assert.deepEqual(latest.snapshot.data, { step: 2 });
  const first = reply(await query("task-1", 1), "state_query.response");
  const restored = reply(await send("state_restore", { task_id: "task-1", snapshot_id: first.snapshot.id }), "state_restore.ack");
  assert.deepEqual(restored, { ok: true, task_id: "task-1", snapshot_id: first.snapshot.id, version: 1 });
  const unknown = reply(await send("state_restore", { task_id: "task-1", snapshot_id: "snap_nope" }), "state_restore.ack");
  assert.equal(unknown.ok, false);
});

test("bad input: malformed JSON-RPC, an envelope without a task, an oversized body, a wrong token, a wrong method", async () => {
  const parse = await post("{not json");
  assert.equal(parse.body.error.code, -32700);
  const noTask = await send("state_query", { version: 1 });
  assert.equal(noTask.body.error.code, -32602, JSON.stringify(noTask.body));
  const big = await mf.dispatchFetch("http://localhost/asap", { method: "POST", body: "x".repeat(34 * 1024 * 1024 + 1), headers: AUTH });
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error.code, -32600);
  for (const authorization of [undefined, "Bearer wrong", "Basic abc"]) {
    const headers = authorization ? { authorization } : {};
    const res = await mf.dispatchFetch("http://localhost/tasks", { headers });
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /^Bearer .*error="invalid_token"/);
    await res.body?.cancel();
    const rpc = await post(JSON.stringify({ jsonrpc: "2.0", method: "asap.send", id: 1, params: { envelope: {} } }), headers);
    assert.equal(rpc.status, 401);
    assert.equal(rpc.body.error.code, -32001);
  }
  const get = await mf.dispatchFetch("http://localhost/asap");
  assert.equal(get.status, 405);
  await get.body?.cancel();
  // None of it stored anything: the index holds only what the test saved.
  assert.deepEqual(await listAll(), ["task-1"]);
});

test("200 concurrent clients × 20 saves with expected_version on one task: every ack exactly once, no gaps, every stale write refused", async () => {
  const task = "contended";
  const CLIENTS = 200;
  const ATTEMPTS = 20;
  const acks = [];
  const refused = []; // the expected_version of each refused save
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; i < ATTEMPTS; i++) {
        const latest = reply(await query(task), "state_query.response");
        const expected = latest.snapshot?.version ?? 0;
        const ack = reply(await save({ task_id: task, data: { client, i } }, expected), "state_save.ack");
        if (ack.ok) {
          assert.equal(ack.version, expected + 1);
          acks.push({ version: ack.version, client, i });
        } else {
          assert.equal(ack.error, "VERSION_CONFLICT");
          refused.push(expected);
        }
      }
    }),
  );
  console.log(`# durable objects: ${CLIENTS * ATTEMPTS} saves with expected_version: ${acks.length} acknowledged, ${refused.length} refused (VERSION_CONFLICT), 0 lost`);
  assert.equal(acks.length + refused.length, CLIENTS * ATTEMPTS);
  assert.ok(acks.length >= 1);
  acks.sort((a, b) => a.version - b.version);
  assert.deepEqual(acks.map((a) => a.version), Array.from({ length: acks.length }, (_, k) => k + 1), "versions without gaps");
  // Every refusal was stale: another client's acknowledged save already held the next version.
  for (const expected of refused) assert.ok(expected + 1 <= acks.length, `a save expecting ${expected} was refused, but version ${expected + 1} was never acknowledged`);
  await restart();
  for (const a of acks) {
    const got = reply(await query(task, a.version), "state_query.response");
    assert.deepEqual(got.snapshot.data, { client: a.client, i: a.i }, `version ${a.version}`);
  }
  const latest = reply(await query(task), "state_query.response");
  assert.equal(latest.snapshot.version, acks.length, "nothing beyond the acknowledged saves");
});

test("workerd restarted between writes, several times: nothing acknowledged is lost", async () => {
  const acknowledged = [];
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 5; i++) {
      const ack = reply(await save({ task_id: "restarts", data: { round, i } }), "state_save.ack");
      acknowledged.push(ack.version);
    }
    await restart();
    for (const v of acknowledged) {
      const got = reply(await query("restarts", v), "state_query.response");
      assert.deepEqual(got.snapshot.data, { round: Math.floor((v - 1) / 5), i: (v - 1) % 5 });
    }
  }
  assert.deepEqual(acknowledged, Array.from({ length: 20 }, (_, k) => k + 1));
});

test("1,000 tasks in 1,000 objects: the index lists every one, task ids that need escaping included", async () => {
  const odd = ["a'b", 'q"uote', "slash/../x", "pct%20", "space d", "ünï©ødé 漢字", "semi;colon", "new\nline"];
  const ids = [...odd, ...Array.from({ length: 1000 - odd.length }, (_, k) => `bulk-${String(k).padStart(4, "0")}`)];
  for (let k = 0; k < ids.length; k += 50) {
    await Promise.all(ids.slice(k, k + 50).map(async (id) => assert.equal(reply(await save({ task_id: id, data: { id } }), "state_save.ack").ok, true)));
  }
  const listed = await listAll();
  const expected = [...new Set(["task-1", "contended", "restarts", ...ids])].sort();
  assert.deepEqual(listed, expected);
  for (const id of odd) assert.deepEqual(reply(await query(id), "state_query.response").snapshot.data, { id });
});

/** GET /state.db?task_id=… with the token: the HTTP answer. */
async function download(taskId, authorization = AUTH.authorization) {
  const url = `http://localhost/state.db${taskId === undefined ? "" : `?task_id=${encodeURIComponent(taskId)}`}`;
  return mf.dispatchFetch(url, { headers: authorization ? { authorization } : {} });
}

test("GET /state.db?task_id=: the task's object as one SQLite file that sqlite3, the engine and the Python reference read alike", async () => {
  for (const authorization of [null, "Bearer wrong"]) {
    const res = await download("task-1", authorization);
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
  const missing = await download("never-saved");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const badLimit = await mf.dispatchFetch("http://localhost/state.db?limit=101", { headers: AUTH });
  assert.equal(badLimit.status, 400);
  await badLimit.body?.cancel();

  // A task with a 5 MB snapshot (stored in chunks in the object) among small ones.
  const text = "é€😀z".repeat(500_000);
  reply(await save({ task_id: "exported", data: { step: 1 } }), "state_save.ack");
  reply(await save({ task_id: "exported", data: { text }, checkpoint: true }), "state_save.ack");
  reply(await save({ task_id: "exported", data: { step: 3, nested: { a: [1, 2.5, null] } } }), "state_save.ack");
  const res = await download("exported");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/vnd.sqlite3");
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert.equal(Number(res.headers.get("content-length")), bytes.length);
  const dir = mkdtempSync(join(tmpdir(), "asap-do-export-"));
  try {
    const file = join(dir, "state.db");
    writeFileSync(file, bytes);
    const sqlite3 = (sql) => spawnSync("sqlite3", [file, sql], { encoding: "utf8", maxBuffer: 1 << 28 });
    const check = sqlite3("PRAGMA integrity_check;");
    if (!check.error) {
      assert.equal(check.stdout.trim(), "ok");
      assert.equal(sqlite3("SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name);").stdout.trim(), "snapshots,usage_events");
      assert.equal(sqlite3("SELECT length(CAST(data AS BLOB)) FROM snapshots WHERE version = 2;").stdout.trim(), String(Buffer.byteLength(JSON.stringify({ text }))));
    }
    // The engine opens it with its full checks and answers as the object does.
    const db = await SqliteStateDb.open({ bytes });
    const ours = [1, 2, 3].map((v) => db.snapshots.get("exported", v));
    for (const s of ours) {
      const live = reply(await query("exported", s.version), "state_query.response").snapshot;
      assert.deepEqual(s, live);
    }
    // The usage of every request about the task up to the export is in the file too (3 saves).
    const events = JSON.parse(db.metering.export("json"));
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.task_id === "exported" && e.agent_id === config.vars.ASAP_AGENT_ID && e.metrics.api_calls === 1));
    const theirs = readWithReference(file, {
      tasks: ["exported"],
      queries: [{ agent_id: config.vars.ASAP_AGENT_ID, start: "2000-01-01T00:00:00+00:00", end: "2100-01-01T00:00:00+00:00" }],
      aggregates: [{ agent_id: config.vars.ASAP_AGENT_ID, period: "all" }],
    });
    if (theirs) {
      assert.deepEqual(theirs.tasks.exported.versions, [1, 2, 3]);
      for (const s of ours) assert.deepEqual(theirs.tasks.exported.each[String(s.version)], s, `the reference's v${s.version}`);
      const withoutId = ({ id, ...rest }) => rest; // eslint-disable-line no-unused-vars
      assert.deepEqual(theirs.queries[0].events, events.map(withoutId));
      assert.deepEqual(theirs.aggregates[config.vars.ASAP_AGENT_ID], db.metering.aggregate(config.vars.ASAP_AGENT_ID, "all"));
    }
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GET /state.db without a task: pages of up to 100 tasks merged into one file each; every task in exactly one page", async () => {
  const all = await listAll();
  assert.ok(all.length > 1000);
  const seen = [];
  let after = "";
  let pages = 0;
  for (;;) {
    const res = await mf.dispatchFetch(`http://localhost/state.db?after=${after}&limit=100`, { headers: AUTH });
    assert.equal(res.status, 200);
    const next = res.headers.get("x-asap-state-next");
    const db = await SqliteStateDb.open({ bytes: new Uint8Array(await res.arrayBuffer()) });
    const tasks = db.snapshots.listTasks().map((t) => t.task_id);
    assert.ok(tasks.length <= 100);
    seen.push(...tasks);
    if (pages === 0) {
      // The first page's usage: one event per answered request about its tasks.
      const events = JSON.parse(db.metering.export("json"));
      assert.ok(events.length >= tasks.length);
      assert.ok(events.every((e) => tasks.includes(e.task_id)));
    }
    db.close();
    pages += 1;
    if (next === null) break;
    after = next;
  }
  assert.equal(pages, Math.ceil(all.length / 100) + (all.length % 100 === 0 ? 1 : 0));
  assert.deepEqual(seen.sort(), [...all].sort());
});
