// The package in real Chromium (playwright-core, the system's /usr/bin/chromium):
// (a) "asap-state/web" without a bundler (`await init()`), (b) "asap-state" bundled by esbuild for
// the browser. A static server on 127.0.0.1 serves pkg/, the fixture pages and the bundle.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const PKG = join(REPO, "pkg");
const PAGES = join(REPO, "tests/js/fixtures/browser");

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".map": "application/json",
};

let bundleDir;
let server;
let origin;
let browser;
let bundleMeta;
const served = []; // [status, path, content-type]

function serve(roots) {
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const root = Object.keys(roots).find((prefix) => path.startsWith(prefix));
    let file;
    if (root) {
      const base = roots[root];
      file = resolve(base, "." + path.slice(root.length - 1));
      if (file !== base && !file.startsWith(base + sep)) file = undefined; // no escaping the root
    }
    let body;
    try {
      if (file && statSync(file).isFile()) body = readFileSync(file);
    } catch {
      body = undefined;
    }
    if (body === undefined) {
      served.push([404, path, null]);
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const type = MIME[extname(file)] ?? "application/octet-stream";
    served.push([200, path, type]);
    res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
  });
}

before(async () => {
  // (b) the bundle: esbuild, browser platform, ESM, the default target (browser.js has no
  // top-level await: its WebAssembly loads on import and `ready()` says when).
  bundleDir = mkdtempSync(join(tmpdir(), "asap-state-browser-"));
  const result = await build({
    entryPoints: [join(PAGES, "bundled-entry.js")],
    bundle: true,
    platform: "browser",
    format: "esm",
    // ES2020, the language level of Vite 6's default target: esbuild refuses top-level await
    // there (it cannot be lowered), so the bundle building at all is the check.
    target: "es2020",
    outdir: bundleDir,
    metafile: true,
    logLevel: "silent",
    absWorkingDir: REPO,
  });
  bundleMeta = result.metafile;
  copyFileSync(join(PAGES, "bundled.html"), join(bundleDir, "bundled.html"));
  // esbuild leaves `new URL("./wasm/full/web/asap_state_bg.wasm", import.meta.url)` as it is, so the
  // bundle fetches the .wasm relative to itself: put it there.
  mkdirSync(join(bundleDir, "wasm/full/web"), { recursive: true });
  copyFileSync(join(PKG, "wasm/full/web/asap_state_bg.wasm"), join(bundleDir, "wasm/full/web/asap_state_bg.wasm"));

  server = serve({ "/pkg/": PKG, "/pages/": PAGES, "/bundle/": bundleDir });
  await new Promise((ok, fail) => server.listen(0, "127.0.0.1", ok).once("error", fail));
  origin = `http://127.0.0.1:${server.address().port}`;

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  try {
    await browser?.close();
    if (server) await new Promise((ok) => server.close(ok));
  } finally {
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  }
});

/** Opens a page, waits for window.__results, returns it with the console and page errors. */
async function open(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  try {
    const response = await page.goto(origin + path);
    assert.equal(response.status(), 200);
    try {
      await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 10_000 });
    } catch (e) {
      throw new Error(`${path} never published results; console: ${JSON.stringify(logs)}`, { cause: e });
    }
    const results = await page.evaluate(() => window.__results);
    return { results, logs };
  } finally {
    await context.close();
  }
}

