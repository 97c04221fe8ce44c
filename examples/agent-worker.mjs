// An ASAP agent worker: one process that works on `failover_work` tasks step by step, saving a
// checkpoint snapshot after every step, and that can take over a task another worker started
// (ASAP `state_restore`). `examples/agent-failover.mjs` runs two of these and kills one.
//
//   ASAP_STORAGE_BACKEND=sqlite ASAP_STORAGE_PATH=primary.db \
//     node examples/agent-worker.mjs --port 8001 --name primary
//
// Options (each also as an environment variable):
//   --port N        ASAP_WORKER_PORT   the port on 127.0.0.1 (default 8001; 0 = any free port)
//   --name NAME     ASAP_WORKER_NAME   the agent is urn:asap:agent:NAME (default "worker")
//   --step-ms N     ASAP_WORKER_STEP_MS  the work of one step takes N ms (default 150)
//   --exit-with-parent                 exit when stdin closes (the parent process is gone)
//
// Stores: `createSnapshotStore(process.env)` / `createMeteringStore(process.env)`, i.e. memory by
// default or `ASAP_STORAGE_BACKEND=sqlite` at `ASAP_STORAGE_PATH`. A SQLite file can be open in
// one process at a time (a second one gets DATABASE_LOCKED), so every worker needs its own file.
//
// ASAP_STATE_URL (optional): the address of an ASAP state service all workers share — the
// Durable Objects deployment of examples/durable-objects/, one authority per task. Each step's
// snapshot is then saved there first (`state_save` with `expected_version` = step - 1, so the
// service refuses a step written twice, whichever worker tries), and only then in the local store,
// with the same id and created_at. ASAP_STATE_TOKEN: the bearer token (a JWT with the scope
// asap:execute) the service requires; every worker of one task must use the same tenant.
//
// HTTP:
//   GET  /.well-known/asap/health  {status:"healthy", agent_id, version, asap_version, uptime_seconds, load}
//   POST /asap                     JSON-RPC 2.0, method "asap.send", params {envelope}:
//     task.request   skill "failover_work", input {task_id?, steps}: starts the task in the
//                    background and answers task.response {status:"working"} at once
//     state_query / state_restore / state_save: answered by the package's handleAsapRequest;
//                    after a successful state_restore of a task this worker is not running, it
//                    resumes the task from the restored snapshot's step + 1 to the end.
//
// Every step of work is saved as snapshot version = step with expectedVersion = step - 1, so a
// step can never be written twice (a second writer gets VERSION_CONFLICT and stops). stdout
// gets one JSON object per line for every event (listening, task_started, step, completed, …).
import http from "node:http";
import crypto from "node:crypto";
import { pathToFileURL } from "node:url";
import { createSnapshotStore, createMeteringStore, handleAsapRequest, StateError } from "asap-state";

export const ASAP_VERSION = "0.1";
export const WORKER_VERSION = "1.0.0";
export const SKILL_FAILOVER_WORK = "failover_work";
export const HEALTH_PATH = "/.well-known/asap/health";
export const ASAP_PATH = "/asap";
export const MAX_STEPS = 10_000;
const MAX_BODY = 1024 * 1024;
const URN = /^urn:asap:agent:[a-z0-9-]+(?::[a-z0-9-]+)?$/;
const ENVELOPE_FIELDS = new Set([
  "id", "asap_version", "timestamp", "sender", "recipient", "payload_type", "payload",
  "correlation_id", "trace_id", "requires_ack", "extensions",
]);

// ---- small helpers shared with the coordinator -------------------------------------------

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A new ULID (26 characters: 48 bits of milliseconds, 80 random bits), like generate_id(). */
export function ulid(now = Date.now()) {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = crypto.randomBytes(16);
  let rand = "";
  for (let i = 0; i < 16; i++) rand += CROCKFORD[bytes[i] % 32];
  return time + rand;
}

