// Types of the asap-state package. The same types serve the "asap-state" and
// "asap-state/memory" entries; "asap-state/web" adds init() (see web.d.ts).

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: what a snapshot's `data` holds. */
export type JsonObject = { [key: string]: Json };

/**
 * A UTC instant as the library prints it: `YYYY-MM-DDTHH:MM:SS+00:00`, with `.ffffff` before the
 * offset only when the microseconds are non-zero (Python's `datetime.isoformat()`). Text order
 * equals time order.
 */
export type Timestamp = string;

/**
 * An instant given by the caller: an ISO 8601 string with an offset (`Z` or `±hh:mm`; text
 * without an offset is rejected), a `Date`, or epoch milliseconds (an integer).
 */
export type TimestampInput = string | Date | number;

/** One saved version of a task's state. */
export interface StateSnapshot {
  id: string;
  task_id: string;
  /** Integer >= 1, unique per task. */
  version: number;
  data: JsonObject;
  checkpoint: boolean;
  created_at: Timestamp;
}

/** What `save` takes. Unknown fields are rejected. */
export interface StateSnapshotInput {
  /** Default: `"snap_"` + a new ULID. */
  id?: string;
  /** Non-empty. */
  task_id: string;
  /** Integer 1..2^53-1. Default: the task's latest version + 1 (1 for a new task). */
  version?: number;
  /** A plain object of JSON values. */
  data: JsonObject;
  /** Default `false`. */
  checkpoint?: boolean;
  /** Default: now. */
  created_at?: TimestampInput;
}

/** Resource usage; integers >= 0. */
export interface UsageMetrics {
  tokens_in: number;
  tokens_out: number;
  duration_ms: number;
  api_calls: number;
}

/** One metered piece of work. */
export interface UsageEvent {
  id: string;
  task_id: string;
  agent_id: string;
  consumer_id: string;
  metrics: UsageMetrics;
  timestamp: Timestamp;
}

/** What `record` takes. Unknown fields are rejected. */
export interface UsageEventInput {
  /** Default: `"evt_"` + a new ULID. Recording a stored id again stores nothing. */
  id?: string;
  task_id: string;
  agent_id: string;
  consumer_id: string;
  /** Missing metrics are 0. */
  metrics?: Partial<UsageMetrics>;
  /** Default: now. */
  timestamp?: TimestampInput;
}

/** Totals of an agent's usage. */
export interface UsageAggregate {
  agent_id: string;
  /** The label passed to `aggregate`, echoed back. */
  period: string;
  /** Σ(tokens_in + tokens_out). */
  total_tokens: number;
  /** Σ duration_ms. */
  total_duration: number;
  /** The number of events. */
  total_tasks: number;
  total_api_calls: number;
}

/** One task as `listTasks` sees it. */
export interface TaskSummary {
  task_id: string;
  versions: number;
  latest_version: number;
  latest_created_at: Timestamp;
  checkpoints: number;
}

/** Totals of one UTC hour or day. */
export interface UsageBucket {
  /** The start of the hour or day. */
  start: Timestamp;
  total_tokens: number;
  total_duration: number;
  total_tasks: number;
  total_api_calls: number;
}

export interface SaveOptions {
  /**
   * Optimistic concurrency: the task's latest version must equal this, else `VERSION_CONFLICT`.
   * `null` or `0`: the task must not exist yet.
   */
  expectedVersion?: number | null;
}

export interface QueryOptions {
  /** At most this many events (integer >= 0). */
  limit?: number;
  /** Skip this many events first (integer >= 0). */
  offset?: number;
}

export interface TimeWindow {
  /** Inclusive. */
  start?: TimestampInput;
  /** Inclusive. */
  end?: TimestampInput;
}

export interface SeriesOptions {
  bucket: "hour" | "day";
  /** Included. */
  start: TimestampInput;
  /** Excluded. */
  end: TimestampInput;
}