function assertScenario({ results, logs }, label) {
  assert.equal(results.ok, true, `${label}: ${results.error}\n${results.stack}`);
  const r = results.value;
  assert.deepEqual(logs.filter((l) => /^(error|warning|pageerror)/.test(l)), [], `${label}: console errors/warnings`);

  assert.equal(r.first.version, 1);
  assert.match(r.first.id, /^snap_[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(r.first.created_at, "2025-02-08T12:00:00.500000+00:00");
  assert.deepEqual(r.first.data, { step: 1, nums: [0.1, 1e-7, -1.25, 2 ** 53 - 1, 1e300], ключ: "значение", "🔑": null });
  assert.deepEqual(Object.keys(r.first.data), ["step", "nums", "ключ", "🔑"]);
  assert.equal(r.second.version, 2);
  assert.equal(r.second.checkpoint, true);
  assert.equal(r.second.created_at, "2025-02-08T13:00:00+00:00");
  assert.deepEqual(r.explicit, { id: "snap_fixed", task_id: "task_0", version: 7, data: {}, checkpoint: false, created_at: "1970-01-01T00:00:00+00:00" });
  assert.deepEqual(r.latest, r.second);
  assert.deepEqual(r.v1, r.first);
  assert.deepEqual(r.versions, [1, 2]);
  assert.deepEqual(r.tasks, [
    { task_id: "task_0", versions: 1, latest_version: 7, latest_created_at: "1970-01-01T00:00:00+00:00", checkpoints: 0 },
    { task_id: "task_1", versions: 2, latest_version: 2, latest_created_at: "2025-02-08T13:00:00+00:00", checkpoints: 1 },
  ]);

  for (const [key, code, field] of [
    ["badData", "INVALID_SNAPSHOT", /data/],
    ["naive", "INVALID_TIMESTAMP", /created_at/],
    ["conflict", "VERSION_CONFLICT", /task_1/],
    ["negativeOffset", "INVALID_ARGUMENT", /offset must be non-negative/],
  ]) {
    const e = r[key];
    assert.ok(e, `${label}: ${key} did not throw`);
    assert.equal(e.isStateError, true, `${label}: ${key} instanceof StateError`);
    assert.equal(e.isError, true);
    assert.equal(e.name, "StateError");
    assert.equal(e.code, code, `${label}: ${key}: ${e.message}`);
    assert.match(e.message, field);
  }
  assert.deepEqual(r.versionsAfterErrors, [1, 2]);
  assert.deepEqual(r.aggregate, { agent_id: "agent", period: "day", total_tokens: 35, total_duration: 7, total_tasks: 2, total_api_calls: 1 });
  assert.deepEqual(r.queryIds, ["e1", "e2"]);
  assert.equal(r.csvHeader, "id,task_id,agent_id,consumer_id,tokens_in,tokens_out,duration_ms,api_calls,timestamp");
  assert.equal(r.stateErrorIsGlobal, true);
  if (r.pathOnMainThread) {
    const { refused, savedVersion, sharedByPath } = r.pathOnMainThread;
    assert.ok(refused, `${label}: open({ path }) on the main thread did not reject`);
    assert.equal(refused.isStateError, true);
    assert.equal(refused.code, "STORAGE_IO");
    assert.match(refused.message, /agent\/state\.db: there is no file storage here/);
    assert.match(refused.message, /dedicated Web Worker/);
    assert.match(refused.message, /fallback: "memory"/);
    assert.equal(savedVersion, 1);
    assert.deepEqual(sharedByPath, { kept: "in memory" }, `${label}: the explicit fallback is one image per path`);
  }
}

test("(a) asap-state/web without a bundler: await init(), then the stores work", async () => {
  served.length = 0;
  const out = await open("/pages/web.html");
  assertScenario(out, "web.js");
  assert.ok(out.results.value.pathOnMainThread, "web.js has SqliteStateDb: the main-thread path case ran");
  const wasm = served.filter(([, p]) => p.endsWith(".wasm"));
  assert.deepEqual(wasm, [[200, "/pkg/wasm/full/web/asap_state_bg.wasm", "application/wasm"]], "init() fetched the .wasm beside the glue");
  assert.ok(served.some(([s, p, t]) => s === 200 && p === "/pkg/web.js" && t.startsWith("text/javascript")));
  assert.deepEqual(served.filter(([s]) => s !== 200), [], "no 404s");
});

test("(b) asap-state bundled by esbuild for the browser picks the browser condition", async () => {
  const inputs = Object.keys(bundleMeta.inputs).sort();
  assert.ok(inputs.includes("pkg/browser.js"), `browser.js not bundled: ${inputs}`);
  for (const other of ["pkg/node.js", "pkg/workerd.js", "pkg/web.js"]) assert.ok(!inputs.includes(other), `${other} was bundled`);
  assert.ok(!inputs.some((i) => i.startsWith("pkg/wasm/full/node/")), `node glue bundled: ${inputs}`);

  served.length = 0;
  const out = await open("/bundle/bundled.html");
  assertScenario(out, "esbuild bundle");
  assert.ok(out.results.value.pathOnMainThread, "the bundle has SqliteStateDb: the main-thread path case ran");
  // Synchronous calls made on import, before the WebAssembly had loaded: NOT_READY, saying what to do.
  const early = out.results.value.early;
  assert.equal(early.length, 2);
  for (const e of early) {
    assert.equal(e?.code, "NOT_READY", JSON.stringify(early));
    assert.equal(e.isStateError, true);
    assert.match(e.message, /still loading; `await ready\(\)`/);
  }
  assert.match(early[0].message, /^new MemorySnapshotStore\(\)/);
  assert.match(early[1].message, /^diffJson\(\)/);
  const wasm = served.filter(([, p]) => p.endsWith(".wasm"));
  assert.deepEqual(wasm, [[200, "/bundle/wasm/full/web/asap_state_bg.wasm", "application/wasm"]], "the bundle fetched the .wasm relative to itself");
  assert.ok(!served.some(([, p]) => p.startsWith("/pkg/")), "the bundle needs nothing from pkg/ at run time");
  assert.deepEqual(served.filter(([s]) => s !== 200), [], "no 404s");
});
