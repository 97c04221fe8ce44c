// Bun 1: `bun main.mjs`. Bun resolves the package's node condition: loaded on import.
import { MemorySnapshotStore, SqliteStateDb, StateError, ready } from "asap-state";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const memory = new MemorySnapshotStore();
memory.save({ task_id: "m", data: { via: "bun" } });
await ready();
const dir = mkdtempSync(join(tmpdir(), "asap-state-consumer-"));
try {
  const path = join(dir, "state.db");
  const db = await SqliteStateDb.open({ path });
  db.snapshots.save({ task_id: "t", data: { n: 1 } });
  db.close();
  const again = await SqliteStateDb.open({ path });
  const entry = import.meta.resolve("asap-state").split("/").pop();
  console.log(JSON.stringify({ entry, memory: memory.get("m").data, file: again.snapshots.get("t").data, codes: StateError.codes.length }));
  again.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
