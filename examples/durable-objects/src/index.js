// An ASAP state agent on Cloudflare Durable Objects: the same endpoints and answers as
// examples/edge-worker/, with one consistent authority per task across every isolate and
// location instead of one database per isolate.
//
//   POST /asap                      JSON-RPC 2.0 `asap.send` with state_save / state_query / state_restore
//                                   (scope asap:read for state_query, asap:execute for the others)
//   GET  /.well-known/asap/health   the reference's health document (public)
//   GET  /tasks                     the caller's tasks, from the index (scope asap:read)
//   GET  /state.db?task_id=<id>     that task's state as one SQLite file (scope asap:admin)
//   GET  /state.db?after=&limit=    a page of tasks (at most 100, in task id order) as one SQLite file
//   (`&tenant=<t>` or `&tenant=*` on the last three: another tenant, or all; asap:admin only)
//
// Every state endpoint takes a bearer JWT (../worker-lib/auth.js: JWKS or, for local development, an
// HS256 secret; issuer and audience checked). The token's tenant (its `sub`, or the claim
// ASAP_AUTH_TENANT_CLAIM names) is part of every object's name and of every index entry, so a
// tenant's requests can only ever reach that tenant's objects.
//
// The worker itself holds no state. It reads the task id from the request and forwards the
// request to that task's object, `TASKS.idFromName(objectName(tenant, task_id))`: Cloudflare runs exactly one instance
// of that object in the world, single-threaded, so `expected_version` holds however many isolates
// and locations the requests arrive through. The object keeps the task's snapshots — and the usage
// of the requests about that task — in the Python reference's two tables of its own SQLite storage
// (asap-state's DurableObjectStateDb), each write one transaction. A task's first save also enters
// it in the index object (TASKS has no listing of its own). See README.md.
//
// "asap-state/durable-object" is the package's entry without the embedded SQL engine: the SQL
// runs on the object's own SQLite, so the bundled worker stays small.
import { DurableObject } from "cloudflare:workers";
import {
  DurableObjectStateDb,
  MemorySnapshotStore,
  mergeStateImages,
  StateError,
  handleAsapRequest,
} from "asap-state/durable-object";
import { SCOPE_ADMIN, SCOPE_READ, Refusal, authenticate, checkRequest, qualifiedTaskId, tenantOf } from "../../worker-lib/auth.js";
import { health, json } from "../../worker-lib/http.js";

const DEFAULT_AGENT_ID = "urn:asap:agent:durable-state";
/** The largest request body: a snapshot's data may be 32 MiB, plus its envelope. */
const MAX_BODY_BYTES = 34 * 1024 * 1024;
/** How long a task object waits before it retries entering its task in the index. */
const INDEX_RETRY_MS = 5_000;

// Module scope lives as long as the isolate; its start is taken at its first request (the
// Workers clock means nothing while the global scope runs).
let startedAt;

/** A JSON-RPC error the worker answers itself (before any object is asked). */
function rpcError(status, code, message) {
  return json({ jsonrpc: "2.0", id: null, error: { code, message } }, status);
}

function logged(err) {
  return err instanceof StateError ? `${err.code}: ${err.message}` : err;
}

/**
 * The task a JSON-RPC `asap.send` request is about: `payload.snapshot.task_id` of a state_save,
 * `payload.task_id` of a state_query or state_restore. `undefined` when the request has none
 * (malformed, another payload type): the package then answers it with the right error.
 */
function requestTaskId(request) {
  const envelope = request?.params?.envelope;
  const payload = envelope?.payload;
  const taskId = envelope?.payload_type === "state_save" ? payload?.snapshot?.task_id : payload?.task_id;
  return typeof taskId === "string" && taskId.length > 0 ? taskId : undefined;
}

/** The name of a tenant's task's object: unambiguous (JSON), so no two (tenant, task) pairs share one. */
function objectName(tenant, taskId) {
  return JSON.stringify([tenant, taskId]);
}

/** The internal header that tells a task's object its tenant (set by the worker only). */
const TENANT_HEADER = "x-asap-tenant";

/** The task a reply envelope is about (every state reply names it). */
function replyTaskId(payload) {
  if (typeof payload?.task_id === "string") return payload.task_id;
  if (typeof payload?.snapshot?.task_id === "string") return payload.snapshot.task_id;
  return "";
}