/**
 * Deletes the versions outside the `keepLast` newest **and** created before `olderThan` (each
 * applies when given; at least one is required), sparing checkpoints when `keepCheckpoints`.
 * The latest version is never deleted.
 */
export interface PrunePolicy {
  keepLast?: number;
  olderThan?: TimestampInput;
  keepCheckpoints?: boolean;
}

export interface ExportFilter {
  agentId?: string;
  /** Inclusive. */
  start?: TimestampInput;
  /** Inclusive. */
  end?: TimestampInput;
}

/** The stable codes of `StateError` (at run time: `StateError.codes`, from the Rust core). */
export type StateErrorCode =
  | "INVALID_SNAPSHOT"
  | "INVALID_EVENT"
  | "INVALID_TIMESTAMP"
  | "INVALID_ARGUMENT"
  | "UNKNOWN_BACKEND"
  | "VERSION_CONFLICT"
  | "CORRUPT_DATABASE"
  | "SCHEMA_MISMATCH"
  | "DATABASE_LOCKED"
  | "STORAGE_IO"
  | "TOO_LARGE"
  | "CLOSED"
  | "NOT_READY"
  | "ENGINE_FAILED";

/**
 * Every failure of the library. A call that throws has changed nothing, and the store stays
 * usable — except `ENGINE_FAILED`: the WebAssembly instance stopped on an internal fault (a
 * Rust panic; its message was printed once with `console.error` and is this error's message),
 * and every store of that instance throws it from then on. Load the package again (a new
 * instance, e.g. a new worker or process) and reopen: a file-backed database (Node file, OPFS)
 * has everything it committed before the fault; an in-memory store or image is lost.
 */
export declare class StateError extends Error {
  constructor(code: StateErrorCode, message: string);
  readonly code: StateErrorCode;
  name: "StateError";
  /**
   * Every code, in the core's order (frozen). Set when the package's WebAssembly starts: on
   * import in Node, workerd and Deno; once it has loaded in the browser entries (`ready()`);
   * after `init()` for `asap-state/web`.
   */
  static readonly codes: readonly StateErrorCode[];
}

/**
 * Resolves once the package's WebAssembly is loaded. In browsers (through a bundler: the
 * "browser" condition) it is fetched when the package is imported, without top-level await, so
 * that every bundler's default build target accepts the package: `await ready()` once before the
 * first synchronous call (`new MemorySnapshotStore()`, `diffJson`, …), which otherwise throws a
 * `StateError` `NOT_READY`. `SqliteStateDb.open`, `createSnapshotStore` and `createMeteringStore`
 * wait by themselves. In Node, workerd and Deno the WebAssembly is loaded on import and this
 * resolves at once. Rejects with `STORAGE_IO` if the `.wasm` cannot be fetched.
 */
export declare function ready(): Promise<void>;

/** Versioned snapshots of tasks' state. */
export interface SnapshotStore {
  /** Saves a version (upsert on (task_id, version)) and returns what was stored. */
  save(snapshot: StateSnapshotInput, options?: SaveOptions): StateSnapshot;
  /** The given version, or the highest one; `undefined` if absent. */
  get(taskId: string, version?: number | null): StateSnapshot | undefined;
  /** The task's snapshot with this id (the highest version if several share it). */
  getById(taskId: string, snapshotId: string): StateSnapshot | undefined;
  /** The task's versions, ascending; `[]` for an unknown task. */
  listVersions(taskId: string): number[];
  /** Deletes one version, or all of them without `version`; `true` iff anything was deleted. */
  delete(taskId: string, version?: number | null): boolean;
  /** Every task, ordered by task id. */
  listTasks(): TaskSummary[];
  /** Deletes old versions by policy; returns how many. */
  prune(taskId: string, policy: PrunePolicy): number;
}

