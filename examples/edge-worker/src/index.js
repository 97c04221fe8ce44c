// An ASAP state agent as a Cloudflare Workers module worker.
//
//   POST /asap                      JSON-RPC 2.0 `asap.send` with state_save / state_query / state_restore
//                                   (scope asap:read for state_query, asap:execute for the others)
//   GET  /.well-known/asap/health   the reference's health document (public)
//   GET  /state.db                  the caller's tenant's SQLite image (scope asap:admin; `?tenant=<t>`
//                                   another tenant's, `?tenant=*` every tenant's, task ids qualified)
//
// Every state endpoint takes a bearer JWT (../worker-lib/auth.js: JWKS or, for local development, an
// HS256 secret; issuer and audience checked). Each tenant (the token's `sub`, or the claim
// ASAP_AUTH_TENANT_CLAIM names) has a database of its own: one SQLite database per tenant and
// isolate, in the isolate's memory, opened on the first request that needs it from the tenant's
// image in KV (key "tenants/<sha-256 of the tenant>/state.db"); every successful state_save writes
// the tenant's whole image back to KV before the answer is sent. A tenant's requests never open
// another tenant's database. See README.md for the persistence model and its limits.
//
// "asap-state" is imported by its bare name: wrangler resolves the package's `workerd` export
// condition, which imports the .wasm as a module (Workers forbid compiling wasm from bytes).
import {
  SqliteStateDb,
  StateError,
  copyState,
  createMeteringStore,
  mergeStateImages,
  createSnapshotStore,
  handleAsapRequest,
} from "asap-state";
import { SCOPE_ADMIN, Refusal, authenticate, checkRequest, qualifiedTaskId, tenantOf } from "../../worker-lib/auth.js";
import { health, json } from "../../worker-lib/http.js";

/** Where the tenants' images live in KV: `${TENANTS_PREFIX}<sha-256 hex of the tenant>/state.db`. */
const TENANTS_PREFIX = "tenants/";
const DEFAULT_AGENT_ID = "urn:asap:agent:edge-state";

// Module scope lives as long as the isolate. The Workers clock advances only with I/O and means
// nothing while the global scope runs, so the isolate's start is taken at its first request.
let startedAt;

/**
 * The tenants this isolate has served, by tenant: `{ key, statePromise, persistChain,
 * persistFailed }`. `statePromise` (Promise<{ backend, snapshots, metering, db? }>) is opened once
 * per tenant and isolate and shared by its requests; `persistChain` serialises the tenant's KV
 * writes, so an older image never lands after a newer one; `persistFailed` is true after a KV
 * write failed (the next request retries it with ctx.waitUntil, after its answer).
 */
const tenants = new Map();

/** The KV key of a tenant's image: a digest, so any tenant name fits KV's 512-byte keys. */
async function stateKey(tenant) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(tenant)));
  return `${TENANTS_PREFIX}${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}/state.db`;
}

async function tenantSlot(tenant) {
  let slot = tenants.get(tenant);
  if (!slot) {
    slot = { tenant, key: await stateKey(tenant), statePromise: undefined, persistChain: Promise.resolve(), persistFailed: false };
    // Another request of the same tenant may have made the slot while the digest was computed.
    if (!tenants.has(tenant)) tenants.set(tenant, slot);
    slot = tenants.get(tenant);
  }
  return slot;
}

/** What the worker logs of an error: a StateError's code and message, anything else in full. */
function logged(err) {
  return err instanceof StateError ? `${err.code}: ${err.message}` : err;
}

function errorBody(err) {
  if (err instanceof StateError) return { error: err.message, code: err.code };
  return { error: err instanceof Error ? err.message : String(err) };
}

/** The backend ASAP_STORAGE_BACKEND selects, normalised as the package's factories do. */
function backendName(env) {
  const raw = env.ASAP_STORAGE_BACKEND;
  return (typeof raw === "string" ? raw : "memory").trim().toLowerCase();
}

