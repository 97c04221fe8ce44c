// The app every bundler consumer builds with its defaults (tests/js/consumers.test.mjs): the
// memory stores, a SQLite image round trip, and a SQLite file on OPFS in a dedicated worker. No
// top-level await here either: the default targets that refuse it in the package refuse it in
// the app. The results go to window.__results for the test to read.
import { MemorySnapshotStore, SqliteStateDb, StateError, diffJson, ready } from "asap-state";

async function main() {
  const results = {};
  // Before the WebAssembly has loaded, a synchronous call says so.
  try {
    new MemorySnapshotStore();
    results.early = "no error";
  } catch (e) {
    results.early = e instanceof StateError ? e.code : String(e);
  }
  // SqliteStateDb.open waits for it by itself.
  const db = await SqliteStateDb.open();
  db.snapshots.save({ task_id: "t", data: { step: 1, text: "é 😀 漢字" } });
  db.snapshots.save({ task_id: "t", data: { step: 2 }, checkpoint: true });
  const bytes = db.exportBytes();
  const again = await SqliteStateDb.open({ bytes });
  results.image = {
    header: new TextDecoder().decode(bytes.subarray(0, 15)),
    versions: again.snapshots.listVersions("t"),
    first: again.snapshots.get("t", 1).data,
    same: JSON.stringify(again.snapshots.get("t")) === JSON.stringify(db.snapshots.get("t")),
  };
  again.close();
  db.close();
  await ready();
  const memory = new MemorySnapshotStore();
  memory.save({ task_id: "m", data: { a: 1 } });
  memory.save({ task_id: "m", data: { a: 2 } });
  results.memory = { versions: memory.listVersions("m"), latest: memory.get("m").data, diff: diffJson({ a: 1 }, { a: 2 }) };
  results.opfs = await new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
  });
  return results;
}

main().then(
  (value) => {
    window.__results = { ok: true, value };
  },
  (e) => {
    window.__results = { ok: false, error: String(e), stack: String(e?.stack) };
  },
);
