// The SQLite backend on OPFS in real Chromium: `SqliteStateDb.open({ path })` in a dedicated
// worker writes an OPFS file; everything is there after the page closes, after a page reload
// (database closed, or still open when the page went away) and after the browser restarts with
// the same profile; a second worker on the same file gets DATABASE_LOCKED; so does a second tab,
// while the first tab keeps working, and once the first tab is closed the second gets in and finds
// every write, in a file sqlite3 accepts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const ROOTS = { "/pkg/": join(REPO, "pkg"), "/opfs/": join(REPO, "tests/js/fixtures/opfs") };
const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };
const ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let server;
let origin;
let profile;

before(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const prefix = Object.keys(ROOTS).find((p) => path.startsWith(p));
    let body;
    let file;
    if (prefix) {
      const base = ROOTS[prefix];
      file = resolve(base, "." + path.slice(prefix.length - 1));
      if (file.startsWith(base + sep) && statSync(file, { throwIfNoEntry: false })?.isFile()) body = readFileSync(file);
    }
    if (body === undefined) return res.writeHead(404).end("not found");
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  origin = `http://127.0.0.1:${server.address().port}`;
  profile = mkdtempSync(join(tmpdir(), "asap-state-opfs-profile-"));
});

after(async () => {
  await new Promise((ok) => server.close(ok));
  rmSync(profile, { recursive: true, force: true });
});

/** Runs `fn(page)` in a browser on the shared profile, then closes the browser. */
async function withBrowser(fn) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", args: ARGS });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${origin}/opfs/page.html`);
    await page.waitForFunction(() => window.ready === true);
    await fn(page);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

const ask = (page, name, cmd) => page.evaluate(([n, c]) => window.ask(n, c), [name, cmd]);
const ok = async (page, name, cmd) => {
  const answer = await ask(page, name, cmd);
  assert.equal(answer.ok, true, `${cmd.op}: ${answer.code} ${answer.message}`);
  return answer.value;
};

test("an OPFS file survives closing the page and restarting the browser", async () => {
  let written;
  await withBrowser(async (page) => {
    await page.evaluate(() => window.worker("a"));
    await ok(page, "a", { op: "open", path: "agents/state.db" });
    await ok(page, "a", { op: "write", task: "task-opfs", steps: 6 });
    written = await ok(page, "a", { op: "read", task: "task-opfs" });
    assert.deepEqual(written.versions, [1, 2, 3, 4, 5, 6]);
    assert.equal(written.latest.data.note, "étape 6");
    assert.equal(written.aggregate.total_tasks, 6);
    assert.equal(written.aggregate.total_tokens, 21);
    await ok(page, "a", { op: "close" });
  });
  // A new browser process on the same profile: reopen and find everything.
  await withBrowser(async (page) => {
    await page.evaluate(() => window.worker("b"));
    await ok(page, "b", { op: "open", path: "agents/state.db" });
    const again = await ok(page, "b", { op: "read", task: "task-opfs" });
    assert.deepEqual(again, written);
    // Keep writing after the restart, without closing: the page goes away with the browser.
    await ok(page, "b", { op: "write", task: "task-more", steps: 2 });
  });
  await withBrowser(async (page) => {
    await page.evaluate(() => window.worker("c"));
    await ok(page, "c", { op: "open", path: "agents/state.db" });
    const third = await ok(page, "c", { op: "read", task: "task-more" });
    assert.deepEqual(third.versions, [1, 2], "writes committed before the browser closed are there");
    assert.equal(third.tasks.length, 2);
    await ok(page, "c", { op: "close" });
  });
});

