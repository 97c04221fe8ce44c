// The edge worker example (examples/edge-worker/) in real workerd: bundled from its own
// wrangler.jsonc the way `wrangler deploy` bundles it (`wrangler deploy --dry-run --outdir`,
// offline: conditions workerd/worker/browser, the .wasm kept as a CompiledWasm module) and run by
// Miniflare from the installed wrangler, with the KV namespace STATE persisted to a temporary
// directory — so disposing Miniflare and starting it again on the same directory is a cold start
// of a new isolate that must reload its state from KV.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { SqliteStateDb } from "asap-state";
import { createHash } from "node:crypto";
import { AUTH_BINDINGS, COORDINATOR, asapSend, bearer, bundleExample, edgeWorkerMiniflareOptions, parseJsonc } from "./helpers.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const EXAMPLE = join(REPO, "examples/edge-worker");
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const config = parseJsonc(readFileSync(join(EXAMPLE, "wrangler.jsonc"), "utf8"));
let tmp;
let outDir;
const instances = new Set();
/** The headers of the tests' caller: tenant-a, every scope (tests/js/auth.test.mjs tries the others). */
let AUTH;
/** The KV key of a tenant's image, as the worker names it. */
const keyOf = (tenant) => `tenants/${createHash("sha256").update(tenant).digest("hex")}/state.db`;
const KEY_A = keyOf("tenant-a");

/** Starts the bundled worker in a new Miniflare (a new workerd, a new isolate); `auth: false` = no authentication configured. */
async function start({ kvDir, vars = {}, auth = true }) {
  const t0 = performance.now();
  const mf = new Miniflare(edgeWorkerMiniflareOptions({ config, outDir }, kvDir, { ...(auth ? AUTH_BINDINGS : {}), ...vars }));
  instances.add(mf);
  await mf.ready;
  return { mf, t0, readyMs: performance.now() - t0 };
}

async function stop(mf) {
  instances.delete(mf);
  await mf.dispose();
}

async function get(mf, path, headers = AUTH) {
  return mf.dispatchFetch(`http://localhost${path}`, { headers });
}

