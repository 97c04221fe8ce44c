// "asap-state/langgraph": a LangGraph.js checkpointer (`BaseCheckpointSaver`) over any
// asap-state `SnapshotStore` — the in-memory store, a SQLite database (image, Node file, OPFS)
// or a Durable Object's storage. Plain JavaScript: it loads no WebAssembly of its own, so it adds
// nothing to a bundle beyond the entry whose store it is given.
//
// Layout (docs/langgraph.md): one asap-state task per (thread, namespace), named
// `<prefix><thread>` or `<prefix><thread>/<namespace>` (both parts percent-encoded), and one
// snapshot per checkpoint, whose id is the checkpoint id. A snapshot's `data` holds the checkpoint
// without its channel values, the metadata, the parent's id, the values of the channels that
// changed at this checkpoint (`newVersions`), where every other channel's current value is
// stored (`values_at`: channel → the snapshot version holding it) and the pending writes.
// Serialised values keep the serializer's type tag: `{ type, json }` when the bytes are JSON text
// that JSON.stringify reproduces exactly (so the inspector shows and diffs them), else
// `{ type, base64 }`; either way `loadsTyped` gets the same bytes back.
import {
  BaseCheckpointSaver,
  TASKS,
  WRITES_IDX_MAP,
  copyCheckpoint,
  getCheckpointId,
  maxChannelVersion,
} from "@langchain/langgraph-checkpoint";
import { StateError } from "../state-error.js";

/** The task-id prefix of every thread unless the saver is given another. */
export const DEFAULT_PREFIX = "langgraph:";
/** The `layout` field of every snapshot this saver writes. */
const LAYOUT = 1;
/** How many checkpoints' own channel values a saver keeps in memory unless told otherwise. */
const DEFAULT_CACHE_SIZE = 128;
/** How often a `put` is retried when another writer saved a version in between. */
const PUT_ATTEMPTS = 16;
/** Nesting the store accepts inside `data`, minus what this layout adds around a value. */
const MAX_VALUE_DEPTH = 120;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
/** An escaped lone surrogate: valid JSON text that no Rust string (the store) can hold. */
const LONE_SURROGATE = /\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/;

function invalid(message) {
  return new StateError("INVALID_ARGUMENT", message);
}

/** Sets an own property, even one named `__proto__`. */
function setOwn(target, key, value) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

const hasOwn = (o, k) => o != null && Object.prototype.hasOwnProperty.call(o, k);

function requireString(value, field, { allowEmpty = false } = {}) {
  if (typeof value !== "string") {
    throw invalid(`${field} must be a string, got ${value === null ? "null" : typeof value}`);
  }
  if (!allowEmpty && value === "") throw invalid(`${field} must be a non-empty string`);
  return value;
}

function encodePart(value, field) {
  try {
    return encodeURIComponent(value);
  } catch {
    throw invalid(`${field} is not well-formed Unicode (it holds a lone surrogate)`);
  }
}

function decodePart(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Nesting depth of a parsed JSON value, stopping once it passes `limit`. */
function depthExceeds(value, limit) {
  if (value === null || typeof value !== "object") return false;
  if (limit <= 0) return true;
  for (const key in value) {
    if (hasOwn(value, key) && depthExceeds(value[key], limit - 1)) return true;
  }
  return false;
}

/** A serializer's `[type, bytes]` as stored in a snapshot's data. */
function storeTyped([type, data]) {
  if (typeof type !== "string") throw invalid("serde.dumpsTyped must return a string type tag");
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  if (!(bytes instanceof Uint8Array)) {
    throw invalid(`serde.dumpsTyped must return bytes (a Uint8Array) for type ${JSON.stringify(type)}`);
  }
  if (type === "json") {
    let text;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = undefined;
    }
    if (text !== undefined && !LONE_SURROGATE.test(text)) {
      let value;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      if (value !== undefined && JSON.stringify(value) === text && !depthExceeds(value, MAX_VALUE_DEPTH)) {
        return { type, json: value };
      }
    }
  }
  return { type, base64: toBase64(bytes) };
}