/** Usage events of agents. */
export interface MeteringStore {
  /** Records an event and returns what was stored (the stored one if the id is known). */
  record(event: UsageEventInput): UsageEvent;
  /** The agent's events with start <= timestamp <= end, ascending, ties in recording order. */
  query(agentId: string, start: TimestampInput, end: TimestampInput, options?: QueryOptions): UsageEvent[];
  /** Totals of the agent's events (inside `window` when given); `period` is echoed back. */
  aggregate(agentId: string, period: string, window?: TimeWindow): UsageAggregate;
  /** One bucket per UTC hour/day in [start, end) that holds events, ascending. */
  series(agentId: string, options: SeriesOptions): UsageBucket[];
  /** Every agent with events, sorted. */
  agents(): string[];
  /** The events as a JSON array or CSV (header `id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp`). */
  export(format: "json" | "csv", filter?: ExportFilter): string;
}

/** Snapshots held in this WebAssembly instance's memory. */
export declare class MemorySnapshotStore {
  constructor();
  /** Frees the store's memory now instead of at garbage collection; later calls throw. */
  free(): void;
}
/** Every method of `SnapshotStore`. */
export interface MemorySnapshotStore extends SnapshotStore {}

/** Usage events held in this WebAssembly instance's memory. */
export declare class MemoryMeteringStore {
  constructor();
  /** Frees the store's memory now instead of at garbage collection; later calls throw. */
  free(): void;
}
/** Every method of `MeteringStore`. */
export interface MemoryMeteringStore extends MeteringStore {}

/** One SQLite database holding snapshots and usage events in the Python reference's tables. */
export declare class SqliteStateDb {
  private constructor();
  /**
   * Opens a database: a fresh image in memory (no options), an existing SQLite file image
   * (`{ bytes }`; not a SQLite file, truncated or damaged: `CORRUPT_DATABASE`; other columns
   * or another application's tables: `SCHEMA_MISMATCH`), or a file (`{ path }`: a real file in
   * Node, written as the engine commits; every open of the same path in one instance shares one
   * database; an OPFS file in a dedicated Web Worker). Where there are no files (a browser
   * page's main thread, workerd) `{ path }` rejects with `STORAGE_IO` saying so, rather than
   * keep nothing silently: `{ path, fallback: "memory" }` accepts an in-memory image there
   * (shared by every open of that path in this instance, gone with it; a file where files exist).
   */
  static open(options?: {
    path?: string;
    bytes?: Uint8Array | ArrayBuffer;
    fallback?: "memory";
  }): Promise<SqliteStateDb>;
  readonly snapshots: SqliteSnapshotStore;
  readonly metering: SqliteMeteringStore;
  /** One self-contained SQLite file image (the WAL checkpointed in) that `sqlite3` opens as-is. */
  exportBytes(): Uint8Array;
  /** Closes this handle; later calls on it and its stores throw `CLOSED`. */
  close(): void;
  free(): void;
}

/**
 * What `DurableObjectStateDb.open` needs of a Durable Object's `ctx.storage` (a class declared
 * with `new_sqlite_classes` in its migration): synchronous SQL and atomic transactions.
 */
export interface DurableObjectSqlStorage {
  sql: { exec(query: string, ...bindings: unknown[]): { raw(): Iterable<unknown[]>; readonly rowsWritten: number } };
  transactionSync<T>(closure: () => T): T;
}

/**
 * Both stores on a Cloudflare Durable Object's own SQLite storage, in the Python reference's
 * two tables (created where missing), with the same methods, answers and error codes as every
 * other backend. Each write is one `transactionSync`. Snapshot data above 1 MiB is stored in
 * chunks (the platform refuses values above 2 MB) and read back whole, so the contract's
 * 32 MiB limit holds. Route every request for a task to that task's object
 * (`idFromName(task_id)`): the object is the one authority for it, so `expectedVersion` holds
 * across every isolate and location.
 */
