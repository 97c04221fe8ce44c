// The state inspector (www/) end to end in real Chromium (playwright-core driving
// /usr/bin/chromium): the build of `scripts/build-www.mjs` served by `scripts/serve-www.mjs`,
// files opened through the file input exactly as a user does. Expected answers come from the
// reference's expected.json and from the package itself (run here in Node on the same bytes).
// Screenshots of each view: test-results/inspector/*.png (git-ignored).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { SqliteStateDb, diffSnapshots } from "asap-state";
import { buildInspector } from "../../scripts/build-www.mjs";
import { createStaticServer, listen } from "../../scripts/serve-www.mjs";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURES = path.join(REPO, "tests", "fixtures", "python-ref-2.5.10");
const NO_FIXTURES = fs.existsSync(path.join(FIXTURES, "expected.json")) ? false : `no fixtures at ${FIXTURES}`;
const SHOTS = path.join(REPO, "test-results", "inspector");
const ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let tmp;
let server;
let origin;
let browser;
let sizes;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-inspector-"));
  fs.mkdirSync(SHOTS, { recursive: true });
  sizes = await buildInspector();
  // The demo file, as `make demo` writes it.
  execFileSync(process.execPath, [path.join(REPO, "examples/demo-state.mjs"), path.join(REPO, "www/dist/demo.db")], { stdio: "pipe" });
  server = createStaticServer(path.join(REPO, "www"));
  origin = await listen(server, 0);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ARGS });
  for (const s of sizes) console.log(`# inspector bundle: ${s.file} ${s.bytes} B (${s.gzip} B gzip)`);
});

