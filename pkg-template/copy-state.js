// copyState: copies between stores, shared by every entry of the package ("asap-state",
// "asap-state/memory", "asap-state/web").
//
// Why this one piece is JavaScript while the core has the same copy (Rust `copy_state`): the
// two stores may belong to two different WebAssembly instances (a memory-entry store and a
// SQLite store of the full entry, or two copies of the package), and one instance cannot hold
// the other's Rust objects. So the copy goes through the stores' public methods only, and
// works between any two stores. It follows the core's `copy_state` step for step (every version
// of every task through listTasks / listVersions / get / save with its id, version, data,
// checkpoint and created_at; every event through the JSON export), and tests/js/envelope.test.mjs
// checks it for the properties tests/envelope.rs checks of the core's: everything preserved,
// idempotent, only what both sides have.
import { StateError } from "./state-error.js";

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
