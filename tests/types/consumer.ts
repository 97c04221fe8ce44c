// A TypeScript consumer of every export and type of asap-state, compiled with `tsc --strict`
// against pkg/ (resolved through node_modules/asap-state like a user's project). The
// `@ts-expect-error` lines prove that wrong shapes are rejected: tsc fails if one compiles.
import {
  MemoryMeteringStore,
  MemorySnapshotStore,
  SqliteStateDb,
  StateError,
  copyState,
  diffJson,
  diffSnapshots,
  handleAsapRequest,
  handleStateEnvelope,
  type CopyReport,
  type CopyStores,
  type Envelope,
  type ExportFilter,
  type JsonRpcError,
  type JsonRpcId,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type StateEnvelopeResult,
  type StateQueryResponse,
  type StateReplyEnvelope,
  type StateRequestEnvelope,
  type StateRestoreAck,
  type StateSaveAck,
  type Json,
  type JsonChange,
  type JsonObject,
  type JsonPathSegment,
  type MeteringStore,
  type PrunePolicy,
  type QueryOptions,
  type SaveOptions,
  type SeriesOptions,
  type SnapshotDiff,
  type SnapshotStore,
  type StateErrorCode,
  type StateSnapshot,
  type StateSnapshotInput,
  type TaskSummary,
  type TimeWindow,
  type Timestamp,
  type TimestampInput,
  type UsageAggregate,
  type UsageBucket,
  type UsageEvent,
  type UsageEventInput,
  type UsageMetrics,
  ready,
} from "asap-state";
import {
  AsapCheckpointSaver,
  DEFAULT_PREFIX,
  type AsapCheckpointSaverOptions,
  type PrunePolicy as CheckpointPrunePolicy,
} from "asap-state/langgraph";
import { BaseCheckpointSaver, emptyCheckpoint, type CheckpointTuple } from "@langchain/langgraph-checkpoint";
import * as memory from "asap-state/memory";
import {
  DurableObjectStateDb,
  mergeStateImages,
  StateError as DoStateError,
  type DurableObjectSqlStorage,
  type SqliteSnapshotStore as DoSnapshotStore,
} from "asap-state/durable-object";
import init, {
  ready as webReady,
  diffJson as webDiffJson,
  handleStateEnvelope as webHandleStateEnvelope,
  initSync,
  MemorySnapshotStore as WebSnapshotStore,
  StateError as WebStateError,
  type InitInput,
  type StateSnapshot as WebStateSnapshot,
} from "asap-state/web";

// ---- type-level equality -----------------------------------------------------------------------
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_proof?: T): void {}

assertType<Equals<StateErrorCode,
  | "INVALID_SNAPSHOT" | "INVALID_EVENT" | "INVALID_TIMESTAMP" | "INVALID_ARGUMENT" | "UNKNOWN_BACKEND"
  | "VERSION_CONFLICT" | "CORRUPT_DATABASE" | "SCHEMA_MISMATCH" | "DATABASE_LOCKED" | "STORAGE_IO"
  | "TOO_LARGE" | "CLOSED" | "NOT_READY" | "ENGINE_FAILED">>();
