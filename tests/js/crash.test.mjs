// Crash safety with a real file (issue 7, item 3). A child process (fixtures/crash/child.mjs)
// opens a database file through the package and loops: save a snapshot (task ids rotating, data
// up to ~64 KB), record an event, printing each acknowledged id after the call returns. The
// parent SIGKILLs it at a random moment 50–400 ms after its first acknowledgement, 50 times,
// continuing on the same file so recovery runs again and again. After each kill:
//   * the dead child's lock file does not block: the parent reopens the file with the package;
//   * every acknowledged snapshot and event is there (a full read of every task's versions and of
//     the agent's events), holding exactly what the child wrote (the data is a pure function of
//     the sequence number, fixtures/crash/workload.mjs); getById finds the round's acknowledged
//     snapshots every round and all of them every 5th round and the last;
//   * nothing else is there but, at most, the one write in flight, complete; every task's versions
//     are 1..n without gaps;
//   * sqlite3 (on a copy of the file and its WAL as the kill left them) says integrity_check = ok
//     and counts the same rows;
//   * the Python reference (ASAP_PYTHON, else .venv/bin/python) reads a copy and answers exactly as
//     we do — every 10th round and the last (it takes ~0.5 s a run).
// CRASH_ROUNDS=<n> and CRASH_SEED=<seed> change the number of rounds and replay the kill delays.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SqliteStateDb, StateError } from "asap-state";
import { AGENT, TASKS, dataSize, eventFor, isoOf, seqOf, snapshotFor, taskOf } from "./fixtures/crash/workload.mjs";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CHILD = path.join(REPO, "tests/js/fixtures/crash/child.mjs");
const READER = path.join(REPO, "tests/interop/read_with_reference.py");
const SQLITE3 = "/usr/bin/sqlite3";
const PYTHON = process.env.ASAP_PYTHON || (fs.existsSync(path.join(REPO, ".venv/bin/python")) ? path.join(REPO, ".venv/bin/python") : "");
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 50);
const PYTHON_EVERY = 10;
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) >>> 0 : randomInt(2 ** 32);

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-crash-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const FILE = path.join(TMP, "state.db");

let rng = SEED;
/** A seeded delay in [lo, hi] ms (xorshift32). */
function delay(lo, hi) {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  rng >>>= 0;
  return lo + (rng % (hi - lo + 1));
}