/** The bytes (or, for JSON, the exact text) `storeTyped` was given. */
function loadTyped(serde, stored) {
  if (stored === null || typeof stored !== "object" || typeof stored.type !== "string") {
    throw new StateError("CORRUPT_DATABASE", "a LangGraph value in the store has no type tag");
  }
  if (hasOwn(stored, "json")) return serde.loadsTyped(stored.type, JSON.stringify(stored.json));
  if (typeof stored.base64 === "string") return serde.loadsTyped(stored.type, fromBase64(stored.base64));
  throw new StateError("CORRUPT_DATABASE", `a LangGraph value of type ${JSON.stringify(stored.type)} has no payload`);
}

/** Python `str` order (code points), as LangGraph orders a superstep's writes. */
function compareCodePoints(a, b) {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i);
    const y = b.codePointAt(j);
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

function compareWrites(a, b) {
  return (
    compareCodePoints(a.task_path, b.task_path) ||
    compareCodePoints(a.task_id, b.task_id) ||
    (a.idx < b.idx ? -1 : a.idx > b.idx ? 1 : 0)
  );
}

function isSaverSnapshot(snapshot) {
  const data = snapshot?.data;
  return data != null && data.layout === LAYOUT && typeof data.checkpoint_id === "string" && data.checkpoint != null;
}

/** The highest checkpoint id in the task when this snapshot was written (`max_id`, else its own). */
function maxIdOf(snapshot) {
  if (!isSaverSnapshot(snapshot)) return undefined;
  return typeof snapshot.data.max_id === "string" ? snapshot.data.max_id : snapshot.id;
}

/** Whether every checkpoint up to this one was added with a higher id than those before it. */
function inOrderOf(snapshot) {
  return isSaverSnapshot(snapshot) && snapshot.data.out_of_order !== true;
}

/** A stored checkpoint's channel versions (kept apart only when the checkpoint is not JSON). */
function channelVersionsOf(snapshot) {
  const data = snapshot.data;
  return data.channel_versions ?? data.checkpoint?.json?.channel_versions ?? {};
}

/** Values shorter than this (as JSON) are stored as they are, never as a reference to a write. */
const MIN_SHARED_VALUE = 64;

/**
 * `changed` (channel → { version, value }) with each value that equals one of `parent`'s regular
 * pending writes to the same channel (kept first-come, so it never changes) replaced by
 * `{ version, write: [task_id, idx], at: parent.version }`.
 */
function referWrites(changed, parent) {
  const writes = parent.data.writes ?? [];
  if (writes.length === 0) return changed;
  let out = changed;
  for (const [channel, stored] of Object.entries(changed)) {
    const text = JSON.stringify(stored.value);
    if (text.length < MIN_SHARED_VALUE) continue;
    const write = writes.find((w) => w.channel === channel && w.idx >= 0 && JSON.stringify(w.value) === text);
    if (write === undefined) continue;
    if (out === changed) out = { ...changed };
    setOwn(out, channel, { version: stored.version, write: [write.task_id, write.idx], at: parent.version });
  }
  return out;
}

/** The suffix of the task that holds writes which arrived before their checkpoint. */
const EARLY = "#writes";

/**
 * `incoming` writes added to `stored` as `MemorySaver` does: a regular write (idx >= 0) already
 * stored for its (task, idx) is kept; a special one (errors, interrupts, ...) replaces it.
 */
function mergeWrites(stored, incoming) {
  const out = [...stored];
  const at = new Map(out.map((w, i) => [`${w.task_id}\u0000${w.idx}`, i]));
  for (const write of incoming) {
    const key = `${write.task_id}\u0000${write.idx}`;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, out.length);
      out.push(write);
    } else if (write.idx < 0) {
      out[i] = write;
    }
  }
  return out;
}

/**
 * A LangGraph checkpointer over an asap-state `SnapshotStore`.
 *
 * ```js
 * import { MemorySnapshotStore } from "asap-state";
 * import { AsapCheckpointSaver } from "asap-state/langgraph";
 * const checkpointer = new AsapCheckpointSaver(new MemorySnapshotStore());
 * const graph = workflow.compile({ checkpointer });
 * ```
 */
export class AsapCheckpointSaver extends BaseCheckpointSaver {
  #cache = new Map();
  #cacheSize = DEFAULT_CACHE_SIZE;
  /** Tasks for which this saver holds writes that came before their checkpoint. */
  #early = new Set();