assertType<Equals<typeof StateError.codes, readonly StateErrorCode[]>>();
assertType<Equals<Timestamp, string>>();
assertType<Equals<TimestampInput, string | Date | number>>();
assertType<Equals<JsonObject, { [key: string]: Json }>>();
assertType<Equals<StateSnapshot, { id: string; task_id: string; version: number; data: JsonObject; checkpoint: boolean; created_at: string }>>();
assertType<Equals<UsageMetrics, { tokens_in: number; tokens_out: number; duration_ms: number; api_calls: number }>>();
assertType<Equals<UsageEvent, { id: string; task_id: string; agent_id: string; consumer_id: string; metrics: UsageMetrics; timestamp: string }>>();
assertType<Equals<UsageAggregate, { agent_id: string; period: string; total_tokens: number; total_duration: number; total_tasks: number; total_api_calls: number }>>();
assertType<Equals<TaskSummary, { task_id: string; versions: number; latest_version: number; latest_created_at: string; checkpoints: number }>>();
assertType<Equals<UsageBucket, { start: string; total_tokens: number; total_duration: number; total_tasks: number; total_api_calls: number }>>();
assertType<Equals<ReturnType<MemorySnapshotStore["save"]>, StateSnapshot>>();
assertType<Equals<ReturnType<MemorySnapshotStore["get"]>, StateSnapshot | undefined>>();
assertType<Equals<ReturnType<MemorySnapshotStore["getById"]>, StateSnapshot | undefined>>();
assertType<Equals<ReturnType<MemorySnapshotStore["listVersions"]>, number[]>>();
assertType<Equals<ReturnType<MemorySnapshotStore["delete"]>, boolean>>();
assertType<Equals<ReturnType<MemorySnapshotStore["listTasks"]>, TaskSummary[]>>();
assertType<Equals<ReturnType<MemorySnapshotStore["prune"]>, number>>();
assertType<Equals<ReturnType<MemoryMeteringStore["record"]>, UsageEvent>>();
assertType<Equals<ReturnType<MemoryMeteringStore["query"]>, UsageEvent[]>>();
assertType<Equals<ReturnType<MemoryMeteringStore["aggregate"]>, UsageAggregate>>();
assertType<Equals<ReturnType<MemoryMeteringStore["series"]>, UsageBucket[]>>();
assertType<Equals<ReturnType<MemoryMeteringStore["agents"]>, string[]>>();
assertType<Equals<ReturnType<MemoryMeteringStore["export"]>, string>>();
assertType<Equals<StateError["code"], StateErrorCode>>();
assertType<Equals<memory.StateSnapshot, StateSnapshot>>();
assertType<Equals<WebStateSnapshot, StateSnapshot>>();
assertType<Equals<typeof memory.MemorySnapshotStore, typeof MemorySnapshotStore>>();
assertType<Equals<typeof WebStateError, typeof StateError>>();
assertType<Equals<typeof WebSnapshotStore, typeof MemorySnapshotStore>>();
assertType<Equals<JsonPathSegment, string | number>>();
assertType<Equals<JsonChange["op"], "added" | "removed" | "changed">>();
assertType<Equals<SnapshotDiff, {
  task_id: string; from_version: number; to_version: number; from_id: string; to_id: string;
  added: number; removed: number; changed: number; changes: JsonChange[];
}>>();
assertType<Equals<ReturnType<typeof diffSnapshots>, SnapshotDiff>>();
assertType<Equals<Parameters<typeof diffSnapshots>, [from: StateSnapshot, to: StateSnapshot]>>();
assertType<Equals<ReturnType<typeof diffJson>, JsonChange[]>>();
assertType<Equals<Parameters<typeof diffJson>, [oldValue: Json, newValue: Json]>>();
assertType<Equals<typeof memory.diffSnapshots, typeof diffSnapshots>>();
assertType<Equals<typeof memory.diffJson, typeof diffJson>>();
assertType<Equals<memory.JsonChange, JsonChange>>();
assertType<Equals<memory.SnapshotDiff, SnapshotDiff>>();
assertType<Equals<typeof webDiffJson, typeof diffJson>>();

// ---- snapshots ---------------------------------------------------------------------------------
const snapshots: SnapshotStore = new MemorySnapshotStore();
const input: StateSnapshotInput = {
  id: "snap_1",
  task_id: "task_1",
  version: 1,
  data: { step: 1, nested: { list: [1, "two", null, true, { deep: [] }] } },
  checkpoint: true,
  created_at: new Date(),
};
const saveOptions: SaveOptions = { expectedVersion: null };
const saved: StateSnapshot = snapshots.save(input, saveOptions);
snapshots.save({ task_id: "task_1", data: {} }, { expectedVersion: saved.version });
snapshots.save({ task_id: "task_1", data: {}, created_at: "2025-02-08T12:00:00Z" });
snapshots.save({ task_id: "task_1", data: {}, created_at: Date.now() });
const latest = snapshots.get("task_1");
const version: number | undefined = latest?.version;
const exact = snapshots.get("task_1", 1) ?? snapshots.get("task_1", null);
const byId = snapshots.getById("task_1", saved.id);
const versions: number[] = snapshots.listVersions("task_1");
const deletedOne: boolean = snapshots.delete("task_1", 1);
const deletedAll: boolean = snapshots.delete("task_1");
const tasks: TaskSummary[] = snapshots.listTasks();
const policy: PrunePolicy = { keepLast: 3, olderThan: "2025-01-01T00:00:00Z", keepCheckpoints: true };
const pruned: number = snapshots.prune("task_1", policy);
const step: Json | undefined = exact?.data["step"];