/** Now as Python's `datetime.now(timezone.utc).isoformat()` prints it. */
export function isoNow(date = new Date()) {
  const [head, frac] = date.toISOString().replace("Z", "").split(".");
  return frac && frac !== "000" ? `${head}.${frac}000+00:00` : `${head}+00:00`;
}

/** An ASAP envelope (wire form). */
export function makeEnvelope({ sender, recipient, payloadType, payload, traceId = null, correlationId = null }) {
  return {
    id: ulid(),
    asap_version: ASAP_VERSION,
    timestamp: isoNow(),
    sender,
    recipient,
    payload_type: payloadType,
    payload,
    correlation_id: correlationId,
    trace_id: traceId,
  };
}

/** A JSON-RPC 2.0 `asap.send` request carrying `envelope`. */
export function rpcRequest(envelope) {
  return { jsonrpc: "2.0", method: "asap.send", params: { envelope }, id: envelope.id };
}

// ---- the worker ----------------------------------------------------------------------------

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function rpcError(id, code, message, data) {
  return { jsonrpc: "2.0", id: id ?? null, error: { code, message, ...(data ? { data } : {}) } };
}
const invalidParams = (id, error) => rpcError(id, -32602, "Invalid params", { error, code: "INVALID_ARGUMENT" });

/** The envelope checks of the agreed API (the package applies the same to state messages). */
function envelopeProblem(env) {
  if (!isObject(env)) return "params.envelope must be an object";
  for (const key of Object.keys(env)) {
    if (!ENVELOPE_FIELDS.has(key)) return `envelope.${key}: unknown field`;
  }
  for (const key of ["asap_version", "payload_type"]) {
    if (typeof env[key] !== "string") return `envelope.${key} must be a string`;
  }
  for (const key of ["sender", "recipient"]) {
    if (typeof env[key] !== "string" || env[key].length > 256 || !URN.test(env[key])) {
      return `envelope.${key} must follow 'urn:asap:agent:{name}'`;
    }
  }
  if (!isObject(env.payload)) return "envelope.payload must be an object";
  if (env.id !== undefined && typeof env.id !== "string") return "envelope.id must be a string";
  for (const key of ["correlation_id", "trace_id"]) {
    if (env[key] !== undefined && env[key] !== null && typeof env[key] !== "string") {
      return `envelope.${key} must be a string or null`;
    }
  }
  if (env.timestamp !== undefined) {
    if (typeof env.timestamp !== "string" || !/(Z|[+-]\d\d:\d\d)$/.test(env.timestamp) || Number.isNaN(Date.parse(env.timestamp))) {
      return "envelope.timestamp must be an ISO-8601 string with an offset";
    }
  }
  if (env.requires_ack !== undefined && typeof env.requires_ack !== "boolean") return "envelope.requires_ack must be a boolean";
  if (env.extensions !== undefined && env.extensions !== null && !isObject(env.extensions)) {
    return "envelope.extensions must be an object or null";
  }
  return null;
}

/** Whether a snapshot's data is a failover_work checkpoint this worker can continue. */
function resumeProblem(data) {
  if (!isObject(data)) return "snapshot data is not an object";
  const { step, total_steps: total, results } = data;
  if (!Number.isSafeInteger(total) || total < 1 || total > MAX_STEPS) return "snapshot data.total_steps must be an integer 1..10000";
  if (!Number.isSafeInteger(step) || step < 0 || step > total) return "snapshot data.step must be an integer 0..total_steps";
  if (!Array.isArray(results) || results.length !== step) return "snapshot data.results must hold one entry per step done";
  if (typeof data.task_id !== "string") return "snapshot data.task_id must be a string";
  return null;
}

