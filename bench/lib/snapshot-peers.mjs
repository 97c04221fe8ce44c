// Snapshot stores behind one small interface, so the same workload runs on each:
//   save(taskId, data) -> version      getLatest(taskId) -> { version, data }
//   getVersion(taskId, v) -> { version, data }      listVersions(taskId) -> number[]
// `async: true` marks stores whose methods return promises (awaited one by one).

import { randomUUID } from "node:crypto";

/**
 * The store a user would write in plain JavaScript: a Map of task ids to a Map of versions,
 * with the guarantees asap-state gives (the task id checked, the next version computed, the
 * data deep-copied in and out so a caller can neither change history nor be changed by it):
 * with structuredClone, or (`copy: "json"`) kept as JSON text, `JSON.stringify` in and
 * `JSON.parse` out, as asap-state keeps it.
 */
export class MapSnapshotStore {
  #tasks = new Map();
  constructor({ copy = true } = {}) {
    this.copy = copy ? structuredClone : (x) => x;
    if (copy === "json") {
      this.keep = (data) => JSON.stringify(data);
      this.give = (kept) => JSON.parse(kept);
    } else {
      this.keep = this.copy;
      this.give = this.copy;
    }
  }
  save(snapshot) {
    const taskId = snapshot.task_id;
    if (typeof taskId !== "string" || taskId === "") throw new TypeError("task_id must be a non-empty string");
    let task = this.#tasks.get(taskId);
    if (!task) this.#tasks.set(taskId, (task = { latest: 0, versions: new Map() }));
    const version = snapshot.version ?? task.latest + 1;
    const stored = {
      id: snapshot.id ?? `snap_${randomUUID()}`,
      task_id: taskId,
      version,
      data: this.keep(snapshot.data),
      checkpoint: snapshot.checkpoint ?? false,
      created_at: new Date().toISOString(),
    };
    task.versions.set(version, stored);
    if (version > task.latest) task.latest = version;
    return { ...stored, data: this.give(stored.data) };
  }
  get(taskId, version) {
    const task = this.#tasks.get(taskId);
    const s = task?.versions.get(version ?? task.latest);
    return s ? { ...s, data: this.give(s.data) } : undefined;
  }
  listVersions(taskId) {
    const task = this.#tasks.get(taskId);
    return task ? [...task.versions.keys()].sort((a, b) => a - b) : [];
  }
}

/** Any store with asap-state's SnapshotStore methods (ours, the Map store). */
export function contractAdapter(name, store, extra = {}) {
  return {
    name,
    ...extra,
    save: (taskId, data) => store.save({ task_id: taskId, data }).version,
    getLatest: (taskId) => store.get(taskId),
    getVersion: (taskId, v) => store.get(taskId, v),
    listVersions: (taskId) => store.listVersions(taskId),
    close: () => store.free?.(),
  };
}

/**
 * LangGraph.js's MemorySaver: a task is a thread, a version a checkpoint holding the state in
 * one channel. It addresses checkpoints by id, so the adapter keeps each thread's ids by version.
 */
export async function langgraphAdapter() {
  const { MemorySaver, emptyCheckpoint, uuid6 } = await import("@langchain/langgraph-checkpoint");
  const saver = new MemorySaver();
  const ids = new Map();
  return {
    name: "LangGraph MemorySaver",
    async: true,
    async save(taskId, data) {
      let list = ids.get(taskId);
      if (!list) ids.set(taskId, (list = []));
      const version = list.length + 1;
      const checkpoint = {
        ...emptyCheckpoint(),
        id: uuid6(-1),
        ts: new Date().toISOString(),
        channel_values: { state: data },
        channel_versions: { state: version },
      };
      const config = { configurable: { thread_id: taskId, checkpoint_ns: "", checkpoint_id: list.at(-1) } };
      await saver.put(config, checkpoint, { source: "update", step: version, parents: {} });
      list.push(checkpoint.id);
      return version;
    },
    async getLatest(taskId) {
      const t = await saver.getTuple({ configurable: { thread_id: taskId, checkpoint_ns: "" } });
      return t && { version: t.metadata.step, data: t.checkpoint.channel_values.state };
    },
    async getVersion(taskId, v) {
      const id = ids.get(taskId)?.[v - 1];
      const t = await saver.getTuple({ configurable: { thread_id: taskId, checkpoint_ns: "", checkpoint_id: id } });
      return t && { version: t.metadata.step, data: t.checkpoint.channel_values.state };
    },
    async listVersions(taskId) {
      const out = [];
      for await (const t of saver.list({ configurable: { thread_id: taskId, checkpoint_ns: "" } })) out.push(t.metadata.step);
      return out.sort((a, b) => a - b);
    },
    close() {},
  };
}
