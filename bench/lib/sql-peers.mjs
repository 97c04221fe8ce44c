// sql.js and better-sqlite3 running the exact schema and statements of asap-state's SQLite
// backend (src/sql/schema.rs, src/sql/store.rs), each statement prepared once
// and cached, as a careful user of those libraries would write it.

import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// The reference's DDL (asap-protocol 2.5.10), as asap-state creates it (src/sql/schema.rs);
// tests/js/bench.test.mjs checks it against the tables of a file asap-state wrote.
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS snapshots (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
);
CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    metrics TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp
ON usage_events (agent_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp
ON usage_events (consumer_id, timestamp);
`;

const SNAPSHOT_COLUMNS = "task_id, id, version, data, checkpoint, created_at";
const EVENT_COLUMNS = "id, task_id, agent_id, consumer_id, metrics, timestamp";
export const SQL = {
  latest: "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1",
  insert: "INSERT OR REPLACE INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
  insertNew: "INSERT INTO snapshots (task_id, id, version, data, checkpoint, created_at) VALUES (?, ?, ?, ?, ?, ?)",
  getVersion: `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE task_id = ? AND version = ?`,
  getLatest: `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1`,
  versions: "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version",
  eventExists: "SELECT 1 FROM usage_events WHERE id = ?",
  insertEvent: "INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
  query: `SELECT ${EVENT_COLUMNS} FROM usage_events WHERE agent_id = ? AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp, rowid LIMIT ? OFFSET ?`,
  aggregate: "SELECT metrics FROM usage_events WHERE agent_id = ?",
  series: "SELECT timestamp, metrics FROM usage_events WHERE agent_id = ? AND timestamp >= ? AND timestamp <= ? ORDER BY timestamp, rowid",
};

/** asap-state's text form of a timestamp: `2026-11-26T09:00:00.123000+00:00` (µs, UTC). */
export function isoMicros(ms) {
  const s = new Date(ms).toISOString(); // 2026-11-26T09:00:00.123Z
  return s.endsWith(".000Z") ? `${s.slice(0, 19)}+00:00` : `${s.slice(0, 23)}000+00:00`;
}

/** Each SQL text prepared once on `db` and reused, as a careful user of either library does. */
function statements(db) {
  const cache = new Map();
  const stmt = (sql) => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  return { cache, stmt };
}

/** better-sqlite3 (native SQLite through N-API): the ceiling. */
export function betterSqlite(pathOrBytes) {
  const Database = require("better-sqlite3");
  const db = pathOrBytes instanceof Uint8Array ? new Database(Buffer.from(pathOrBytes)) : new Database(pathOrBytes ?? ":memory:");
  const { stmt } = statements(db);
  return {
    db,
    script: (sql) => db.exec(sql),
    exec: (sql, params = []) => stmt(sql).run(...params).changes,
    all: (sql, params = []) => stmt(sql).raw(true).all(...params),
    exportBytes: () => new Uint8Array(db.serialize()),
    close: () => db.close(),
  };
}

let sqlJsModule;
/** sql.js (SQLite compiled to wasm by Emscripten), in memory. */
export async function sqlJs(bytes) {
  sqlJsModule ??= await require("sql.js")();
  const db = bytes ? new sqlJsModule.Database(bytes) : new sqlJsModule.Database();
  const { cache, stmt } = statements(db);
  return {
    db,
    script: (sql) => db.exec(sql),
    exec(sql, params = []) {
      const s = stmt(sql);
      s.bind(params);
      s.step();
      s.reset();
      return db.getRowsModified();
    },
    all(sql, params = []) {
      const s = stmt(sql);
      s.bind(params);
      const rows = [];
      while (s.step()) rows.push(s.get());
      s.reset();
      return rows;
    },
    exportBytes() {
      // sql.js's export() closes and reopens the database, which frees prepared statements.
      for (const s of cache.values()) s.free();
      cache.clear();
      return db.export();
    },
    close: () => {
      for (const s of cache.values()) s.free();
      db.close();
    },
  };
}

/** The statements of asap-state's SQLite stores on a driver above (same SQL, same order). */
export class SqlStatementStore {
  constructor(driver) {
    this.d = driver;
    driver.script(SCHEMA_SQL);
  }
  #tx(f) {
    this.d.exec("BEGIN");
    try {
      const v = f();
      this.d.exec("COMMIT");
      return v;
    } catch (e) {
      this.d.exec("ROLLBACK");
      throw e;
    }
  }
  static #snapshot(r) {
    return { task_id: r[0], id: r[1], version: r[2], data: JSON.parse(r[3]), checkpoint: r[4] !== 0, created_at: r[5] };
  }
  save(input) {
    if (typeof input.task_id !== "string" || input.task_id === "") throw new TypeError("task_id must be a non-empty string");
    const data = JSON.stringify(input.data);
    return this.#tx(() => {
      const latest = this.d.all(SQL.latest, [input.task_id])[0]?.[0] ?? 0;
      const version = input.version ?? latest + 1;
      const s = { id: input.id ?? `snap_${randomUUID()}`, task_id: input.task_id, version, checkpoint: input.checkpoint ?? false, created_at: isoMicros(Date.now()) };
      this.d.exec(input.version == null ? SQL.insertNew : SQL.insert, [s.task_id, s.id, version, data, s.checkpoint ? 1 : 0, s.created_at]);
      return { ...s, data: JSON.parse(data) };
    });
  }
  get(taskId, version) {
    const rows = version == null ? this.d.all(SQL.getLatest, [taskId]) : this.d.all(SQL.getVersion, [taskId, version]);
    return rows.length ? SqlStatementStore.#snapshot(rows[0]) : undefined;
  }
  listVersions(taskId) {
    return this.d.all(SQL.versions, [taskId]).map((r) => r[0]);
  }
  record(e) {
    return this.#tx(() => {
      let id = e.id;
      if (id == null) {
        do id = `evt_${randomUUID()}`;
        while (this.d.all(SQL.eventExists, [id]).length);
      } else if (this.d.all(SQL.eventExists, [id]).length) return undefined;
      const m = { tokens_in: 0, tokens_out: 0, duration_ms: 0, api_calls: 0, ...e.metrics };
      const ts = isoMicros(e.timestamp);
      this.d.exec(SQL.insertEvent, [id, e.task_id, e.agent_id, e.consumer_id, JSON.stringify(m), ts]);
      return { id, task_id: e.task_id, agent_id: e.agent_id, consumer_id: e.consumer_id, metrics: m, timestamp: ts };
    });
  }
  query(agentId, start, end, { limit = -1, offset = 0 } = {}) {
    return this.d.all(SQL.query, [agentId, isoMicros(start), isoMicros(end), limit, offset]).map((r) => ({
      id: r[0], task_id: r[1], agent_id: r[2], consumer_id: r[3], metrics: JSON.parse(r[4]), timestamp: r[5],
    }));
  }
  aggregate(agentId, period) {
    const t = { agent_id: agentId, period, total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 };
    for (const [text] of this.d.all(SQL.aggregate, [agentId])) {
      const m = JSON.parse(text);
      t.total_tokens += m.tokens_in + m.tokens_out;
      t.total_duration += m.duration_ms;
      t.total_api_calls += m.api_calls;
      t.total_tasks += 1;
    }
    return t;
  }
  series(agentId, { bucket, start, end }) {
    const size = bucket === "hour" ? 3_600_000 : 86_400_000;
    const buckets = new Map();
    for (const [ts, text] of this.d.all(SQL.series, [agentId, isoMicros(start), isoMicros(end)])) {
      const at = Date.parse(ts);
      if (at >= end) continue;
      const key = at - (at % size);
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { start: isoMicros(key), total_tokens: 0, total_duration: 0, total_tasks: 0, total_api_calls: 0 }));
      const m = JSON.parse(text);
      b.total_tokens += m.tokens_in + m.tokens_out;
      b.total_duration += m.duration_ms;
      b.total_api_calls += m.api_calls;
      b.total_tasks += 1;
    }
    return [...buckets.values()];
  }
}
