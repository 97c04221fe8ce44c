// The runnable examples, run as a user runs them (`node examples/<file>`), in real processes:
// the agent failover demo (two worker processes, a SIGKILL mid-task, the handover through the
// dead primary's SQLite file and ASAP state_save / state_restore envelopes) at three kill
// points, the worker on its own (health, task.request, the package's state handlers, a second
// process on the same file), storage-backends.mjs on memory and on sqlite, and quickstart.mjs.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { SqliteStateDb } from "asap-state";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const EXAMPLES = path.join(REPO, "examples");

/** Runs `node <args>` in the repository; resolves with its exit code and output. */
function runNode(args, { env = {}, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (t) => (stdout += t));
    child.stderr.setEncoding("utf8").on("data", (t) => (stderr += t));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code !== "ESRCH";
  }
};

describe("examples/agent-failover.mjs", () => {
  // Three kill points: the earliest, a random one (3..8), the latest the demo uses.
  for (const killAfter of [3, undefined, 8]) {
    const label = killAfter === undefined ? "a random step" : `step ${killAfter}`;
    test(`primary SIGKILLed after ${label}: the backup completes the task, no step lost or repeated`, { timeout: 30_000 }, async () => {
      const args = [path.join(EXAMPLES, "agent-failover.mjs"), ...(killAfter === undefined ? [] : ["--kill-after", String(killAfter)])];
      const r = await runNode(args, { timeout: 25_000 });
      const out = r.stdout;
      assert.equal(r.code, 0, `exit ${r.code} ${r.signal ?? ""}\n${out}\n${r.stderr}`);
      assert.equal(r.stderr, "", r.stderr);

      const planned = Number(/the primary will be killed after step (\d+)/.exec(out)?.[1]);
      if (killAfter !== undefined) assert.equal(planned, killAfter);
      assert.ok(planned >= 3 && planned <= 8, `kill point ${planned}`);
      // The timeline, in order.
      const lines = [
        /both healthy: urn:asap:agent:primary \(asap 0\.1, v1\.0\.0\), urn:asap:agent:backup/,
        /started task (task_\w+) on primary: task\.response status "working"/,
        /step 1 by primary \(snapshot v1 snap_\w+\)/,
        /state_query → primary: latest v\d+/,
        new RegExp(`step ${planned} by primary`),
        new RegExp(`KILLED primary \\(SIGKILL, pid \\d+\\) at step ${planned}, \\d+ ms into step ${planned + 1}`),
        /failure detected in \d+ ms: GET \/\.well-known\/asap\/health → /,
        /primary process gone \(signal SIGKILL\)/,
        /latest snapshot v(\d+) \((snap_\w+)\) from the primary's file \(its lock file, left by pid \d+, was taken over\)/,
        /state_save → backup: snapshot v\d+ \(snap_\w+\) stored, ack ok/,
        /restored on backup: state_restore\.ack ok/,
        /backup resumes the task at step \d+ of 12/,
        /steps \d+\.\.12 by backup/,
        /completed: task task_\w+ v12 status "completed" on backup/,
        /verification from the two files:/,
        /Failover demo complete/,
      ];
      let at = 0;
      for (const re of lines) {
        const m = re.exec(out.slice(at));
        assert.ok(m, `missing (in order) ${re}\n${out}`);
        at += m.index + m[0].length;
      }
      const detectMs = Number(/failure detected in (\d+) ms/.exec(out)[1]);
      assert.ok(detectMs < 5_000, `detection took ${detectMs} ms`);

      // The backup starts right after the primary's last saved step: the planned one, or the
      // next if the kill fell after that step's snapshot was written.
      const latest = Number(/latest snapshot v(\d+) /.exec(out)[1]);
      assert.ok(latest === planned || latest === planned + 1, `latest v${latest}, killed after step ${planned}`);
      assert.match(out, new RegExp(`backup resumes the task at step ${latest + 1} of 12`));
      assert.match(out, new RegExp(`steps ${latest + 1}\\.\\.12 by backup`));
      for (let s = 1; s <= 12; s++) {
        const by = s <= latest ? "primary" : "backup";
        const n = out.split(`step ${s} by `).length - 1;
        // A kill that lands after the step's snapshot was committed but before the worker logged
        // it leaves that one step in the file (verified below) without its log line.
        if (s === latest && latest === planned + 1 && n === 0) continue;
        assert.equal(n, 1, `step ${s} printed ${n} times`);
        assert.match(out, new RegExp(`step ${s} by ${by} \\(snapshot v${s} `));
      }
      assert.match(out, new RegExp(`ok   steps 1\\.\\.12: each done exactly once \\(primary 1\\.\\.${latest}, backup ${latest + 1}\\.\\.12\\); lost: none, repeated: none`));
      assert.equal((out.match(/^ {2}ok {3}/gm) ?? []).length, 10, out);
      assert.doesNotMatch(out, /FAIL/);

      // Nothing left behind: both workers are gone and the temp dir is removed.
      const pids = [...out.matchAll(/started (?:primary|backup): pid (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 2);
      for (const pid of pids) assert.equal(alive(pid), false, `worker pid ${pid} still alive`);
      const tmp = /temp dir (\S+);/.exec(out)[1];
      assert.equal(fs.existsSync(tmp), false, `${tmp} left behind`);
    });
  }

  test("--durable: both workers save every step in examples/durable-objects first; the backup takes over from the task's Durable Object", { timeout: 90_000 }, async () => {
    const r = await runNode([path.join(EXAMPLES, "agent-failover.mjs"), "--durable", "--kill-after", "5"], { timeout: 85_000 });
    const out = r.stdout;
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal ?? ""}\n${out}\n${r.stderr}`);
    const lines = [
      /state service: examples\/durable-objects in workerd at http:\/\/127\.0\.0\.1:\d+ \(one Durable Object per task\)/,
      /both healthy: urn:asap:agent:primary/,
      /step 5 by primary/,
      /KILLED primary \(SIGKILL, pid \d+\) at step 5/,
      /latest snapshot v(\d+) \((snap_\w+)\) from the task's Durable Object/,
      /restored on backup: state_restore\.ack ok/,
      /completed: task task_\w+ v12 status "completed" on backup/,
      /verification from the two files and the Durable Objects deployment:/,
      /ok {3}the task's Durable Object: versions 1\.\.12 = 1\.\.12, nothing beyond/,
      /ok {3}the task's Durable Object: v1\.\.v\d+ by the primary, v\d+\.\.v12 by the backup, each step once/,
      /ok {3}every snapshot in the workers' files is the one in the Durable Object/,
      /Failover demo complete/,
    ];
    let at = 0;
    for (const re of lines) {
      const m = re.exec(out.slice(at));
      assert.ok(m, `missing (in order) ${re}\n${out}`);
      at += m.index + m[0].length;
    }
    const latest = Number(/latest snapshot v(\d+) /.exec(out)[1]);
    assert.ok(latest === 5 || latest === 6, `latest v${latest}, killed after step 5`);
    assert.match(out, new RegExp(`ok   steps 1\\.\\.12: each done exactly once \\(primary 1\\.\\.${latest}, backup ${latest + 1}\\.\\.12\\); lost: none, repeated: none`));
    assert.equal((out.match(/^ {2}ok {3}/gm) ?? []).length, 13, out);
    assert.doesNotMatch(out, /FAIL/);
    const pids = [...out.matchAll(/started (?:primary|backup): pid (\d+)/g)].map((m) => Number(m[1]));
    for (const pid of pids) assert.equal(alive(pid), false, `worker pid ${pid} still alive`);
    assert.equal(fs.existsSync(/temp dir (\S+);/.exec(out)[1]), false, "temp dir left behind");
  });

  test("bad arguments: exit 2 with a message, no worker started", async () => {
    const r = await runNode([path.join(EXAMPLES, "agent-failover.mjs"), "--steps", "12", "--kill-after", "12"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--kill-after must be below --steps \(12\)/);
    const r2 = await runNode([path.join(EXAMPLES, "agent-failover.mjs"), "--steps", "x"]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /--steps needs an integer 2\.\.1000, got x/);
  });
});

describe("examples/agent-worker.mjs", () => {
  function request(method, url, body) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
      const req = http.request(url, { method, agent: false, headers: data === undefined ? {} : { "content-type": "application/json" } }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (t) => (text += t));
        res.on("end", () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
      });
      req.setTimeout(5_000, () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      if (data !== undefined) req.write(data);
      req.end();
    });
  }

  test("health, task.request, the package's state handlers, and one process per file", { timeout: 30_000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "asap-worker-test-"));
    const env = { ...process.env, ASAP_STORAGE_BACKEND: "sqlite", ASAP_STORAGE_PATH: path.join(dir, "w.db") };
    const child = spawn(process.execPath, [path.join(EXAMPLES, "agent-worker.mjs"), "--port", "0", "--name", "solo", "--step-ms", "20"],
      { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    t.after(() => {
      child.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const events = [];
    const waiters = [];
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const ev = JSON.parse(line);
      events.push(ev);
      for (const w of [...waiters]) if (w.pred(ev)) w.resolve(ev);
    });
    const waitFor = (pred) => {
      const seen = events.find(pred);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ pred, resolve }));
    };
    const { port } = await waitFor((ev) => ev.event === "listening");
    const base = `http://127.0.0.1:${port}`;

    const health = await request("GET", `${base}/.well-known/asap/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(Object.keys(health.json).sort(), ["agent_id", "asap_version", "load", "status", "uptime_seconds", "version"]);
    assert.equal(health.json.status, "healthy");
    assert.equal(health.json.agent_id, "urn:asap:agent:solo");
    assert.equal(health.json.asap_version, "0.1");
    assert.equal(typeof health.json.uptime_seconds, "number");

    let n = 0;
    const send = (payload_type, payload, extra = {}) => {
      const envelope = { id: `msg-${++n}`, asap_version: "0.1", sender: "urn:asap:agent:tester", recipient: "urn:asap:agent:solo",
        payload_type, payload, trace_id: "trace-1", ...extra };
      return request("POST", `${base}/asap`, { jsonrpc: "2.0", method: "asap.send", params: { envelope }, id: n });
    };

    // An unknown skill fails like the reference's handler; a missing task_id gets an id.
    const unknown = await send("task.request", { conversation_id: "c1", skill_id: "nope", input: {} });
    assert.equal(unknown.json.result.envelope.payload_type, "task.response");
    assert.equal(unknown.json.result.envelope.payload.status, "failed");
    assert.deepEqual(unknown.json.result.envelope.payload.result, { error: "unknown_skill", skill_id: "nope" });
    assert.equal(unknown.json.result.envelope.correlation_id, "msg-1");
    assert.equal(unknown.json.result.envelope.trace_id, "trace-1");
    assert.equal(unknown.json.result.envelope.sender, "urn:asap:agent:solo");
    assert.equal(unknown.json.result.envelope.recipient, "urn:asap:agent:tester");

    // A malformed envelope or input is -32602 naming the field.
    const badSender = await send("task.request", { skill_id: "failover_work", input: { steps: 2 } }, { sender: "agent" });
    assert.equal(badSender.json.error.code, -32602);
    assert.match(badSender.json.error.data.error, /envelope\.sender must follow 'urn:asap:agent:\{name\}'/);
    const badSteps = await send("task.request", { skill_id: "failover_work", input: { task_id: "t", steps: 1.5 } });
    assert.equal(badSteps.json.error.code, -32602);
    assert.match(badSteps.json.error.data.error, /input\.steps must be an integer/);

    // A task of 3 steps: answered at once, then worked on with a checkpoint per step.
    const started = await send("task.request", { skill_id: "failover_work", input: { steps: 3 } });
    const { task_id: taskId, status } = started.json.result.envelope.payload;
    assert.equal(status, "working");
    assert.match(taskId, /^task_[0-9A-Z]{26}$/);
    await waitFor((ev) => ev.event === "completed" && ev.task_id === taskId);
    assert.deepEqual(events.filter((ev) => ev.event === "step").map((ev) => ev.step), [1, 2, 3]);
    const q = await send("state_query", { task_id: taskId });
    assert.equal(q.json.result.envelope.payload_type, "state_query.response");
    const snap = q.json.result.envelope.payload.snapshot;
    assert.equal(snap.version, 3);
    assert.equal(snap.checkpoint, true);
    assert.equal(snap.data.status, "completed");
    assert.deepEqual(snap.data.results.map((r) => [r.step, r.agent]), [[1, "urn:asap:agent:solo"], [2, "urn:asap:agent:solo"], [3, "urn:asap:agent:solo"]]);
    // The same task again would rewrite its history: refused.
    const again = await send("task.request", { skill_id: "failover_work", input: { task_id: taskId, steps: 3 } });
    assert.deepEqual(again.json.result.envelope.payload.result, { error: "task_exists", latest_version: 3 });

    // state_restore: an unknown snapshot is not found; an older version is refused (resuming it
    // would write steps that exist); the latest of a completed task is acknowledged, nothing runs.
    const missing = await send("state_restore", { task_id: taskId, snapshot_id: "snap_nope" });
    assert.deepEqual(missing.json.result.envelope.payload, { ok: false, task_id: taskId, snapshot_id: "snap_nope", error: "snapshot not found" });
    const v1 = (await send("state_query", { task_id: taskId, version: 1 })).json.result.envelope.payload.snapshot;
    const older = await send("state_restore", { task_id: taskId, snapshot_id: v1.id });
    assert.equal(older.json.result.envelope.payload.ok, false);
    assert.match(older.json.result.envelope.payload.error, /snapshot v1 is not the task's latest version \(v3\)/);
    const done = await send("state_restore", { task_id: taskId, snapshot_id: snap.id });
    assert.equal(done.json.result.envelope.payload.ok, true);
    assert.equal(done.json.result.envelope.payload_type, "state_restore.ack");

    // A checkpoint pushed with state_save and restored: the worker finishes that task.
    const pushed = await send("state_save", {
      snapshot: { id: "snap_pushed", task_id: "task_pushed", version: 2, checkpoint: true, created_at: "2026-01-01T00:00:00Z",
        data: { task_id: "task_pushed", step: 2, total_steps: 4, agent: "urn:asap:agent:other", status: "working",
          results: [{ step: 1, agent: "urn:asap:agent:other" }, { step: 2, agent: "urn:asap:agent:other" }] } },
      expected_version: null,
    });
    assert.equal(pushed.json.result.envelope.payload.ok, true);
    const restored = await send("state_restore", { task_id: "task_pushed", snapshot_id: "snap_pushed" });
    assert.equal(restored.json.result.envelope.payload.ok, true);
    await waitFor((ev) => ev.event === "completed" && ev.task_id === "task_pushed");
    const fin = (await send("state_query", { task_id: "task_pushed" })).json.result.envelope.payload.snapshot;
    assert.equal(fin.version, 4);
    assert.deepEqual(fin.data.results.map((r) => r.agent), ["urn:asap:agent:other", "urn:asap:agent:other", "urn:asap:agent:solo", "urn:asap:agent:solo"]);

    // JSON-RPC errors come from the package: not JSON, an unknown payload type.
    assert.equal((await request("POST", `${base}/asap`, "{not json")).json.error.code, -32700);
    assert.equal((await send("state_teleport", {})).json.error.code, -32601);
    assert.equal((await request("GET", `${base}/nowhere`)).status, 404);

    // A second process on the same file is refused while this one lives.
    const second = await runNode([path.join(EXAMPLES, "agent-worker.mjs"), "--port", "0", "--name", "second"], { env, timeout: 15_000 });
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(second.stderr, /DATABASE_LOCKED: .*is open in another process/);
  });
});

describe("examples/storage-backends.mjs", () => {
  const script = path.join(EXAMPLES, "storage-backends.mjs");
  for (const backend of ["memory", "sqlite"]) {
    test(`ASAP_STORAGE_BACKEND=${backend}`, { timeout: 30_000 }, async () => {
      const r = await runNode([script], { env: { ASAP_STORAGE_BACKEND: backend, ASAP_STORAGE_PATH: "" } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Backend: ${backend}$`, "m"));
      assert.match(r.stdout, new RegExp(`^Saved and retrieved task_id=task_demo_01, data=\\{"example":true,"backend":"${backend}"\\}$`, "m"));
      if (backend === "sqlite") {
        // The temporary file is removed at the end.
        const file = /^File: (.+)$/m.exec(r.stdout)[1];
        assert.equal(fs.existsSync(path.dirname(file)), false);
      }
    });
  }

  test("sqlite at a given ASAP_STORAGE_PATH: the file is kept, and a second run (a new process) works on it", { timeout: 30_000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "asap-backends-test-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "state.db");
    for (let run = 0; run < 2; run++) {
      const r = await runNode([script], { env: { ASAP_STORAGE_BACKEND: " SQLite ", ASAP_STORAGE_PATH: file } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Backend: sqlite$/m);
      assert.match(r.stdout, /^Saved and retrieved task_id=task_demo_01, data=\{"example":true,"backend":"sqlite"\}$/m);
      assert.ok(fs.statSync(file).size > 0);
    }
  });

  test("an unknown backend: exit 1 with the reference's message", async () => {
    const r = await runNode([script], { env: { ASAP_STORAGE_BACKEND: "redis" } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim(), "UNKNOWN_BACKEND: Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.");
  });
});

test("examples/quickstart.mjs runs", { timeout: 30_000 }, async () => {
  const r = await runNode([path.join(EXAMPLES, "quickstart.mjs")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /a stale writer is refused: VERSION_CONFLICT/);
  assert.match(r.stdout, /CSV export:/);
});

test("examples/demo-state.mjs writes a rollback-journal file that sqlite3 and the package open as-is", { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "asap-demo-test-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "demo.db");
  const r = await runNode([path.join(EXAMPLES, "demo-state.mjs"), file]);
  assert.equal(r.code, 0, r.stderr);
  const [, tasks, snapshots, events] = /: (\d+) tasks, (\d+) snapshots, (\d+) usage events from 3 agents/.exec(r.stdout).map(Number);
  const bytes = fs.readFileSync(file);
  // Header bytes 18-19: 1 = rollback journal (2 would be WAL mode, and a reader would look for a -wal file).
  assert.deepEqual([bytes[18], bytes[19]], [1, 1]);
  assert.equal(fs.existsSync(`${file}-wal`), false);
  if (spawnSync("sqlite3", ["--version"]).status === 0) {
    const sql = (q) => execFileSync("sqlite3", [file, q], { encoding: "utf8" }).trim();
    assert.equal(sql("PRAGMA integrity_check;"), "ok");
    assert.equal(sql("PRAGMA journal_mode;"), "delete");
    assert.equal(Number(sql("SELECT count(*) FROM snapshots;")), snapshots);
    assert.equal(Number(sql("SELECT count(*) FROM usage_events;")), events);
  }
  const db = await SqliteStateDb.open({ bytes: fs.readFileSync(file) });
  try {
    const listed = db.snapshots.listTasks();
    assert.equal(listed.length, tasks);
    assert.equal(listed.reduce((n, x) => n + x.versions, 0), snapshots);
    assert.equal(db.metering.agents().length, 3);
  } finally {
    db.close();
  }
});
