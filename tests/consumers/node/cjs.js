// Node, a CommonJS project: the ESM-only package through `await import()`.
const { mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

(async () => {
  const { MemorySnapshotStore, SqliteStateDb, StateError } = await import("asap-state");
  const memory = new MemorySnapshotStore();
  memory.save({ task_id: "m", data: { via: "cjs" } });
  const dir = mkdtempSync(join(tmpdir(), "asap-state-consumer-"));
  try {
    const path = join(dir, "state.db");
    const db = await SqliteStateDb.open({ path });
    db.snapshots.save({ task_id: "t", data: { n: 1 } });
    db.close();
    const again = await SqliteStateDb.open({ path });
    console.log(JSON.stringify({ memory: memory.get("m").data, file: again.snapshots.get("t").data, codes: StateError.codes.length }));
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