export declare class DurableObjectStateDb {
  private constructor();
  /** Opens the stores on `storage` (a Durable Object's `ctx.storage`), synchronously. */
  static open(storage: DurableObjectSqlStorage): DurableObjectStateDb;
  readonly snapshots: SqliteSnapshotStore;
  readonly metering: SqliteMeteringStore;
  /**
   * One self-contained SQLite file of the object's state (the reference's two tables, chunked
   * data reassembled), which `sqlite3`, the Python reference and `SqliteStateDb.open({ bytes })`
   * open as-is. Written by the package itself: no SQL engine is needed for it.
   */
  exportBytes(): Uint8Array;
  /** Lets go of the storage; later calls on this handle and its stores throw `CLOSED`. The data stays in the object. */
  close(): void;
  free(): void;
}

/** An image for `mergeStateImages` whose task ids get `taskIdPrefix` in front. */
export interface PrefixedStateImage {
  bytes: Uint8Array;
  /** Put in front of every task id of this image (its snapshots' and its usage events'). */
  taskIdPrefix?: string;
}

/**
 * One SQLite file holding every snapshot and usage event of `images` (SQLite files of the
 * reference's tables: `exportBytes()` of Durable Objects or of `SqliteStateDb`s), image after
 * image — several objects' state as one database for the inspector, `sqlite3` or the Python
 * reference. Written without a SQL engine. An image given as `{ bytes, taskIdPrefix }` has its
 * task ids prefixed (the state of several tenants whose task ids may coincide, as one file). A
 * damaged image: `CORRUPT_DATABASE`; other columns: `SCHEMA_MISMATCH`; the same task version or
 * event id in two images: `INVALID_ARGUMENT`.
 */
export declare function mergeStateImages(images: readonly (Uint8Array | PrefixedStateImage)[]): Uint8Array;

/** The snapshot store of a `SqliteStateDb` or `DurableObjectStateDb` (table `snapshots`). */
export declare class SqliteSnapshotStore {
  private constructor();
  /** Frees the store's memory now instead of at garbage collection; later calls throw. */
  free(): void;
}
/** Every method of `SnapshotStore`. */
export interface SqliteSnapshotStore extends SnapshotStore {}

/** The metering store of a `SqliteStateDb` or `DurableObjectStateDb` (table `usage_events`). */
export declare class SqliteMeteringStore {
  private constructor();
  /** Frees the store's memory now instead of at garbage collection; later calls throw. */
  free(): void;
}
/** Every method of `MeteringStore`. */
export interface SqliteMeteringStore extends MeteringStore {}

/** Environment variables the factories read. */
export type StorageEnv = Record<string, string | undefined>;

/**
 * The snapshot store `ASAP_STORAGE_BACKEND` selects (default `memory`; trimmed and
 * lower-cased), like the reference's `create_snapshot_store()`: `sqlite` opens
 * `ASAP_STORAGE_PATH` (default `asap_state.db`; a real file in Node, an OPFS file in a browser
 * worker; where there are no files it rejects with `STORAGE_IO`). Anything else rejects with `UNKNOWN_BACKEND`. `env` defaults to
 * `process.env` where it exists.
 */
export declare function createSnapshotStore(env?: StorageEnv): Promise<SnapshotStore>;
/** The metering store `ASAP_STORAGE_BACKEND` selects; stores created on one path share one database. */
export declare function createMeteringStore(env?: StorageEnv): Promise<MeteringStore>;

/** One step of a change's path: an object key (a string) or an array index (a number). */
export type JsonPathSegment = string | number;

/**
 * One difference between two JSON values, from `diffJson` and `diffSnapshots`. `path` is an
 * RFC 6901 JSON Pointer (`""` for the root, `"/plan/0"` below it; `~` in a key is written `~0`,
 * `/` is written `~1`); `segments` is the same path unescaped, keys as strings and array indices
 * as numbers. An `added` change has only `new`, a `removed` one only `old`, a `changed` one both;
 * a `null` value is present as `null`. Narrow on `op` to read them.
 */
