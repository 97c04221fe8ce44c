// The SQLite backend on OPFS in real Chromium: `SqliteStateDb.open({ path })` in a dedicated
// worker writes an OPFS file; everything is there after the page closes and after the browser
// restarts with the same profile; a second worker on the same file gets DATABASE_LOCKED.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
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