  /**
   * @param {import("../index.js").SnapshotStore} snapshots where the checkpoints are kept
   * @param {{ prefix?: string, serde?: object, cacheSize?: number }} [options]
   */
  constructor(snapshots, options = {}) {
    if (snapshots === null || typeof snapshots !== "object" || typeof snapshots.save !== "function") {
      throw invalid("snapshots must be an asap-state SnapshotStore (for example store.snapshots)");
    }
    if (options === null || typeof options !== "object") throw invalid("options must be an object");
    for (const key of Object.keys(options)) {
      if (key !== "prefix" && key !== "serde" && key !== "cacheSize") {
        throw invalid(`options.${key} is not an option (prefix, serde, cacheSize)`);
      }
    }
    super(options.serde);
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    requireString(prefix, "options.prefix", { allowEmpty: true });
    if (/[/#\u0000]/.test(prefix)) throw invalid("options.prefix must not contain '/', '#' or NUL");
    const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw invalid("options.cacheSize must be an integer >= 0");
    this.#cacheSize = cacheSize;
    /** The store the checkpoints live in. */
    this.snapshots = snapshots;
    /** The task-id prefix of this saver's threads. */
    this.prefix = prefix;
  }

  /** The asap-state task that holds a thread's checkpoints in one namespace. */
  taskId(threadId, checkpointNs = "") {
    requireString(threadId, "thread_id");
    requireString(checkpointNs, "checkpoint_ns", { allowEmpty: true });
    const thread = this.prefix + encodePart(threadId, "thread_id");
    return checkpointNs === "" ? thread : `${thread}/${encodePart(checkpointNs, "checkpoint_ns")}`;
  }

  /**
   * `{ threadId, checkpointNs, early }` of a task id this saver writes (`early`: the task that
   * holds writes sent before their checkpoint), or `undefined`.
   */
  parseTaskId(taskId) {
    if (typeof taskId !== "string" || !taskId.startsWith(this.prefix)) return undefined;
    let rest = taskId.slice(this.prefix.length);
    const early = rest.endsWith(EARLY);
    if (early) rest = rest.slice(0, -EARLY.length);
    if (rest.includes("#")) return undefined;
    const slash = rest.indexOf("/");
    const threadId = decodePart(slash < 0 ? rest : rest.slice(0, slash));
    const checkpointNs = slash < 0 ? "" : decodePart(rest.slice(slash + 1));
    if (threadId === undefined || checkpointNs === undefined || threadId === "") return undefined;
    return { threadId, checkpointNs, early };
  }

  /**
   * The checkpoint tasks of one thread (every namespace, or one), or of every thread; with
   * `early`, the tasks of early writes too.
   */
  #tasks(threadId, checkpointNs, early = false) {
    if (threadId !== undefined && checkpointNs !== undefined && !early) {
      return [{ task: this.taskId(threadId, checkpointNs), threadId, checkpointNs }];
    }
    const out = [];
    for (const summary of this.snapshots.listTasks()) {
      const parsed = this.parseTaskId(summary.task_id);
      if (parsed === undefined || (parsed.early && !early)) continue;
      if (threadId !== undefined && parsed.threadId !== threadId) continue;
      if (checkpointNs !== undefined && parsed.checkpointNs !== checkpointNs) continue;
      out.push({ task: summary.task_id, ...parsed });
    }
    return out;
  }

  /** The snapshot of the newest checkpoint (highest checkpoint id) of a task. */
  #latest(task) {
    const latest = this.snapshots.get(task);
    if (latest === undefined || !isSaverSnapshot(latest)) return latest;
    const maxId = maxIdOf(latest);
    if (maxId === latest.id) return latest;
    const byId = typeof maxId === "string" ? this.snapshots.getById(task, maxId) : undefined;
    if (byId !== undefined) return byId;
    return this.#allSorted(task)[0];
  }