async function post(mf, body, path = "/asap", headers = AUTH) {
  const res = await mf.dispatchFetch(`http://localhost${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** Sends one ASAP envelope as a JSON-RPC `asap.send` request; returns the HTTP answer. */
async function send(mf, payload_type, payload, envelope = {}) {
  const request = asapSend(config.vars.ASAP_AGENT_ID, payload_type, payload, { trace_id: "trace-edge-1", ...envelope });
  const res = await post(mf, JSON.stringify(request));
  return { ...res, request };
}

/** The reply envelope of an answered request, with the envelope conventions checked. */
function reply(res, payloadType) {
  assert.equal(res.status, 200);
  assert.equal(res.body.jsonrpc, "2.0");
  assert.equal(res.body.id, res.request.id);
  assert.equal(res.body.error, undefined, JSON.stringify(res.body.error));
  const env = res.body.result.envelope;
  const req = res.request.params.envelope;
  assert.equal(env.payload_type, payloadType);
  assert.match(env.id, ULID);
  assert.equal(env.asap_version, "0.1");
  assert.match(env.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
  assert.equal(env.sender, req.recipient);
  assert.equal(env.recipient, req.sender);
  assert.equal(env.correlation_id, req.id);
  assert.equal(env.trace_id, req.trace_id);
  return env.payload;
}

/** A JSON-RPC error answer (HTTP 200, an `error` member, no `result`). */
function rpcError(res, code) {
  assert.equal(res.status, 200);
  assert.equal(res.body.jsonrpc, "2.0");
  assert.equal(res.body.result, undefined);
  assert.equal(res.body.error.code, code, JSON.stringify(res.body.error));
  return res.body.error;
}

async function imageOf(res) {
  assert.equal(res.status, 200);
  return new Uint8Array(await res.arrayBuffer());
}

function sqlite3(file, sql) {
  const r = spawnSync("sqlite3", [file, sql], { encoding: "utf8" });
  return r.error ? undefined : { status: r.status, out: r.stdout.trim(), err: r.stderr };
}

before(async () => {
  AUTH = await bearer("tenant-a");
  tmp = mkdtempSync(join(tmpdir(), "asap-state-edge-"));
  // The example's own configuration (wrangler's scratch files land in the temporary directory).
  const bundle = bundleExample("edge-worker", tmp);
  outDir = bundle.outDir;
  assert.match(bundle.stdout, /env\.STATE\s+KV Namespace/);
});

after(async () => {
  try {
    for (const mf of instances) await mf.dispose();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
});

test("the example's configuration: a KV namespace STATE, the agent id, the sqlite backend, no secret in it", () => {
  assert.equal(config.main, "src/index.js");
  assert.deepEqual(config.kv_namespaces.map((ns) => ns.binding), ["STATE"]);
  assert.equal(config.vars.ASAP_AGENT_ID, "urn:asap:agent:edge-state");
  assert.equal(config.vars.ASAP_STORAGE_BACKEND, "sqlite");
  assert.equal(config.vars.STATE_TOKEN, undefined);
  assert.equal(config.vars.ASAP_AUTH_HS256_SECRET, undefined, "no secret in the configuration");
  assert.equal(config.vars.ASAP_AUTH_JWKS_URL, "", "no identity provider until one is configured");
  const files = readdirSync(outDir);
  assert.equal(files.filter((f) => f.endsWith(".wasm")).length, 1, `one .wasm module in ${files}`);
  const sources = JSON.parse(readFileSync(join(outDir, "index.js.map"), "utf8")).sources.map((s) => resolve(outDir, s));
  assert.ok(sources.includes(join(REPO, "pkg/workerd.js")) || sources.some((s) => s.endsWith("/asap-state/workerd.js")), "the workerd entry is bundled");
});

// ---------------------------------------------------------------- the sqlite backend on KV
const kvA = () => join(tmp, "kv-a");
let A; // the running instance
const saved = {}; // what the first isolate saved
let answered = 0; // answered requests (= usage events) of the first isolate
let answeredAtLastSave = 0;

test("cold start, then GET /.well-known/asap/health", async () => {
  const started = await start({ kvDir: kvA() });
  A = started.mf;
  const res = await get(A, "/.well-known/asap/health");
  const firstHealthMs = performance.now() - started.t0;
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const body = await res.json();
  const pkgVersion = JSON.parse(readFileSync(join(REPO, "pkg/package.json"), "utf8")).version;
  assert.deepEqual(Object.keys(body).sort(), ["agent_id", "asap_version", "load", "status", "uptime_seconds", "version"]);
  assert.equal(body.status, "healthy");
  assert.equal(body.agent_id, "urn:asap:agent:edge-state");
  assert.equal(body.version, pkgVersion);
  assert.equal(body.asap_version, "0.1");
  assert.equal(body.load, null);
  assert.equal(typeof body.uptime_seconds, "number");
  assert.ok(body.uptime_seconds >= 0 && Math.round(body.uptime_seconds * 100) === body.uptime_seconds * 100, String(body.uptime_seconds));
  console.log(`# edge worker cold start: empty KV: new Miniflare() → ready ${started.readyMs.toFixed(0)} ms, → first health response ${firstHealthMs.toFixed(0)} ms`);
  assert.equal((await get(A, "/.well-known/asap/health")).status, 200);
  assert.equal((await A.dispatchFetch("http://localhost/.well-known/asap/health", { method: "POST", body: "{}" })).status, 405);
});