// ---- diffs -------------------------------------------------------------------------------------
const diff: SnapshotDiff = diffSnapshots(saved, snapshots.get("task_1") ?? saved);
const changes: JsonChange[] = diff.changes.concat(diffJson({ a: [1, null] }, [true, "x", { b: 1.5 }]));
const described: string[] = changes.map((c) => {
  const where: string = c.path;
  const first: JsonPathSegment | undefined = c.segments[0];
  const maybeOld: Json | undefined = c.old;
  switch (c.op) {
    case "added": {
      const added: Json = c.new;
      return `${where} ${String(first)} + ${JSON.stringify(added)}`;
    }
    case "removed": {
      const removed: Json = c.old;
      return `${where} - ${JSON.stringify(removed)} ${String(maybeOld)}`;
    }
    case "changed": {
      const pair: [Json, Json] = [c.old, c.new];
      return `${where} ${JSON.stringify(pair)}`;
    }
    default: {
      const exhaustive: never = c;
      return exhaustive;
    }
  }
});
const counts: number = diff.added + diff.removed + diff.changed;
memory.diffJson(null, 1);

// ---- metering ----------------------------------------------------------------------------------
const metering: MeteringStore = new MemoryMeteringStore();
const eventInput: UsageEventInput = { task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 5 }, timestamp: 0 };
const recorded: UsageEvent = metering.record(eventInput);
const metrics: UsageMetrics = recorded.metrics;
const queryOptions: QueryOptions = { limit: 10, offset: 0 };
const events: UsageEvent[] = metering.query("a", new Date(0), "2100-01-01T00:00:00Z", queryOptions);
const window: TimeWindow = { start: 0 };
const aggregate: UsageAggregate = metering.aggregate("a", "day", window);
const seriesOptions: SeriesOptions = { bucket: "hour", start: 0, end: Date.now() };
const buckets: UsageBucket[] = metering.series("a", seriesOptions);
const agents: string[] = metering.agents();
const filter: ExportFilter = { agentId: "a", start: 0, end: new Date() };
const csv: string = metering.export("csv", filter) + metering.export("json");

// Both classes can be freed explicitly.
new MemorySnapshotStore().free();
new MemoryMeteringStore().free();
new memory.MemoryMeteringStore().record({ task_id: "t", agent_id: "a", consumer_id: "c" });

// ---- errors: `code` narrows to the union ------------------------------------------------------
function describe(e: unknown): string {
  if (!(e instanceof StateError)) return "not ours";
  const code: StateErrorCode = e.code;
  const asError: Error = e;
  const name: "StateError" = e.name;
  switch (e.code) {
    case "VERSION_CONFLICT":
      return `retry (${code}, ${name}, ${asError.message})`;
    case "INVALID_SNAPSHOT":
    case "INVALID_EVENT":
    case "INVALID_TIMESTAMP":
    case "INVALID_ARGUMENT":
      return "bad input";
    case "UNKNOWN_BACKEND":
    case "CORRUPT_DATABASE":
    case "SCHEMA_MISMATCH":
    case "DATABASE_LOCKED":
    case "STORAGE_IO":
    case "TOO_LARGE":
    case "CLOSED":
      return "storage";
    case "NOT_READY":
      return "await ready()";
    case "ENGINE_FAILED":
      return "reload";
    default: {
      const exhaustive: never = e.code;
      return exhaustive;
    }
  }
}
describe(new StateError("CLOSED", "closed"));
describe(new memory.StateError("TOO_LARGE", "big"));

// ---- asap-state/web ------------------------------------------------------------------------------
async function web(): Promise<void> {
  const exports: WebAssembly.Exports = await init();
  await init({ module_or_path: new URL("./asap_state_bg.wasm", "https://example.com/") });
  await init({ module_or_path: fetch("/asap_state_bg.wasm") });
  const source: InitInput = new Uint8Array(8);
  initSync({ module: new ArrayBuffer(8) });
  initSync({ module: await WebAssembly.compile(new Uint8Array(8)) });
  const store = new WebSnapshotStore();
  store.save({ task_id: "t", data: {} });
  void exports;
  void source;
}

