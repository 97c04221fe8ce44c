// The Node file lock of `SqliteStateDb.open({ path })` across processes: `<path>.lock` names its
// owner; a second live process gets DATABASE_LOCKED; a dead owner's lock is taken over — also
// while the killed process is still an unreaped zombie, and when its pid now belongs to another
// process — and openers racing for one file never both win.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteStateDb, StateError } from "asap-state";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-locks-"));

/** A child that opens `file`, saves one snapshot, prints "ready", then waits (or exits after `holdMs`). */
function holder(file, holdMs = 0) {
  const code = `
    import { SqliteStateDb } from "asap-state";
    const db = await SqliteStateDb.open({ path: ${JSON.stringify(file)} });
    db.snapshots.save({ task_id: "held", data: { by: process.pid } });
    process.stdout.write("ready\\n");
    ${holdMs ? `setTimeout(() => { db.close(); process.exit(0); }, ${holdMs});` : "setInterval(() => {}, 1000);"}
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => d.toString().includes("ready") && resolve());
    child.on("exit", (c) => reject(new Error(`holder exited with ${c} before ready`)));
  });
  return { child, ready };
}

const procState = (pid) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return null;
  }
};

test("a second live process gets DATABASE_LOCKED; after the owner closes, it gets in", async () => {
  const dir = tmp();
  const file = path.join(dir, "a.db");
  const { child, ready } = holder(file, 1500);
  await ready;
  await assert.rejects(SqliteStateDb.open({ path: file }), (e) => e instanceof StateError && e.code === "DATABASE_LOCKED" && e.message.includes("another process"));
  await new Promise((r) => child.on("exit", r));
  assert.equal(fs.existsSync(`${file}.lock`), false, "a clean close removes the lock file");
  const db = await SqliteStateDb.open({ path: file });
  assert.equal(db.snapshots.get("held").data.by, child.pid);
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a killed owner's lock is taken over even before its parent reaps it (a zombie)", { skip: process.platform !== "linux" && "needs /proc" }, async () => {
  const dir = tmp();
  const file = path.join(dir, "z.db");
  const { child, ready } = holder(file);
  await ready;
  child.kill("SIGKILL");
  // Without yielding to the event loop, Node has not reaped the child: it is a zombie, and
  // kill(pid, 0) still succeeds for it.
  const until = Date.now() + 5000;
  while (procState(child.pid) !== "Z" && Date.now() < until) {
    /* spin until the kernel has made it a zombie */
  }
  assert.equal(procState(child.pid), "Z", "the killed child is an unreaped zombie");
  process.kill(child.pid, 0); // does not throw: the pid still exists
  const db = await SqliteStateDb.open({ path: file });
  assert.equal(db.snapshots.get("held").data.by, child.pid, "the acknowledged write survived SIGKILL");
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a lock naming a pid that now belongs to another process is taken over", { skip: process.platform !== "linux" && "needs /proc" }, async () => {
  const dir = tmp();
  const file = path.join(dir, "r.db");
  // Our parent's pid is alive, but its start time is not the one written: the owner is gone.
  fs.writeFileSync(`${file}.lock`, `${process.ppid} 1`);
  const db = await SqliteStateDb.open({ path: file });
  assert.match(fs.readFileSync(`${file}.lock`, "utf8"), new RegExp(`^${process.pid} \\d+$`));
  db.close();
  // …while a lock naming a live process exactly is respected.
  const start = fs.readFileSync(`/proc/${process.ppid}/stat`, "utf8");
  const ticks = start.slice(start.lastIndexOf(")") + 2).split(" ")[19];
  fs.writeFileSync(`${file}.lock`, `${process.ppid} ${ticks}`);
  await assert.rejects(SqliteStateDb.open({ path: file }), (e) => e.code === "DATABASE_LOCKED");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("processes racing to open one file: exactly one wins each time", async () => {
  const dir = tmp();
  const rounds = 10;
  const racers = 3;
  let contested = 0;
  for (let round = 0; round < rounds; round++) {
    const file = path.join(dir, `race-${round}.db`);
    // Half the rounds start from a stale lock left by a dead process, so takeovers race too.
    if (round % 2 === 1) fs.writeFileSync(`${file}.lock`, "999999999 1");
    const at = Date.now() + 1500; // after every racer has started and loaded the package
    const code = `
      import { SqliteStateDb } from "asap-state";
      while (Date.now() < ${at}) {}
      try {
        const db = await SqliteStateDb.open({ path: ${JSON.stringify(file)} });
        process.stdout.write("owner\\n");
        await new Promise((r) => setTimeout(r, 600));
        db.close();
      } catch (e) {
        process.stdout.write(e.code + "\\n");
      }
    `;
    const results = await Promise.all(
      Array.from({ length: racers }, () => new Promise((resolve) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.on("exit", () => resolve(out.trim()));
      })),
    );
    const owners = results.filter((r) => r === "owner").length;
    assert.equal(owners, 1, `round ${round}: ${results.join(", ")}`);
    assert.ok(results.every((r) => r === "owner" || r === "DATABASE_LOCKED"), results.join(", "));
    if (results.includes("DATABASE_LOCKED")) contested++;
  }
  console.log(`# lock race: ${rounds} rounds × ${racers} processes, one owner every round (${contested} contested)`);
  fs.rmSync(dir, { recursive: true, force: true });
});