test("state_save → state_query → state_restore over POST /asap", async () => {
  const t0 = performance.now();
  const first = await send(A, "state_save", { snapshot: { task_id: "task-edge-1", data: { step: 1, plan: ["search", "read"], ключ: "значение" } } });
  const firstQueryMs = performance.now() - t0;
  answered += 1;
  const ack1 = reply(first, "state_save.ack");
  assert.equal(ack1.ok, true);
  assert.equal(ack1.task_id, "task-edge-1");
  assert.equal(ack1.version, 1);
  assert.match(ack1.snapshot_id, /^snap_[0-9A-Z]{26}$/);
  assert.equal(first.headers.get("x-asap-state-persisted"), "true");
  saved.v1 = ack1.snapshot_id;
  console.log(`# edge worker cold start: empty KV: the first state_save (opening a new database, writing it to KV) answered in ${firstQueryMs.toFixed(0)} ms`);

  const second = await send(A, "state_save", { snapshot: { task_id: "task-edge-1", data: { step: 2, plan: ["search"] }, checkpoint: true }, expected_version: 1 });
  answered += 1;
  const ack2 = reply(second, "state_save.ack");
  assert.deepEqual({ ...ack2, snapshot_id: undefined }, { ok: true, task_id: "task-edge-1", snapshot_id: undefined, version: 2 });
  saved.v2 = ack2.snapshot_id;
  const other = reply(await send(A, "state_save", { snapshot: { task_id: "task-edge-2", version: 7, data: {} } }), "state_save.ack");
  answered += 1;
  assert.equal(other.version, 7);
  answeredAtLastSave = answered;

  // A stale writer: VERSION_CONFLICT in the ack, nothing saved, nothing written to KV.
  const stale = await send(A, "state_save", { snapshot: { task_id: "task-edge-1", data: { step: 99 } }, expected_version: 1 });
  answered += 1;
  const conflict = reply(stale, "state_save.ack");
  assert.equal(conflict.ok, false);
  assert.equal(conflict.task_id, "task-edge-1");
  assert.equal(conflict.error, "VERSION_CONFLICT");
  assert.equal(typeof conflict.message, "string");
  assert.equal(stale.headers.get("x-asap-state-persisted"), null);

  const latest = reply(await send(A, "state_query", { task_id: "task-edge-1" }), "state_query.response");
  answered += 1;
  assert.equal(latest.found, true);
  assert.equal(latest.snapshot.id, saved.v2);
  assert.equal(latest.snapshot.version, 2);
  assert.equal(latest.snapshot.checkpoint, true);
  assert.deepEqual(latest.snapshot.data, { step: 2, plan: ["search"] });
  const v1 = reply(await send(A, "state_query", { task_id: "task-edge-1", version: 1 }), "state_query.response");
  answered += 1;
  assert.equal(v1.snapshot.id, saved.v1);
  assert.deepEqual(v1.snapshot.data, { step: 1, plan: ["search", "read"], ключ: "значение" });
  saved.v1Snapshot = v1.snapshot;

  // Restoring the older snapshot by its id: found by (task_id, snapshot_id), not only the latest.
  const restored = reply(await send(A, "state_restore", { task_id: "task-edge-1", snapshot_id: saved.v1 }), "state_restore.ack");
  answered += 1;
  assert.deepEqual(restored, { ok: true, task_id: "task-edge-1", snapshot_id: saved.v1, version: 1 });
});

test("not-found answers", async () => {
  const missing = reply(await send(A, "state_query", { task_id: "no-such-task" }), "state_query.response");
  answered += 1;
  assert.deepEqual(missing, { found: false, task_id: "no-such-task", version: null, error: "snapshot not found" });
  const missingVersion = reply(await send(A, "state_query", { task_id: "task-edge-1", version: 9 }), "state_query.response");
  answered += 1;
  assert.deepEqual(missingVersion, { found: false, task_id: "task-edge-1", version: 9, error: "snapshot not found" });
  const noSnapshot = reply(await send(A, "state_restore", { task_id: "task-edge-1", snapshot_id: "snap_nope" }), "state_restore.ack");
  answered += 1;
  assert.deepEqual(noSnapshot, { ok: false, task_id: "task-edge-1", snapshot_id: "snap_nope", error: "snapshot not found" });
  // Another task's snapshot id does not restore this task.
  const wrongTask = reply(await send(A, "state_restore", { task_id: "task-edge-2", snapshot_id: saved.v1 }), "state_restore.ack");
  answered += 1;
  assert.equal(wrongTask.ok, false);
});