after(async () => {
  await browser?.close();
  server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh page, its page errors, console errors and dialogs collected. */
async function watchedPage(viewport = { width: 1280, height: 900 }) {
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  return { page, problems };
}

/** A fresh page on the inspector, as `watchedPage`, the engine loaded. */
async function inspector(viewport) {
  const { page, problems } = await watchedPage(viewport);
  await page.goto(origin);
  await page.waitForSelector("body[data-state=ready]", { timeout: 60_000 });
  return { page, problems };
}

/** Opens `file` through the file input; resolves "open" or "error". */
async function open(page, file, timeout = 60_000) {
  // Forget the previous file's outcome, so the wait below sees this file's.
  await page.evaluate(() => {
    document.body.dataset.state = "picking";
  });
  await page.setInputFiles("[data-testid=file-input]", file);
  await page.waitForSelector("body[data-state=open], body[data-state=error]", { timeout });
  return page.evaluate(() => document.body.dataset.state);
}

const text = (page, testid) => page.locator(`[data-testid=${testid}]`).first().innerText();
/** The value of a summary figure ("Tasks" → "6"). */
const stat = (page, name) => page.locator(`[data-testid=stat-${name}] .value`).textContent();
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** A copy of a shared fixture in the temp dir (shared files are never touched). */
function fixtureCopy(name) {
  const to = path.join(tmp, name);
  fs.copyFileSync(path.join(FIXTURES, name), to);
  return to;
}

/** A state file written by the package in Node: `fill(db)` then exportBytes. */
async function stateFile(name, fill) {
  const db = await SqliteStateDb.open();
  await fill(db);
  const file = path.join(tmp, name);
  fs.writeFileSync(file, db.exportBytes());
  db.close();
  return file;
}

/** The buckets holding events over every agent, as the page's chosen range and bucket give them. */
function expectedBuckets(db, agents, bucket, startDay, endDay) {
  const start = `${startDay}T00:00:00Z`;
  const end = new Date(Date.parse(`${endDay}T00:00:00Z`) + 86_400_000).toISOString();
  const starts = new Set();
  for (const agent of agents) for (const b of db.metering.series(agent, { bucket, start, end })) starts.add(b.start);
  return starts.size;
}

describe("the reference's WAL fixture", { skip: NO_FIXTURES }, () => {
  let expected;
  let page;
  let problems;
  let file;

  before(async () => {
    expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, "expected.json"), "utf8"));
    file = fixtureCopy("state-wal.db");
    ({ page, problems } = await inspector());
    assert.equal(await open(page, file), "open", await page.locator("[data-testid=error]").innerText().catch(() => ""));
  });
  after(() => page?.close());

  test("the summary counts tasks and snapshots as expected.json does", async () => {
    const tasks = Object.entries(expected.tasks);
    const snapshots = tasks.reduce((n, [, t]) => n + t.versions.length, 0);
    assert.equal(await stat(page, "tasks"), `${tasks.length.toLocaleString("en-US")}`);
    assert.equal(await stat(page, "snapshots"), `${snapshots.toLocaleString("en-US")}`);
    assert.match(await text(page, "stat-schema"), /ok/);
    const rows = await page.locator("[data-testid=tasks-table] tbody tr").evaluateAll((trs) => trs.map((tr) => tr.dataset.task));
    assert.deepEqual(rows, tasks.map(([id]) => id).sort().slice(0, 100));
    await shot(page, "1-tasks");
  });

  test("each task's versions are the ones expected.json lists, newest first", async () => {
    for (const [taskId, t] of Object.entries(expected.tasks)) {
      await page.locator(`[data-task="${taskId}"] button`).click();
      await page.waitForSelector(`[data-testid=task-title]:text-is("${taskId}")`);
      const shown = await page.locator("[data-testid=versions] button").evaluateAll((bs) => bs.map((b) => Number(b.dataset.version)));
      assert.deepEqual(shown, [...t.versions].reverse().slice(0, 200), taskId);
      const latest = t.latest;
      assert.match(await text(page, "version-title"), new RegExp(`^Version ${latest.version}`), taskId);
      await page.locator("[data-testid=tab-tasks]").click();
    }
  });

  test("the diff of two versions lists the changed paths diffSnapshots gives", async () => {
    // The task with the most versions, its first and last versions.
    const [taskId, t] = Object.entries(expected.tasks).sort((a, b) => b[1].versions.length - a[1].versions.length)[0];
    const [first, last] = [t.versions[0], t.versions.at(-1)];
    const want = diffSnapshots(t.each[String(first)], t.each[String(last)]);
    assert.ok(want.changes.some((c) => c.op === "changed"), "the fixture has a changed path to show");
    await page.locator(`[data-task="${taskId}"] button`).click();
    await page.selectOption("[data-testid=diff-from]", String(first));
    await page.selectOption("[data-testid=diff-to]", String(last));
    await page.locator("[data-testid=diff-run]").click();
    await page.waitForSelector("[data-testid=diff-table]");
    const rows = await page.locator("[data-testid=diff-table] tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.className, tr.dataset.path]));
    assert.deepEqual(rows, want.changes.map((c) => [c.op, c.path]));
    const changed = want.changes.find((c) => c.op === "changed");
    const row = page.locator(`[data-testid=diff-table] tr[data-path="${changed.path}"]`);
    assert.deepEqual(await row.locator("td").allInnerTexts(), ["changed", changed.path || "(the whole data)", JSON.stringify(changed.old), JSON.stringify(changed.new)]);
    assert.match(await text(page, "diff-summary"), new RegExp(`v${first} → v${last}: ${want.added} added, ${want.removed} removed, ${want.changed} changed`));
    await shot(page, "2-task-diff");
  });

  test("the usage chart has one bar per bucket that holds events", async () => {
    await page.locator("[data-testid=tab-usage]").click();
    await page.waitForSelector("[data-testid=usage-chart][data-rendered=true]");
    const db = await SqliteStateDb.open({ bytes: fs.readFileSync(file) });
    try {
      const agents = db.metering.agents();
      const rows = await page.locator("[data-testid=agents-table] tbody tr[data-agent]").evaluateAll((trs) => trs.map((tr) => tr.dataset.agent));
      assert.deepEqual(rows, agents);
      for (const bucket of ["hour", "day"]) {
        await page.selectOption("[data-testid=usage-bucket]", bucket);
        const start = await page.inputValue("[data-testid=usage-start]");
        const end = await page.inputValue("[data-testid=usage-end]");
        const box = page.locator("[data-testid=usage-chart]");
        await page.waitForSelector(`[data-testid=usage-chart][data-bucket=${bucket}]`);
        const want = expectedBuckets(db, agents, bucket, start, end);
        assert.ok(want > 0);
        assert.equal(Number(await box.getAttribute("data-buckets")), want, bucket);
        // The bars are really drawn: count the chart colour's pixels on the canvas.
        const bars = await page.evaluate(() => {
          const c = document.querySelector("[data-testid=usage-chart] canvas");
          const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i] === 0x2f && d[i + 1] === 0x6f && d[i + 2] === 0xdf) n++;
          return n;
        });
        assert.ok(bars > 50, `${bucket}: ${bars} bar pixels`);
      }
      // A tooltip on hover, for the screenshot.
      const canvas = await page.locator("[data-testid=usage-chart] canvas").boundingBox();
      await page.mouse.move(canvas.x + canvas.width / 2, canvas.y + canvas.height - 40);
      await shot(page, "3-usage");
    } finally {
      db.close();
    }
    assert.deepEqual(problems, []);
  });
});

