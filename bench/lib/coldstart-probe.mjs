// One cold start, in a fresh Node process: import + instantiate + open an empty store.
// Prints {"ms": <milliseconds from before the import to the store being usable>}.
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const which = process.argv[2];
const t0 = performance.now();
let probe;
switch (which) {
  case "asap-memory": {
    const { MemorySnapshotStore } = await import("asap-state/memory");
    const s = new MemorySnapshotStore();
    probe = s.listVersions("t");
    break;
  }
  case "asap-full": {
    const { SqliteStateDb } = await import("asap-state");
    const db = await SqliteStateDb.open();
    probe = db.snapshots.listVersions("t");
    break;
  }
  case "sql.js": {
    const SQL = await require("sql.js")();
    const db = new SQL.Database();
    probe = db.exec("SELECT 1");
    break;
  }
  case "sqlite-wasm": {
    const { default: init } = await import("@sqlite.org/sqlite-wasm");
    const sqlite3 = await init({ print() {}, printErr() {} });
    const db = new sqlite3.oo1.DB(":memory:");
    probe = db.selectValue("SELECT 1");
    break;
  }
  case "better-sqlite3": {
    const Database = require("better-sqlite3");
    const db = new Database(":memory:");
    probe = db.prepare("SELECT 1").get();
    break;
  }
  case "langgraph": {
    const { MemorySaver } = await import("@langchain/langgraph-checkpoint");
    const s = new MemorySaver();
    probe = await s.getTuple({ configurable: { thread_id: "t" } });
    break;
  }
  default:
    throw new Error(`unknown probe ${which}`);
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, probe: probe === undefined ? null : typeof probe }) + "\n");