export type JsonChange =
  | {
      /** The path exists only in the new value. */
      op: "added";
      path: string;
      segments: JsonPathSegment[];
      old?: never;
      /** The value at the path in the new value. */
      new: Json;
    }
  | {
      /** The path exists only in the old value. */
      op: "removed";
      path: string;
      segments: JsonPathSegment[];
      /** The value at the path in the old value. */
      old: Json;
      new?: never;
    }
  | {
      /** Both hold the path with different values: another scalar, or another type. */
      op: "changed";
      path: string;
      segments: JsonPathSegment[];
      old: Json;
      new: Json;
    };

/** The difference between two snapshots' `data`, from `diffSnapshots`. */
export interface SnapshotDiff {
  /** The task of `from`. */
  task_id: string;
  from_version: number;
  to_version: number;
  from_id: string;
  to_id: string;
  /** How many changes are `added`. */
  added: number;
  /** How many changes are `removed`. */
  removed: number;
  /** How many changes are `changed`. */
  changed: number;
  /** `diffJson(from.data, to.data)`. */
  changes: JsonChange[];
}

/**
 * The difference between two snapshots (objects as `get` returns them, every field required,
 * no other field allowed): the changes from `from.data` to `to.data` (`checkpoint` and
 * `created_at` are not compared), with both versions and ids and the count of each kind of
 * change. `from` may be the newer one (the changes then go backwards) and the two may belong to
 * different tasks; `task_id` is `from`'s. A malformed argument throws `StateError`
 * `INVALID_ARGUMENT` naming the field (`from.data is required`), `INVALID_TIMESTAMP` for a bad
 * `created_at`, `TOO_LARGE` for data nested deeper than 128 levels.
 *
 * ```js
 * const diff = diffSnapshots(store.get("task-1", 1), store.get("task-1"));
 * // { task_id: "task-1", from_version: 1, to_version: 2, from_id, to_id,
 * //   added: 0, removed: 0, changed: 1,
 * //   changes: [{ op: "changed", path: "/step", segments: ["step"], old: 1, new: 2 }] }
 * ```
 */
export declare function diffSnapshots(from: StateSnapshot, to: StateSnapshot): SnapshotDiff;

/**
 * The changes that turn `oldValue` into `newValue` (`[]` when they are equal). Objects are
 * compared key by key (the keys of `oldValue` in their order, then the keys only in `newValue`;
 * key order is no difference), arrays index by index and then their extra tail (`added` in
 * ascending order, or `removed` from the highest index down), anything else that differs is one
 * `changed` (a different scalar or type). Applied one after another to `oldValue` (set the
 * value at `path`, or delete it for `removed`), the changes give `newValue`. A value that is not JSON (`undefined`, `NaN`, BigInt, a `Date`, a cycle, …)
 * throws `StateError` `INVALID_ARGUMENT` naming where it is (`newValue.a[2]: …`); nesting deeper
 * than 128 levels throws `TOO_LARGE`.
 *
 * ```js
 * diffJson({ a: 1, b: [1, 2] }, { a: 2, b: [1] });
 * // [{ op: "changed", path: "/a", segments: ["a"], old: 1, new: 2 },
 * //  { op: "removed", path: "/b/1", segments: ["b", 1], old: 2 }]
 * ```
 */
export declare function diffJson(oldValue: Json, newValue: Json): JsonChange[];

/**
 * An agent URN: `urn:asap:agent:{name}` or `urn:asap:agent:{name}:{sub-name}`, each name of
 * lowercase letters, digits and `-`; at most 256 characters.
 */
export type AgentUrn = string;

/**
 * An ASAP message envelope in its wire form (the Python reference's `Envelope`). Unknown fields
 * are rejected; `null` is accepted where the reference accepts `None`.
 */
