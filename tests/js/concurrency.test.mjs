// Concurrency (issue 7, item 4), with real processes and real files:
//   (a) opens of one file in one process — SqliteStateDb handles and the factories' stores —
//       share one database: a write through one is visible through every other at once;
//   (b) a second Node process opening a file another process holds gets DATABASE_LOCKED, the
//       file is left exactly as it was, and once the holder is gone (closed cleanly, or killed
//       with SIGKILL) the next process gets in and finds every acknowledged write; several
//       processes racing for one file (also for a stale lock) never hold it at the same time;
//   (c) 50 async agents in one isolate, with many `await`s between reading the latest version
//       and saving with `expectedVersion`: every stale writer gets VERSION_CONFLICT (100%), no
//       writer that read the latest version does, and the history has no gaps or duplicates —
//       on the memory store, a SQLite image, a SQLite file, and a file shared by several handles.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteStateDb, MemorySnapshotStore, createSnapshotStore, createMeteringStore, StateError } from "asap-state";
import * as memoryEntry from "asap-state/memory";
import { AGENT, eventFor, isoOf, snapshotFor } from "./fixtures/crash/workload.mjs";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const HOLDER = path.join(REPO, "tests/js/fixtures/crash/holder.mjs");
const SQLITE3 = "/usr/bin/sqlite3";
const NO_SQLITE3 = fs.existsSync(SQLITE3) ? false : `${SQLITE3} is not installed`;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-concurrency-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
let dirs = 0;
const tempFile = (name) => {
  const dir = path.join(TMP, String(++dirs));
  fs.mkdirSync(dir);
  return path.join(dir, name);
};

// ---- helpers ---------------------------------------------------------------------------------