test("a second worker on the same OPFS file gets DATABASE_LOCKED, then gets in after close", async () => {
  await withBrowser(async (page) => {
    await page.evaluate(() => window.worker("one") && window.worker("two"));
    await ok(page, "one", { op: "open", path: "locked.db" });
    await ok(page, "one", { op: "write", task: "t", steps: 1 });
    const refused = await ask(page, "two", { op: "open", path: "locked.db" });
    assert.equal(refused.ok, false);
    assert.equal(refused.isStateError, true);
    assert.equal(refused.code, "DATABASE_LOCKED", refused.message);
    await ok(page, "one", { op: "close" });
    await ok(page, "two", { op: "open", path: "locked.db" });
    const seen = await ok(page, "two", { op: "read", task: "t" });
    assert.deepEqual(seen.versions, [1]);
    // The factory in a worker opens the same OPFS file (shared with the open handle).
    const viaFactory = await ok(page, "two", { op: "factory", path: "locked.db", task: "t" });
    assert.deepEqual(viaFactory, { kind: "SqliteSnapshotStore", versions: [1] });
    await ok(page, "two", { op: "close" });
  });
});

/** Opens a tab (a new page of `context`) on the fixture page; its page errors go to `errors`. */
async function openTab(context, errors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${origin}/opfs/page.html`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

/**
 * Opens `path` in worker `name`, retrying while the answer is DATABASE_LOCKED for up to 5 s: a
 * page that went away (reload, closed tab) releases its OPFS handles asynchronously, a moment
 * after `reload()` / `close()` resolve. Returns how long it took and how many refusals there were.
 */
async function openWhenReleased(page, name, path) {
  const started = Date.now();
  for (let refusals = 0; ; refusals++) {
    const answer = await ask(page, name, { op: "open", path });
    if (answer.ok) return { ms: Date.now() - started, refusals };
    assert.equal(answer.code, "DATABASE_LOCKED", `open: ${answer.code} ${answer.message}`);
    assert.ok(Date.now() - started < 5000, `still DATABASE_LOCKED 5 s after the other page went away (${refusals + 1} attempts)`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** sqlite3's integrity_check and row counts of an exported image (base64 from the worker). */
function sqlite3Check(base64) {
  if (!existsSync("/usr/bin/sqlite3")) return "skipped: no sqlite3";
  const dir = mkdtempSync(join(tmpdir(), "asap-state-opfs-export-"));
  try {
    const file = join(dir, "export.db");
    writeFileSync(file, Buffer.from(base64, "base64"));
    const r = spawnSync("/usr/bin/sqlite3", [file, "PRAGMA integrity_check; SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("an OPFS file survives a page reload, whether the database was closed or still open", async () => {
  await withBrowser(async (page) => {
    await page.evaluate(() => window.worker("a"));
    await ok(page, "a", { op: "open", path: "reload/state.db" });
    await ok(page, "a", { op: "write", task: "closed-before-reload", steps: 4 });
    const closedBefore = await ok(page, "a", { op: "read", task: "closed-before-reload" });
    await ok(page, "a", { op: "close" });

    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    await page.evaluate(() => window.worker("b"));
    await ok(page, "b", { op: "open", path: "reload/state.db" });
    assert.deepEqual(await ok(page, "b", { op: "read", task: "closed-before-reload" }), closedBefore);
    // Write again and reload with the database still open: the page (and its worker) just go away.
    await ok(page, "b", { op: "write", task: "open-at-reload", steps: 3 });
    const openAtReload = await ok(page, "b", { op: "read", task: "open-at-reload" });
    const history = await ok(page, "b", { op: "history", task: "open-at-reload" });

    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    await page.evaluate(() => window.worker("c"));
    // The reloaded page opens the file once the old worker's handles are released.
    const wait = await openWhenReleased(page, "c", "reload/state.db");
    console.log(`after a reload with the database open: opened after ${wait.refusals} DATABASE_LOCKED answers, ${wait.ms} ms`);
    assert.deepEqual(await ok(page, "c", { op: "read", task: "open-at-reload" }), openAtReload);
    assert.deepEqual(await ok(page, "c", { op: "history", task: "open-at-reload" }), history);
    assert.deepEqual(await ok(page, "c", { op: "read", task: "closed-before-reload" }), { ...closedBefore, tasks: openAtReload.tasks, aggregate: openAtReload.aggregate });
    assert.equal(openAtReload.aggregate.total_tasks, 7, "4 + 3 events");
    assert.equal(sqlite3Check(await ok(page, "c", { op: "export" })), "ok\n7\n7");
    await ok(page, "c", { op: "close" });
  });
});

test("two tabs on one OPFS file: the second gets DATABASE_LOCKED, the first keeps working; once the first tab closes the second sees every write", async () => {
  const context = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", args: ARGS });
  const errors = [];
  try {
    const first = await openTab(context, errors);
    const second = await openTab(context, errors);
    await first.evaluate(() => window.worker("w"));
    await second.evaluate(() => window.worker("w"));
    await ok(first, "w", { op: "open", path: "tabs/shared.db" });
    await ok(first, "w", { op: "write", task: "first-a", steps: 3 });

    const refused = await ask(second, "w", { op: "open", path: "tabs/shared.db" });
    assert.equal(refused.ok, false, "the second tab opened a file the first tab holds");
    assert.equal(refused.isStateError, true);
    assert.equal(refused.code, "DATABASE_LOCKED", refused.message);
    assert.match(refused.message, /tabs\/shared\.db/, "the message names the file");
    assert.match(refused.message, /another tab or worker/, "the message says why");
    const viaFactory = await ask(second, "w", { op: "factory", path: "tabs/shared.db", task: "first-a" });
    assert.deepEqual([viaFactory.ok, viaFactory.code], [false, "DATABASE_LOCKED"], viaFactory.message);

    // The refusals changed nothing for the first tab, which writes on.
    await ok(first, "w", { op: "write", task: "first-b", steps: 2 });
    const seen = {
      a: await ok(first, "w", { op: "read", task: "first-a" }),
      b: await ok(first, "w", { op: "read", task: "first-b" }),
      historyA: await ok(first, "w", { op: "history", task: "first-a" }),
      historyB: await ok(first, "w", { op: "history", task: "first-b" }),
    };
    assert.deepEqual(seen.b.versions, [1, 2]);
    assert.equal(seen.b.aggregate.total_tasks, 5);
    const again = await ask(second, "w", { op: "open", path: "tabs/shared.db" });
    assert.equal(again.code, "DATABASE_LOCKED", "still refused while the first tab is open");

    // The first tab goes away (its database still open); the second tab gets in and sees it all.
    await first.close();
    const wait = await openWhenReleased(second, "w", "tabs/shared.db");
    console.log(`after the first tab closed: the second tab opened the file after ${wait.refusals} DATABASE_LOCKED answers, ${wait.ms} ms`);
    assert.deepEqual(await ok(second, "w", { op: "read", task: "first-a" }), seen.a);
    assert.deepEqual(await ok(second, "w", { op: "read", task: "first-b" }), seen.b);
    assert.deepEqual(await ok(second, "w", { op: "history", task: "first-a" }), seen.historyA);
    assert.deepEqual(await ok(second, "w", { op: "history", task: "first-b" }), seen.historyB);
    assert.equal(sqlite3Check(await ok(second, "w", { op: "export" })), "ok\n5\n5");
    await ok(second, "w", { op: "write", task: "second", steps: 1 });
    await ok(second, "w", { op: "close" });

    // A third tab, after the second closed the database: the file holds both tabs' writes.
    const third = await openTab(context, errors);
    await third.evaluate(() => window.worker("w"));
    await ok(third, "w", { op: "open", path: "tabs/shared.db" });
    const last = await ok(third, "w", { op: "read", task: "second" });
    assert.deepEqual(last.tasks.map((t) => t.task_id), ["first-a", "first-b", "second"]);
    assert.equal(last.aggregate.total_tasks, 6);
    await ok(third, "w", { op: "close" });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