// ---- ASAP state messages and copies ---------------------------------------------------------------
assertType<Equals<JsonRpcId, string | number | null>>();
assertType<Equals<JsonRpcError["code"], -32700 | -32600 | -32601 | -32602 | -32603>>();
assertType<Equals<JsonRpcError["data"], { error: string; code: StateErrorCode }>>();
assertType<Equals<ReturnType<typeof handleStateEnvelope>, StateEnvelopeResult>>();
assertType<Equals<ReturnType<typeof handleAsapRequest>, JsonRpcResponse>>();
assertType<Equals<ReturnType<typeof copyState>, CopyReport>>();
assertType<Equals<CopyReport, { snapshots: number; events: number }>>();
assertType<Equals<typeof memory.handleStateEnvelope, typeof handleStateEnvelope>>();
assertType<Equals<typeof memory.handleAsapRequest, typeof handleAsapRequest>>();
assertType<Equals<typeof memory.copyState, typeof copyState>>();
assertType<Equals<typeof webHandleStateEnvelope, typeof handleStateEnvelope>>();
assertType<Equals<memory.Envelope, Envelope>>();
assertType<Equals<StateReplyEnvelope["payload_type"], "state_query.response" | "state_restore.ack" | "state_save.ack">>();

const query: StateRequestEnvelope = {
  id: "msg-1",
  asap_version: "0.1",
  sender: "urn:asap:agent:coordinator",
  recipient: "urn:asap:agent:backup",
  payload_type: "state_query",
  payload: { task_id: "task_1", version: null },
  trace_id: "trace-1",
};
const plain: Envelope = query;
const saveMessage: StateRequestEnvelope = {
  asap_version: "0.1",
  sender: "urn:asap:agent:a",
  recipient: "urn:asap:agent:b",
  payload_type: "state_save",
  payload: { snapshot: { task_id: "t", data: { step: 1 }, created_at: "2025-02-08T12:00:00Z" }, expected_version: 0 },
};
const answered: StateEnvelopeResult = handleStateEnvelope({ snapshots }, query);
function readReply(result: StateEnvelopeResult): string {
  if (result.error) {
    const code: -32700 | -32600 | -32601 | -32602 | -32603 = result.error.code;
    const why: string = result.error.data.error;
    return `${code} ${why}`;
  }
  const reply: StateReplyEnvelope = result.envelope;
  const correlation: string | null = reply.correlation_id;
  switch (reply.payload_type) {
    case "state_query.response": {
      const p: StateQueryResponse = reply.payload;
      return p.found ? p.snapshot.id : `${p.task_id} ${String(p.version)} ${p.error}`;
    }
    case "state_restore.ack": {
      const p: StateRestoreAck = reply.payload;
      return p.ok ? `${p.snapshot_id} v${p.version}` : p.error;
    }
    case "state_save.ack": {
      const p: StateSaveAck = reply.payload;
      return p.ok ? String(p.version) : `${p.error}: ${p.message} ${String(correlation)}`;
    }
    default: {
      const exhaustive: never = reply;
      return exhaustive;
    }
  }
}
readReply(answered);
readReply(handleStateEnvelope({ snapshots: new memory.MemorySnapshotStore() }, saveMessage));
readReply(handleStateEnvelope({ snapshots }, JSON.parse("{}") as unknown));
const rpcRequest: JsonRpcRequest = { jsonrpc: "2.0", method: "asap.send", params: { envelope: plain }, id: 1 };
const response: JsonRpcResponse = handleAsapRequest({ snapshots }, rpcRequest);
const responseId: JsonRpcId = response.id;
const resultEnvelope: StateReplyEnvelope | undefined = response.result?.envelope;
const responseError: JsonRpcError | undefined = response.error;
handleAsapRequest({ snapshots }, JSON.stringify(rpcRequest));
async function copies(): Promise<CopyReport> {
  const db = await SqliteStateDb.open();
  const image = await SqliteStateDb.open({ path: "agent/state.db", fallback: "memory" });
  image.close();
  // @ts-expect-error the only fallback is "memory"
  await SqliteStateDb.open({ path: "agent/state.db", fallback: "disk" });
  const stores: CopyStores = { snapshots, metering: null };
  handleStateEnvelope(db, query);
  const there: CopyReport = copyState(stores, db);
  const back: CopyReport = copyState(db, { snapshots: new memory.MemorySnapshotStore(), metering: new memory.MemoryMeteringStore() });
  return { snapshots: there.snapshots + back.snapshots, events: there.events + back.events };
}

