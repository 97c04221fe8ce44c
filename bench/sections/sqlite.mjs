// The SQLite backend (an image in memory and a real Node file) against sql.js and
// better-sqlite3 running the same schema and statements on the same database file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { payloads, taskIds } from "../lib/data.mjs";
import { check, fmtBytes, fmtStats, measure, progress, ratio, settle, stats } from "../lib/harness.mjs";
import { contractAdapter } from "../lib/snapshot-peers.mjs";
import { SqlStatementStore, betterSqlite, isoMicros, sqlJs } from "../lib/sql-peers.mjs";
import { packageVersion } from "../lib/paths.mjs";
import { OPS, runSnapshotWorkload } from "./memory.mjs";

const T0 = Date.UTC(2026, 10, 1);

/**
 * A database file with `n` snapshots of about `bytes` each (`perTask` versions per task), in
 * the contract's schema, written by native SQLite: every store then opens the same file.
 */
export function fixture({ n, bytes, perTask }) {
  const pool = payloads(bytes).map((p) => JSON.stringify(p));
  const tasks = taskIds(n, perTask);
  const d = betterSqlite();
  new SqlStatementStore(d); // creates the schema
  const insert = d.db.prepare("INSERT INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)");
  d.db.transaction(() => {
    let saved = 0;
    for (let v = 1; v <= perTask && saved < n; v++) {
      for (let t = 0; t < tasks.length && saved < n; t++) {
        insert.run(tasks[t], `snap_${String(saved).padStart(26, "0")}`, v, pool[saved % pool.length], 0, isoMicros(T0 + saved * 1000));
        saved++;
      }
    }
  })();
  const image = d.exportBytes();
  d.close();
  return image;
}

/** The stores of this section on a copy of `image` each; `tmp` holds the file-backed ones. */
async function sqliteStores(image, tmp) {
  const { SqliteStateDb } = await import("asap-state");
  const file = (name) => {
    const p = join(tmp, name);
    writeFileSync(p, image);
    return p;
  };
  const bs = packageVersion("better-sqlite3");
  return [
    ["asap-state SQLite image", async () => {
      const db = await SqliteStateDb.open({ bytes: image });
      return contractAdapter("asap image", db.snapshots, { close: () => db.close() });
    }],
    ["asap-state SQLite file (Node)", async () => {
      const db = await SqliteStateDb.open({ path: file("asap.db") });
      return contractAdapter("asap file", db.snapshots, { close: () => db.close() });
    }],
    [`sql.js ${packageVersion("sql.js")}`, async () => {
      const d = await sqlJs(image);
      return contractAdapter("sql.js", new SqlStatementStore(d), { close: () => d.close() });
    }],
    [`better-sqlite3 ${bs} in memory (native)`, async () => {
      const d = betterSqlite(image);
      return contractAdapter("better-sqlite3", new SqlStatementStore(d), { close: () => d.close() });
    }],
    [`better-sqlite3 ${bs} file, WAL (native)`, async () => {
      const d = betterSqlite(file("native.db"));
      d.db.pragma("journal_mode = WAL");
      d.db.pragma("synchronous = FULL");
      return contractAdapter("better-sqlite3 file", new SqlStatementStore(d), { close: () => d.close() });
    }],
  ];
}

/** Reads and saves on a database that already holds the cell's snapshots. */
function runOnFixture(store, cell, config) {
  const pool = payloads(cell.bytes);
  return runSnapshotWorkload(store, { ...cell, prefilled: true, perTask: config.perTask, ops: Math.min(config.ops, cell.n), rounds: config.rounds, warmup: config.warmup, pool });
}

