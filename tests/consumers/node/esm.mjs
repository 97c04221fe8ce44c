// Node, ESM: the wasm is loaded on import, so everything is synchronous from the first line.
import { MemorySnapshotStore, SqliteStateDb, StateError, ready } from "asap-state";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const memory = new MemorySnapshotStore(); // no ready() needed in Node
memory.save({ task_id: "m", data: { via: "esm" } });
await ready(); // resolves at once, for code shared with the browser
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