/** A child process whose stdout lines are collected; `waitFor` resolves on a matching line. */
class Child {
  constructor(args) {
    this.proc = spawn(process.execPath, [HOLDER, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.lines = [];
    this.stderr = "";
    this.waiters = [];
    let buffered = "";
    this.proc.stdout.on("data", (chunk) => {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop();
      for (const line of parts) {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => !(w.re.test(line) && (w.resolve(line), true)));
      }
    });
    this.proc.stderr.on("data", (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
  }
  waitFor(re, ms = 20_000) {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; lines: ${this.lines.slice(-5).join(" | ")}; stderr: ${this.stderr}`)), ms);
      this.waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
  send(line) {
    this.proc.stdin.write(`${line}\n`);
  }
  /** The sequence numbers acknowledged so far: { snapshots, events }. */
  acked() {
    const snapshots = [];
    const events = [];
    for (const l of this.lines) {
      const m = /^([SE]) (\d+)$/.exec(l);
      if (m) (m[1] === "S" ? snapshots : events).push(Number(m[2]));
    }
    return { snapshots, events };
  }
}

/** The pid a lock file names (its first word). */
const lockHolder = (file) => fs.readFileSync(`${file}.lock`, "utf8").trim().split(/\s+/)[0];

/** One open attempt by a new Node process: { ok, code, message, ms }. */
function probe(file) {
  const r = spawnSync(process.execPath, [HOLDER, "--probe", file], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, `probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

/** The bytes of the database file, its WAL and its lock file (to see that nothing changed). */
function fingerprint(file) {
  const h = createHash("sha256");
  for (const f of [file, `${file}-wal`, `${file}.lock`]) h.update(fs.existsSync(f) ? fs.readFileSync(f) : "(absent)").update("|");
  return h.digest("hex");
}

function sqlite3(file, sql) {
  const r = spawnSync(SQLITE3, ["-bail", file], { input: sql, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function rejectsWith(promise, code, messagePart) {
  let caught;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof StateError, `expected a StateError ${code}, got ${caught === undefined ? "success" : `${caught?.constructor?.name}: ${caught?.message}`}`);
  assert.equal(caught.code, code, caught.message);
  if (messagePart !== undefined) assert.ok(caught.message.includes(messagePart), `message "${caught.message}" lacks "${messagePart}"`);
  return caught;
}

/** Every acknowledged write of a holder is in `db`, exactly as written. */
function assertHolds(db, acked, label) {
  for (const seq of acked.snapshots) {
    const input = snapshotFor(seq);
    const s = db.snapshots.getById(input.task_id, input.id);
    assert.ok(s, `${label}: acknowledged snapshot ${seq} is missing`);
    assert.deepEqual(s.data, input.data, `${label}: snapshot ${seq} data`);
  }
  const events = new Map(db.metering.query(AGENT, 0, Date.UTC(2100, 0, 1)).map((e) => [e.id, e]));
  for (const seq of acked.events) assert.deepEqual(events.get(`evt_crash_${seq}`), { ...eventFor(seq), timestamp: isoOf(seq) }, `${label}: acknowledged event ${seq}`);
}

// ---- (a) one process, one database -----------------------------------------------------------

describe("(a) one process: every open of a file shares one database", () => {
  test("two SqliteStateDb handles (two spellings of the path): each sees the other's writes at once", async () => {
    const file = tempFile("shared.db");
    const one = await SqliteStateDb.open({ path: file });
    const two = await SqliteStateDb.open({ path: path.relative(process.cwd(), path.join(path.dirname(file), ".", "x", "..", "shared.db")) });
    const first = one.snapshots.save({ task_id: "t", data: { by: "one" } });
    assert.deepEqual(two.snapshots.get("t"), first);
    const second = two.snapshots.save({ task_id: "t", data: { by: "two" } }, { expectedVersion: 1 });
    assert.deepEqual(one.snapshots.get("t"), second);
    // A writer that read version 1 through `one` conflicts with the write made through `two`.
    assert.throws(() => one.snapshots.save({ task_id: "t", data: { by: "one, stale" } }, { expectedVersion: 1 }), (e) => e instanceof StateError && e.code === "VERSION_CONFLICT");
    const e1 = two.metering.record({ task_id: "t", agent_id: "a", consumer_id: "c", metrics: { tokens_in: 5 }, timestamp: "2025-02-08T00:00:00Z" });
    assert.deepEqual(one.metering.query("a", "2025-02-08T00:00:00Z", "2025-02-08T00:00:00Z"), [e1]);
    assert.equal(one.metering.record({ ...e1, metrics: { tokens_in: 99 } }).metrics.tokens_in, 5, "the id recorded through the other handle is known");
    assert.equal(one.exportBytes().length, two.exportBytes().length);
    one.close();
    assert.deepEqual(two.snapshots.listVersions("t"), [1, 2], "closing one handle leaves the other working");
    two.snapshots.save({ task_id: "t", data: { by: "two, after one closed" } });
    two.close();
    if (!NO_SQLITE3) assert.equal(sqlite3(file, "PRAGMA integrity_check; SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;"), "ok\n3\n1");
  });

  test("createSnapshotStore / createMeteringStore on one env and an open handle share the database", async () => {
    const file = tempFile("factories.db");
    const env = { ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: file };
    const snapshots = await createSnapshotStore(env);
    const metering = await createMeteringStore(env);
    const snapshots2 = await createSnapshotStore({ ...env, ASAP_STORAGE_BACKEND: " SQLite " });
    const db = await SqliteStateDb.open({ path: file });
    const saved = snapshots.save({ task_id: "f", data: { n: 1 } });
    assert.deepEqual(snapshots2.get("f"), saved);
    assert.deepEqual(db.snapshots.get("f"), saved);
    const saved2 = db.snapshots.save({ task_id: "f", data: { n: 2 } }, { expectedVersion: 1 });
    assert.deepEqual(snapshots.get("f"), saved2);
    const ev = metering.record({ task_id: "f", agent_id: "agent-f", consumer_id: "c", metrics: { api_calls: 1 } });
    assert.deepEqual(db.metering.agents(), ["agent-f"]);
    assert.equal(db.metering.aggregate("agent-f", "all").total_api_calls, 1);
    assert.equal(db.metering.query("agent-f", ev.timestamp, ev.timestamp)[0].id, ev.id);
    db.close();
    assert.equal(snapshots.get("f").version, 2, "the factories' stores keep the database open");
    // Another process is locked out while this one holds the file through the factories.
    const refused = probe(file);
    assert.deepEqual([refused.ok, refused.code], [false, "DATABASE_LOCKED"], refused.message);
  });
});

// ---- (b) two processes -----------------------------------------------------------------------

describe("(b) a second process", () => {
  test("gets DATABASE_LOCKED while another process holds the file; nothing changes; after a clean close it gets in", async () => {
    const file = tempFile("held.db");
    const holder = new Child([file, "1", "20"]);
    await holder.waitFor(/^HOLDING$/);
    const before = fingerprint(file);
    assert.equal(lockHolder(file), String(holder.proc.pid), "the lock file names the holder");

    // This process, the factory, and a third process: all refused, with a message naming the file.
    const started = performance.now();
    const err = await rejectsWith(SqliteStateDb.open({ path: file }), "DATABASE_LOCKED", "held.db");
    const refusedMs = performance.now() - started;
    assert.match(err.message, /another process/);
    await rejectsWith(createSnapshotStore({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: file }), "DATABASE_LOCKED");
    await rejectsWith(createMeteringStore({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: file }), "DATABASE_LOCKED");
    const third = probe(file);
    assert.deepEqual([third.ok, third.isStateError, third.code], [false, true, "DATABASE_LOCKED"], third.message);
    assert.equal(fingerprint(file), before, "the refused opens changed the file, its WAL or the lock");

    // The holder is unaffected: it writes on, and opens the file again inside its own process.
    holder.send("write 10");
    await holder.waitFor(/^E 30$/);
    holder.send("open");
    assert.equal(await holder.waitFor(/^SHARED /), "SHARED 30");
    const stillRefused = probe(file);
    assert.equal(stillRefused.code, "DATABASE_LOCKED");
    holder.send("close");
    assert.deepEqual(await holder.exited, { code: 0, signal: null });
    assert.equal(holder.stderr, "");
    assert.ok(!fs.existsSync(`${file}.lock`), "close() removed the lock file");

    const next = probe(file);
    assert.deepEqual([next.ok, next.snapshots], [true, 30], next.message);
    const db = await SqliteStateDb.open({ path: file });
    assertHolds(db, holder.acked(), "after the holder closed");
    assert.equal(holder.acked().snapshots.length, 30);
    db.close();
    if (!NO_SQLITE3) assert.equal(sqlite3(file, "PRAGMA integrity_check; SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;"), "ok\n30\n30");
    console.log(`a refused open took ${refusedMs.toFixed(1)} ms in this process, ${third.ms.toFixed(1)} ms in another`);
  });

  test("after the holder is killed with SIGKILL, the next process gets in and finds every acknowledged write", async () => {
    const file = tempFile("killed.db");
    const holder = new Child([file, "1", "15"]);
    await holder.waitFor(/^HOLDING$/);
    assert.equal(probe(file).code, "DATABASE_LOCKED");
    holder.send("write 5");
    await holder.waitFor(/^E 20$/);
    holder.proc.kill("SIGKILL");
    assert.deepEqual(await holder.exited, { code: null, signal: "SIGKILL" });
    // The dead process's lock file is still there; it must not keep everyone out.
    assert.equal(lockHolder(file), String(holder.proc.pid), "the lock file names the holder");
    if (!NO_SQLITE3) {
      // sqlite3 reads the file and WAL as the kill left them (on a copy).
      const copy = tempFile("killed-copy.db");
      fs.copyFileSync(file, copy);
      if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
      assert.equal(sqlite3(copy, "PRAGMA integrity_check; SELECT count(*) FROM snapshots;"), "ok\n20");
    }
    const next = probe(file);
    assert.deepEqual([next.ok, next.snapshots], [true, 20], next.message);
    const db = await SqliteStateDb.open({ path: file });
    assertHolds(db, holder.acked(), "after SIGKILL");
    db.close();
    if (!NO_SQLITE3) assert.equal(sqlite3(file, "PRAGMA integrity_check;"), "ok");
  });

  // Several processes started together race for one file: those that get it must never hold it
  // at the same time (each keeps it 300 ms and saves a snapshot when it gets it and before it
  // lets go), and every snapshot a holder was told was saved must be in the file afterwards.
  // This caught a lock that let two processes in at once (the lock file was created empty and
  // filled afterwards, and a stale lock was removed by check-then-unlink): with a stale lock,
  // 4 rounds of 6 had 2–3 simultaneous holders and lost their acknowledged snapshots.
  for (const stale of [false, true]) {
    test(`8 processes racing for one file${stale ? " with a stale lock left by a dead process" : ""}, 6 times: never two holders at once, no write lost`, async () => {
      const rounds = [];
      for (let round = 1; round <= 6; round++) {
        const file = tempFile("race.db");
        (await SqliteStateDb.open({ path: file })).close();
        if (stale) {
          const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
          fs.writeFileSync(`${file}.lock`, dead.stdout); // the pid of a process that has exited
        }
        const racers = Array.from({ length: 8 }, (_, i) => new Child(["--hold", file, "300", `racer-${i}`]));
        await Promise.all(racers.map((r) => r.waitFor(/^READY$/)));
        for (const r of racers) r.send("go"); // all loaded: start them together
        const results = [];
        for (const r of racers) results.push(JSON.parse(await r.waitFor(/^\{/)));
        await Promise.all(racers.map((r) => r.exited));
        const holders = results.filter((r) => r.ok).sort((a, b) => a.from - b.from);
        const refused = results.filter((r) => !r.ok);
        const db = await SqliteStateDb.open({ path: file });
        const lost = holders.flatMap((h) => h.saved).filter((s) => db.snapshots.getById(s.task_id, s.id)?.version !== s.version);
        db.close();
        const overlaps = holders.filter((h, i) => i > 0 && h.from < holders[i - 1].to).length;
        rounds.push({ round, holders: holders.length, overlaps, lost: lost.length, refused: refused.map((r) => r.code) });
        if (!NO_SQLITE3) assert.equal(sqlite3(file, "PRAGMA integrity_check;"), "ok");
      }
      console.log(`race${stale ? " (stale lock)" : ""}: ${JSON.stringify(rounds)}`);
      for (const r of rounds) {
        assert.ok(r.holders >= 1, `round ${r.round}: nobody got the file`);
        assert.deepEqual(r.refused.filter((c) => c !== "DATABASE_LOCKED"), [], `round ${r.round}: refused with other codes`);
        assert.equal(r.overlaps, 0, `round ${r.round}: ${r.holders} processes held the file at the same time`);
        assert.equal(r.lost, 0, `round ${r.round}: ${r.lost} acknowledged snapshots are not in the file`);
      }
    });
  }
});

// ---- (c) interleaved async callers with expectedVersion ---------------------------------------

/**
 * 50 agents, each `attempts` times: read the latest version, await several random delays (0–5 ms
 * each), save with `expectedVersion` = the version read (or without it when `guard` is false).
 * `successes` counts the saves that went through, in the order they happened (one isolate: the
 * calls themselves are synchronous), so a save is stale exactly when `successes` moved between
 * its read and its save.
 */
async function agents(pickStore, { task, guard = true, n = 50, attempts = 8 }) {
  let successes = 0;
  const log = [];
  const pause = () => new Promise((resolve) => setTimeout(resolve, randomInt(6)));
  await Promise.all(
    Array.from({ length: n }, async (_, agent) => {
      for (let attempt = 0; attempt < attempts; attempt++) {
        await pause();
        const read = pickStore().get(task)?.version ?? 0;
        const seen = successes;
        for (let i = 0, m = 2 + randomInt(4); i < m; i++) {
          await pause();
          await Promise.resolve();
        }
        const stale = successes !== seen;
        const entry = { agent, attempt, read, stale };
        try {
          const saved = pickStore().save({ task_id: task, data: { agent, attempt, read } }, guard ? { expectedVersion: read === 0 ? null : read } : undefined);
          successes++;
          entry.outcome = "saved";
          entry.version = saved.version;
        } catch (e) {
          if (!(e instanceof StateError) || e.code !== "VERSION_CONFLICT") throw e;
          entry.outcome = "conflict";
        }
        log.push(entry);
      }
    }),
  );
  return { log, successes };
}

/** Checks the log and the stored history of one run with expectedVersion. */
function assertDetected(store, task, { log, successes }, label) {
  const stale = log.filter((e) => e.stale);
  const fresh = log.filter((e) => !e.stale);
  const missed = stale.filter((e) => e.outcome !== "conflict");
  const falseConflicts = fresh.filter((e) => e.outcome !== "saved");
  assert.deepEqual(missed, [], `${label}: stale writers that were not refused`);
  assert.deepEqual(falseConflicts, [], `${label}: writers that read the latest version and were refused`);
  assert.ok(stale.length >= 50, `${label}: only ${stale.length} stale writers: the interleaving did not happen`);
  const saved = log.filter((e) => e.outcome === "saved");
  assert.equal(saved.length, successes);
  for (const e of saved) assert.equal(e.version, e.read + 1, `${label}: agent ${e.agent} saved version ${e.version} after reading ${e.read}`);
  // The history: versions 1..successes, no gap, no duplicate, each written by the logged agent.
  const versions = store.listVersions(task);
  assert.deepEqual(versions, Array.from({ length: successes }, (_, i) => i + 1), `${label}: the version history`);
  assert.equal(store.get(task).version, successes, `${label}: successes = the final latest version`);
  const byVersion = new Map(saved.map((e) => [e.version, e]));
  assert.equal(byVersion.size, saved.length, `${label}: two saves got the same version`);
  for (const v of versions) {
    const e = byVersion.get(v);
    assert.deepEqual(store.get(task, v).data, { agent: e.agent, attempt: e.attempt, read: v - 1 }, `${label}: version ${v}`);
  }
  return { attempts: log.length, saved: saved.length, conflicts: stale.length };
}

describe("(c) 50 interleaved async agents with expectedVersion: 100% of stale writers are refused", () => {
  const results = [];
  after(() => {
    for (const r of results) console.log(`agents on ${r.label}: ${r.attempts} saves attempted, ${r.saved} saved, ${r.conflicts} stale writers, ${r.conflicts} refused (100%), 0 false conflicts, ${r.ms} ms`);
  });
  const run = async (label, stores, close = () => {}) => {
    const started = performance.now();
    const task = "hot-task";
    const pick = () => stores[randomInt(stores.length)];
    const outcome = await agents(pick, { task });
    const r = assertDetected(stores[0], task, outcome, label);
    results.push({ label, ...r, ms: Math.round(performance.now() - started) });
    close();
  };

  test("the memory store", () => run("memory", [new MemorySnapshotStore()]));
  test('the memory store of "asap-state/memory"', () => run("memory (asap-state/memory)", [new memoryEntry.MemorySnapshotStore()]));
  test("a SQLite image", async () => {
    const db = await SqliteStateDb.open();
    await run("SQLite image", [db.snapshots], () => db.close());
  });
  test("a SQLite file", async () => {
    const db = await SqliteStateDb.open({ path: tempFile("agents.db") });
    await run("SQLite file", [db.snapshots], () => db.close());
  });
  test("a SQLite file through two handles and a factory store, picked at random per call", async () => {
    const file = tempFile("agents-shared.db");
    const one = await SqliteStateDb.open({ path: file });
    const two = await SqliteStateDb.open({ path: file });
    const factory = await createSnapshotStore({ ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: file });
    await run("SQLite file, 3 handles", [one.snapshots, two.snapshots, factory], () => {
      one.close();
      two.close();
    });
    if (!NO_SQLITE3) {
      // The factory store still holds the file; sqlite3 reads a copy.
      const copy = tempFile("agents-copy.db");
      fs.copyFileSync(file, copy);
      if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
      assert.equal(sqlite3(copy, "PRAGMA integrity_check;"), "ok");
    }
  });

  test("control: without expectedVersion the same interleaving lets stale writers through (the gap it closes)", async () => {
    const store = new MemorySnapshotStore();
    const { log } = await agents(() => store, { task: "t", guard: false });
    const staleSaved = log.filter((e) => e.stale && e.outcome === "saved");
    assert.ok(staleSaved.length >= 50, `only ${staleSaved.length} stale writes went through`);
    // Each of them was built on a version that was no longer the latest: a lost update.
    const lost = staleSaved.filter((e) => e.version !== e.read + 1);
    assert.equal(lost.length, staleSaved.length);
    console.log(`control without expectedVersion: ${staleSaved.length} of ${log.length} saves were stale and went through unnoticed`);
  });
});