export async function sqliteSection(config) {
  (await sqlJs()).close(); // sql.js compiles its wasm once per process: not part of an open
  const tables = [];
  const goals = [];
  const data = [];
  for (const cell of config.sqliteCells) {
    progress(`sqlite fixture ${fmtBytes(cell.bytes)} × ${cell.n}`);
    const image = fixture({ ...cell, perTask: config.perTask });
    const tmp = mkdtempSync(join(tmpdir(), "asap-bench-"));
    const results = [];
    try {
      for (const [name, open] of await sqliteStores(image, tmp)) {
        progress(`sqlite ${fmtBytes(cell.bytes)} × ${cell.n}: ${name}`);
        settle();
        const t0 = performance.now();
        const store = await open();
        const opened = performance.now() - t0;
        try {
          const r = await runOnFixture(store, cell, config);
          r.open = stats([opened]);
          results.push([name, r]);
        } finally {
          store.close();
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    for (const [name, r] of results.slice(1)) check(r.fingerprint === results[0][1].fingerprint, `${name} answers like asap-state at ${cell.bytes} B × ${cell.n}`);
    const by = Object.fromEntries(results);
    const names = results.map(([n]) => n);
    const [image_, file_, sqljs, bmem, bfile] = names;
    const rows = ["open", ...OPS].map((op) => [
      op === "open" ? "open the file (1 round)" : op,
      ...results.map(([, r]) => fmtStats(r[op])),
      ratio(by[image_][op], by[sqljs][op]),
      ratio(by[image_][op], by[bmem][op]),
      ratio(by[file_][op], by[bfile][op]),
    ]);
    tables.push({
      caption: `${fmtBytes(cell.bytes)} snapshots, ${cell.n.toLocaleString("en")} stored (database ${fmtBytes(image.length)}); time per operation`,
      header: ["operation", ...names, "image ÷ sql.js", "image ÷ better-sqlite3", "file ÷ better-sqlite3 file"],
      rows,
    });
    for (const op of ["save", "getLatest"]) {
      const r = by[image_][op].median / by[sqljs][op].median;
      goals.push({ goal: `SQLite ${op} at least as fast as sql.js (${fmtBytes(cell.bytes)} × ${cell.n.toLocaleString("en")})`, met: r <= 1, detail: `${r.toFixed(2)}× sql.js's time` });
    }
    data.push({ cell, results: by });
    settle();
  }
  return {
    title: "SQLite backend vs sql.js and better-sqlite3",
    intro:
      "Every store opens the same database file (written by native SQLite in the contract's schema) and runs the same statements: the peers run asap-state's own SQL (src/sql/schema.rs, src/sql/store.rs), each statement prepared once and cached, each save one `BEGIN … COMMIT`. Files are durable on commit in both file stores (WAL, synchronous=FULL for better-sqlite3).",
    tables,
    goals,
    data,
  };
}

/** exportBytes and open-from-bytes of a file of about `config.bytesFileMiB` MiB. */
export async function bytesSection(config) {
  const { SqliteStateDb } = await import("asap-state");
  const n = Math.ceil((config.bytesFileMiB * 1024 * 1024) / 65536);
  progress(`bytes fixture: ${n} snapshots of 64 KiB`);
  const image = fixture({ n, bytes: 65536, perTask: 10 });
  (await sqlJs()).close(); // sql.js compiles its wasm once per process: not part of an open
  const peers = [
    ["asap-state SQLite image", async (b) => {
      const db = await SqliteStateDb.open({ bytes: b });
      return { exportBytes: () => db.exportBytes(), count: () => db.snapshots.listTasks().reduce((a, t) => a + t.versions, 0), close: () => db.close() };
    }],
    [`sql.js ${packageVersion("sql.js")}`, async (b) => {
      const d = await sqlJs(b);
      return { exportBytes: () => d.exportBytes(), count: () => d.all("SELECT count(*) FROM snapshots")[0][0], close: () => d.close() };
    }],
    [`better-sqlite3 ${packageVersion("better-sqlite3")} (native)`, async (b) => {
      const d = betterSqlite(b);
      return { exportBytes: () => d.exportBytes(), count: () => d.all("SELECT count(*) FROM snapshots")[0][0], close: () => d.close() };
    }],
  ];
  const results = [];
  for (const [name, open] of peers) {
    progress(`bytes: ${name}`);
    const openMs = [];
    const exportMs = [];
    for (let r = 0; r < config.rounds + config.warmup; r++) {
      settle();
      let t = performance.now();
      const db = await open(image);
      const o = performance.now() - t;
      t = performance.now();
      const out = db.exportBytes();
      const e = performance.now() - t;
      check(db.count() === n, `${name} reads ${n} snapshots`);
      check(out.length >= image.length * 0.9, `${name} exports the whole file (${out.length} of ${image.length} bytes)`);
      if (r === 0) {
        // A file, not deserialize(): asap-state's images are WAL-mode files, which SQLite
        // opens from disk only.
        const dir = mkdtempSync(join(tmpdir(), "asap-bench-export-"));
        try {
          writeFileSync(join(dir, "x.db"), out);
          const back = betterSqlite(join(dir, "x.db"));
          check(back.all("SELECT count(*) FROM snapshots")[0][0] === n, `${name}'s export reopens in native SQLite`);
          back.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      db.close();
      if (r >= config.warmup) {
        openMs.push(o);
        exportMs.push(e);
      }
    }
    results.push([name, stats(openMs), stats(exportMs)]);
  }
  const [ours] = results;
  return {
    title: `Open from bytes and exportBytes of a ${fmtBytes(image.length)} file`,
    intro: `${n} snapshots of 64 KiB. Opening copies the bytes in (asap-state also validates every page and runs \`PRAGMA integrity_check\` before the first use); exporting checkpoints and copies the file out.`,
    tables: [
      {
        header: ["store", "open from bytes", "exportBytes", "open ÷ peer", "export ÷ peer"],
        rows: results.map(([name, o, e], i) => [name, fmtStats(o), fmtStats(e), i ? ratio(ours[1], o) : "", i ? ratio(ours[2], e) : ""]),
      },
    ],
    goals: [],
    data: results,
  };
}