function rejectedMessages(s: MemorySnapshotStore): void {
  // @ts-expect-error the stores are an object with a snapshot store
  handleStateEnvelope(s, query);
  // @ts-expect-error the snapshot store is required
  handleAsapRequest({}, "{}");
  // @ts-expect-error a reply may be an error: read envelope after checking
  const id: string = handleStateEnvelope({ snapshots: s }, query).envelope.id;
  // @ts-expect-error state_restore needs snapshot_id
  const bad: StateRequestEnvelope = { asap_version: "0.1", sender: "urn:asap:agent:a", recipient: "urn:asap:agent:b", payload_type: "state_restore", payload: { task_id: "t" } };
  // @ts-expect-error the method is "asap.send"
  const wrongMethod: JsonRpcRequest = { jsonrpc: "2.0", method: "asap.receive", params: { envelope: plain } };
  // @ts-expect-error copyState returns counts
  const report: string = copyState({ snapshots: s }, { snapshots: s });
  // @ts-expect-error copyState takes stores, not a task id
  copyState("task-1", { snapshots: s });
  void id;
  void bad;
  void wrongMethod;
  void report;
}

// ---- wrong shapes are rejected ---------------------------------------------------------------------
function rejected(s: MemorySnapshotStore, m: MemoryMeteringStore): void {
  // @ts-expect-error version is a number, not a string
  s.save({ task_id: "t", data: {}, version: "2" });
  // @ts-expect-error unknown field
  s.save({ task_id: "t", data: {}, extra: 1 });
  // @ts-expect-error task_id is required
  s.save({ data: {} });
  // @ts-expect-error data is required
  s.save({ task_id: "t" });
  // @ts-expect-error data must be an object, not an array
  s.save({ task_id: "t", data: [1, 2] });
  // @ts-expect-error data values must be JSON: no functions
  s.save({ task_id: "t", data: { f: () => 1 } });
  // @ts-expect-error data values must be JSON: no BigInt
  s.save({ task_id: "t", data: { n: 1n } });
  // @ts-expect-error data values must be JSON: no undefined
  s.save({ task_id: "t", data: { u: undefined } });
  // @ts-expect-error data values must be JSON: no Map
  s.save({ task_id: "t", data: { m: new Map<string, number>() } });
  // @ts-expect-error checkpoint is a boolean
  s.save({ task_id: "t", data: {}, checkpoint: 1 });
  // @ts-expect-error created_at is a string, Date or number
  s.save({ task_id: "t", data: {}, created_at: true });
  // @ts-expect-error expectedVersion is a number or null
  s.save({ task_id: "t", data: {} }, { expectedVersion: "1" });
  // @ts-expect-error unknown option
  s.save({ task_id: "t", data: {} }, { expected: 1 });
  // @ts-expect-error get may return undefined
  s.get("t").version;
  // @ts-expect-error version is a number
  s.get("t", "1");
  // @ts-expect-error the policy is required
  s.prune("t");
  // @ts-expect-error keepLast is a number
  s.prune("t", { keepLast: "1" });
  // @ts-expect-error metrics must be numbers
  m.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: "5" } });
  // @ts-expect-error unknown metric
  m.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens: 5 } });
  // @ts-expect-error agent_id is required
  m.record({ task_id: "t", consumer_id: "c" });
  // @ts-expect-error unknown query option
  m.query("a", 0, 1, { page: 1 });
  // @ts-expect-error the bucket is "hour" or "day"
  m.series("a", { bucket: "week", start: 0, end: 1 });
  // @ts-expect-error the series options are required
  m.series("a");
  // @ts-expect-error the format is "json" or "csv"
  m.export("xml");
  // @ts-expect-error unknown filter key
  m.export("json", { agent_id: "a" });
  // @ts-expect-error totals are numbers
  const tokens: string = m.aggregate("a", "day").total_tokens;
  // @ts-expect-error not a code
  new StateError("NOT_A_CODE", "x");
  const e = new StateError("CLOSED", "x");
  // @ts-expect-error code is readonly
  e.code = "TOO_LARGE";
  // @ts-expect-error no such code in the union
  if (e.code === "NOT_A_CODE") void 0;
  // @ts-expect-error init takes { module_or_path }
  void init({ path: "/x.wasm" });
  // @ts-expect-error diffSnapshots takes snapshots, not task ids
  diffSnapshots("t", "t");
  // @ts-expect-error diffSnapshots takes two snapshots
  diffSnapshots(s.get("t") as StateSnapshot);
  // @ts-expect-error a snapshot input is not a stored snapshot
  diffSnapshots({ task_id: "t", data: {} }, s.get("t") as StateSnapshot);
  // @ts-expect-error diffJson takes JSON values: no undefined
  diffJson(undefined, 1);
  // @ts-expect-error diffJson takes JSON values: no Date
  diffJson(new Date(), 1);
  // @ts-expect-error diffJson takes two values
  diffJson({});
  const change = diffJson(1, 2)[0];
  // @ts-expect-error an "added" change has no old value to read as Json
  if (change?.op === "added") { const old: Json = change.old; void old; }
  // @ts-expect-error a "removed" change has no new value to read as Json
  if (change?.op === "removed") { const added: Json = change.new; void added; }
  // @ts-expect-error op is "added" | "removed" | "changed"
  if (change?.op === "replaced") void 0;
  // @ts-expect-error the counts are numbers
  const added: string = diffSnapshots(s.get("t") as StateSnapshot, s.get("t") as StateSnapshot).added;
  void added;
  void tokens;
}

