// Agent failover, end to end, with real processes and real SQLite files:
//
//   node examples/agent-failover.mjs [--steps 12] [--kill-after K] [--step-ms 150] [--keep] [--durable]
//
// A coordinator starts two ASAP agent workers (examples/agent-worker.mjs), `primary` and
// `backup`, each with ASAP_STORAGE_BACKEND=sqlite and its OWN file (a SQLite file is open in one
// process at a time). It gives the primary a 12-step task, follows it with `state_query`
// envelopes, kills it with SIGKILL after a random 3..8 steps (or --kill-after K), detects the
// failure on the health endpoint, reads the latest snapshot from the dead primary's file
// (`SqliteStateDb.open({ path })`: the dead process's lock file is taken over), pushes that
// snapshot to the backup (`state_save`, same id/version/created_at), sends `state_restore`,
// and waits for the backup to finish the task from the next step. Then it stops the backup and
// checks both files: every step 1..N done exactly once (none lost, none repeated), every
// snapshot the primary acknowledged before the kill present, the results carried over intact.
// Exit status 0 only when all of that holds. The child processes are killed on every exit path.
//
// This goes further than the reference's agent_failover example, which shares one SQLite file
// between both workers, never resumes the task and only compares with the latest snapshot.
//
// --durable: the Durable Objects variant. The coordinator also runs examples/durable-objects/
// (bundled as `wrangler deploy` bundles it, in workerd through Miniflare, from the repository's
// dev dependencies), and both workers save every step there first (ASAP_STATE_URL): the task's
// object is the one authority on which steps are done. The backup takes over from the task's
// object (`state_query` to the deployment) instead of the dead primary's file — which may even
// lack the last step the primary did — and the deployment refuses a step written twice.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { SqliteStateDb, StateError } from "asap-state";
import { ASAP_PATH, HEALTH_PATH, SKILL_FAILOVER_WORK, makeEnvelope, rpcRequest, ulid } from "./agent-worker.mjs";
import { mintDevToken, parseJsonc } from "./worker-lib/dev-token.mjs";

const WORKER = fileURLToPath(new URL("./agent-worker.mjs", import.meta.url));
const COORDINATOR = "urn:asap:agent:coordinator";
const READY_TIMEOUT_MS = 15_000;
const DETECT_TIMEOUT_MS = 5_000;
const HEALTH_REQUEST_TIMEOUT_MS = 250;
const EPOCH = "1970-01-01T00:00:00Z";
const FAR_FUTURE = "9999-12-31T23:59:59Z";

class Failure extends Error {}

// ---- options ---------------------------------------------------------------------------------

function parseOptions(argv) {
  const opts = { steps: 12, killAfter: undefined, stepMs: 150, keep: false, durable: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const int = (lo, hi) => {
      const text = argv[++i];
      const n = Number(text);
      if (text === undefined || !Number.isInteger(n) || n < lo || n > hi) {
        throw new Failure(`${arg} needs an integer ${lo}..${hi}, got ${text ?? "nothing"}`);
      }
      return n;
    };
    if (arg === "--steps") opts.steps = int(2, 1000);
    else if (arg === "--kill-after") opts.killAfter = int(1, 999);
    else if (arg === "--step-ms") opts.stepMs = int(20, 10_000);
    else if (arg === "--keep") opts.keep = true;
    else if (arg === "--durable") opts.durable = true;
    else throw new Failure(`unknown argument ${arg} (use --steps N, --kill-after K, --step-ms N, --keep, --durable)`);
  }
  if (opts.killAfter === undefined) {
    // A random point mid-task: after 3..8 steps (fewer for short tasks), never the last one.
    const hi = Math.min(8, opts.steps - 1);
    const lo = Math.min(3, hi);
    opts.killAfter = lo + Math.floor(Math.random() * (hi - lo + 1));
  }
  if (opts.killAfter >= opts.steps) throw new Failure(`--kill-after must be below --steps (${opts.steps})`);
  return opts;
}