test("a LangGraph thread (examples/langgraph/node.mjs, a Node file): a task whose versions are its checkpoints; the diff shows what a step changed", async () => {
  const file = path.join(tmp, "langgraph.db");
  const example = path.join(REPO, "examples/langgraph/node.mjs");
  // Paused in one process, resumed in another, as the example runs.
  for (const args of [["start", "edge agents"], ["resume", "yes"]]) execFileSync(process.execPath, [example, file, ...args], { stdio: "pipe" });
  const task = "langgraph:essay";
  const db = await SqliteStateDb.open({ bytes: fs.readFileSync(file) });
  const versions = db.snapshots.listVersions(task);
  const [from, to] = versions.slice(-2);
  const want = diffSnapshots(db.snapshots.get(task, from), db.snapshots.get(task, to));
  db.close();
  assert.equal(versions.length, 5, "input, plan, review (paused), review (resumed), write");
  // The last step's draft is stored once: as the write that produced it (a pending write of the
  // checkpoint before), which the new checkpoint's value refers to.
  const written = want.changes.find((c) => c.op === "removed" && c.path.startsWith("/writes/") && c.old.channel === "draft" && JSON.stringify(c.old.value).includes("-> written"));
  assert.ok(written, `the write of the last step's draft: ${JSON.stringify(want.changes)}`);
  const refers = want.changes.find((c) => c.path === "/channel_values/draft" && c.op === "added");
  assert.deepEqual(refers?.new.write, [written.old.task_id, written.old.idx], "the new checkpoint's draft refers to that write");

  const { page, problems } = await inspector();
  assert.equal(await open(page, file), "open", await page.locator("[data-testid=error]").innerText().catch(() => ""));
  assert.equal(await stat(page, "tasks"), "1");
  assert.equal(await stat(page, "snapshots"), String(versions.length));
  await page.locator(`[data-task="${task}"] button`).click();
  await page.waitForSelector(`[data-testid=task-title]:text-is("${task}")`);
  const shown = await page.locator("[data-testid=versions] button").evaluateAll((bs) => bs.map((b) => Number(b.dataset.version)));
  assert.deepEqual(shown, [...versions].reverse());
  await page.selectOption("[data-testid=diff-from]", String(from));
  await page.selectOption("[data-testid=diff-to]", String(to));
  await page.locator("[data-testid=diff-run]").click();
  await page.waitForSelector("[data-testid=diff-table]");
  const rows = await page.locator("[data-testid=diff-table] tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.className, tr.dataset.path]));
  assert.deepEqual(rows, want.changes.map((c) => [c.op, c.path]));
  const row = page.locator(`[data-testid=diff-table] tr[data-path="${written.path}"]`);
  assert.match((await row.locator("td").allInnerTexts()).join(" "), /-> written/);
  const refRow = page.locator(`[data-testid=diff-table] tr[data-path="/channel_values/draft"]`);
  assert.match((await refRow.locator("td").allInnerTexts()).join(" "), new RegExp(written.old.task_id));
  await shot(page, "langgraph-thread-diff");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a file picked while the engine is still downloading waits for it, then opens", async () => {
  const file = await stateFile("early.db", (db) => {
    for (const task of ["task_a", "task_b", "task_c"]) db.snapshots.save({ task_id: task, data: { task } });
  });
  const { page, problems } = await watchedPage();
  // The engine's download is held until the test lets it go.
  let release;
  const released = new Promise((resolve) => (release = resolve));
  let requested;
  const wasmRequested = new Promise((resolve) => (requested = resolve));
  await page.route("**/*.wasm", async (route) => {
    requested();
    await released;
    await route.continue();
  });
  try {
    await page.goto(origin, { waitUntil: "commit" });
    await wasmRequested; // the page's script runs (its listeners are on), the engine is not there
    await page.setInputFiles("[data-testid=file-input]", file);
    // Waiting, or (the bug this guards against) an error such as "Cannot read properties of undefined".
    await page.waitForFunction(() => document.body.dataset.state === "waiting" || !document.getElementById("error").hidden);
    assert.equal(await page.locator("[data-testid=error]").isHidden(), true, await page.locator("[data-testid=error]").innerText().catch(() => ""));
    assert.equal(await page.evaluate(() => document.body.dataset.state), "waiting");
    assert.match(await text(page, "engine-status"), /^Loading the engine \(.+\) — early\.db will open when it is ready$/);
    assert.equal(await page.locator("[data-testid=summary]").isHidden(), true);
    assert.deepEqual(problems, []);
    await shot(page, "0-waiting-for-the-engine");

    release();
    await page.waitForSelector("body[data-state=open], body[data-state=error]", { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "open", await page.locator("[data-testid=error]").innerText());
    assert.equal(await stat(page, "tasks"), "3");
    assert.match(await text(page, "stat-file"), /early\.db/);
    assert.equal(await page.locator("[data-testid=error]").isHidden(), true);
    assert.deepEqual(problems, []);
  } finally {
    release();
    await page.close();
  }
});

test("a snapshot holding HTML and script is shown as text and never runs", async () => {
  const evil = `<img src=x onerror="window.__xss=1">`;
  const file = await stateFile("xss.db", (db) => {
    const taskId = `task_${evil}`;
    db.snapshots.save({ task_id: taskId, data: { "<script>window.__xss=2</script>": evil, note: "<b>bold</b>" }, created_at: "2026-03-01T00:00:00Z" });
    db.snapshots.save({ task_id: taskId, data: { "<script>window.__xss=2</script>": `<svg onload="window.__xss=3">`, [evil]: [evil] }, created_at: "2026-03-01T00:01:00Z" });
    db.metering.record({ task_id: taskId, agent_id: `<iframe srcdoc="<script>parent.__xss=4</script>">`, consumer_id: evil, metrics: { tokens_in: 5 }, timestamp: "2026-03-01T00:00:00Z" });
  });
  const { page, problems } = await inspector();
  try {
    assert.equal(await open(page, file), "open");
    await page.locator("[data-testid=tasks-table] tbody tr button").first().click();
    assert.equal(await text(page, "task-title"), `task_${evil}`);
    await page.waitForSelector("[data-testid=diff-table]");
    const tree = await text(page, "json-tree");
    assert.ok(tree.includes(JSON.stringify(evil)), tree);
    const diff = await page.locator("[data-testid=diff-table]").innerText();
    assert.ok(diff.includes("<svg onload") && diff.includes("/<img src=x onerror=\"window.__xss=1\">"), diff);
    await page.locator("[data-testid=tab-usage]").click();
    await page.waitForSelector("[data-testid=usage-chart][data-rendered=true]");
    assert.equal(await page.locator("[data-testid=agents-table] tbody tr td").first().innerText(), `<iframe srcdoc="<script>parent.__xss=4</script>">`);
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator("main img, main script, main svg[onload], main iframe, main b").count(), 0);
    assert.deepEqual(problems, []);
    await shot(page, "4-xss-as-text");
  } finally {
    await page.close();
  }
});

test("a file that is not a state database shows its error code, not a blank page", async () => {
  const junk = path.join(tmp, "junk.db");
  fs.writeFileSync(junk, randomBytes(64 * 1024));
  const truncated = path.join(tmp, "truncated.db");
  const other = path.join(tmp, "other-app.db");
  execFileSync("sqlite3", [other], { input: "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);" });
  const { page, problems } = await inspector();
  try {
    for (const [file, code] of [[junk, "CORRUPT_DATABASE"], [other, "SCHEMA_MISMATCH"]]) {
      assert.equal(await open(page, file), "error");
      assert.equal(await text(page, "error-code"), code);
      assert.match(await text(page, "stat-schema"), new RegExp(code));
      assert.equal(await page.locator("#tabs:visible").count(), 0);
      if (code === "CORRUPT_DATABASE") await shot(page, "5-corrupt-file");
    }
    // A good file after a bad one opens normally, and a truncated copy of it is refused.
    const good = await stateFile("good.db", (db) => {
      for (let v = 1; v <= 30; v++) db.snapshots.save({ task_id: "task_a", data: { v, pad: "x".repeat(300) } });
    });
    assert.equal(await open(page, good), "open");
    assert.equal(await page.locator("[data-testid=error]").isHidden(), true);
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.equal(await open(page, truncated), "error");
    assert.equal(await text(page, "error-code"), "CORRUPT_DATABASE");
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("downloads: the database, one task's versions as JSON, usage as CSV", async () => {
  const file = await stateFile("exports.db", (db) => {
    for (let v = 1; v <= 3; v++) db.snapshots.save({ task_id: "task_x", data: { v }, checkpoint: v === 2, created_at: `2026-03-01T00:0${v}:00Z` });
    db.snapshots.save({ task_id: "task_y", data: { y: true }, created_at: "2026-03-01T00:00:00Z" });
    for (let i = 0; i < 5; i++) {
      db.metering.record({ id: `evt_${i}`, task_id: "task_x", agent_id: i % 2 ? "agent_b" : "agent_a", consumer_id: "c", metrics: { tokens_in: i }, timestamp: `2026-03-01T0${i}:30:00Z` });
    }
  });
  const { page, problems } = await inspector();
  try {
    assert.equal(await open(page, file), "open");
    const save = async (testid) => {
      const [dl] = await Promise.all([page.waitForEvent("download"), page.locator(`[data-testid=${testid}]`).click()]);
      const to = path.join(tmp, dl.suggestedFilename());
      await dl.saveAs(to);
      return to;
    };
    const dbFile = await save("download-db");
    assert.equal(path.basename(dbFile), "exports.export.db");
    const copy = await SqliteStateDb.open({ bytes: fs.readFileSync(dbFile) });
    assert.deepEqual(copy.snapshots.listTasks().map((t) => [t.task_id, t.versions]), [["task_x", 3], ["task_y", 1]]);
    assert.equal(copy.metering.query("agent_a", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z").length, 3);
    copy.close();
    if (spawnSync("sqlite3", ["--version"]).status === 0) {
      assert.equal(execFileSync("sqlite3", [dbFile, "PRAGMA integrity_check;"]).toString().trim(), "ok");
    }

    await page.locator('[data-task="task_x"] button').click();
    const versions = JSON.parse(fs.readFileSync(await save("export-versions"), "utf8"));
    assert.deepEqual(versions.map((s) => [s.version, s.data.v, s.checkpoint]), [[1, 1, false], [2, 2, true], [3, 3, false]]);

    await page.locator("[data-testid=tab-usage]").click();
    await page.waitForSelector("[data-testid=usage-chart][data-rendered=true]");
    await page.selectOption("[data-testid=usage-agent]", "agent_b");
    const csv = fs.readFileSync(await save("export-csv"), "utf8").trim().split(/\r?\n/);
    assert.equal(csv.length, 3, csv.join("\n")); // header + agent_b's 2 events
    assert.ok(csv.slice(1).every((line) => line.includes("agent_b")), csv.join("\n"));
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("the demo file `make demo` serves opens from its button", async () => {
  const { page, problems } = await inspector();
  try {
    await page.locator("#open-demo").click();
    await page.waitForSelector("body[data-state=open]");
    assert.equal(await stat(page, "tasks"), "7");
    // Written in rollback-journal mode: no "WAL-mode file" warning, only the size.
    const file = await text(page, "stat-file");
    assert.doesNotMatch(file, /WAL/, file);
    assert.match(file, /^File\s+demo\.db\s+[\d.]+ (B|KiB|MiB)$/i, file); // the label is upper-cased by CSS
    await page.locator("[data-testid=tab-usage]").click();
    await page.waitForSelector("[data-testid=usage-chart][data-rendered=true]");
    assert.equal(await page.locator("[data-testid=agents-table] tbody tr[data-agent]").count(), 3);
    await shot(page, "6-demo-usage");
    await page.locator("[data-testid=tab-tasks]").click();
    await page.locator('[data-task="task_data_cleanup_q4"] button').click();
    await page.waitForSelector("[data-testid=diff-table]");
    await shot(page, "7-demo-task");
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("a file of 10,000 tasks and 100,000 snapshots opens and pages", { timeout: 300_000 }, async () => {
  const big = path.join(tmp, "big.db");
  execFileSync("sqlite3", [big], {
    input: `
CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL,
  checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version));
CREATE TABLE usage_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, consumer_id TEXT NOT NULL,
  metrics TEXT NOT NULL, timestamp TEXT NOT NULL);
CREATE INDEX idx_usage_agent_timestamp ON usage_events (agent_id, timestamp);
CREATE INDEX idx_usage_consumer_timestamp ON usage_events (consumer_id, timestamp);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO snapshots SELECT printf('task_%05d', i / 10), printf('snap_%06d', i), i % 10 + 1,
  json_object('step', i % 10, 'status', CASE WHEN i % 10 = 9 THEN 'done' ELSE 'working' END, 'notes', printf('note %d', i)),
  i % 10 = 9, strftime('%Y-%m-%dT%H:%M:%S+00:00', 1772323200 + i * 60, 'unixepoch') FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
INSERT INTO usage_events SELECT printf('evt_%05d', i), printf('task_%05d', i), printf('agent_%d', i % 4), 'consumer',
  json_object('tokens_in', i % 700, 'tokens_out', i % 300, 'duration_ms', i % 5000, 'api_calls', i % 7),
  strftime('%Y-%m-%dT%H:%M:%S+00:00', 1772323200 + i * 600, 'unixepoch') FROM n;`,
  });
  const { page, problems } = await inspector();
  try {
    const t0 = Date.now();
    assert.equal(await open(page, big, 240_000), "open");
    const wall = Date.now() - t0;
    const size = fs.statSync(big).size;
    console.log(`# inspector: opened ${(size / 1024 / 1024).toFixed(1)} MiB, 100,000 snapshots in ${wall} ms (page's own count: ${await stat(page, "open-ms")})`);
    assert.equal(await stat(page, "tasks"), "10,000");
    assert.equal(await stat(page, "snapshots"), "100,000");
    assert.equal(await stat(page, "events"), "10,000");
    assert.equal(await page.locator("[data-testid=tasks-table] tbody tr").count(), 100);
    await page.locator("[data-testid=tasks-next]").click();
    assert.equal(await page.locator("[data-testid=tasks-table] tbody tr").first().getAttribute("data-task"), "task_00100");
    await page.fill("[data-testid=task-filter]", "task_0999");
    await page.waitForFunction(() => document.querySelector("[data-testid=task-count]").textContent.startsWith("10 of"));
    assert.equal(await page.locator("[data-testid=tasks-table] tbody tr").count(), 10);
    await page.locator('[data-task="task_09999"] button').click();
    assert.equal(await text(page, "task-versions"), "10 versions");
    await page.waitForSelector("[data-testid=diff-table]");
    await shot(page, "8-large-file");
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

describe("a live deployment of examples/durable-objects (an address and a token instead of a file)", () => {
  let TOKEN;
  let mf;
  let address;
  let page;
  let problems;

  before(async () => {
    const { Miniflare } = await import("miniflare");
    const { AUTH_BINDINGS, bundleDurableObjectsExample, durableObjectsMiniflareOptions, token } = await import("./helpers.mjs");
    TOKEN = await token("inspector", "asap:read asap:execute asap:admin");
    const dir = fs.mkdtempSync(path.join(tmp, "live-"));
    const bundle = bundleDurableObjectsExample(dir);
    mf = new Miniflare(durableObjectsMiniflareOptions(bundle, path.join(dir, "objects"), AUTH_BINDINGS));
    address = String(await mf.ready);
    // 130 tasks (two pages of GET /state.db), one of them with three versions.
    const send = async (payload_type, payload) => {
      const request = { jsonrpc: "2.0", method: "asap.send", id: "1", params: { envelope: { id: `e-${randomBytes(6).toString("hex")}`, asap_version: "0.1", sender: "urn:asap:agent:coordinator", recipient: bundle.config.vars.ASAP_AGENT_ID, payload_type, payload } } };
      const res = await fetch(new URL("asap", address), { method: "POST", body: JSON.stringify(request), headers: { authorization: `Bearer ${TOKEN}` } });
      const body = await res.json();
      assert.equal(body.result?.envelope?.payload?.ok, true, JSON.stringify(body));
    };
    for (const step of [1, 2, 3]) await send("state_save", { snapshot: { task_id: "live-task", data: { step, status: step === 3 ? "done" : "working", notes: [`step ${step}`] } } });
    for (let k = 0; k < 129; k += 1) await send("state_save", { snapshot: { task_id: `bulk-${String(k).padStart(3, "0")}`, data: { k } } });
    ({ page, problems } = await inspector());
  });
  after(async () => {
    await page?.close();
    await mf?.dispose();
  });

  test("a wrong token: the deployment's 401 is shown, nothing opens", async () => {
    await page.fill("[data-testid=remote-url]", address);
    await page.fill("[data-testid=remote-token]", "wrong");
    await page.click("[data-testid=remote-open]");
    await page.waitForSelector("[data-testid=error]:not([hidden])");
    assert.match(await text(page, "error"), /401: the token is malformed/);
    assert.notEqual(await page.evaluate(() => document.body.dataset.state), "open");
  });

  test("the right token: every task of both pages, a task's versions and the diff between two of them", async () => {
    await page.fill("[data-testid=remote-token]", TOKEN);
    await page.click("[data-testid=remote-open]");
    await page.waitForSelector("body[data-state=open], body[data-state=error]", { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), "open", await text(page, "error").catch(() => ""));
    assert.equal(await stat(page, "tasks"), "130");
    assert.equal(await stat(page, "snapshots"), "132");
    assert.match(await text(page, "stat-file"), /\(live\)/);
    await page.fill("[data-testid=task-filter]", "live-task");
    await page.waitForFunction(() => document.querySelector("[data-testid=task-count]").textContent.startsWith("1 of"));
    await page.locator('[data-task="live-task"] button').click();
    assert.equal(await text(page, "task-versions"), "3 versions");
    await page.click("[data-testid=diff-run]");
    await page.waitForSelector("[data-testid=diff-table]");
    const diff = await text(page, "diff-table");
    assert.match(diff, /\/step/);
    assert.match(diff, /\/status/);
    await shot(page, "9-live-deployment");
    assert.deepEqual(problems.filter((p) => !p.includes("401")), []);
  });
});