/** One task: its snapshots and the usage of the requests about it, in the object's SQLite. */
export class TaskState extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.db = DurableObjectStateDb.open(ctx.storage);
    // The object's tenant and task, and whether the task is in the index yet (a table of the
    // object's own, beside the reference's).
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS asap_object (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }

  /** Answers a forwarded `POST /asap` (the body already read and size-checked by the worker) or `GET /export`. */
  async fetch(request) {
    if (new URL(request.url).pathname === "/export") return this.export();
    const started = Date.now();
    const body = await request.text();
    const response = handleAsapRequest({ snapshots: this.db.snapshots }, body);
    const reply = response?.result?.envelope;
    if (reply) {
      const taskId = replyTaskId(reply.payload);
      // Usage of every answered request, as the reference's metering hook records it: the agent is
      // this worker, the consumer the request's sender (the reply's recipient).
      try {
        this.db.metering.record({
          task_id: taskId,
          agent_id: this.env.ASAP_AGENT_ID || DEFAULT_AGENT_ID,
          consumer_id: reply.recipient,
          metrics: { api_calls: 1, duration_ms: Math.max(0, Date.now() - started) },
        });
      } catch (err) {
        console.error("asap durable objects: usage not recorded:", logged(err));
      }
      if (reply.payload_type === "state_save.ack" && reply.payload?.ok === true) {
        await this.enterInIndex(request.headers.get(TENANT_HEADER) ?? "", taskId);
      }
    }
    return json(response);
  }

  /** The task's state as one SQLite file in the reference's schema. */
  export() {
    const bytes = this.db.exportBytes();
    return new Response(bytes, { headers: { "content-type": "application/vnd.sqlite3", "content-length": String(bytes.byteLength) } });
  }

  /** Enters the task in the index once; if the index is unreachable, an alarm retries later. */
  async enterInIndex(tenant, taskId) {
    const known = this.ctx.storage.sql.exec("SELECT value FROM asap_object WHERE key = 'indexed'").toArray();
    if (known.length > 0) return;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO asap_object (key, value) VALUES ('tenant', ?), ('task_id', ?)", tenant, taskId);
    try {
      await indexStub(this.env).add(tenant, taskId);
      this.ctx.storage.sql.exec("INSERT OR REPLACE INTO asap_object (key, value) VALUES ('indexed', '1')");
    } catch (err) {
      // The save is durable and acknowledged either way; the index catches up.
      console.error("asap durable objects: index not updated, retrying:", logged(err));
      await this.ctx.storage.setAlarm(Date.now() + INDEX_RETRY_MS);
    }
  }

  async alarm() {
    const rows = Object.fromEntries(this.ctx.storage.sql.exec("SELECT key, value FROM asap_object").toArray().map((r) => [r.key, r.value]));
    if (rows.task_id !== undefined) await this.enterInIndex(rows.tenant ?? "", rows.task_id);
  }
}

/** Every task that has been saved, by tenant: one row per task, written once, at its first save. */
export class TaskIndex extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS tenant_tasks (tenant TEXT NOT NULL, task_id TEXT NOT NULL, first_saved_at TEXT NOT NULL, PRIMARY KEY (tenant, task_id))",
    );
  }

  add(tenant, taskId) {
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO tenant_tasks (tenant, task_id, first_saved_at) VALUES (?, ?, ?)", tenant, taskId, new Date().toISOString());
  }

  /** Whether the tenant's task has been saved. */
  has(tenant, taskId) {
    return this.ctx.storage.sql.exec("SELECT 1 FROM tenant_tasks WHERE tenant = ? AND task_id = ?", tenant, taskId).toArray().length > 0;
  }

  /** Up to `limit` of the tenant's task ids after `after` (exclusive), in order: one page. */
  list(tenant, after, limit) {
    return this.ctx.storage.sql
      .exec("SELECT task_id FROM tenant_tasks WHERE tenant = ? AND task_id > ? ORDER BY task_id LIMIT ?", tenant, after, limit)
      .toArray()
      .map((r) => r.task_id);
  }

  /** Up to `limit` tasks of every tenant after `[tenant, taskId]` (exclusive), in order: `{ tenant, task_id }`s. */
  listAll(after, limit) {
    const [tenant, taskId] = after;
    return this.ctx.storage.sql
      .exec(
        "SELECT tenant, task_id FROM tenant_tasks WHERE tenant > ? OR (tenant = ? AND task_id > ?) ORDER BY tenant, task_id LIMIT ?",
        tenant,
        tenant,
        taskId,
        limit,
      )
      .toArray()
      .map((r) => ({ tenant: r.tenant, task_id: r.task_id }));
  }
}