test("JSON-RPC errors: HTTP 200 with an error member; HTTP errors for the wrong method or path", async () => {
  const badSender = rpcError(await send(A, "state_query", { task_id: "task-edge-1" }, { sender: "coordinator" }), -32602);
  assert.equal(badSender.message, "Invalid params");
  assert.match(badSender.data.error, /sender/);
  assert.equal(typeof badSender.data.code, "string");
  const badPayload = rpcError(await send(A, "state_query", { version: 1 }), -32602);
  assert.match(badPayload.data.error, /task_id/);
  const unknownType = rpcError(await send(A, "task.request", {}), -32601);
  assert.match(unknownType.data.error, /task\.request/);

  const notJson = await post(A, "{ this is not json");
  rpcError(notJson, -32700);
  assert.equal(notJson.body.id, null);
  assert.equal(notJson.body.error.message, "Parse error");
  rpcError(await post(A, JSON.stringify({ jsonrpc: "2.0", method: "asap.other", params: {}, id: 5 })), -32601);
  rpcError(await post(A, JSON.stringify([1, 2])), -32600);

  const getAsap = await get(A, "/asap");
  assert.equal(getAsap.status, 405);
  assert.equal(getAsap.headers.get("allow"), "POST");
  assert.match((await getAsap.json()).error, /POST/);
  const nowhere = await get(A, "/nowhere");
  assert.equal(nowhere.status, 404);
  assert.match((await nowhere.json()).error, /not found/);
  // None of these was answered with an envelope, so none was metered.
});

test("GET /state.db: 401 without or with a wrong bearer token, 403 without asap:admin; the image with the right one", async () => {
  const token = AUTH.authorization.slice("Bearer ".length);
  for (const headers of [{}, { authorization: "Bearer wrong-token" }, { authorization: `Basic ${btoa(`x:${token}`)}` }, { authorization: `Bearer ${token}x` }, { authorization: "Bearer" }]) {
    const res = await get(A, "/state.db", headers);
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.match(res.headers.get("www-authenticate"), /^Bearer .*error="invalid_token"/);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.equal(typeof (await res.json()).error, "string");
  }
  const notAdmin = await get(A, "/state.db", await bearer("tenant-a", "asap:read asap:execute"));
  assert.equal(notAdmin.status, 403);
  assert.match(notAdmin.headers.get("www-authenticate"), /error="insufficient_scope".*scope="asap:admin"/);
  await notAdmin.body?.cancel();
  const res = await get(A, "/state.db");
  assert.equal(res.headers.get("content-type"), "application/vnd.sqlite3");
  assert.match(res.headers.get("content-disposition"), /^attachment; filename="state\.db"$/);
  const bytes = await imageOf(res);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 16)), "SQLite format 3\0");

  // The image opens in Node with the package and holds what the worker saved and metered.
  const db = await SqliteStateDb.open({ bytes });
  try {
    assert.deepEqual(db.snapshots.listVersions("task-edge-1"), [1, 2]);
    assert.deepEqual(db.snapshots.listVersions("task-edge-2"), [7]);
    assert.deepEqual(db.snapshots.get("task-edge-1", 1), saved.v1Snapshot);
    assert.equal(db.snapshots.get("task-edge-1").id, saved.v2);
    assert.deepEqual(db.metering.agents(), ["urn:asap:agent:edge-state"]);
    const usage = db.metering.aggregate("urn:asap:agent:edge-state", "all");
    assert.equal(usage.total_tasks, answered);
    assert.equal(usage.total_api_calls, answered);
    const events = db.metering.query("urn:asap:agent:edge-state", "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
    assert.ok(events.every((e) => e.consumer_id === COORDINATOR && e.metrics.api_calls === 1 && e.metrics.duration_ms >= 0));
    assert.deepEqual([...new Set(events.map((e) => e.task_id))].sort(), ["no-such-task", "task-edge-1", "task-edge-2"]);
  } finally {
    db.close();
  }

  // sqlite3 reads the same image as an ordinary, intact file.
  const file = join(tmp, "downloaded.db");
  writeFileSync(file, bytes);
  const check = sqlite3(file, "PRAGMA integrity_check;");
  if (check === undefined) {
    console.log("# edge worker: sqlite3 is not installed; integrity_check skipped");
  } else {
    assert.equal(check.status, 0, check.err);
    assert.equal(check.out, "ok");
    assert.equal(sqlite3(file, "SELECT task_id || ':' || version FROM snapshots ORDER BY task_id, version;").out, "task-edge-1:1\ntask-edge-1:2\ntask-edge-2:7");
  }
});