export interface Envelope {
  /** The message id (the reference generates a ULID when absent); a reply's `correlation_id`. */
  id?: string | null;
  /** Copied into the reply, e.g. `"0.1"`. */
  asap_version: string;
  /** ISO 8601 text with an offset (`Z` or `±hh:mm`). */
  timestamp?: string | null;
  sender: AgentUrn;
  recipient: AgentUrn;
  /** Matched exactly: `"state_query"`, `"state_restore"` or `"state_save"` here. */
  payload_type: string;
  payload: JsonObject;
  correlation_id?: string | null;
  /** Copied into the reply. */
  trace_id?: string | null;
  requires_ack?: boolean;
  extensions?: JsonObject | null;
}

/** The payload of `state_query`: the given version, or the latest (`version` absent or `null`). */
export type StateQueryPayload = {
  task_id: string;
  /** Integer >= 1. */
  version?: number | null;
};

/** The payload of `state_restore`: the task's snapshot with this id (any version). */
export type StateRestorePayload = {
  task_id: string;
  snapshot_id: string;
};

/** A snapshot to save, in JSON: a `StateSnapshotInput` whose `created_at` is text or epoch milliseconds. */
export type StateSnapshotWireInput = {
  id?: string;
  task_id: string;
  version?: number;
  data: JsonObject;
  checkpoint?: boolean;
  /** ISO 8601 text with an offset, or epoch milliseconds. */
  created_at?: string | number;
};

/**
 * The payload of `state_save`. `expected_version` (absent or `null`: no check; `0`: the task
 * must not exist; n: its latest version must be n) else a `VERSION_CONFLICT` ack.
 */
export type StateSavePayload = {
  snapshot: StateSnapshotWireInput;
  expected_version?: number | null;
};

/** An envelope carrying one of the state messages, for building requests with type checks. */
export type StateRequestEnvelope = Envelope &
  (
    | { payload_type: "state_query"; payload: StateQueryPayload }
    | { payload_type: "state_restore"; payload: StateRestorePayload }
    | { payload_type: "state_save"; payload: StateSavePayload }
  );

/** The reply to `state_query`. */
export type StateQueryResponse =
  | { found: true; snapshot: StateSnapshot }
  | { found: false; task_id: string; version: number | null; error: "snapshot not found" };

/** The reply to `state_restore`. */
export type StateRestoreAck =
  | { ok: true; task_id: string; snapshot_id: string; version: number }
  | { ok: false; task_id: string; snapshot_id: string; error: "snapshot not found" };

/** The reply to `state_save`. */
export type StateSaveAck =
  | { ok: true; task_id: string; snapshot_id: string; version: number }
  | { ok: false; task_id: string; error: "VERSION_CONFLICT"; message: string };

/**
 * The reply envelope: a new ULID `id`, `asap_version` copied, `timestamp` now, `sender` and
 * `recipient` swapped, `correlation_id` = the request's `id` (`null` without one), `trace_id`
 * copied (`null` without one). Narrow on `payload_type` to read `payload`.
 */
export type StateReplyEnvelope = {
  id: string;
  asap_version: string;
  timestamp: Timestamp;
  sender: AgentUrn;
  recipient: AgentUrn;
  correlation_id: string | null;
  trace_id: string | null;
  requires_ack: false;
  extensions: null;
} & (
  | { payload_type: "state_query.response"; payload: StateQueryResponse }
  | { payload_type: "state_restore.ack"; payload: StateRestoreAck }
  | { payload_type: "state_save.ack"; payload: StateSaveAck }
);

/**
 * A JSON-RPC 2.0 error object. `data.error` names the offending field
 * (`envelope.payload.task_id is required`); `data.code` is a `StateError` code.
 * -32700 body text that is not JSON; -32600 not a JSON-RPC 2.0 request; -32601 a method other
 * than `asap.send` or an unhandled `payload_type`; -32602 a malformed envelope or payload;
 * -32603 the store failed (`CLOSED`, `STORAGE_IO`, …) or `stores.snapshots` is not a snapshot
 * store of this package (`INVALID_ARGUMENT`).
 */
export interface JsonRpcError {
  code: -32700 | -32600 | -32601 | -32602 | -32603;
  message: "Parse error" | "Invalid request" | "Method not found" | "Invalid params" | "Internal error";
  data: { error: string; code: StateErrorCode };
}

