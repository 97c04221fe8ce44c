// An ASAP state agent as a Cloudflare Workers module worker.
//
//   POST /asap                      JSON-RPC 2.0 `asap.send` with state_save / state_query / state_restore
//   GET  /.well-known/asap/health   the reference's health document
//   GET  /state.db                  the SQLite image (Authorization: Bearer <STATE_TOKEN>)
//
// One SQLite database per isolate, in the isolate's memory, opened on the first request that needs
// it from the image in KV (key "state.db"); every successful state_save writes the whole image back
// to KV before the answer is sent. See README.md for the persistence model and its limits.
//
// "asap-state" is imported by its bare name: wrangler resolves the package's `workerd` export
// condition, which imports the .wasm as a module (Workers forbid compiling wasm from bytes).
import {
  SqliteStateDb,
  StateError,
  copyState,
  createMeteringStore,
  createSnapshotStore,
  handleAsapRequest,
} from "asap-state";
import { version as PACKAGE_VERSION } from "asap-state/package.json";

/** The KV key that holds the SQLite image. */
const STATE_KEY = "state.db";
const DEFAULT_AGENT_ID = "urn:asap:agent:edge-state";
const ASAP_VERSION = "0.1";

// Module scope lives as long as the isolate. The Workers clock advances only with I/O and means
// nothing while the global scope runs, so the isolate's start is taken at its first request.
let startedAt;
/** Promise<{ backend, snapshots, metering, db? }>: opened once per isolate, shared by requests. */
let statePromise;
/** Serialises the KV writes of one isolate, so an older image never lands after a newer one. */
let persistChain = Promise.resolve();
/** True after a KV write failed: the next request retries it (ctx.waitUntil, after its answer). */
let persistFailed = false;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

function json(value, status = 200, headers = {}) {
  return new Response(JSON.stringify(value), { status, headers: { ...JSON_HEADERS, ...headers } });
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

async function openState(env) {
  if (backendName(env) === "sqlite") {
    if (!env.STATE) throw new Error("ASAP_STORAGE_BACKEND=sqlite needs the KV namespace binding STATE");
    // A cold start reloads the last image written to KV; an empty namespace starts a new database.
    const bytes = await env.STATE.get(STATE_KEY, "arrayBuffer");
    const db = bytes ? await SqliteStateDb.open({ bytes: new Uint8Array(bytes) }) : await SqliteStateDb.open();
    return { backend: "sqlite", db, snapshots: db.snapshots, metering: db.metering };
  }
  // `memory` (or anything else: the factories reject it with UNKNOWN_BACKEND and the reference's
  // message). Nothing is persisted: the state lives and dies with the isolate.
  const [snapshots, metering] = await Promise.all([createSnapshotStore(env), createMeteringStore(env)]);
  return { backend: "memory", snapshots, metering };
}

function getState(env) {
  if (!statePromise) {
    statePromise = openState(env);
    // A failed open (KV unreachable, a damaged image: CORRUPT_DATABASE) is retried by the next
    // request; the image in KV is never overwritten by a new database.
    statePromise.catch(() => {
      statePromise = undefined;
    });
  }
  return statePromise;
}

/** Writes the current image to KV, after any write this isolate already started. */
function persist(env, state) {
  const run = persistChain.then(async () => {
    // The image is taken when this write starts, so it holds everything saved before it.
    try {
      await env.STATE.put(STATE_KEY, state.db.exportBytes());
      persistFailed = false;
    } catch (err) {
      persistFailed = true;
      throw err;
    }
  });
  persistChain = run.catch(() => {});
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
  const body = await request.text();
  const state = await getState(env);
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
        await persist(env, state);
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

function health(env) {
  return json({
    status: "healthy",
    agent_id: env.ASAP_AGENT_ID || DEFAULT_AGENT_ID,
    version: PACKAGE_VERSION,
    asap_version: ASAP_VERSION,
    uptime_seconds: Math.round((Date.now() - startedAt) / 10) / 100,
    load: null,
  });
}

const encoder = new TextEncoder();

/** Compares two strings in time that depends on neither's content (SHA-256 digests, then XOR). */
async function sameSecret(given, expected) {
  const [a, b] = await Promise.all(
    [given, expected].map(async (s) => new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(s)))),
  );
  if (typeof crypto.subtle.timingSafeEqual === "function") return crypto.subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function downloadImage(request, env) {
  if (request.method !== "GET") {
    return json({ error: `method ${request.method} not allowed: GET /state.db` }, 405, { allow: "GET" });
  }
  const expected = env.STATE_TOKEN;
  if (typeof expected !== "string" || expected.length === 0) {
    return json({ error: "GET /state.db is disabled: the secret STATE_TOKEN is not configured (wrangler secret put STATE_TOKEN)" }, 503);
  }
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(request.headers.get("authorization") ?? "");
  if (!match) {
    return json({ error: "authorization required: send Authorization: Bearer <STATE_TOKEN>" }, 401, {
      "www-authenticate": 'Bearer realm="asap-state"',
    });
  }
  if (!(await sameSecret(match[1], expected))) {
    return json({ error: "invalid bearer token" }, 401, {
      "www-authenticate": 'Bearer realm="asap-state", error="invalid_token"',
    });
  }
  const state = await getState(env);
  let bytes;
  if (state.db) {
    bytes = state.db.exportBytes();
  } else {
    // The memory backend has no file: copy its stores into a fresh image for the download.
    const db = await SqliteStateDb.open();
    try {
      copyState({ snapshots: state.snapshots, metering: state.metering }, { snapshots: db.snapshots, metering: db.metering });
      bytes = db.exportBytes();
    } finally {
      db.close();
    }
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
          return health(env);
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
      if (persistFailed && statePromise && typeof ctx?.waitUntil === "function") {
        persistFailed = false;
        ctx.waitUntil(
          statePromise
            .then((state) => persist(env, state))
            .catch((err) => console.error("asap edge worker: KV write retry failed:", logged(err))),
        );
      }
    }
  },
};
