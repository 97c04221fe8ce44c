// The backends the conformance suite runs AsapCheckpointSaver on in Node: each checkpointer gets
// a store of its own (the suite requires isolated instances), closed (and its file deleted)
// when the suite destroys the checkpointer.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemorySnapshotStore, SqliteStateDb } from "asap-state";
import { AsapCheckpointSaver } from "asap-state/langgraph";

const open = new WeakMap();

/** A suite initializer whose checkpointers live on `makeStore()` ({ snapshots, close }). */
export function initializer(name, makeStore) {
  return {
    checkpointerName: `asap-state ${name}`,
    async createCheckpointer() {
      const store = await makeStore();
      const saver = new AsapCheckpointSaver(store.snapshots);
      open.set(saver, store);
      return saver;
    },
    async destroyCheckpointer(saver) {
      open.get(saver)?.close();
      open.delete(saver);
    },
  };
}

export const memory = () => initializer("memory", () => ({ snapshots: new MemorySnapshotStore(), close() {} }));

export const sqliteImage = () =>
  initializer("SQLite image", async () => {
    const db = await SqliteStateDb.open();
    return { snapshots: db.snapshots, close: () => db.close() };
  });

export function sqliteFile() {
  let seq = 0;
  const dir = mkdtempSync(join(tmpdir(), "asap-state-langgraph-suite-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return initializer("SQLite Node file", async () => {
    const path = join(dir, `checkpoints-${++seq}.db`);
    const db = await SqliteStateDb.open({ path });
    return {
      snapshots: db.snapshots,
      close() {
        db.close();
        rmSync(path, { force: true });
        rmSync(`${path}-wal`, { force: true });
      },
    };
  });
}
