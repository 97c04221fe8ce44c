// Types of "asap-state/langgraph": a LangGraph.js checkpointer over any asap-state SnapshotStore.
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type { SnapshotStore } from "../index.js";

/** The task-id prefix of every thread unless the saver is given another: `"langgraph:"`. */
export declare const DEFAULT_PREFIX: "langgraph:";

export interface AsapCheckpointSaverOptions {
  /**
   * Prefix of the asap-state task ids of this saver's threads (default `"langgraph:"`; no `/`,
   * `#` or NUL).
   * Savers with different prefixes share one store without seeing each other's threads.
   */
  prefix?: string;
  /** The serializer of checkpoints, metadata and values (default LangGraph's `JsonPlusSerializer`). */
  serde?: SerializerProtocol;
  /**
   * How many checkpoints' own channel values the saver keeps in memory (default 128; 0: none).
   * A checkpoint's values never change once written, so a read of a checkpoint whose channels
   * were written by earlier checkpoints reads those from the store once, not on every call.
   */
  cacheSize?: number;
}

export interface PrunePolicy {
  /** Keep this many newest checkpoints (by checkpoint id) per namespace; integer >= 1. */
  keepLast: number;
  /** Prune this namespace only (`""` is the root graph's); default every namespace of the thread. */
  checkpointNs?: string;
}

/**
 * A LangGraph checkpointer on asap-state: every (thread, namespace) is one asap-state task
 * (`taskId()`), every checkpoint one snapshot of it whose id is the checkpoint id, so the
 * inspector shows a thread's checkpoints as versions and diffs them. Works on any
 * `SnapshotStore`: `MemorySnapshotStore`, `SqliteStateDb#snapshots` (image, Node file, OPFS) and
 * `DurableObjectStateDb#snapshots`.
 *
 * A channel's value is stored only at the checkpoint where its version changes (`newVersions`);
 * later checkpoints point at it. Pending writes are kept with their checkpoint (writes sent
 * before their checkpoint is stored are held in the task `<taskId>#writes` until it is).
 * Invalid arguments throw `StateError` `INVALID_ARGUMENT` naming the field; store errors
 * (`TOO_LARGE`, `STORAGE_IO`, ...) pass through unchanged.
 */
export declare class AsapCheckpointSaver extends BaseCheckpointSaver {
  constructor(snapshots: SnapshotStore, options?: AsapCheckpointSaverOptions);
  /** The store the checkpoints live in. */
  readonly snapshots: SnapshotStore;
  /** The task-id prefix of this saver's threads. */
  readonly prefix: string;
  /** The asap-state task that holds a thread's checkpoints in one namespace (default `""`). */
  taskId(threadId: string, checkpointNs?: string): string;
  /** The thread and namespace of a task id this saver writes (`early`: a held-writes task). */
  parseTaskId(taskId: string): { threadId: string; checkpointNs: string; early: boolean } | undefined;
  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined>;
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple>;
  put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions?: ChannelVersions,
  ): Promise<RunnableConfig>;
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void>;
  deleteThread(threadId: string): Promise<void>;
  /**
   * Deletes old checkpoints of a thread: keeps the `keepLast` newest per namespace; the values
   * they read from deleted checkpoints move into the oldest kept one first, so every kept
   * checkpoint reads as before. Returns how many were deleted. A kept checkpoint's `parentConfig` may then name a deleted one (its `getTuple` is
   * `undefined`, and history ends there).
   */
  prune(threadId: string, policy: PrunePolicy): Promise<number>;
}
