// What a trap does to an instance: a Rust panic (here the test-only export
// `__asapStateTestTrap`, which no entry re-exports) prints its message once with console.error,
// and from then on every call on that instance throws StateError ENGINE_FAILED with that
// message — stores made before and after, databases, factories, diffs — while the messages
// functions still answer (a -32603 error object, never an exception). Other instances (the other
// entry) are untouched, and a file-backed database keeps what it committed before the fault.
// Also: StateError.codes is the core's list. Run with `node --test` after `make pkg`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as full from "asap-state";
import * as memory from "asap-state/memory";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, "..", "..", "pkg");
// The memory entry's own glue module: the same module instance "asap-state/memory" re-exports.
const memoryGlue = path.join(pkg, "wasm", "memory", "node", "asap_state.js");
const fullGlue = path.join(pkg, "wasm", "full", "node", "asap_state.js");

const isEngineFailed = (e) =>
  e instanceof memory.StateError && e.code === "ENGINE_FAILED" && /deliberate test trap/.test(e.message);

test("StateError.codes is the core's list, frozen, and the same as the types' union", () => {
  const codes = memory.StateError.codes;
  assert.ok(Object.isFrozen(codes));
  assert.equal(full.StateError, memory.StateError);
  assert.deepEqual(codes.slice(0, 3), ["INVALID_SNAPSHOT", "INVALID_EVENT", "INVALID_TIMESTAMP"]);
  assert.equal(codes.at(-1), "ENGINE_FAILED");
  assert.equal(new Set(codes).size, codes.length);
  // src/error.rs lists each code once; the Rust source is the reference.
  const rust = readFileSync(path.join(here, "..", "..", "src", "error.rs"), "utf8");
  assert.deepEqual(codes, [...rust.matchAll(/=> "([A-Z_]+)",/g)].map((m) => m[1]));
  const types = readFileSync(path.join(pkg, "index.d.ts"), "utf8");
  const union = types.match(/export type StateErrorCode =([^;]+);/)[1];
  assert.deepEqual([...union.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]), codes);
});

test("a panic stops the memory instance with ENGINE_FAILED; the full entry's instance is untouched", async () => {
  const glue = await import(memoryGlue);
  assert.equal(typeof glue.__asapStateTestTrap, "function");
  assert.equal(memory.__asapStateTestTrap, undefined, "the entry does not export the trap");

  const before = new memory.MemorySnapshotStore();
  before.save({ task_id: "t", data: { step: 1 } });
  const stores = { snapshots: before };

  const printed = [];
  const consoleError = console.error;
  console.error = (...args) => printed.push(args.join(" "));
  try {
    assert.throws(() => glue.__asapStateTestTrap(), (e) => e instanceof WebAssembly.RuntimeError);
    // A second fault prints nothing more.
    assert.throws(() => glue.__asapStateTestTrap(), (e) => e instanceof WebAssembly.RuntimeError);
  } finally {
    console.error = consoleError;
  }
  assert.equal(printed.length, 1, `printed: ${JSON.stringify(printed)}`);
  assert.match(printed[0], /deliberate test trap/);
  assert.match(printed[0], /load the package again and reopen/);

  // Every later call throws ENGINE_FAILED, on stores made before and after the fault.
  assert.throws(() => before.get("t"), isEngineFailed);
  assert.throws(() => before.save({ task_id: "t", data: {} }), isEngineFailed);
  const after = new memory.MemorySnapshotStore();
  assert.throws(() => after.listTasks(), isEngineFailed);
  assert.throws(() => new memory.MemoryMeteringStore().agents(), isEngineFailed);
  assert.throws(() => memory.diffJson({ a: 1 }, { a: 2 }), isEngineFailed);
  await assert.rejects(memory.createSnapshotStore({}), isEngineFailed);

  // The messages functions never throw: the failure is their error object.
  const request = { jsonrpc: "2.0", method: "asap.send", params: { envelope: {} }, id: 7 };
  const answer = memory.handleAsapRequest(stores, request);
  assert.equal(answer.id, 7);
  assert.equal(answer.error.code, -32603);
  assert.equal(answer.error.data.code, "ENGINE_FAILED");
  assert.equal(memory.handleStateEnvelope(stores, {}).error.data.code, "ENGINE_FAILED");
  // ... also when the full entry's function is handed the failed instance's store.
  assert.equal(full.handleStateEnvelope(stores, {}).error.data.code, "ENGINE_FAILED");

  // The full entry is another instance: it works on.
  const other = new full.MemorySnapshotStore();
  assert.equal(other.save({ task_id: "t", data: { ok: true } }).version, 1);
  assert.deepEqual(full.diffJson({ a: 1 }, { a: 2 })[0].op, "changed");
});

test("after a fault in the full instance, a Node file keeps what it committed; reopened in a new process it is all there", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "asap-engine-failed-"));
  try {
    const file = path.join(dir, "state.db");
    const child = `
      const full = await import(${JSON.stringify(path.join(pkg, "node.js"))});
      const glue = await import(${JSON.stringify(fullGlue)});
      const db = await full.SqliteStateDb.open({ path: ${JSON.stringify(file)} });
      for (let i = 1; i <= 3; i++) db.snapshots.save({ task_id: "t", data: { i } });
      console.error = () => {};
      try { glue.__asapStateTestTrap(); } catch {}
      let code = null;
      try { db.snapshots.save({ task_id: "t", data: { i: 4 } }); } catch (e) { code = e.code; }
      process.stdout.write(JSON.stringify({ code }));
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", child], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { code: "ENGINE_FAILED" });

    const reopen = `
      const full = await import(${JSON.stringify(path.join(pkg, "node.js"))});
      const db = await full.SqliteStateDb.open({ path: ${JSON.stringify(file)} });
      process.stdout.write(JSON.stringify(db.snapshots.listVersions("t").map((v) => db.snapshots.get("t", v).data.i)));
      db.close();
    `;
    const again = spawnSync(process.execPath, ["--input-type=module", "-e", reopen], { encoding: "utf8" });
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), [1, 2, 3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