export async function startWorker({ port = 8001, name = "worker", stepMs = 150, env = process.env, log = defaultLog } = {}) {
  const agentId = `urn:asap:agent:${name}`;
  if (!URN.test(agentId)) throw new Error(`--name must be lower-case letters, digits and '-', got ${JSON.stringify(name)}`);
  const snapshots = await createSnapshotStore(env);
  const metering = await createMeteringStore(env);
  const backend = (env.ASAP_STORAGE_BACKEND ?? "memory").trim().toLowerCase();
  const stateUrl = env.ASAP_STATE_URL ? new URL("asap", env.ASAP_STATE_URL.endsWith("/") ? env.ASAP_STATE_URL : `${env.ASAP_STATE_URL}/`) : null;
  const started = Date.now();

  /** Saves a step's snapshot in the shared state service; throws VERSION_CONFLICT if refused. */
  async function saveShared(snapshot, expectedVersion) {
    const envelope = makeEnvelope({ sender: agentId, recipient: "urn:asap:agent:durable-state", payloadType: "state_save", payload: { snapshot, expected_version: expectedVersion } });
    const headers = { "content-type": "application/json" };
    if (env.ASAP_STATE_TOKEN) headers.authorization = `Bearer ${env.ASAP_STATE_TOKEN}`;
    const res = await fetch(stateUrl, { method: "POST", headers, body: JSON.stringify(rpcRequest(envelope)) });
    const body = await res.json();
    const ack = body?.result?.envelope?.payload;
    if (ack?.ok === true) return ack;
    const code = ack?.error ?? body?.error?.data?.code ?? `HTTP_${res.status}`;
    throw Object.assign(new Error(`the state service refused step ${snapshot.version}: ${ack?.message ?? JSON.stringify(body).slice(0, 200)}`), { code });
  }
  /** task_id → { status: "working" | "completed" | "failed" } for the tasks this worker runs. */
  const running = new Map();
  let stopping = false;

  /** Works on `taskId` from `state.step + 1` to `state.total_steps`. */
  async function work(taskId, state, consumer) {
    const entry = { status: "working" };
    running.set(taskId, entry);
    let { step } = state;
    const results = [...state.results];
    try {
      while (step < state.total_steps) {
        const t0 = Date.now();
        await sleep(stepMs); // the "work" of this step
        if (stopping) return;
        const next = step + 1;
        results.push({ step: next, agent: agentId, value: `result of step ${next}`, at: isoNow() });
        const done = next === state.total_steps;
        const snapshot = {
          task_id: taskId,
          version: next,
          data: {
            task_id: taskId,
            step: next,
            total_steps: state.total_steps,
            agent: agentId,
            status: done ? "completed" : "working",
            results,
          },
          checkpoint: true,
        };
        if (stateUrl) {
          // The shared service first: it is the authority on which steps are done.
          Object.assign(snapshot, { id: `snap_${ulid()}`, created_at: isoNow() });
          await saveShared(snapshot, next - 1);
        }
        const saved = snapshots.save(snapshot, { expectedVersion: next - 1 });
        step = next;
        metering.record({
          id: `evt_${taskId}_${next}`,
          task_id: taskId,
          agent_id: agentId,
          consumer_id: consumer,
          metrics: { tokens_in: 0, tokens_out: 0, duration_ms: Date.now() - t0, api_calls: 1 },
        });
        log({ event: "step", agent: agentId, task_id: taskId, step, total_steps: state.total_steps, snapshot_id: saved.id, version: saved.version });
      }
      entry.status = "completed";
      log({ event: "completed", agent: agentId, task_id: taskId, steps: state.total_steps });
    } catch (err) {
      // VERSION_CONFLICT: another writer saved this step already; stop rather than write it twice.
      entry.status = "failed";
      log({ event: "task_failed", agent: agentId, task_id: taskId, step: step + 1, code: err?.code ?? "ERROR", error: String(err?.message ?? err) });
    }
  }

  function onTaskRequest(req, env) {
    const reply = (payload) => ({
      jsonrpc: "2.0",
      id: req.id ?? null,
      result: {
        envelope: {
          ...makeEnvelope({ sender: env.recipient, recipient: env.sender, payloadType: "task.response", payload }),
          asap_version: env.asap_version,
          correlation_id: env.id ?? null,
          trace_id: env.trace_id ?? null,
        },
      },
    });
    const p = env.payload;
    if (typeof p.skill_id !== "string") return invalidParams(req.id, "envelope.payload.skill_id must be a string");
    if (p.input !== undefined && !isObject(p.input)) return invalidParams(req.id, "envelope.payload.input must be an object");
    const input = p.input ?? {};
    const taskId = input.task_id === undefined || input.task_id === null ? `task_${ulid()}` : input.task_id;
    if (p.skill_id !== SKILL_FAILOVER_WORK) {
      return reply({ task_id: taskId, status: "failed", result: { error: "unknown_skill", skill_id: p.skill_id } });
    }
    if (typeof taskId !== "string" || taskId === "") return invalidParams(req.id, "envelope.payload.input.task_id must be a non-empty string");
    const steps = input.steps ?? 10;
    if (!Number.isSafeInteger(steps) || steps < 1 || steps > MAX_STEPS) {
      return invalidParams(req.id, `envelope.payload.input.steps must be an integer 1..${MAX_STEPS}`);
    }
    const current = running.get(taskId);
    if (current?.status === "working") return reply({ task_id: taskId, status: "working", result: { agent: agentId, already_running: true } });
    if (snapshots.get(taskId) !== undefined) {
      // Never start a task over an existing history: that would rewrite its steps.
      return reply({ task_id: taskId, status: "failed", result: { error: "task_exists", latest_version: snapshots.get(taskId).version } });
    }
    log({ event: "task_started", agent: agentId, task_id: taskId, steps, from_step: 1 });
    work(taskId, { step: 0, total_steps: steps, results: [] }, env.sender);
    return reply({ task_id: taskId, status: "working", result: { agent: agentId, steps } });
  }

  /** state_restore through the package, then the resumption of the task. */
  function onStateRestore(req, env) {
    const res = handleAsapRequest({ snapshots }, req);
    const ack = res.result?.envelope;
    if (!ack || ack.payload?.ok !== true) return res;
    const { task_id: taskId, snapshot_id: snapshotId } = ack.payload;
    const refuse = (error) => {
      log({ event: "restore_refused", agent: agentId, task_id: taskId, snapshot_id: snapshotId, error });
      ack.payload = { ok: false, task_id: taskId, snapshot_id: snapshotId, error };
      return res;
    };
    if (running.get(taskId)?.status === "working") {
      log({ event: "restore_ignored", agent: agentId, task_id: taskId, reason: "already running here" });
      return res;
    }
    const snap = snapshots.getById(taskId, snapshotId);
    const latest = snapshots.get(taskId);
    if (!snap || !latest) return refuse("snapshot not found");
    if (latest.version !== snap.version) {
      return refuse(`snapshot v${snap.version} is not the task's latest version (v${latest.version})`);
    }
    const problem = resumeProblem(snap.data);
    if (problem) return refuse(problem);
    if (snap.data.step === snap.data.total_steps) {
      log({ event: "restored", agent: agentId, task_id: taskId, snapshot_id: snapshotId, version: snap.version, resume_from: null, note: "already completed" });
      return res;
    }
    log({ event: "restored", agent: agentId, task_id: taskId, snapshot_id: snapshotId, version: snap.version, resume_from: snap.data.step + 1, total_steps: snap.data.total_steps });
    work(taskId, snap.data, env.sender);
    return res;
  }

  function answer(body) {
    let req;
    try {
      req = JSON.parse(body);
    } catch {
      return handleAsapRequest({ snapshots }, body); // -32700 Parse error, as the package words it
    }
    const env = isObject(req) && isObject(req.params) ? req.params.envelope : undefined;
    if (!isObject(req) || req.jsonrpc !== "2.0" || req.method !== "asap.send" || !isObject(env)) {
      return handleAsapRequest({ snapshots }, req); // -32600 / -32601 / -32602
    }
    if (env.payload_type === "task.request") {
      const problem = envelopeProblem(env);
      return problem ? invalidParams(req.id, problem) : onTaskRequest(req, env);
    }
    if (env.payload_type === "state_restore") return onStateRestore(req, env);
    return handleAsapRequest({ snapshots }, req); // state_query, state_save, unknown types
  }

  const server = http.createServer((request, response) => {
    const send = (status, value) => {
      const text = JSON.stringify(value);
      response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      response.end(text);
    };
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname === HEALTH_PATH) {
      if (request.method !== "GET" && request.method !== "HEAD") return send(405, { error: "method not allowed" });
      const active = [...running.values()].filter((t) => t.status === "working").length;
      return send(stopping ? 503 : 200, {
        status: stopping ? "unhealthy" : "healthy",
        agent_id: agentId,
        version: WORKER_VERSION,
        asap_version: ASAP_VERSION,
        uptime_seconds: Math.round((Date.now() - started) / 10) / 100,
        load: { active_tasks: active, queue_depth: 0 },
      });
    }
    if (url.pathname !== ASAP_PATH) return send(404, { error: "not found" });
    if (request.method !== "POST") return send(405, { error: "method not allowed" });
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        send(413, rpcError(null, -32600, "Invalid request", { error: `body larger than ${MAX_BODY} bytes`, code: "TOO_LARGE" }));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on("end", () => {
      if (size > MAX_BODY) return;
      let out;
      try {
        out = answer(Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        const code = err instanceof StateError ? err.code : "INTERNAL";
        out = rpcError(null, -32603, "Internal error", { error: String(err?.message ?? err), code });
      }
      send(200, out);
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actualPort = server.address().port;
  log({ event: "listening", agent: agentId, port: actualPort, pid: process.pid, backend, path: backend === "sqlite" ? env.ASAP_STORAGE_PATH ?? "asap_state.db" : null, state_url: stateUrl?.href ?? null });

  return {
    agentId,
    port: actualPort,
    snapshots,
    metering,
    async stop() {
      stopping = true;
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections?.();
    },
  };
}

function defaultLog(event) {
  process.stdout.write(`${JSON.stringify({ t: isoNow(), ...event })}\n`);
}

function parseArgs(argv, env) {
  const opts = {
    port: env.ASAP_WORKER_PORT ?? "8001",
    name: env.ASAP_WORKER_NAME ?? "worker",
    stepMs: env.ASAP_WORKER_STEP_MS ?? "150",
    exitWithParent: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--port") opts.port = value();
    else if (arg === "--name") opts.name = value();
    else if (arg === "--step-ms") opts.stepMs = value();
    else if (arg === "--exit-with-parent") opts.exitWithParent = true;
    else if (/^\d+$/.test(arg)) opts.port = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port must be an integer 0..65535, got ${opts.port}`);
  const stepMs = Number(opts.stepMs);
  if (!Number.isInteger(stepMs) || stepMs < 0 || stepMs > 60_000) throw new Error(`step-ms must be an integer 0..60000, got ${opts.stepMs}`);
  return { ...opts, port, stepMs };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`agent-worker: ${err.message}`);
    process.exit(2);
  }
  let worker;
  try {
    worker = await startWorker(opts);
  } catch (err) {
    // DATABASE_LOCKED when another live process has the file open, UNKNOWN_BACKEND, EADDRINUSE, …
    console.error(`agent-worker: ${err instanceof StateError ? `${err.code}: ` : ""}${err.message}`);
    process.exit(1);
  }
  const shutdown = async (why) => {
    defaultLog({ event: "stopping", agent: worker.agentId, reason: why });
    await worker.stop();
    // Stores from the factories have no close(): the process exit releases the file, and the
    // lock file it leaves names a pid that no longer exists, which the next opener takes over.
    process.exit(0);
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  if (opts.exitWithParent) {
    process.stdin.on("end", () => shutdown("stdin closed"));
    process.stdin.on("error", () => shutdown("stdin closed"));
    process.stdin.resume();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