test("KV holds the image as of the last successful save", async () => {
  const kv = await A.getKVNamespace("STATE");
  const stored = await kv.get(KEY_A, "arrayBuffer");
  assert.ok(stored, "the tenant's KV key is written");
  assert.deepEqual((await kv.getWithMetadata(KEY_A)).metadata, { tenant: "tenant-a" });
  const db = await SqliteStateDb.open({ bytes: new Uint8Array(stored) });
  try {
    assert.deepEqual(db.snapshots.listVersions("task-edge-1"), [1, 2]);
    // Usage of the requests after the last save (a conflict, queries, restores) is only in the
    // isolate's database until the next save writes the image again.
    assert.equal(db.metering.aggregate("urn:asap:agent:edge-state", "all").total_tasks, answeredAtLastSave);
  } finally {
    db.close();
  }
});

test("state survives a restart: a new isolate reloads the image from KV", async () => {
  await stop(A);
  const started = await start({ kvDir: kvA() });
  A = started.mf;
  const t1 = performance.now();
  const health = await get(A, "/.well-known/asap/health");
  assert.equal(health.status, 200);
  const healthMs = performance.now() - started.t0;
  const t2 = performance.now();
  const v1 = reply(await send(A, "state_query", { task_id: "task-edge-1", version: 1 }), "state_query.response");
  const t3 = performance.now();
  assert.equal(v1.found, true);
  assert.deepEqual(v1.snapshot, saved.v1Snapshot);
  const image = await (await A.getKVNamespace("STATE")).get(KEY_A, "arrayBuffer");
  console.log(
    `# edge worker cold start: restart on the same KV: new Miniflare() → ready ${started.readyMs.toFixed(0)} ms, → first health response ${healthMs.toFixed(0)} ms; ` +
      `first request → first answered state_query ${(t3 - t1).toFixed(0)} ms (the query alone, loading the ${image.byteLength}-byte image from KV and opening it: ${(t3 - t2).toFixed(0)} ms)`,
  );

  const latest = reply(await send(A, "state_query", { task_id: "task-edge-1" }), "state_query.response");
  assert.equal(latest.snapshot.id, saved.v2);
  assert.equal(reply(await send(A, "state_restore", { task_id: "task-edge-1", snapshot_id: saved.v1 }), "state_restore.ack").version, 1);
  // Versions continue from the reloaded state.
  const third = reply(await send(A, "state_save", { snapshot: { task_id: "task-edge-1", data: { step: 3 } }, expected_version: 2 }), "state_save.ack");
  assert.equal(third.ok, true);
  assert.equal(third.version, 3);

  const db = await SqliteStateDb.open({ bytes: await imageOf(await get(A, "/state.db", { authorization: AUTH.authorization.replace("Bearer", "bearer") })) });
  try {
    assert.deepEqual(db.snapshots.listVersions("task-edge-1"), [1, 2, 3]);
    // The persisted usage came back too, and this isolate's four answers were added to it.
    assert.equal(db.metering.aggregate("urn:asap:agent:edge-state", "all").total_tasks, answeredAtLastSave + 4);
  } finally {
    db.close();
  }
});

