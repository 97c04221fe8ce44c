// Quickstart: save and read versioned task state, meter usage, and see a StateError.
// Run it with `make demo` (which builds the package first) or `node examples/quickstart.mjs`.
import { MemorySnapshotStore, MemoryMeteringStore, StateError } from "asap-state";

const snapshots = new MemorySnapshotStore();
const metering = new MemoryMeteringStore();
const taskId = "task_demo_01";

console.log("== snapshots");
for (let step = 1; step <= 3; step++) {
  // No version given: the store assigns latest + 1. expectedVersion makes concurrent writers safe.
  const saved = snapshots.save(
    { task_id: taskId, data: { step, status: step < 3 ? "working" : "completed" }, checkpoint: step === 3 },
    { expectedVersion: step === 1 ? null : step - 1 },
  );
  console.log(`saved ${saved.task_id} v${saved.version} (${saved.id}) at ${saved.created_at}`);
}
console.log("versions:", snapshots.listVersions(taskId).join(", "));
console.log("latest:", JSON.stringify(snapshots.get(taskId).data));
console.log("version 1:", JSON.stringify(snapshots.get(taskId, 1).data));
console.log("tasks:", JSON.stringify(snapshots.listTasks()));

try {
  snapshots.save({ task_id: taskId, data: { step: 99 } }, { expectedVersion: 1 });
} catch (err) {
  if (!(err instanceof StateError)) throw err;
  console.log(`a stale writer is refused: ${err.code}: ${err.message}`);
}

console.log("\n== metering");
const hour = Date.UTC(2025, 1, 8, 12);
for (let i = 0; i < 5; i++) {
  metering.record({
    task_id: taskId,
    agent_id: "urn:asap:agent:demo",
    consumer_id: "urn:asap:agent:coordinator",
    metrics: { tokens_in: 100 * (i + 1), tokens_out: 50, duration_ms: 1200, api_calls: 1 },
    timestamp: new Date(hour + i * 20 * 60 * 1000),
  });
}
const events = metering.query("urn:asap:agent:demo", "2025-02-08T12:00:00Z", "2025-02-08T13:00:00Z");
console.log(`events between 12:00 and 13:00: ${events.length}`);
console.log("aggregate:", JSON.stringify(metering.aggregate("urn:asap:agent:demo", "day")));
const buckets = metering.series("urn:asap:agent:demo", {
  bucket: "hour",
  start: "2025-02-08T00:00:00Z",
  end: "2025-02-09T00:00:00Z",
});
for (const b of buckets) console.log(`  ${b.start}: ${b.total_tokens} tokens in ${b.total_tasks} events`);
console.log("\nCSV export:\n" + metering.export("csv"));