// ---- asap-state/durable-object -------------------------------------------------------------------
/** A Durable Object's ctx.storage, as far as DurableObjectStateDb needs it. */
declare const storage: DurableObjectSqlStorage;
const objectDb: DurableObjectStateDb = DurableObjectStateDb.open(storage);
const objectSnapshots: DoSnapshotStore = objectDb.snapshots;
const objectSaved: StateSnapshot = objectSnapshots.save({ task_id: "t", data: {} }, { expectedVersion: null });
const objectUsage: UsageEvent = objectDb.metering.record({ task_id: "t", agent_id: "a", consumer_id: "c" });
const objectStores: CopyStores = objectDb;
const objectImage: Uint8Array = objectDb.exportBytes();
const mergedImage: Uint8Array = mergeStateImages([objectImage, objectDb.exportBytes()]);
const mergedTenants: Uint8Array = mergeStateImages([{ bytes: objectImage, taskIdPrefix: "alice/" }, objectImage]);
objectDb.close();
void (DoStateError === StateError);
{
  // @ts-expect-error open is synchronous: it returns the database, not a promise
  void DurableObjectStateDb.open(storage).then;
  // @ts-expect-error a storage needs sql.exec and transactionSync
  DurableObjectStateDb.open({ sql: {} });
  // @ts-expect-error mergeStateImages takes an array of images
  mergeStateImages(objectImage);
  // @ts-expect-error a prefixed image's prefix is a string
  mergeStateImages([{ bytes: objectImage, taskIdPrefix: 1 }]);
  // @ts-expect-error exportBytes gives bytes, not text
  const text: string = objectDb.exportBytes();
  void text;
}

// ---- asap-state/langgraph -----------------------------------------------------------------------
const saverOptions: AsapCheckpointSaverOptions = { prefix: "lg:" };
const saver: BaseCheckpointSaver = new AsapCheckpointSaver(new MemorySnapshotStore(), saverOptions);
const doSaver = new AsapCheckpointSaver(objectDb.snapshots);
const threadTask: string = doSaver.taskId("thread", "ns");
const parsedTask: { threadId: string; checkpointNs: string; early: boolean } | undefined = doSaver.parseTaskId(threadTask);
const prefix: "langgraph:" = DEFAULT_PREFIX;
const prunePolicy: CheckpointPrunePolicy = { keepLast: 3 };
const prunedCheckpoints: Promise<number> = doSaver.prune("thread", prunePolicy);
const latestTuple: Promise<CheckpointTuple | undefined> = saver.getTuple({ configurable: { thread_id: "thread" } });
const putConfig = saver.put({ configurable: { thread_id: "thread" } }, emptyCheckpoint(), { source: "input", step: -1, parents: {} }, {});
{
  // @ts-expect-error the saver needs a snapshot store
  void new AsapCheckpointSaver({});
  // @ts-expect-error prune needs keepLast
  void doSaver.prune("thread", {});
  // @ts-expect-error options are prefix and serde
  void new AsapCheckpointSaver(new MemorySnapshotStore(), { prefx: "x" });
}

// Every entry exports ready(): the browser entries load their wasm without top-level await.
const readiness: Promise<void>[] = [ready(), memory.ready(), webReady()];
{
  // @ts-expect-error ready() takes no argument
  void ready("now");
}

export const used = {
  threadTask, parsedTask, prefix, prunedCheckpoints, latestTuple, putConfig,
  readiness, objectSaved, objectUsage, objectStores, objectImage, mergedImage, mergedTenants,
  version, byId, versions, deletedOne, deletedAll, tasks, pruned, step, metrics, events, aggregate,
  buckets, agents, csv, web, rejected, described, counts, responseId, resultEnvelope, responseError,
  copies, rejectedMessages,
};
