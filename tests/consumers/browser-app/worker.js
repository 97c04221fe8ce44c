// A dedicated worker: a SQLite file on OPFS, written, closed, opened again.
import { SqliteStateDb } from "asap-state";

async function run() {
  const path = "consumer-test.db";
  const db = await SqliteStateDb.open({ path });
  const saved = db.snapshots.save({ task_id: "w", data: { in: "a worker" } });
  db.close();
  const again = await SqliteStateDb.open({ path });
  const got = again.snapshots.get("w");
  again.close();
  return { version: got.version, data: got.data, sameId: got.id === saved.id };
}

run().then(
  (value) => postMessage({ ok: true, ...value }),
  (e) => postMessage({ ok: false, error: `${e?.code ?? ""} ${e}` }),
);
