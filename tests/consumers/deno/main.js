// Deno 2: `deno run -A main.js` in a project with package.json and node_modules.
import { MemorySnapshotStore, SqliteStateDb, StateError, ready } from "asap-state";

const memory = new MemorySnapshotStore(); // the deno entry loads the wasm on import
memory.save({ task_id: "m", data: { via: "deno" } });
await ready();
const dir = await Deno.makeTempDir();
try {
  const path = `${dir}/state.db`;
  const db = await SqliteStateDb.open({ path });
  db.snapshots.save({ task_id: "t", data: { n: 1 } });
  db.close();
  const again = await SqliteStateDb.open({ path });
  const entry = import.meta.resolve("asap-state").split("/").pop();
  console.log(JSON.stringify({ entry, memory: memory.get("m").data, file: again.snapshots.get("t").data, codes: StateError.codes.length }));
  again.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