/** A JSON-RPC 2.0 request id. */
export type JsonRpcId = string | number | null;

/** A JSON-RPC 2.0 request carrying an envelope, as the reference's server takes it. */
export interface JsonRpcRequest {
  jsonrpc: "2.0";
  method: "asap.send";
  params: { envelope: Envelope };
  id?: JsonRpcId;
}

/** The JSON-RPC 2.0 response to a request: a `result` or an `error`, with the request's `id`. */
export type JsonRpcResponse =
  | { jsonrpc: "2.0"; id: JsonRpcId; result: { envelope: StateReplyEnvelope }; error?: never }
  | { jsonrpc: "2.0"; id: JsonRpcId; error: JsonRpcError; result?: never };

/** The answer of `handleStateEnvelope`. */
export type StateEnvelopeResult =
  | { envelope: StateReplyEnvelope; error?: never }
  | { error: JsonRpcError; envelope?: never };

/** The store the messages are answered from (a `SqliteStateDb` is one). */
export interface StateMessageStores {
  /** A snapshot store of this package (`MemorySnapshotStore` or `SqliteSnapshotStore`). */
  snapshots: SnapshotStore;
}

/**
 * Answers an ASAP state message from `stores.snapshots`: `state_query` (→
 * `state_query.response`), `state_restore` (→ `state_restore.ack`, the snapshot found by id,
 * any version) or `state_save` (→ `state_save.ack`). Returns `{ envelope }` or `{ error }`;
 * never throws, whatever `envelope` is (cycles, BigInt, proxies that throw become -32602), once
 * the package is ready (in a browser, before `ready()` has resolved it throws `NOT_READY`, as
 * every synchronous call does; no store exists then anyway). A message that fails changes
 * nothing.
 *
 * ```js
 * const { envelope } = handleStateEnvelope({ snapshots }, {
 *   id: "msg-1", asap_version: "0.1",
 *   sender: "urn:asap:agent:coordinator", recipient: "urn:asap:agent:backup",
 *   payload_type: "state_query", payload: { task_id: "task-1" },
 * });
 * // envelope.payload: { found: true, snapshot: { id, task_id: "task-1", version: 2, … } }
 * ```
 */
export declare function handleStateEnvelope(stores: StateMessageStores, envelope: unknown): StateEnvelopeResult;

/**
 * Answers a JSON-RPC 2.0 request (`JsonRpcRequest`, as an object or as its JSON text) carrying
 * an ASAP state message, as `handleStateEnvelope` does: the response to send back as the HTTP
 * body. Never throws once the package is ready (see `handleStateEnvelope`); text that is not
 * JSON gets -32700 with `id: null`.
 */
export declare function handleAsapRequest(stores: StateMessageStores, request: unknown): JsonRpcResponse;

/** The stores `copyState` copies from or to (a `SqliteStateDb` is one). */
export interface CopyStores {
  snapshots?: SnapshotStore | null;
  metering?: MeteringStore | null;
}

/** What `copyState` copied. */
export interface CopyReport {
  /** Snapshots read from `from.snapshots` and saved in `to.snapshots`. */
  snapshots: number;
  /** Usage events read from `from.metering` and recorded in `to.metering`. */
  events: number;
}

/**
 * Copies every version of every task (same id, version, data, checkpoint, created_at) from
 * `from.snapshots` to `to.snapshots`, and every usage event (same id) from `from.metering` to
 * `to.metering`, each when both sides have that store; any two stores of any entries. Idempotent:
 * `save` replaces the same (task_id, version) and `record` stores nothing for a known id, so
 * copying again changes nothing. Throws `StateError` (`INVALID_ARGUMENT` for a bad argument, or
 * the store's error); copying again completes an interrupted copy.
 */
export declare function copyState(from: CopyStores, to: CopyStores): CopyReport;