test("concurrent first requests on a fresh isolate share one database; concurrent saves all reach KV", async () => {
  await stop(A);
  ({ mf: A } = await start({ kvDir: kvA() }));
  const queries = Array.from({ length: 6 }, () => send(A, "state_query", { task_id: "task-edge-1" }));
  const saves = Array.from({ length: 3 }, (_, i) => send(A, "state_save", { snapshot: { task_id: "task-edge-3", data: { i } } }));
  const answers = await Promise.all([...queries, ...saves]);
  for (const res of answers.slice(0, 6)) assert.equal(reply(res, "state_query.response").snapshot.version, 3);
  const versions = answers.slice(6).map((res) => reply(res, "state_save.ack").version);
  assert.deepEqual([...versions].sort(), [1, 2, 3]);
  // The isolate's KV writes are serialised: the last one holds all three saves.
  const db = await SqliteStateDb.open({ bytes: new Uint8Array(await (await A.getKVNamespace("STATE")).get(KEY_A, "arrayBuffer")) });
  try {
    assert.deepEqual(db.snapshots.listVersions("task-edge-3"), [1, 2, 3]);
    assert.deepEqual(db.snapshots.listVersions("task-edge-1"), [1, 2, 3]);
  } finally {
    db.close();
  }
});

// ---------------------------------------------------------------- two isolates on one KV namespace
test("two isolates on one KV namespace, 200 clients × 20 saves with expected_version on one task: acknowledged saves are lost (last writer wins)", async () => {
  // What examples/durable-objects/ exists for: the same load as its test, spread over two workerd
  // instances that share the persisted KV directory, as two isolates of one worker share KV.
  const kvDir = join(tmp, "kv-two-isolates");
  const isolates = [(await start({ kvDir })).mf, (await start({ kvDir })).mf];
  const task = "contended";
  const CLIENTS = 200;
  const ATTEMPTS = 20;
  const acks = [];
  let refused = 0;
  try {
    // Both isolates open their database now (from the empty namespace), as two isolates that
    // start at about the same time do; from here each keeps its own copy.
    for (const mf of isolates) assert.equal(reply(await send(mf, "state_query", { task_id: task }), "state_query.response").found, false);
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        const mf = isolates[client % 2];
        for (let i = 0; i < ATTEMPTS; i++) {
          const latest = reply(await send(mf, "state_query", { task_id: task }), "state_query.response");
          const expected = latest.snapshot?.version ?? 0;
          const res = await send(mf, "state_save", { snapshot: { task_id: task, data: { client, i } }, expected_version: expected });
          const ack = reply(res, "state_save.ack");
          if (ack.ok) acks.push({ version: ack.version, client, i });
          else refused += 1;
        }
      }),
    );
  } finally {
    for (const mf of isolates) await stop(mf);
  }
  // A new isolate (a cold start) loads what KV kept: count the acknowledged saves it has.
  const { mf: after } = await start({ kvDir });
  let kept = 0;
  try {
    for (const a of acks) {
      const got = reply(await send(after, "state_query", { task_id: task, version: a.version }), "state_query.response");
      if (got.found && got.snapshot.data.client === a.client && got.snapshot.data.i === a.i) kept += 1;
    }
  } finally {
    await stop(after);
  }
  const lost = acks.length - kept;
  const duplicated = acks.length - new Set(acks.map((a) => a.version)).size;
  console.log(`# KV, two isolates: ${CLIENTS * ATTEMPTS} saves with expected_version: ${acks.length} acknowledged, ${refused} refused, ${lost} acknowledged saves lost, ${duplicated} versions acknowledged twice`);
  assert.equal(acks.length + refused, CLIENTS * ATTEMPTS);
  // Each isolate checks expected_version against its own copy only, so both hand out the same
  // versions, and the image one of them wrote last replaces the other's.
  assert.ok(lost > 0, "two isolates writing one KV key lose acknowledged saves");
  assert.ok(duplicated > 0, "both isolates acknowledged the same versions");
});

