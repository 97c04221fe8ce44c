// ASAP state messages answered from a snapshot store, and copies between stores. Shared by every
// entry of the package ("asap-state", "asap-state/memory", "asap-state/web"): the messages are
// answered by the store's own WebAssembly (its internal handleStateEnvelope / handleAsapRequest
// methods), and copyState uses only the public store methods, so any two stores of any entries
// work together.
import { StateError } from "./state-error.js";

const RPC_MESSAGES = {
  "-32700": "Parse error",
  "-32600": "Invalid request",
  "-32601": "Method not found",
  "-32602": "Invalid params",
  "-32603": "Internal error",
};

/** A JSON-RPC 2.0 error object. */
function rpcError(code, error, stateCode) {
  return { code, message: RPC_MESSAGES[String(code)], data: { error, code: stateCode } };
}

/** The message of anything thrown, without ever throwing itself. */
function messageOf(e) {
  try {
    if (e !== null && typeof e === "object" && typeof e.message === "string") return e.message;
    return String(e);
  } catch {
    return "an exception";
  }
}

/** A short description of a value for messages, without ever throwing. */
function describe(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  try {
    return Array.isArray(value) ? "an array" : "an object";
  } catch {
    return "an object"; // a revoked proxy
  }
}

/** `stores.snapshots` when it is a snapshot store of this package, else a -32603 error object. */
function snapshotStoreOf(stores) {
  try {
    if (stores === null || typeof stores !== "object") {
      return { error: rpcError(-32603, `stores must be an object { snapshots }, got ${describe(stores)}`, "INVALID_ARGUMENT") };
    }
    const store = stores.snapshots;
    if (
      store === null ||
      typeof store !== "object" ||
      typeof store.handleStateEnvelope !== "function" ||
      typeof store.handleAsapRequest !== "function"
    ) {
      return {
        error: rpcError(
          -32603,
          `stores.snapshots must be a snapshot store of asap-state (MemorySnapshotStore or SqliteSnapshotStore), got ${describe(store)}`,
          "INVALID_ARGUMENT",
        ),
      };
    }
    return { store };
  } catch (e) {
    return { error: rpcError(-32603, `reading stores.snapshots threw: ${messageOf(e)}`, "INVALID_ARGUMENT") };
  }
}

/** A -32603 error object for an exception thrown by a store. */
function thrownError(e) {
  let code = "INVALID_ARGUMENT";
  try {
    if (e instanceof StateError) code = e.code;
  } catch {
    // keep INVALID_ARGUMENT
  }
  return rpcError(-32603, `the snapshot store threw: ${messageOf(e)}`, code);
}

/** The `id` of a request object when it can be read safely (a string or a number), else null. */
function requestId(request) {
  try {
    if (request === null || typeof request !== "object" || Array.isArray(request)) return null;
    const id = request.id;
    return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
  } catch {
    return null;
  }
}

/**
 * Answers an ASAP state message (`state_query`, `state_restore`, `state_save`) from
 * `stores.snapshots`: `{ envelope }` (the reply envelope) or `{ error }` (a JSON-RPC 2.0 error
 * object). Never throws.
 */
export function handleStateEnvelope(stores, envelope) {
  const { store, error } = snapshotStoreOf(stores);
  if (error) return { error };
  try {
    return store.handleStateEnvelope(envelope);
  } catch (e) {
    return { error: thrownError(e) };
  }
}

/**
 * Answers a JSON-RPC 2.0 request `{ jsonrpc: "2.0", method: "asap.send", params: { envelope }, id }`
 * (an object, or its JSON text) carrying an ASAP state message: `{ jsonrpc: "2.0", id, result:
 * { envelope } }` or `{ jsonrpc: "2.0", id, error }`. Never throws.
 */
export function handleAsapRequest(stores, request) {
  let parsed = request;
  if (typeof request === "string") {
    try {
      parsed = JSON.parse(request);
    } catch (e) {
      return { jsonrpc: "2.0", id: null, error: rpcError(-32700, `the request body is not JSON: ${messageOf(e)}`, "INVALID_ARGUMENT") };
    }
  }
  const { store, error } = snapshotStoreOf(stores);
  if (error) return { jsonrpc: "2.0", id: requestId(parsed), error };
  try {
    return store.handleAsapRequest(parsed);
  } catch (e) {
    return { jsonrpc: "2.0", id: requestId(parsed), error: thrownError(e) };
  }
}

const SNAPSHOT_METHODS = ["listTasks", "listVersions", "get", "save"];
const METERING_METHODS = ["export", "record"];

/** `side[key]` when present: a store with `methods`, else `undefined`; throws INVALID_ARGUMENT. */
function storeArg(side, name, key, methods) {
  let store;
  let missing;
  try {
    store = side[key];
    if (store === undefined || store === null) return undefined;
    missing = typeof store === "object" ? methods.find((m) => typeof store[m] !== "function") : methods[0];
  } catch (e) {
    throw new StateError("INVALID_ARGUMENT", `reading ${name}.${key} threw: ${messageOf(e)}`);
  }
  if (missing !== undefined) {
    throw new StateError("INVALID_ARGUMENT", `${name}.${key} must be a store with ${methods.join(", ")} (missing ${missing})`);
  }
  return store;
}

/**
 * Copies every version of every task (same id, version, data, checkpoint, created_at) from
 * `from.snapshots` to `to.snapshots`, and every usage event (same id) from `from.metering` to
 * `to.metering` — each when both sides have that store. Idempotent. Returns how many snapshots
 * and events it copied. A store failure throws its `StateError`; copying again completes the copy.
 */
export function copyState(from, to) {
  for (const [name, side] of [["from", from], ["to", to]]) {
    if (side === null || typeof side !== "object") {
      throw new StateError("INVALID_ARGUMENT", `${name} must be an object { snapshots?, metering? }, got ${describe(side)}`);
    }
  }
  const fromSnapshots = storeArg(from, "from", "snapshots", SNAPSHOT_METHODS);
  const toSnapshots = storeArg(to, "to", "snapshots", SNAPSHOT_METHODS);
  const fromMetering = storeArg(from, "from", "metering", METERING_METHODS);
  const toMetering = storeArg(to, "to", "metering", METERING_METHODS);
  let snapshots = 0;
  let events = 0;
  if (fromSnapshots && toSnapshots) {
    for (const { task_id } of fromSnapshots.listTasks()) {
      for (const version of fromSnapshots.listVersions(task_id)) {
        const s = fromSnapshots.get(task_id, version);
        if (s === undefined) continue; // deleted meanwhile
        toSnapshots.save({ id: s.id, task_id: s.task_id, version: s.version, data: s.data, checkpoint: s.checkpoint, created_at: s.created_at });
        snapshots += 1;
      }
    }
  }
  if (fromMetering && toMetering) {
    // The JSON export is in time order with ties in recording order across agents, so the
    // copy's ties keep that order too.
    for (const e of JSON.parse(fromMetering.export("json"))) {
      toMetering.record({ id: e.id, task_id: e.task_id, agent_id: e.agent_id, consumer_id: e.consumer_id, metrics: e.metrics, timestamp: e.timestamp });
      events += 1;
    }
  }
  return { snapshots, events };
}
