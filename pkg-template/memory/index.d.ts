// Types of "asap-state/memory": the in-memory stores, the models, the diff functions, the ASAP
// state messages, copyState and StateError.
export type {
  Json, JsonObject, Timestamp, TimestampInput, StateSnapshot, StateSnapshotInput, UsageMetrics,
  UsageEvent, UsageEventInput, UsageAggregate, TaskSummary, UsageBucket, SaveOptions, QueryOptions,
  TimeWindow, SeriesOptions, PrunePolicy, ExportFilter, StateErrorCode, SnapshotStore, MeteringStore,
  StorageEnv, JsonPathSegment, JsonChange, SnapshotDiff, AgentUrn, Envelope, StateQueryPayload,
  StateRestorePayload, StateSnapshotWireInput, StateSavePayload, StateRequestEnvelope,
  StateQueryResponse, StateRestoreAck, StateSaveAck, StateReplyEnvelope, JsonRpcError, JsonRpcId,
  JsonRpcRequest, JsonRpcResponse, StateEnvelopeResult, StateMessageStores, CopyStores, CopyReport,
} from "../index.js";
export {
  ready, StateError, MemorySnapshotStore, MemoryMeteringStore, diffSnapshots, diffJson, handleStateEnvelope,
  handleAsapRequest, copyState,
} from "../index.js";

/** The store `ASAP_STORAGE_BACKEND` selects; this entry has only `memory` (use "asap-state" for `sqlite`). */
export declare function createSnapshotStore(env?: import("../index.js").StorageEnv): Promise<import("../index.js").SnapshotStore>;
/** The store `ASAP_STORAGE_BACKEND` selects; this entry has only `memory` (use "asap-state" for `sqlite`). */
export declare function createMeteringStore(env?: import("../index.js").StorageEnv): Promise<import("../index.js").MeteringStore>;