  /** Every checkpoint snapshot of a task, newest checkpoint id first. */
  #allSorted(task) {
    const all = [];
    for (const version of this.snapshots.listVersions(task)) {
      const snapshot = this.snapshots.get(task, version);
      if (isSaverSnapshot(snapshot)) all.push(snapshot);
    }
    return all.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : b.version - a.version));
  }

  /** Checkpoint snapshots of a task, newest checkpoint id first, read lazily where possible. */
  *#newestFirst(task) {
    const latest = this.snapshots.get(task);
    if (latest === undefined) return;
    if (!inOrderOf(latest)) {
      yield* this.#allSorted(task);
      return;
    }
    // Every checkpoint was added with a higher id than those before it: version order is id
    // order, so the newest come first without reading the rest.
    yield latest;
    const versions = this.snapshots.listVersions(task);
    for (let i = versions.length - 1; i >= 0; i -= 1) {
      if (versions[i] >= latest.version) continue;
      const snapshot = this.snapshots.get(task, versions[i]);
      if (isSaverSnapshot(snapshot)) yield snapshot;
    }
  }

  /** The value of `channel` at `version` in the task, searched newest first (rare path). */
  #findValue(task, channel, version) {
    for (const v of this.snapshots.listVersions(task).reverse()) {
      const snapshot = this.snapshots.get(task, v);
      const stored = isSaverSnapshot(snapshot) ? snapshot.data.channel_values?.[channel] : undefined;
      if (hasOwn(snapshot?.data?.channel_values, channel) && stored.version === version) {
        return snapshot.version;
      }
    }
    return undefined;
  }

  /**
   * The channel values stored at version `at` of a task: a checkpoint's own values never change
   * once written, so they are kept here (the last `cacheSize` checkpoints read or written) under
   * the thread's epoch — the id of its first checkpoint, which a thread deleted and started
   * again does not share — and read from the store only once.
   */
  #valuesAt(task, epoch, at, snapshot) {
    const key = typeof epoch === "string" ? JSON.stringify([task, epoch, at]) : undefined;
    if (key !== undefined && this.#cache.has(key)) {
      const values = this.#cache.get(key);
      this.#cache.delete(key); // most recently used last
      this.#cache.set(key, values);
      return values;
    }
    const holder = snapshot ?? this.snapshots.get(task, at);
    const values = isSaverSnapshot(holder) ? this.#resolve(task, holder.data.channel_values ?? {}) : null;
    if (values !== null) this.#remember(task, epoch, at, values);
    return values;
  }

  /**
   * A checkpoint's own channel values with every reference to a parent's pending write (a value
   * stored once, as the write that produced it) replaced by that write's value.
   */
  #resolve(task, channelValues) {
    let out = channelValues;
    const parents = new Map();
    for (const [channel, stored] of Object.entries(channelValues)) {
      const ref = stored?.write;
      if (!Array.isArray(ref)) continue;
      if (out === channelValues) out = { ...channelValues };
      if (!parents.has(stored.at)) parents.set(stored.at, this.snapshots.get(task, stored.at));
      const parent = parents.get(stored.at);
      const write = isSaverSnapshot(parent)
        ? (parent.data.writes ?? []).find((w) => w.task_id === ref[0] && w.idx === ref[1] && w.channel === channel)
        : undefined;
      if (write === undefined) delete out[channel];
      else setOwn(out, channel, { version: stored.version, value: write.value });
    }
    return out;
  }

  #remember(task, epoch, at, values) {
    if (typeof epoch !== "string" || this.#cacheSize === 0 || values == null) return;
    const key = JSON.stringify([task, epoch, at]);
    this.#cache.delete(key);
    this.#cache.set(key, values);
    while (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value);
  }

  /** Forgets what the cache holds of a task (all of it without `version`). */
  #forget(task, version) {
    for (const key of [...this.#cache.keys()]) {
      const [t, , v] = JSON.parse(key);
      if (t === task && (version === undefined || v === version)) this.#cache.delete(key);
    }
  }

  /** The tuple of a checkpoint snapshot (`metadata`: already loaded by the caller, if it was). */
  async #tuple(task, threadId, checkpointNs, snapshot, metadata) {
    const data = snapshot.data;
    const checkpoint = await loadTyped(this.serde, data.checkpoint);
    const channelValues = {};
    const byVersion = new Map();
    for (const [channel, at] of Object.entries(data.values_at ?? {})) {
      if (!hasOwn(checkpoint.channel_versions, channel)) continue;
      if (!byVersion.has(at)) byVersion.set(at, []);
      byVersion.get(at).push(channel);
    }
    let own = this.#valuesAt(task, data.epoch, snapshot.version, snapshot);
    const stored = data.channel_values ?? {};
    if (Object.keys(stored).some((c) => own?.[c]?.version !== stored[c]?.version || !hasOwn(own, c))) {
      // Remembered before a prune moved values into this checkpoint: take what was just read.
      this.#forget(task, snapshot.version);
      own = this.#valuesAt(task, data.epoch, snapshot.version, snapshot);
    }
    for (const [at, channels] of byVersion) {
      let held = at === snapshot.version ? own : this.#valuesAt(task, data.epoch, at);
      const holds = (values, channel) => hasOwn(values, channel) && values[channel]?.version === checkpoint.channel_versions[channel];
      if (held != null && at !== snapshot.version && !channels.every((c) => holds(held, c))) {
        // A checkpoint can gain values (prune moves them into the oldest one it keeps): what
        // this saver remembers of it may be older than that. Read it again.
        this.#forget(task, at);
        held = this.#valuesAt(task, data.epoch, at);
      }
      if (held == null) continue;
      for (const channel of channels) {
        if (holds(held, channel)) setOwn(channelValues, channel, await loadTyped(this.serde, held[channel].value));
      }
    }
    checkpoint.channel_values = channelValues;
    const parentId = typeof data.parent_checkpoint_id === "string" ? data.parent_checkpoint_id : undefined;
    if (checkpoint.v < 4 && parentId !== undefined) {
      const parent = this.snapshots.getById(task, parentId);
      const sends = isSaverSnapshot(parent)
        ? (parent.data.writes ?? []).filter((w) => w.channel === TASKS).sort(compareWrites)
        : [];
      setOwn(channelValues, TASKS, await Promise.all(sends.map((w) => loadTyped(this.serde, w.value))));
      const versions = Object.values(checkpoint.channel_versions ?? {});
      checkpoint.channel_versions ??= {};
      setOwn(
        checkpoint.channel_versions,
        TASKS,
        versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined),
      );
    }
    const writes = [...(data.writes ?? [])].sort(compareWrites);
    const tuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: snapshot.id } },
      checkpoint,
      metadata: metadata ?? (await loadTyped(this.serde, data.metadata)),
      pendingWrites: await Promise.all(
        writes.map(async (w) => [w.task_id, w.channel, await loadTyped(this.serde, w.value)]),
      ),
    };
    if (parentId !== undefined) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: parentId },
      };
    }
    return tuple;
  }

  /** @param {import("@langchain/core/runnables").RunnableConfig} config */
  async getTuple(config) {
    const threadId = config?.configurable?.thread_id;
    if (threadId === undefined) return undefined;
    requireString(threadId, "config.configurable.thread_id");
    const checkpointNs = config.configurable.checkpoint_ns ?? "";
    const task = this.taskId(threadId, checkpointNs);
    const checkpointId = getCheckpointId(config);
    const snapshot = checkpointId
      ? this.snapshots.getById(task, requireString(checkpointId, "config.configurable.checkpoint_id"))
      : this.#latest(task);
    if (!isSaverSnapshot(snapshot)) return undefined;
    return this.#tuple(task, threadId, checkpointNs, snapshot);
  }

  /**
   * Checkpoints newest first: of one thread (`config.configurable.thread_id`), of one namespace
   * (`checkpoint_ns`), or of every thread; `before` a checkpoint id, metadata matching `filter`,
   * at most `limit`.
   */
  async *list(config, options) {
    const { before, limit, filter } = options ?? {};
    const configurable = config?.configurable ?? {};
    const threadId = configurable.thread_id === undefined ? undefined : requireString(configurable.thread_id, "config.configurable.thread_id");
    const checkpointNs = configurable.checkpoint_ns === undefined ? undefined : requireString(configurable.checkpoint_ns, "config.configurable.checkpoint_ns", { allowEmpty: true });
    const checkpointId = configurable.checkpoint_id || undefined;
    const beforeId = before?.configurable?.checkpoint_id || undefined;
    if (limit !== undefined && (typeof limit !== "number" || Number.isNaN(limit))) {
      throw invalid("options.limit must be a number");
    }
    let remaining = limit;
    if (remaining !== undefined && remaining <= 0) return;
    for (const { task, threadId: thread, checkpointNs: ns } of this.#tasks(threadId, checkpointNs)) {
      const snapshots = checkpointId
        ? [this.snapshots.getById(task, checkpointId)].filter(isSaverSnapshot)
        : this.#newestFirst(task);
      for (const snapshot of snapshots) {
        if (beforeId !== undefined && snapshot.id >= beforeId) continue;
        let metadata;
        if (filter && Object.keys(filter).length > 0) {
          metadata = await loadTyped(this.serde, snapshot.data.metadata);
          if (!Object.entries(filter).every(([key, value]) => metadata?.[key] === value)) continue;
        }
        yield await this.#tuple(task, thread, ns, snapshot, metadata);
        if (remaining !== undefined) {
          remaining -= 1;
          if (remaining <= 0) return;
        }
      }
    }
  }

  /** Stores a checkpoint; the values of the channels in `newVersions` are stored with it. */
  async put(config, checkpoint, metadata, newVersions = {}) {
    const threadId = config?.configurable?.thread_id;
    if (threadId === undefined) {
      throw invalid(
        'Failed to put checkpoint: config.configurable.thread_id is missing. Pass a thread id, e.g. graph.invoke(input, { configurable: { thread_id: "my-thread" } })',
      );
    }
    requireString(threadId, "config.configurable.thread_id");
    const checkpointNs = config.configurable.checkpoint_ns ?? "";
    const task = this.taskId(threadId, checkpointNs);
    const parentId = config.configurable.checkpoint_id || undefined;
    if (parentId !== undefined) requireString(parentId, "config.configurable.checkpoint_id");
    const id = requireString(checkpoint?.id, "checkpoint.id");

    const copy = copyCheckpoint(checkpoint);
    const values = copy.channel_values;
    delete copy.channel_values;
    const changed = {};
    const pending = [];
    for (const [channel, version] of Object.entries(newVersions ?? {})) {
      if (!hasOwn(values, channel)) continue;
      pending.push(
        this.serde.dumpsTyped(values[channel]).then((typed) => {
          setOwn(changed, channel, { version, value: storeTyped(typed) });
        }),
      );
    }
    const [storedCheckpoint, storedMetadata] = await Promise.all([
      this.serde.dumpsTyped(copy).then(storeTyped),
      this.serde.dumpsTyped(metadata).then(storeTyped),
      ...pending,
    ]);

    // From here on everything is synchronous: no other call on this saver runs in between.
    for (let attempt = 1; ; attempt += 1) {
      const latest = this.snapshots.get(task);
      // Ids above every id stored so far (time-ordered uuid6 ids, as LangGraph makes them) are new:
      // only an id at or below the task's highest one is looked up.
      const latestMax = maxIdOf(latest);
      const isNew = latest === undefined || (latestMax !== undefined && id > latestMax);
      const found = latest?.id === id ? latest : isNew ? undefined : this.snapshots.getById(task, id);
      const existing = isSaverSnapshot(found) ? found : undefined;
      const version = existing?.version ?? (latest?.version ?? 0) + 1;
      // LangGraph's loop sends a step's writes and its checkpoint through the same saver: only a
      // task this saver has held writes for can have some waiting.
      const held = this.#early.has(task) ? this.snapshots.getById(task + EARLY, id) : undefined;
      const parent =
        parentId === undefined ? undefined : latest?.id === parentId ? latest : this.snapshots.getById(task, parentId);
      const valuesAt = {};
      for (const [channel, version_] of Object.entries(checkpoint.channel_versions ?? {})) {
        if (hasOwn(changed, channel)) {
          setOwn(valuesAt, channel, version);
          continue;
        }
        if (hasOwn(newVersions, channel)) continue; // changed, but without a value
        if (isSaverSnapshot(parent) && channelVersionsOf(parent)[channel] === version_) {
          // Unchanged since the parent: its value is where the parent's is (or there is none).
          if (hasOwn(parent.data.values_at, channel)) setOwn(valuesAt, channel, parent.data.values_at[channel]);
          continue;
        }
        // No parent, or one at another version of the channel: look for that version's value.
        const found = this.#findValue(task, channel, version_);
        if (found !== undefined) setOwn(valuesAt, channel, found);
      }
      const inOrder = existing ? inOrderOf(existing) : latest === undefined || (inOrderOf(latest) && id > latestMax);
      const maxId = existing ? maxIdOf(existing) : latestMax === undefined || id > latestMax ? id : latestMax;
      // The thread's incarnation: its first checkpoint's id, handed down (see #valuesAt).
      const epoch = [existing, parent, latest].find((s) => isSaverSnapshot(s) && typeof s.data.epoch === "string")?.data.epoch ?? id;
      // A changed value equal to one of the parent's pending writes (the write that produced it,
      // as it usually is) is stored once: here as a reference to that write.
      const ownValues = isSaverSnapshot(parent) && parent.version !== version ? referWrites(changed, parent) : changed;
      const data = {
        layout: LAYOUT,
        epoch,
        thread_id: threadId,
        checkpoint_ns: checkpointNs,
        checkpoint_id: id,
        parent_checkpoint_id: parentId ?? null,
        checkpoint: storedCheckpoint,
        metadata: storedMetadata,
        ...(hasOwn(storedCheckpoint, "json") ? {} : { channel_versions: checkpoint.channel_versions ?? {} }),
        channel_values: ownValues,
        values_at: valuesAt,
        writes: held ? mergeWrites(existing?.data.writes ?? [], held.data.writes ?? []) : existing?.data.writes ?? [],
        ...(maxId === id ? {} : { max_id: maxId }),
        ...(inOrder ? {} : { out_of_order: true }),
      };
      try {
        this.snapshots.save(
          existing
            ? { id, task_id: task, version, data, created_at: existing.created_at }
            : { id, task_id: task, version, data },
          { expectedVersion: latest?.version ?? null },
        );
        if (held) this.snapshots.delete(task + EARLY, held.version);
        if (this.#early.has(task) && this.snapshots.listVersions(task + EARLY).length === 0) this.#early.delete(task);
        if (existing) this.#forget(task, version);
        this.#remember(task, epoch, version, changed);
        break;
      } catch (e) {
        if (e?.code !== "VERSION_CONFLICT" || attempt >= PUT_ATTEMPTS) throw e;
      }
    }
    return { configurable: { thread_id: threadId, checkpoint_ns: checkpointNs, checkpoint_id: id } };
  }

  /** Stores the writes of one task against a checkpoint. */
  async putWrites(config, writes, taskId, taskPath = "") {
    const threadId = config?.configurable?.thread_id;
    if (threadId === undefined) throw invalid("Failed to put writes: config.configurable.thread_id is missing");
    requireString(threadId, "config.configurable.thread_id");
    const checkpointId = config.configurable.checkpoint_id;
    if (checkpointId === undefined) throw invalid("Failed to put writes: config.configurable.checkpoint_id is missing");
    requireString(checkpointId, "config.configurable.checkpoint_id");
    requireString(taskId, "taskId");
    requireString(taskPath ?? "", "taskPath", { allowEmpty: true });
    if (!Array.isArray(writes)) throw invalid("writes must be an array of [channel, value] pairs");
    const task = this.taskId(threadId, config.configurable.checkpoint_ns ?? "");
    const incoming = await Promise.all(
      writes.map(async (write, index) => {
        if (!Array.isArray(write) || typeof write[0] !== "string") {
          throw invalid(`writes[${index}] must be a [channel, value] pair with a string channel`);
        }
        const [channel, value] = write;
        const idx = hasOwn(WRITES_IDX_MAP, channel) ? WRITES_IDX_MAP[channel] : index;
        return { task_id: taskId, idx, channel, task_path: taskPath ?? "", value: storeTyped(await this.serde.dumpsTyped(value)) };
      }),
    );
    // Read, merge and write back in one synchronous stretch: no other call on this store (in
    // this isolate or process) runs in between.
    const snapshot = this.snapshots.getById(task, checkpointId);
    if (isSaverSnapshot(snapshot)) {
      this.snapshots.save({
        id: snapshot.id,
        task_id: task,
        version: snapshot.version,
        data: { ...snapshot.data, writes: mergeWrites(snapshot.data.writes ?? [], incoming) },
        created_at: snapshot.created_at,
      });
      return;
    }
    // LangGraph sends a step's writes without waiting for its checkpoint's `put` (which waits
    // for the previous one): they are held in `<task>#writes` until `put` takes them over.
    const early = task + EARLY;
    this.#early.add(task);
    const held = this.snapshots.getById(early, checkpointId);
    this.snapshots.save({
      id: checkpointId,
      task_id: early,
      ...(held ? { version: held.version, created_at: held.created_at } : {}),
      data: { layout: LAYOUT, early_writes_of: checkpointId, writes: mergeWrites(held?.data?.writes ?? [], incoming) },
    });
  }

  /** Deletes every checkpoint and write of a thread, in every namespace. */
  async deleteThread(threadId) {
    requireString(threadId, "threadId");
    for (const { task } of this.#tasks(threadId, undefined, true)) {
      this.snapshots.delete(task);
      this.#forget(task);
    }
  }

  /**
   * Deletes old checkpoints of a thread, keeping the `keepLast` newest in each namespace (or in
   * `checkpointNs` only) and the task's latest version; the values kept checkpoints read from
   * deleted ones move into the oldest kept one first. Returns how many were deleted.
   * @param {string} threadId
   * @param {{ keepLast: number, checkpointNs?: string }} policy
   */
  async prune(threadId, policy) {
    requireString(threadId, "threadId");
    if (policy === null || typeof policy !== "object") throw invalid("policy must be an object");
    for (const key of Object.keys(policy)) {
      if (key !== "keepLast" && key !== "checkpointNs") throw invalid(`policy.${key} is not an option (keepLast, checkpointNs)`);
    }
    const { keepLast, checkpointNs } = policy;
    if (!Number.isSafeInteger(keepLast) || keepLast < 1) throw invalid("policy.keepLast must be an integer >= 1");
    if (checkpointNs !== undefined) requireString(checkpointNs, "policy.checkpointNs", { allowEmpty: true });
    let deleted = 0;
    for (const { task } of this.#tasks(threadId, checkpointNs)) {
      const sorted = this.#allSorted(task);
      // The newest, and the task's latest version (a later save would otherwise reuse its number).
      const keep = new Set([...sorted.slice(0, keepLast).map((s) => s.version), ...this.snapshots.listVersions(task).slice(-1)]);
      // Each kept checkpoint, oldest first, takes in the values it reads from checkpoints about to
      // go (the first one that needs a value holds it; later ones point at it), and the values
      // it holds as references to their writes: every kept checkpoint reads as before.
      const moved = new Map();
      for (const snapshot of sorted.filter((s) => keep.has(s.version)).sort((a, b) => a.version - b.version)) {
        const data = snapshot.data;
        const versions = channelVersionsOf(snapshot);
        const values = { ...(data.channel_values ?? {}) };
        const valuesAt = { ...(data.values_at ?? {}) };
        let changed = false;
        const gone = Object.entries(values).filter(([, v]) => Array.isArray(v?.write) && !keep.has(v.at));
        if (gone.length > 0) {
          const resolved = this.#resolve(task, data.channel_values);
          for (const [channel] of gone) {
            if (hasOwn(resolved, channel)) setOwn(values, channel, resolved[channel]);
            else delete values[channel];
          }
          changed = true;
        }
        for (const [channel, at] of Object.entries(data.values_at ?? {})) {
          if (at === snapshot.version || keep.has(at)) continue;
          const key = `${channel}\u0000${JSON.stringify(versions[channel])}`;
          if (moved.has(key)) {
            setOwn(valuesAt, channel, moved.get(key));
          } else {
            const held = this.#valuesAt(task, data.epoch, at);
            if (hasOwn(held, channel)) {
              setOwn(values, channel, held[channel]);
              setOwn(valuesAt, channel, snapshot.version);
              moved.set(key, snapshot.version);
            } else {
              delete valuesAt[channel];
            }
          }
          changed = true;
        }
        if (!changed) continue;
        this.snapshots.save({
          id: snapshot.id,
          task_id: task,
          version: snapshot.version,
          data: { ...data, channel_values: values, values_at: valuesAt },
          created_at: snapshot.created_at,
        });
        this.#forget(task, snapshot.version);
      }
      for (const snapshot of sorted) {
        if (!keep.has(snapshot.version) && this.snapshots.delete(task, snapshot.version)) {
          this.#forget(task, snapshot.version);
          deleted += 1;
        }
      }
    }
    return deleted;
  }
}