function indexStub(env) {
  return env.INDEX.get(env.INDEX.idFromName("index"));
}

async function handleAsap(request, env) {
  if (request.method !== "POST") {
    return json({ error: `method ${request.method} not allowed: POST a JSON-RPC 2.0 request` }, 405, { allow: "POST" });
  }
  // Who is asking comes first: a request without a valid token is refused before its body is read.
  const caller = await authenticate(request, env);
  if (caller instanceof Refusal) return caller.rpcResponse();
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) {
    return rpcError(413, -32600, `request body of ${declared} bytes: at most ${MAX_BODY_BYTES}`);
  }
  const body = await request.text();
  if (body.length > MAX_BODY_BYTES) {
    return rpcError(413, -32600, `request body of more than ${MAX_BODY_BYTES} bytes`);
  }
  const { parsed, refused } = checkRequest(caller, body);
  if (refused) return refused;
  const taskId = requestTaskId(parsed);
  if (taskId === undefined) {
    // No task to route to: malformed JSON-RPC, an envelope without a task id, another payload
    // type. The package's answer is the same whatever the store; an empty one reads nothing.
    return json(handleAsapRequest({ snapshots: new MemorySnapshotStore() }, body));
  }
  const stub = env.TASKS.get(env.TASKS.idFromName(objectName(caller.tenant, taskId)));
  return stub.fetch("https://task/asap", { method: "POST", body, headers: { "content-type": "application/json", [TENANT_HEADER]: caller.tenant } });
}

/** The largest page of tasks one GET /state.db merges (each task is one request to its object). */
const EXPORT_PAGE = 100;