// ---- output ----------------------------------------------------------------------------------

const T0 = Date.now();
const elapsed = () => Date.now() - T0;
function say(message) {
  console.log(`[${String(elapsed()).padStart(5)} ms] ${message}`);
}

// ---- child processes -------------------------------------------------------------------------

const children = new Set();
function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}
process.on("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    killChildren();
    console.error(`agent-failover: interrupted by ${signal}`);
    process.exit(130);
  });
}

/** Starts a worker on a free port and resolves once it listens. */
async function startWorker(name, dbPath, stepMs, extraEnv = {}) {
  const child = spawn(
    process.execPath,
    [WORKER, "--port", "0", "--name", name, "--step-ms", String(stepMs), "--exit-with-parent"],
    {
      env: { ...process.env, ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: dbPath, ...extraEnv },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  children.add(child);
  const worker = {
    name,
    agentId: `urn:asap:agent:${name}`,
    dbPath,
    child,
    pid: child.pid,
    events: [],
    stderr: "",
    listeners: new Set(),
    exit: undefined,
  };
  const notify = (ev) => {
    for (const listener of [...worker.listeners]) listener(ev);
  };
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      ev = { event: "output", line };
    }
    worker.events.push(ev);
    notify(ev);
  });
  child.stderr.setEncoding("utf8").on("data", (text) => {
    worker.stderr += text;
  });
  child.stdin.on("error", () => {}); // EPIPE once it is dead
  worker.exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      worker.exit = { code, signal };
      resolve(worker.exit);
    });
  });
  // "close": exited and its stdout/stderr drained, so every line it wrote has been read.
  worker.closed = new Promise((resolve) => {
    child.once("close", () => {
      worker.gone = true;
      resolve();
      notify({ event: "__exit__" });
    });
  });
  child.once("error", (err) => {
    worker.spawnError = err;
    notify({ event: "__exit__" });
  });
  const listening = await waitEvent(worker, (ev) => ev.event === "listening", READY_TIMEOUT_MS, "'listening' line");
  worker.port = listening.port;
  worker.url = `http://127.0.0.1:${listening.port}`;
  return worker;
}