// ---------------------------------------------------------------- other configurations
test("ASAP_STORAGE_BACKEND=memory: the package's memory stores, nothing persisted; /state.db is a copy", async () => {
  const kvDir = join(tmp, "kv-memory");
  let { mf } = await start({ kvDir, vars: { ASAP_STORAGE_BACKEND: "memory" } });
  const ack = reply(await send(mf, "state_save", { snapshot: { task_id: "mem-task", data: { n: 1 } } }), "state_save.ack");
  assert.equal(ack.ok, true);
  assert.equal(reply(await send(mf, "state_query", { task_id: "mem-task" }), "state_query.response").snapshot.id, ack.snapshot_id);
  assert.deepEqual((await (await mf.getKVNamespace("STATE")).list()).keys, [], "the memory backend writes nothing to KV");
  // The download is a SQLite image of the memory stores (copyState into a fresh database).
  const db = await SqliteStateDb.open({ bytes: await imageOf(await get(mf, "/state.db")) });
  try {
    assert.equal(db.snapshots.get("mem-task").id, ack.snapshot_id);
    assert.equal(db.metering.aggregate("urn:asap:agent:edge-state", "all").total_tasks, 2);
  } finally {
    db.close();
  }
  await stop(mf);
  ({ mf } = await start({ kvDir, vars: { ASAP_STORAGE_BACKEND: "memory" } }));
  const gone = reply(await send(mf, "state_query", { task_id: "mem-task" }), "state_query.response");
  assert.equal(gone.found, false, "a new isolate starts empty");
  await stop(mf);
});

test("no authentication configured: every state endpoint is 503, never open; an unknown backend is a 500 JSON error", async () => {
  const kvDir = join(tmp, "kv-misc");
  let { mf } = await start({ kvDir, auth: false });
  for (const headers of [{}, { authorization: "Bearer " }, AUTH]) {
    const res = await get(mf, "/state.db", headers);
    assert.equal(res.status, 503);
    assert.match((await res.json()).error, /authentication is not configured: set ASAP_AUTH_JWKS_URL/);
    const rpc = await post(mf, JSON.stringify({ jsonrpc: "2.0", method: "asap.send", id: 1, params: {} }), "/asap", headers);
    assert.equal(rpc.status, 503);
    assert.match(rpc.body.error.message, /authentication is not configured/);
  }
  assert.deepEqual((await (await mf.getKVNamespace("STATE")).list()).keys, [], "nothing opened or written");
  await stop(mf);
  ({ mf } = await start({ kvDir, vars: { ASAP_STORAGE_BACKEND: " Redis " } }));
  const res = await send(mf, "state_query", { task_id: "t" });
  assert.equal(res.status, 500);
  assert.deepEqual(res.body, { error: "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.", code: "UNKNOWN_BACKEND" });
  assert.equal((await get(mf, "/.well-known/asap/health")).status, 200, "health does not depend on the store");
  await stop(mf);
});

test("a damaged image in KV: 500 CORRUPT_DATABASE on every request, the image left as it was", async () => {
  const kvDir = join(tmp, "kv-corrupt");
  let { mf } = await start({ kvDir });
  const garbage = new TextEncoder().encode("this is not a SQLite database, but it is in KV under state.db");
  await (await mf.getKVNamespace("STATE")).put(KEY_A, garbage);
  await stop(mf);
  ({ mf } = await start({ kvDir }));
  for (let i = 0; i < 2; i++) {
    const res = await send(mf, "state_save", { snapshot: { task_id: "t", data: {} } });
    assert.equal(res.status, 500);
    assert.equal(res.body.code, "CORRUPT_DATABASE");
    assert.equal(typeof res.body.error, "string");
  }
  assert.equal((await get(mf, "/state.db")).status, 500);
  const kept = new Uint8Array(await (await mf.getKVNamespace("STATE")).get(KEY_A, "arrayBuffer"));
  assert.deepEqual(kept, garbage);
  await stop(mf);
});