/** Starts the child at `first`, kills it `wait` ms after its first acknowledgement. */
function crashRound(first, waitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, FILE, String(first)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killTimer;
    let exited = null;
    let closed = false;
    const finish = () => {
      if (exited === null || !closed) return;
      const lines = out.split("\n");
      const partial = lines.pop(); // a line without its newline was not acknowledged
      resolve({ pid: child.pid, lines, partial, signal: exited.signal, code: exited.code, stderr: err });
    };
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the child never acknowledged a write: ${err}`));
    }, 20_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (killTimer === undefined && /^[SE] \d+$/m.test(out)) {
        clearTimeout(guard);
        killTimer = setTimeout(() => child.kill("SIGKILL"), waitMs);
      }
    });
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      finish();
    });
    child.stdout.on("close", () => {
      closed = true;
      finish();
    });
  });
}

function sqlite3(file, sql) {
  const r = spawnSync(SQLITE3, ["-bail", file], { input: sql, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, `sqlite3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A copy of the database file and its WAL exactly as they are now, in a new directory. */
function copyAsIs(label) {
  const dir = fs.mkdtempSync(path.join(TMP, `${label}-`));
  const copy = path.join(dir, "state.db");
  fs.copyFileSync(FILE, copy);
  if (fs.existsSync(`${FILE}-wal`)) fs.copyFileSync(`${FILE}-wal`, `${copy}-wal`);
  return { dir, copy };
}

function expectedSnapshot(seq) {
  const input = snapshotFor(seq);
  return { id: input.id, task_id: input.task_id, data: input.data, checkpoint: input.checkpoint, created_at: isoOf(seq) };
}
/** The JSON text of `expectedSnapshot(seq)`, computed once (the file is re-read every round). */
const expectedText = new Map();
function expectedSnapshotText(seq) {
  if (!expectedText.has(seq)) expectedText.set(seq, JSON.stringify(expectedSnapshot(seq)));
  return expectedText.get(seq);
}
function expectedEvent(seq) {
  const input = eventFor(seq);
  return { ...input, timestamp: isoOf(seq) };
}
const withoutVersion = ({ version, ...rest }) => rest; // eslint-disable-line no-unused-vars

/** Everything the database holds, read through the package. */
function readAll(db) {
  const tasks = {};
  for (const t of db.snapshots.listTasks()) {
    tasks[t.task_id] = db.snapshots.listVersions(t.task_id).map((v) => db.snapshots.get(t.task_id, v));
  }
  const events = db.metering.query(AGENT, 0, Date.UTC(2100, 0, 1));
  return { tasks, events };
}

test(`${ROUNDS} SIGKILLs of a writer: every acknowledged write survives, nothing half-written, sqlite3 and the reference agree`, { timeout: 600_000 }, async (t) => {
  const started = performance.now();
  console.log(`crash test: seed ${SEED} (replay the kill delays with CRASH_SEED=${SEED}), ${ROUNDS} rounds, file ${FILE}`);
  const ackedSnapshots = new Set();
  const ackedEvents = new Set();
  let next = 1;
  let acknowledged = 0;
  let inFlightSeen = 0;
  let pythonRuns = 0;
  let largest = 0;
  const timings = { child: 0, sqlite3: 0, reopen: 0, check: 0, python: 0 };

  for (let round = 1; round <= ROUNDS; round++) {
    const label = `round ${round}`;
    let t0 = performance.now();
    const waitMs = delay(50, 400);
    const first = next;
    const run = await crashRound(next, waitMs);
    timings.child += performance.now() - t0;
    assert.equal(run.signal, "SIGKILL", `${label}: the child ended by itself (${run.code}): ${run.stderr}`);
    assert.equal(run.stderr, "", `${label}: the child wrote to stderr`);
    assert.match(run.lines[0] ?? "", /^READY \d+$/, `${label}: first line`);

    // The acknowledgements of this round, in order: S n, E n, S n+1, …
    const acks = run.lines.slice(1);
    let expect = next;
    let kind = "S";
    for (const line of acks) {
      assert.equal(line, `${kind} ${expect}`, `${label}: acknowledgement order`);
      if (kind === "S") ackedSnapshots.add(expect);
      else ackedEvents.add(expect);
      acknowledged++;
      if (kind === "E") expect++;
      kind = kind === "S" ? "E" : "S";
    }
    assert.ok(acks.length >= 1, `${label}: no acknowledgement`);
    // The one write that may have been in flight: `kind expect`.
    const inFlight = { kind, seq: expect };
    next = expect + 1; // never reuse the in-flight sequence number

    // The lock file of the dead child is still there, naming a process that no longer exists.
    assert.ok(fs.existsSync(`${FILE}.lock`), `${label}: the child held no lock file`);
    assert.equal(fs.readFileSync(`${FILE}.lock`, "utf8").trim().split(" ")[0], String(run.pid), `${label}: the lock file names the child`);

    // sqlite3 on the file and WAL exactly as the kill left them.
    t0 = performance.now();
    const raw = copyAsIs(`raw-${round}`);
    assert.equal(sqlite3(raw.copy, "PRAGMA integrity_check;"), "ok", `${label}: sqlite3 integrity_check of the killed file`);
    const [rawSnapshots, rawEvents] = sqlite3(raw.copy, "SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;").split("\n").map(Number);
    timings.sqlite3 += performance.now() - t0;
    const pythonCopy = round % PYTHON_EVERY === 0 || round === ROUNDS ? copyAsIs(`py-${round}`) : null;

    // Reopen through the package: the stale lock must not block.
    t0 = performance.now();
    let db;
    try {
      db = await SqliteStateDb.open({ path: FILE });
    } catch (e) {
      assert.fail(`${label}: reopening after the SIGKILL failed (${e instanceof StateError ? e.code : e?.constructor?.name}): ${e?.message}`);
    }
    timings.reopen += performance.now() - t0;

    t0 = performance.now();
    const all = readAll(db);
    let snapshotCount = 0;
    const present = new Map(); // seq → version
    for (const [task, versions] of Object.entries(all.tasks)) {
      assert.deepEqual(
        versions.map((s) => s.version),
        versions.map((_, i) => i + 1),
        `${label}: ${task} versions have gaps`,
      );
      for (const s of versions) {
        snapshotCount++;
        const seq = seqOf(s.id);
        assert.ok(Number.isInteger(seq), `${label}: a snapshot nobody wrote: ${s.id}`);
        assert.equal(s.task_id, taskOf(seq));
        const text = JSON.stringify(withoutVersion(s));
        if (text !== expectedSnapshotText(seq)) assert.deepEqual(withoutVersion(s), expectedSnapshot(seq), `${label}: snapshot ${seq} is not what was written`);
        largest = Math.max(largest, text.length);
        if (!ackedSnapshots.has(seq)) {
          assert.ok(inFlight.kind === "S" && inFlight.seq === seq, `${label}: snapshot ${seq} was never acknowledged and was not the one in flight (${inFlight.kind} ${inFlight.seq})`);
          ackedSnapshots.add(seq); // complete and valid: it is part of the file from now on
          inFlightSeen++;
        }
        present.set(seq, s.version);
      }
    }
    // Every acknowledged snapshot, found by its id (its content was checked in the scan above):
    // this round's every round, all of them every 5th round and the last (it re-reads the data).
    const byIdNow = round % 5 === 0 || round === ROUNDS ? [...ackedSnapshots] : [...ackedSnapshots].filter((seq) => seq >= first);
    for (const seq of byIdNow) {
      assert.ok(present.has(seq), `${label}: acknowledged snapshot ${seq} is missing`);
      const byId = db.snapshots.getById(taskOf(seq), `snap_crash_${seq}`);
      assert.ok(byId, `${label}: getById of acknowledged snapshot ${seq}`);
      assert.equal(byId.version, present.get(seq), `${label}: getById of snapshot ${seq} found another version`);
      if (byId.data.seq !== seq || byId.data.text.length !== dataSize(seq)) assert.fail(`${label}: getById of snapshot ${seq}: other data`);
    }
    const eventSeqs = new Set();
    for (const e of all.events) {
      const seq = seqOf(e.id);
      assert.ok(Number.isInteger(seq), `${label}: an event nobody wrote: ${e.id}`);
      assert.deepEqual(e, expectedEvent(seq), `${label}: event ${seq} is not what was recorded`);
      if (!ackedEvents.has(seq)) {
        assert.ok(inFlight.kind === "E" && inFlight.seq === seq, `${label}: event ${seq} was never acknowledged and was not the one in flight`);
        ackedEvents.add(seq);
        inFlightSeen++;
      }
      eventSeqs.add(seq);
    }
    for (const seq of ackedEvents) assert.ok(eventSeqs.has(seq), `${label}: acknowledged event ${seq} is missing`);
    assert.equal(all.events.length, eventSeqs.size, `${label}: duplicate events`);
    assert.equal(snapshotCount, rawSnapshots, `${label}: sqlite3 counts ${rawSnapshots} snapshots, we read ${snapshotCount}`);
    assert.equal(all.events.length, rawEvents, `${label}: sqlite3 counts ${rawEvents} events, we read ${all.events.length}`);
    timings.check += performance.now() - t0;

    // The Python reference reads the file as the kill left it, and answers as we do.
    if (pythonCopy && PYTHON) {
      t0 = performance.now();
      const spec = {
        tasks: Array.from({ length: TASKS }, (_, i) => `task-${i}`),
        queries: [{ agent_id: AGENT, start: "2000-01-01T00:00:00+00:00", end: "2100-01-01T00:00:00+00:00" }],
        aggregates: [{ agent_id: AGENT, period: "all" }],
      };
      const specFile = path.join(pythonCopy.dir, "spec.json");
      fs.writeFileSync(specFile, JSON.stringify(spec));
      const r = spawnSync(PYTHON, [READER, pythonCopy.copy, specFile], { encoding: "utf8", maxBuffer: 1 << 30, env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" }, timeout: 120_000 });
      assert.equal(r.status, 0, `${label}: the reference failed: ${r.stderr}`);
      const theirs = JSON.parse(r.stdout);
      for (const task of spec.tasks) {
        const ours = all.tasks[task] ?? [];
        assert.deepEqual(theirs.tasks[task].versions, ours.map((s) => s.version), `${label}: the reference's versions of ${task}`);
        assert.deepEqual(theirs.tasks[task].latest, ours.at(-1) ?? null, `${label}: the reference's latest ${task}`);
        for (const s of ours) assert.deepEqual(theirs.tasks[task].each[String(s.version)], s, `${label}: the reference's ${task} v${s.version}`);
      }
      const withoutId = ({ id, ...rest }) => rest; // eslint-disable-line no-unused-vars
      assert.deepEqual(theirs.queries[0].events, all.events.map(withoutId), `${label}: the reference's events`);
      assert.deepEqual(theirs.aggregates[AGENT], db.metering.aggregate(AGENT, "all"), `${label}: the reference's aggregate`);
      pythonRuns++;
      timings.python += performance.now() - t0;
    }

    db.close();
    assert.ok(!fs.existsSync(`${FILE}.lock`), `${label}: close() left the lock file`);
    fs.rmSync(raw.dir, { recursive: true, force: true });
    if (pythonCopy) fs.rmSync(pythonCopy.dir, { recursive: true, force: true });
  }

  // After the last round, closed: the file alone is a sound database holding everything.
  assert.equal(sqlite3(FILE, "PRAGMA integrity_check;"), "ok");
  const [finalSnapshots, finalEvents] = sqlite3(FILE, "SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;").split("\n").map(Number);
  assert.equal(finalSnapshots, ackedSnapshots.size);
  assert.equal(finalEvents, ackedEvents.size);

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const ms = Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, `${(v / 1000).toFixed(1)} s`]));
  const size = fs.statSync(FILE).size;
  if (!PYTHON) t.diagnostic("the Python reference was not checked: set ASAP_PYTHON (or create .venv)");
  console.log(
    `crash test: ${ROUNDS}/${ROUNDS} rounds, ${acknowledged} acknowledged writes, 0 lost; ${inFlightSeen} in-flight writes found complete; ` +
      `${finalSnapshots} snapshots and ${finalEvents} events in a ${(size / 1e6).toFixed(1)} MB file (largest data ${largest} B); ` +
      `sqlite3 integrity_check ok ${ROUNDS + 1} times; Python reference ${pythonRuns} runs (every ${PYTHON_EVERY}th round and the last); ${seconds} s ${JSON.stringify(ms)}`,
  );
  t.diagnostic(`${ROUNDS}/${ROUNDS} rounds, ${acknowledged} acknowledged writes, 0 lost`);
});
