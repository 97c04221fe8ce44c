// Types of "asap-state/durable-object": the stores on a Durable Object's SQLite storage, the
// in-memory stores, the models, the diff functions, the ASAP state messages, copyState and
// StateError (no embedded SQL engine: no SqliteStateDb, no files).
export type {
  Json, JsonObject, Timestamp, TimestampInput, StateSnapshot, StateSnapshotInput, UsageMetrics,
  UsageEvent, UsageEventInput, UsageAggregate, TaskSummary, UsageBucket, SaveOptions, QueryOptions,
  TimeWindow, SeriesOptions, PrunePolicy, ExportFilter, StateErrorCode, SnapshotStore, MeteringStore,
  JsonPathSegment, JsonChange, SnapshotDiff, AgentUrn, Envelope, StateQueryPayload,
  StateRestorePayload, StateSnapshotWireInput, StateSavePayload, StateRequestEnvelope,
  StateQueryResponse, StateRestoreAck, StateSaveAck, StateReplyEnvelope, JsonRpcError, JsonRpcId,
  JsonRpcRequest, JsonRpcResponse, StateEnvelopeResult, StateMessageStores, CopyStores, CopyReport,
  DurableObjectSqlStorage, PrefixedStateImage,
} from "../index.js";
export {
  ready, StateError, DurableObjectStateDb, SqliteSnapshotStore, SqliteMeteringStore, MemorySnapshotStore,
  MemoryMeteringStore, diffSnapshots, diffJson, mergeStateImages, handleStateEnvelope,
  handleAsapRequest, copyState,
} from "../index.js";