/** The first event of `worker` (already seen or to come) matching `pred`. */
function waitEvent(worker, pred, timeoutMs, what) {
  const seen = worker.events.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      worker.listeners.delete(listener);
    };
    const gone = () =>
      new Failure(
        `${worker.name} ${worker.spawnError ? `could not start: ${worker.spawnError.message}` : `exited (${describeExit(worker.exit)})`} before ${what}` +
          (worker.stderr.trim() ? `; its stderr: ${worker.stderr.trim()}` : ""),
      );
    const timer = setTimeout(() => {
      done();
      reject(new Failure(`${worker.name}: no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (ev) => {
      if (ev.event === "__exit__") {
        done();
        reject(gone());
      } else if (pred(ev)) {
        done();
        resolve(ev);
      }
    };
    if (worker.gone || worker.spawnError) {
      done();
      reject(gone());
      return;
    }
    worker.listeners.add(listener);
  });
}

const describeExit = (exit) => (!exit ? "still running" : exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`);

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- HTTP and ASAP ---------------------------------------------------------------------------

/** One HTTP request with a JSON body (no connection reuse); rejects with .code on network errors. */
function httpJson(method, url, body, timeoutMs, extraHeaders = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = { ...(data === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(data) }), ...extraHeaders };
    const req = http.request(url, { method, agent: false, headers }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.setTimeout(timeoutMs, () => {
      const err = new Error(`no answer within ${timeoutMs} ms`);
      err.code = "ETIMEDOUT";
      req.destroy(err);
    });
    req.on("error", reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

const traceId = ulid();

/** Sends one envelope to `worker` over JSON-RPC and returns the reply envelope's payload. */
async function send(worker, payloadType, payload, expectType) {
  const envelope = makeEnvelope({ sender: COORDINATOR, recipient: worker.agentId, payloadType, payload, traceId });
  const res = await httpJson("POST", worker.url + ASAP_PATH, rpcRequest(envelope), 5_000, worker.headers);
  const rpc = res.json;
  if (res.status !== 200 || rpc?.jsonrpc !== "2.0") {
    throw new Failure(`${payloadType} → ${worker.name}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  }
  if (rpc.error) {
    throw new Failure(`${payloadType} → ${worker.name}: JSON-RPC error ${rpc.error.code} ${rpc.error.message}: ${JSON.stringify(rpc.error.data)}`);
  }
  const reply = rpc.result?.envelope;
  if (rpc.id !== envelope.id || reply?.payload_type !== expectType || reply.correlation_id !== envelope.id ||
      reply.trace_id !== traceId || reply.sender !== worker.agentId || reply.recipient !== COORDINATOR) {
    throw new Failure(`${payloadType} → ${worker.name}: unexpected reply ${JSON.stringify(rpc).slice(0, 400)}`);
  }
  return reply.payload;
}

async function waitHealthy(worker) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (worker.exit) throw new Failure(`${worker.name} exited (${describeExit(worker.exit)}) before it was healthy: ${worker.stderr.trim()}`);
    try {
      const res = await httpJson("GET", worker.url + HEALTH_PATH, undefined, 1_000);
      if (res.status === 200 && res.json?.status === "healthy") return res.json;
      last = `HTTP ${res.status} ${res.text.slice(0, 200)}`;
    } catch (err) {
      last = err.code ?? err.message;
    }
    await sleep(100);
  }
  throw new Failure(`${worker.name} not healthy within ${READY_TIMEOUT_MS} ms (${last})`);
}

/** Polls the health endpoint until it fails (connection refused / reset / timeout / 5xx). */
async function detectFailure(worker, since) {
  while (Date.now() - since < DETECT_TIMEOUT_MS) {
    try {
      const res = await httpJson("GET", worker.url + HEALTH_PATH, undefined, HEALTH_REQUEST_TIMEOUT_MS);
      if (res.status >= 500) return `HTTP ${res.status}`;
    } catch (err) {
      const why = { ECONNREFUSED: "connection refused", ECONNRESET: "connection reset", ETIMEDOUT: "no answer in time" }[err.code];
      return why ? `${why} (${err.code})` : `${err.code ?? "error"}: ${err.message}`;
    }
    await sleep(50);
  }
  throw new Failure(`${worker.name} still healthy ${DETECT_TIMEOUT_MS} ms after SIGKILL`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a worker's file holds about the task: snapshots by version, usage events. */
async function readFile(dbPath, taskId, agentIds) {
  const lockPath = `${dbPath}.lock`;
  // The lock file names its owner as "<pid> <start time>"; keep the pid.
  const stalePid = fs.existsSync(lockPath) ? fs.readFileSync(lockPath, "utf8").trim().split(" ")[0] : null;
  let db;
  try {
    db = await SqliteStateDb.open({ path: dbPath });
  } catch (err) {
    if (err instanceof StateError && err.code === "DATABASE_LOCKED") {
      throw new Failure(`BUG: DATABASE_LOCKED opening ${dbPath} although its owner process has exited (lock file pid ${stalePid}): ${err.message}`);
    }
    throw err;
  }
  try {
    const versions = db.snapshots.listVersions(taskId);
    const snapshots = new Map(versions.map((v) => [v, db.snapshots.get(taskId, v)]));
    const events = agentIds.flatMap((a) => db.metering.query(a, EPOCH, FAR_FUTURE));
    return { versions, snapshots, latest: db.snapshots.get(taskId), events, stalePid };
  } finally {
    db.close();
    if (fs.existsSync(lockPath)) throw new Failure(`${lockPath} still exists after close()`);
  }
}

// ---- the Durable Objects deployment (--durable) ------------------------------------------------

const REPO = path.resolve(path.dirname(WORKER), "..");
const DURABLE_EXAMPLE = path.join(REPO, "examples/durable-objects");
const SERVICE_AGENT = "urn:asap:agent:durable-state";

/**
 * examples/durable-objects/ in workerd: bundled by the repository's wrangler the way `wrangler
 * deploy` bundles it (offline), run by Miniflare with its objects persisted under `tmp`.
 */
async function startStateService(tmp) {
  const { spawnSync } = await import("node:child_process");
  const { Miniflare } = await import("miniflare");
  const { $schema, ...config } = parseJsonc(fs.readFileSync(path.join(DURABLE_EXAMPLE, "wrangler.jsonc"), "utf8")); // eslint-disable-line no-unused-vars
  const configFile = path.join(tmp, "wrangler.json");
  fs.writeFileSync(configFile, JSON.stringify({ ...config, main: path.join(DURABLE_EXAMPLE, config.main) }));
  const outDir = path.join(tmp, "state-service");
  const r = spawnSync(process.execPath, [path.join(REPO, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", outDir, "--config", configFile], {
    cwd: tmp,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: path.join(tmp, "logs"), XDG_CONFIG_HOME: path.join(tmp, "config") },
  });
  if (r.status !== 0) throw new Failure(`bundling examples/durable-objects failed: ${r.stderr || r.stdout}`);
  // The deployment requires bearer JWTs: here, as under `wrangler dev`, a development secret
  // (fresh for each run) signs them.
  const auth = { ASAP_AUTH_HS256_SECRET: crypto.randomBytes(32).toString("hex") };
  auth.ASAP_AUTH_ISSUER = config.vars.ASAP_AUTH_ISSUER;
  auth.ASAP_AUTH_AUDIENCE = config.vars.ASAP_AUTH_AUDIENCE;
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: config.compatibility_date,
    durableObjects: Object.fromEntries(config.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: true }])),
    durableObjectsPersist: path.join(tmp, "objects"),
    bindings: { ...config.vars, ...auth },
    host: "127.0.0.1",
    port: 0,
  });
  const url = String(await mf.ready).replace(/\/$/, "");
  // The demo's one tenant: the workers and the coordinator act for it with read and execute.
  const token = await mintDevToken(auth, { sub: "failover-demo", scope: "asap:read asap:execute" });
  return { mf, url, name: "state service", agentId: SERVICE_AGENT, token, headers: { authorization: `Bearer ${token}` } };
}

/** Every version of the task the deployment holds (asked version by version until one is missing). */
async function readService(service, taskId) {
  const snapshots = new Map();
  for (let v = 1; ; v++) {
    const answer = await send(service, "state_query", { task_id: taskId, version: v }, "state_query.response");
    if (!answer.found) break;
    snapshots.set(v, answer.snapshot);
  }
  const latest = await send(service, "state_query", { task_id: taskId }, "state_query.response");
  return { versions: [...snapshots.keys()], snapshots, latest: latest.found ? latest.snapshot : undefined };
}

// ---- the demo --------------------------------------------------------------------------------

async function run(opts, tmp, cleanup) {
  const { steps, killAfter, stepMs } = opts;
  say(`temp dir ${tmp}; task of ${steps} steps, ${stepMs} ms each; the primary will be killed after step ${killAfter}`);
  let service = null;
  if (opts.durable) {
    service = await startStateService(tmp);
    cleanup.push(() => service.mf.dispose());
    say(`state service: examples/durable-objects in workerd at ${service.url} (one Durable Object per task)`);
  }
  const shared = service ? { ASAP_STATE_URL: service.url, ASAP_STATE_TOKEN: service.token } : {};
  const [primary, backup] = await Promise.all([
    startWorker("primary", path.join(tmp, "primary.db"), stepMs, shared),
    startWorker("backup", path.join(tmp, "backup.db"), stepMs, shared),
  ]);
  for (const w of [primary, backup]) say(`started ${w.name}: pid ${w.pid}, ${w.url}, state file ${path.basename(w.dbPath)}`);
  const health = await Promise.all([waitHealthy(primary), waitHealthy(backup)]);
  say(`both healthy: ${health.map((h) => `${h.agent_id} (asap ${h.asap_version}, v${h.version})`).join(", ")}`);

  // Show every step of both workers as its log line arrives.
  for (const w of [primary, backup]) {
    w.listeners.add((ev) => {
      if (ev.event === "step") say(`step ${ev.step} by ${w.name} (snapshot v${ev.version} ${ev.snapshot_id})`);
      else if (ev.event === "task_failed" || ev.event === "restore_refused") say(`${w.name}: ${ev.event}: ${ev.error}`);
    });
  }

  const taskId = `task_${ulid()}`;
  const started = await send(primary, "task.request",
    { conversation_id: ulid(), skill_id: SKILL_FAILOVER_WORK, input: { task_id: taskId, steps } }, "task.response");
  if (started.status !== "working" || started.task_id !== taskId) throw new Failure(`task.request: unexpected answer ${JSON.stringify(started)}`);
  say(`started task ${taskId} on primary: task.response status "${started.status}"`);

  // Follow the primary with state_query while it lives.
  const queried = new Map(); // version → snapshot, as the primary answered state_query
  let polling = true;
  const poller = (async () => {
    let shown = 0;
    while (polling) {
      try {
        const answer = await send(primary, "state_query", { task_id: taskId }, "state_query.response");
        if (answer.found) {
          queried.set(answer.snapshot.version, answer.snapshot);
          if (answer.snapshot.version > shown) {
            shown = answer.snapshot.version;
            say(`state_query → primary: latest v${shown} (${answer.snapshot.id}), step ${answer.snapshot.data.step}/${answer.snapshot.data.total_steps}`);
          }
        }
      } catch (err) {
        if (polling) throw err; // only the query cut by the kill may fail
      }
      await sleep(Math.max(50, Math.round(stepMs * 0.6)));
    }
  })();

  // Kill it mid-task: after step `killAfter`, a random part of the way into the next step.
  await waitEvent(primary, (ev) => ev.event === "step" && ev.step === killAfter, READY_TIMEOUT_MS + steps * stepMs * 4, `step ${killAfter}`);
  const into = Math.floor(Math.random() * stepMs);
  await sleep(into);
  polling = false;
  const killedAt = Date.now();
  primary.child.kill("SIGKILL");
  say(`KILLED primary (SIGKILL, pid ${primary.pid}) at step ${killAfter}, ${into} ms into step ${killAfter + 1}`);

  const how = await detectFailure(primary, killedAt);
  say(`failure detected in ${Date.now() - killedAt} ms: GET ${HEALTH_PATH} → ${how}`);
  await poller;
  // Wait until the exit is reported, so the log is in order. (Opening its file earlier would work
  // too: the package takes over the lock of a killed, not yet reaped process — tests/js/locks.test.mjs.)
  const exit = await withTimeout(primary.exited, 5_000, "the primary's exit");
  await withTimeout(primary.closed, 5_000, "the primary's output");
  say(`primary process gone (${describeExit(exit)})`);

  const fromPrimary = await readFile(primary.dbPath, taskId, [primary.agentId, backup.agentId]);
  let latest = fromPrimary.latest;
  if (service) {
    // The task's object is the authority: take over from there, not from the dead primary's file.
    const answer = await send(service, "state_query", { task_id: taskId }, "state_query.response");
    if (!answer.found) throw new Failure(`the state service holds no snapshot of ${taskId}`);
    latest = answer.snapshot;
    const inFile = fromPrimary.latest?.version ?? 0;
    say(`latest snapshot v${latest.version} (${latest.id}) from the task's Durable Object` +
      (inFile === latest.version ? " (the primary's file holds it too)" : ` (the primary's file stops at v${inFile}: it was killed between the two writes)`));
  } else {
    if (!latest) throw new Failure(`the primary's file holds no snapshot of ${taskId}`);
    say(`latest snapshot v${latest.version} (${latest.id}) from the primary's file` +
      (fromPrimary.stalePid ? ` (its lock file, left by pid ${fromPrimary.stalePid}, was taken over)` : ""));
  }
  const lastQueried = Math.max(0, ...queried.keys());
  if (lastQueried === 0) say("no state_query answer before the kill had a snapshot yet");
  else if (lastQueried === latest.version) say(`the last state_query answer before the kill (v${lastQueried}) is that snapshot`);
  else {
    const later = latest.version === lastQueried + 1 ? `v${latest.version} was` : `v${lastQueried + 1}..v${latest.version} were`;
    say(`the last state_query answer before the kill was v${lastQueried}; ${later} saved after it`);
  }

  // Push the snapshot to the backup (its store is not shared), then restore there. copyState
  // would need both stores in one process, but the backup's file is open (and locked) in the
  // backup's own process: the snapshot travels as a state_save envelope, as it would between
  // hosts, with its id, version and created_at.
  const { id, task_id, version, data, checkpoint, created_at } = latest;
  const saved = await send(backup, "state_save",
    { snapshot: { id, task_id, version, data, checkpoint, created_at }, expected_version: null }, "state_save.ack");
  if (saved.ok !== true || saved.snapshot_id !== latest.id || saved.version !== latest.version) {
    throw new Failure(`state_save → backup refused: ${JSON.stringify(saved)}`);
  }
  say(`state_save → backup: snapshot v${saved.version} (${saved.snapshot_id}) stored, ack ok`);
  const ack = await send(backup, "state_restore", { task_id: taskId, snapshot_id: latest.id }, "state_restore.ack");
  if (ack.ok !== true || ack.version !== latest.version) throw new Failure(`state_restore → backup refused: ${JSON.stringify(ack)}`);
  say(`restored on backup: state_restore.ack ok (task ${ack.task_id}, snapshot ${ack.snapshot_id}, v${ack.version})`);
  const resumed = await waitEvent(backup, (ev) => ev.event === "restored" && ev.task_id === taskId, 5_000, "resumption of the task");
  if (resumed.resume_from !== latest.version + 1) throw new Failure(`backup resumed at ${resumed.resume_from}, expected ${latest.version + 1}`);
  say(`backup resumes the task at step ${resumed.resume_from} of ${resumed.total_steps}`);

  await waitEvent(backup, (ev) => (ev.event === "completed" && ev.task_id === taskId) || ev.event === "task_failed",
    steps * stepMs * 4 + 10_000, "completion of the task");
  const failedEv = backup.events.find((ev) => ev.event === "task_failed");
  if (failedEv) throw new Failure(`the backup failed the task: ${failedEv.code}: ${failedEv.error}`);
  say(`steps ${latest.version + 1}..${steps} by backup`);
  const final = await send(backup, "state_query", { task_id: taskId }, "state_query.response");
  if (!final.found || final.snapshot.version !== steps || final.snapshot.data.status !== "completed") {
    throw new Failure(`state_query → backup after completion: ${JSON.stringify(final).slice(0, 300)}`);
  }
  say(`completed: task ${taskId} v${final.snapshot.version} status "${final.snapshot.data.status}" on backup (state_query)`);

  backup.child.kill("SIGTERM");
  const backupExit = await withTimeout(backup.exited, 5_000, "the backup's exit after SIGTERM");
  await withTimeout(backup.closed, 5_000, "the backup's output");
  say(`backup stopped (${describeExit(backupExit)})`);
  const fromBackup = await readFile(backup.dbPath, taskId, [primary.agentId, backup.agentId]);
  const fromService = service ? await readService(service, taskId) : null;

  return verify({ steps, taskId, primary, backup, fromPrimary, fromBackup, fromService, queried, latest, final: final.snapshot });
}

/** The checks on the two files; returns the list of failed checks (empty = success). */
function verify({ steps, taskId, primary, backup, fromPrimary, fromBackup, fromService, queried, latest, final }) {
  console.log(`\nverification from the two files${fromService ? " and the Durable Objects deployment" : ""}:`);
  const failed = [];
  const check = (ok, text) => {
    console.log(`  ${ok ? "ok  " : "FAIL"} ${text}`);
    if (!ok) failed.push(text);
  };
  const range = (a, b) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
  const k = latest.version;
  const byAgent = (snaps, agent) => [...snaps.values()].filter((s) => s.data.agent === agent).map((s) => s.version);

  const pVersions = fromPrimary.versions;
  // With the deployment, the primary may have been killed after saving its last step there and
  // before saving it in its own file: the file then stops one step short.
  const inFile = fromService && pVersions.length === k - 1 ? k - 1 : k;
  check(isDeepStrictEqual(pVersions, range(1, inFile)) && byAgent(fromPrimary.snapshots, primary.agentId).length === inFile,
    `primary.db: versions ${pVersions.join(",")} = 1..${inFile}, all written by the primary`);
  const copies = byAgent(fromBackup.snapshots, primary.agentId);
  check(isDeepStrictEqual(copies, [k]) && isDeepStrictEqual(fromBackup.snapshots.get(k), latest),
    `backup.db: v${k} is the primary's snapshot (same id ${latest.id}, data, created_at), the only one it did not write`);
  const done = byAgent(fromBackup.snapshots, backup.agentId);
  check(isDeepStrictEqual(done, range(k + 1, steps)), `backup.db: versions ${done.join(",")} = ${k + 1}..${steps}, written by the backup`);

  const span = (vs) => (vs.length === 0 ? "none" : isDeepStrictEqual(vs, range(vs[0], vs.at(-1))) ? `${vs[0]}..${vs.at(-1)}` : vs.join(","));
  const executed = [...range(1, k), ...done].sort((a, b) => a - b);
  const repeated = executed.filter((v, i) => executed.indexOf(v) !== i);
  const lost = range(1, steps).filter((v) => !executed.includes(v));
  check(repeated.length === 0 && lost.length === 0 && executed.length === steps,
    `steps 1..${steps}: each done exactly once (primary ${span(range(1, k))}, backup ${span(done)}); ` +
      `lost: ${lost.length ? lost.join(",") : "none"}, repeated: ${repeated.length ? repeated.join(",") : "none"}`);

  const all = [...fromPrimary.snapshots.values(), ...done.map((v) => fromBackup.snapshots.get(v))];
  if (fromService) {
    const sVersions = fromService.versions;
    check(isDeepStrictEqual(sVersions, range(1, steps)) && fromService.latest?.version === steps,
      `the task's Durable Object: versions ${span(sVersions)} = 1..${steps}, nothing beyond`);
    check(isDeepStrictEqual(byAgent(fromService.snapshots, primary.agentId), range(1, k)) && isDeepStrictEqual(byAgent(fromService.snapshots, backup.agentId), range(k + 1, steps)),
      `the task's Durable Object: v1..v${k} by the primary, v${k + 1}..v${steps} by the backup, each step once`);
    const same = (local, v) => local === undefined || isDeepStrictEqual(local, fromService.snapshots.get(v));
    check(range(1, steps).every((v) => same(v <= k ? fromPrimary.snapshots.get(v) : fromBackup.snapshots.get(v), v)) && isDeepStrictEqual(fromService.snapshots.get(k), latest),
      "every snapshot in the workers' files is the one in the Durable Object (same id, data, created_at)");
    all.push(...[...fromService.snapshots.values()].filter((s) => s.version <= k && !fromPrimary.snapshots.has(s.version)));
  }
  const wellFormed = all.every((s) =>
    s.task_id === taskId && s.checkpoint === true && s.data.step === s.version && s.data.total_steps === steps &&
    s.data.results.length === s.version &&
    s.data.results.every((r, i) => r.step === i + 1 && r.agent === (i + 1 <= k ? primary.agentId : backup.agentId)));
  check(wellFormed, "every snapshot: version = step, checkpoint, results 1..step each by the agent that did the step");
  const carried = fromBackup.snapshots.get(k + 1);
  check(carried !== undefined && isDeepStrictEqual(carried.data.results.slice(0, k), latest.data.results),
    `v${k + 1} (the backup's first step) carries the primary's ${k} results unchanged`);
  check(final.data.status === "completed" && isDeepStrictEqual(fromBackup.snapshots.get(steps), final) &&
    final.data.results.length === steps,
  `final snapshot v${steps}: status "completed", ${final.data.results.length} results, as state_query returned it`);

  // Acknowledged before the kill: the steps it logged and the snapshots it answered with.
  const logged = primary.events.filter((ev) => ev.event === "step");
  const loggedOk = logged.every((ev) => fromPrimary.snapshots.get(ev.version)?.id === ev.snapshot_id &&
    (!fromService || fromService.snapshots.get(ev.version)?.id === ev.snapshot_id));
  const queriedOk = [...queried.values()].every((s) => isDeepStrictEqual(fromPrimary.snapshots.get(s.version), s));
  check(loggedOk && queriedOk,
    `acknowledged by the primary before the kill — ${logged.length} logged steps (v${logged.map((e) => e.version).join(",v")}) ` +
      `and ${queried.size} state_query answers — all present in primary.db, identical`);
  const backupLogged = backup.events.filter((ev) => ev.event === "step").map((ev) => ev.step);
  check(isDeepStrictEqual(backupLogged, range(k + 1, steps)), `the backup logged steps ${k + 1}..${steps} once each`);

  // Usage: one event per step, recorded after the step's snapshot (so the primary may lack the
  // event of its very last step if the kill fell between the two writes).
  const pIds = fromPrimary.events.map((e) => e.id);
  const bIds = fromBackup.events.map((e) => e.id);
  const expectedP = range(1, k).map((v) => `evt_${taskId}_${v}`);
  const okP = pIds.every((id, i) => id === expectedP[i]) && (pIds.length === inFile || pIds.length === inFile - 1);
  check(okP && isDeepStrictEqual(bIds, range(k + 1, steps).map((v) => `evt_${taskId}_${v}`)),
    `usage events: primary ${pIds.length} (steps 1..${pIds.length}), backup ${bIds.length} (steps ${k + 1}..${steps}), none twice`);
  return failed;
}

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`agent-failover: ${err.message}`);
    process.exit(2);
  }
  let tmp;
  try {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "asap-failover-"));
  } catch (err) {
    console.error(`agent-failover: cannot make a temporary directory: ${err.message}`);
    process.exit(1);
  }
  // A hung run fails rather than waits forever.
  const watchdogMs = 30_000 + opts.steps * opts.stepMs * 4;
  const watchdog = setTimeout(() => {
    killChildren();
    console.error(`\nFAILED: the demo did not finish within ${watchdogMs} ms; files kept in ${tmp}`);
    process.exit(1);
  }, watchdogMs);
  let failed;
  const cleanup = [];
  try {
    failed = await run(opts, tmp, cleanup);
  } catch (err) {
    failed = [err instanceof Failure ? err.message : (err?.stack ?? String(err))];
  } finally {
    clearTimeout(watchdog);
    killChildren();
    for (const step of cleanup) await step().catch(() => {});
  }
  if (failed.length === 0) {
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
    console.log("\nFailover demo complete: the backup finished the task from the primary's last snapshot; no step lost or repeated.");
    process.exit(0);
  }
  console.error(`\nFAILED: ${failed.join("\n        ")}\n(files kept in ${tmp})`);
  process.exit(1);
}

await main();
