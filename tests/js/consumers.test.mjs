// The package as users install it (issue 15): `npm pack` of pkg/, installed into fresh bundler
// projects (tests/consumers/<tool>/: a package.json and a lockfile of their own, no
// configuration), built with the tool's defaults, and run in headless Chromium: the memory
// stores, a SQLite image round trip, and a SQLite file on OPFS in a dedicated worker
// (tests/consumers/browser-app/, the same app for every tool).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CONSUMERS = join(REPO, "tests/consumers");
const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };

let tmp;
let tarball;
let browser;

function run(cmd, args, cwd, timeout = 300_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} in ${cwd} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "asap-state-consumers-"));
  const packed = JSON.parse(run("npm", ["pack", join(REPO, "pkg"), "--pack-destination", tmp, "--json"], tmp).stdout);
  tarball = join(tmp, packed[0].filename);
  console.log(`# npm pack: ${packed[0].filename}, ${packed[0].size} B packed, ${packed[0].unpackedSize} B unpacked, ${packed[0].entryCount} files`);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
});

/** A fresh project: the consumer's package.json and lockfile, the app, `npm ci`, then the tarball. */
function project(name) {
  const dir = join(tmp, name);
  cpSync(join(CONSUMERS, name), dir, { recursive: true });
  cpSync(join(CONSUMERS, "browser-app"), dir, { recursive: true });
  run("npm", ["ci"], dir);
  run("npm", ["install", "--no-save", tarball], dir);
  return dir;
}

/** Serves `root` on 127.0.0.1 (a secure context, so OPFS is there); returns { origin, close }. */
async function serve(root) {
  const server = createServer((req, res) => {
    if (req.url === "/favicon.ico") return void res.writeHead(204).end(); // the browser asks; the app has none
    let file = resolve(root, "." + decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (file !== root && !file.startsWith(root + sep)) file = undefined;
    try {
      if (file && statSync(file).isDirectory()) file = join(file, "index.html");
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise((ok, fail) => server.listen(0, "127.0.0.1", ok).once("error", fail));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Opens the built app in a fresh browser context and returns what it published, with the console. */
async function runApp(root) {
  const { origin, close } = await serve(root);
  const context = await browser.newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  try {
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 60_000 }).catch((e) => {
      throw new Error(`the app never published results; console: ${JSON.stringify(logs)}`, { cause: e });
    });
    return { results: await page.evaluate(() => window.__results), logs };
  } finally {
    await context.close();
    await close();
  }
}

function assertApp({ results, logs }, label) {
  assert.equal(results.ok, true, `${label}: ${results.error}\n${results.stack}\n${logs.join("\n")}`);
  const r = results.value;
  assert.equal(r.early, "NOT_READY", `${label}: a synchronous call before ready()`);
  assert.deepEqual(r.image, { header: "SQLite format 3", versions: [1, 2], first: { step: 1, text: "é 😀 漢字" }, same: true }, label);
  assert.deepEqual(r.memory, { versions: [1, 2], latest: { a: 2 }, diff: [{ op: "changed", path: "/a", segments: ["a"], old: 1, new: 2 }] }, label);
  assert.deepEqual(r.opfs, { ok: true, version: 1, data: { in: "a worker" }, sameId: true }, `${label}: OPFS in a worker`);
  assert.deepEqual(logs.filter((l) => /^(error|pageerror)/.test(l)), [], `${label}: console errors`);
}

for (const [name, tool] of [["vite6", "Vite 6"], ["vite7", "Vite 7"]]) {
  test(`${tool}, default configuration: \`vite build\` of a fresh project, run in Chromium`, async () => {
    const dir = project(name);
    const version = JSON.parse(readFileSync(join(dir, "node_modules/vite/package.json"), "utf8")).version;
    const built = run(process.execPath, [join(dir, "node_modules/vite/bin/vite.js"), "build"], dir);
    assert.match(built.stdout, /built in/);
    const assets = readdirSync(join(dir, "dist/assets"));
    assert.ok(assets.some((f) => f.endsWith(".wasm")), `the .wasm is emitted as an asset: ${assets}`);
    console.log(`# ${tool} ${version}: built ${assets.length} assets`);
    assertApp(await runApp(join(dir, "dist")), `${tool} ${version}`);
  });
}