async function openState(env, slot) {
  if (backendName(env) === "sqlite") {
    if (!env.STATE) throw new Error("ASAP_STORAGE_BACKEND=sqlite needs the KV namespace binding STATE");
    // A cold start reloads the tenant's last image written to KV; none starts a new database.
    const bytes = await env.STATE.get(slot.key, "arrayBuffer");
    const db = bytes ? await SqliteStateDb.open({ bytes: new Uint8Array(bytes) }) : await SqliteStateDb.open();
    return { backend: "sqlite", db, snapshots: db.snapshots, metering: db.metering };
  }
  // `memory` (or anything else: the factories reject it with UNKNOWN_BACKEND and the reference's
  // message). Nothing is persisted: the state lives and dies with the isolate.
  const [snapshots, metering] = await Promise.all([createSnapshotStore(env), createMeteringStore(env)]);
  return { backend: "memory", snapshots, metering };
}

function getState(env, slot) {
  if (!slot.statePromise) {
    const opening = openState(env, slot);
    slot.statePromise = opening;
    // A failed open (KV unreachable, a damaged image: CORRUPT_DATABASE) is retried by the next
    // request; the image in KV is never overwritten by a new database.
    opening.catch(() => {
      if (slot.statePromise === opening) slot.statePromise = undefined;
    });
  }
  return slot.statePromise;
}

/** Writes the tenant's current image to KV, after any write this isolate already started for it. */
function persist(env, slot, state) {
  const run = slot.persistChain.then(async () => {
    // The image is taken when this write starts, so it holds everything saved before it. The
    // tenant's name rides along as metadata: the export of every tenant lists them from KV.
    try {
      await env.STATE.put(slot.key, state.db.exportBytes(), { metadata: { tenant: slot.tenant } });
      slot.persistFailed = false;
    } catch (err) {
      slot.persistFailed = true;
      throw err;
    }
  });
  slot.persistChain = run.catch(() => {});
  return run;
}

/** The task a reply envelope is about (every state reply names it). */
function replyTaskId(payload) {
  if (typeof payload?.task_id === "string") return payload.task_id;
  if (typeof payload?.snapshot?.task_id === "string") return payload.snapshot.task_id;
  return "";
}

async function handleAsap(request, env, started) {
  if (request.method !== "POST") {
    return json({ error: `method ${request.method} not allowed: POST a JSON-RPC 2.0 request` }, 405, { allow: "POST" });
  }
  // Who is asking comes first: a request without a valid token is refused before its body is read.
  const caller = await authenticate(request, env);
  if (caller instanceof Refusal) return caller.rpcResponse();
  const body = await request.text();
  const { refused } = checkRequest(caller, body);
  if (refused) return refused;
  const slot = await tenantSlot(caller.tenant);
  const state = await getState(env, slot);
  const response = handleAsapRequest({ snapshots: state.snapshots }, body);
  const reply = response?.result?.envelope;
  const headers = {};
  if (reply) {
    // Usage of every answered request, as the reference's metering hook records it: the agent is
    // this worker, the consumer the request's sender (the reply's recipient).
    try {
      state.metering.record({
        task_id: replyTaskId(reply.payload),
        agent_id: env.ASAP_AGENT_ID || DEFAULT_AGENT_ID,
        consumer_id: reply.recipient,
        metrics: { api_calls: 1, duration_ms: Math.max(0, Math.round(Date.now() - started)) },
      });
    } catch (err) {
      console.error("asap edge worker: usage not recorded:", logged(err));
    }
    const wrote = reply.payload_type === "state_save.ack" && reply.payload?.ok === true;
    if (state.backend === "sqlite" && wrote) {
      // Awaited, not ctx.waitUntil: the ack is sent only once KV holds the new image, so a client
      // (and the test) that gets `ok` knows a cold start will see the snapshot. The image also
      // carries the usage recorded since the last write (read-only requests write nothing to KV:
      // their usage rides along with the next save).
      try {
        await persist(env, slot, state);
        headers["x-asap-state-persisted"] = "true";
      } catch (err) {
        // The snapshot is saved in this isolate (which stays authoritative) but not in KV yet; the
        // next successful write carries it. Say so instead of failing a save that happened.
        console.error("asap edge worker: KV write failed:", logged(err));
        headers["x-asap-state-persisted"] = "false";
      }
    }
  }
  return json(response, 200, headers);
}

