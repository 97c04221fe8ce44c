// The same code on the memory and the SQLite backend, chosen by the environment, like the
// reference's `asap.examples.storage_backends`:
//
//   node examples/storage-backends.mjs                                # memory (the default)
//   ASAP_STORAGE_BACKEND=sqlite node examples/storage-backends.mjs    # a temporary SQLite file
//   ASAP_STORAGE_BACKEND=sqlite ASAP_STORAGE_PATH=state.db node examples/storage-backends.mjs
//
// With `sqlite` and no ASAP_STORAGE_PATH the file is created in a temporary directory that is
// removed at the end; a given ASAP_STORAGE_PATH is kept (saving again is an upsert on
// (task_id, version), so the example can run any number of times on one file).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createSnapshotStore, StateError } from "asap-state";

const env = { ...process.env };
// What the factory does with the value: trimmed and lower-cased, `memory` when absent.
const backend = (env.ASAP_STORAGE_BACKEND ?? "memory").trim().toLowerCase();

let tempDir;
if (backend === "sqlite" && (env.ASAP_STORAGE_PATH ?? "").trim() === "") {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "asap-storage-backends-"));
  env.ASAP_STORAGE_PATH = path.join(tempDir, "state.db");
}

try {
  const store = await createSnapshotStore(env);
  const saved = store.save({
    id: "snap_demo_01",
    task_id: "task_demo_01",
    version: 1,
    data: { example: true, backend },
    checkpoint: false,
    created_at: new Date(),
  });
  const got = store.get("task_demo_01");
  assert.ok(got, "the saved snapshot is found");
  assert.equal(got.id, "snap_demo_01");
  assert.equal(got.version, 1);
  assert.deepEqual(got.data, { example: true, backend });
  assert.deepEqual(got, saved);

  console.log(`Backend: ${backend}`);
  if (backend === "sqlite") console.log(`File: ${env.ASAP_STORAGE_PATH}`);
  console.log(`Saved and retrieved task_id=${got.task_id}, data=${JSON.stringify(got.data)}`);
} catch (err) {
  if (!(err instanceof StateError)) throw err;
  // e.g. UNKNOWN_BACKEND: Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'.
  console.error(`${err.code}: ${err.message}`);
  process.exitCode = 1;
} finally {
  // Stores made by the factory have no close(): the file stays open (and locked against other
  // processes) until this process exits. Removing the directory is safe on POSIX systems.
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
}