/** A tenant's task's object's state as SQLite file bytes. */
async function exportTask(env, tenant, taskId) {
  const res = await env.TASKS.get(env.TASKS.idFromName(objectName(tenant, taskId))).fetch("https://task/export");
  if (!res.ok) throw new Error(`export of task ${JSON.stringify(taskId)} failed: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * The caller of a GET endpoint that needs `scope`, and the tenant it asks about (`null`: every
 * tenant); or the refusal to answer.
 */
async function readerOf(request, env, scope) {
  const caller = await authenticate(request, env);
  if (caller instanceof Refusal) return { refusal: caller };
  const refusal = caller.require(scope);
  if (refusal) return { refusal };
  return { caller, ...tenantOf(caller, new URL(request.url)) };
}

/** `[tenant, task_id]` of a qualified task id (`qualifiedTaskId`), for paging every tenant. */
function splitQualified(id) {
  const slash = id.indexOf("/");
  if (slash < 0) return [id, ""];
  try {
    return [decodeURIComponent(id.slice(0, slash)), id.slice(slash + 1)];
  } catch {
    return [id, ""];
  }
}

/** One page of the index: the tenant's task ids, or (tenant `null`) every tenant's, qualified. */
async function indexPage(env, tenant, after, limit) {
  if (tenant !== null) return (await indexStub(env).list(tenant, after, limit)).map((task_id) => ({ tenant, task_id }));
  return indexStub(env).listAll(splitQualified(after), limit);
}

/**
 * GET /state.db?task_id=<id>: that task's object's state as one SQLite file.
 * GET /state.db?after=<id>&limit=<1..100>: the tasks of one page of the index, merged into one
 * file; the header `x-asap-state-next` holds the `after` of the next page (absent at the end).
 * `tenant=*` merges every tenant's tasks, each task id qualified by its tenant.
 */
async function download(request, env) {
  if (request.method !== "GET") return json({ error: `method ${request.method} not allowed: GET /state.db` }, 405, { allow: "GET" });
  const { refusal, tenant } = await readerOf(request, env, SCOPE_ADMIN);
  if (refusal) return refusal.jsonResponse();
  const url = new URL(request.url);
  const taskId = url.searchParams.get("task_id");
  const headers = {
    "content-type": "application/vnd.sqlite3",
    "content-disposition": 'attachment; filename="state.db"',
    "cache-control": "no-store",
  };
  let bytes;
  if (taskId !== null) {
    if (tenant === null) return json({ error: "task_id needs one tenant, not tenant=*" }, 400);
    // A task never saved has no object worth waking (and gets none created).
    if (!(await indexStub(env).has(tenant, taskId))) return json({ error: `no task ${JSON.stringify(taskId)}` }, 404);
    bytes = await exportTask(env, tenant, taskId);
  } else {
    const limit = Number(url.searchParams.get("limit") ?? EXPORT_PAGE);
    if (!Number.isInteger(limit) || limit < 1 || limit > EXPORT_PAGE) {
      return json({ error: `limit must be an integer from 1 to ${EXPORT_PAGE}` }, 400);
    }
    const tasks = await indexPage(env, tenant, url.searchParams.get("after") ?? "", limit);
    const images = await Promise.all(tasks.map((t) => exportTask(env, t.tenant, t.task_id)));
    bytes = mergeStateImages(tenant === null ? images.map((image, i) => ({ bytes: image, taskIdPrefix: qualifiedTaskId(tasks[i].tenant, "") })) : images);
    if (tasks.length === limit) {
      const last = tasks[tasks.length - 1];
      headers["x-asap-state-next"] = encodeURIComponent(tenant === null ? qualifiedTaskId(last.tenant, last.task_id) : last.task_id);
    }
  }
  return new Response(bytes, { headers: { ...headers, "content-length": String(bytes.byteLength) } });
}

/**
 * The read endpoints answer pages of other origins (the state inspector, opened from anywhere)
 * with CORS headers: the bearer token, not the origin, is what grants access, and no cookie is
 * ever involved.
 */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "x-asap-state-next, content-length, content-disposition, www-authenticate",
};

function withCors(response) {
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(CORS)) headers.set(k, v);
  return new Response(response.body, { status: response.status, headers });
}

/** The answer to a CORS preflight of a read endpoint. */
function preflight() {
  return new Response(null, {
    status: 204,
    headers: { ...CORS, "access-control-allow-methods": "GET", "access-control-allow-headers": "authorization", "access-control-max-age": "600" },
  });
}

/**
 * GET /tasks?after=<task id>&limit=<n ≤ 1000>: one page of the caller's tasks, in task id order
 * (`tenant=*`, admin only: every tenant's, qualified).
 */
async function listTasks(request, env) {
  if (request.method !== "GET") return json({ error: `method ${request.method} not allowed: GET /tasks` }, 405, { allow: "GET" });
  const { refusal, tenant } = await readerOf(request, env, SCOPE_READ);
  if (refusal) return refusal.jsonResponse();
  const url = new URL(request.url);
  const after = url.searchParams.get("after") ?? "";
  const limit = Number(url.searchParams.get("limit") ?? 1000);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return json({ error: "limit must be an integer from 1 to 1000" }, 400);
  }
  const page = await indexPage(env, tenant, after, limit);
  const tasks = page.map((t) => (tenant === null ? qualifiedTaskId(t.tenant, t.task_id) : t.task_id));
  const next = tasks.length === limit ? tasks[tasks.length - 1] : null;
  return json({ tasks, next });
}

export default {
  async fetch(request, env) {
    startedAt ??= Date.now();
    try {
      const { pathname } = new URL(request.url);
      switch (pathname) {
        case "/asap":
          return await handleAsap(request, env);
        case "/.well-known/asap/health":
          if (request.method !== "GET") return json({ error: `method ${request.method} not allowed` }, 405, { allow: "GET" });
          return health(env.ASAP_AGENT_ID || DEFAULT_AGENT_ID, startedAt);
        case "/tasks":
          return request.method === "OPTIONS" ? preflight() : withCors(await listTasks(request, env));
        case "/state.db":
          return request.method === "OPTIONS" ? preflight() : withCors(await download(request, env));
        default:
          return json({ error: `not found: ${pathname}`, endpoints: ["POST /asap", "GET /.well-known/asap/health", "GET /tasks", "GET /state.db"] }, 404);
      }
    } catch (err) {
      console.error("asap durable objects: request failed:", logged(err));
      return json({ error: err instanceof Error ? err.message : String(err), ...(err instanceof StateError ? { code: err.code } : {}) }, 500);
    }
  },
};