/** A tenant's state as SQLite file bytes (the memory backend's copied into a fresh image). */
async function tenantImage(env, slot) {
  const state = await getState(env, slot);
  if (state.db) return state.db.exportBytes();
  const db = await SqliteStateDb.open();
  try {
    copyState({ snapshots: state.snapshots, metering: state.metering }, { snapshots: db.snapshots, metering: db.metering });
    return db.exportBytes();
  } finally {
    db.close();
  }
}

/** Every tenant with state: those in KV (named by their images' metadata) and this isolate's. */
async function allTenants(env) {
  const names = new Set(tenants.keys());
  if (backendName(env) === "sqlite" && env.STATE) {
    let cursor;
    do {
      const page = await env.STATE.list({ prefix: TENANTS_PREFIX, cursor });
      for (const key of page.keys) if (typeof key.metadata?.tenant === "string") names.add(key.metadata.tenant);
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
  }
  return [...names].sort();
}

async function downloadImage(request, env) {
  if (request.method !== "GET") {
    return json({ error: `method ${request.method} not allowed: GET /state.db` }, 405, { allow: "GET" });
  }
  const caller = await authenticate(request, env);
  if (caller instanceof Refusal) return caller.jsonResponse();
  const refused = caller.require(SCOPE_ADMIN);
  if (refused) return refused.jsonResponse();
  const { tenant, refusal } = tenantOf(caller, new URL(request.url));
  if (refusal) return refusal.jsonResponse();
  let bytes;
  if (tenant !== null) {
    bytes = await tenantImage(env, await tenantSlot(tenant));
  } else {
    // Every tenant in one file: each task id qualified by its tenant, so none collide.
    const images = [];
    for (const name of await allTenants(env)) {
      images.push({ bytes: await tenantImage(env, await tenantSlot(name)), taskIdPrefix: qualifiedTaskId(name, "") });
    }
    bytes = mergeStateImages(images);
  }
  return new Response(bytes, {
    status: 200,
    headers: {
      "content-type": "application/vnd.sqlite3",
      "content-disposition": 'attachment; filename="state.db"',
      "content-length": String(bytes.byteLength),
      "cache-control": "no-store",
    },
  });
}

export default {
  async fetch(request, env, ctx) {
    const started = Date.now();
    startedAt ??= started;
    try {
      const { pathname } = new URL(request.url);
      switch (pathname) {
        case "/asap":
          return await handleAsap(request, env, started);
        case "/.well-known/asap/health":
          if (request.method !== "GET") return json({ error: `method ${request.method} not allowed` }, 405, { allow: "GET" });
          return health(env.ASAP_AGENT_ID || DEFAULT_AGENT_ID, startedAt);
        case "/state.db":
          return await downloadImage(request, env);
        default:
          return json({ error: `not found: ${pathname}`, endpoints: ["POST /asap", "GET /.well-known/asap/health", "GET /state.db"] }, 404);
      }
    } catch (err) {
      console.error("asap edge worker: request failed:", logged(err));
      return json(errorBody(err), 500);
    } finally {
      // A KV write that failed is retried after this answer, without holding the client.
      for (const slot of tenants.values()) {
        if (!slot.persistFailed || !slot.statePromise || typeof ctx?.waitUntil !== "function") continue;
        slot.persistFailed = false;
        ctx.waitUntil(
          slot.statePromise
            .then((state) => persist(env, slot, state))
            .catch((err) => console.error("asap edge worker: KV write retry failed:", logged(err))),
        );
      }
    }
  },
};
