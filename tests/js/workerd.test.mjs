// The package's `workerd` entry inside real workerd (Miniflare from the installed wrangler).
// The fixture worker imports "asap-state" by its bare name and is bundled the way `wrangler deploy`
// bundles it (`wrangler deploy --dry-run --outdir`, offline): conditions workerd/worker/browser,
// the .wasm kept as a separate CompiledWasm module.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { wranglerDryRun } from "./helpers.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURE = join(REPO, "tests/js/fixtures/worker/index.js");
const COMPAT_DATE = "2025-01-01";

let tmp;
let outDir;
let mf;

async function call(path, body) {
  const init = body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } };
  const res = await mf.dispatchFetch(`http://localhost${path}`, init);
  return { status: res.status, body: await res.json() };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "asap-state-workerd-"));
  outDir = join(tmp, "out");
  const config = join(tmp, "wrangler.json");
  writeFileSync(config, JSON.stringify({ name: "asap-state-test", main: FIXTURE, compatibility_date: COMPAT_DATE }));
  wranglerDryRun(tmp, config, outDir);

  mf = new Miniflare({
    modules: true,
    scriptPath: join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: COMPAT_DATE,
    host: "127.0.0.1",
    port: 0,
  });
  await mf.ready;
});

after(async () => {
  try {
    await mf?.dispose();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
});

test("the bundle uses the workerd entry and imports the .wasm as a module", () => {
  const files = readdirSync(outDir);
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  assert.equal(wasm.length, 1, `one .wasm module in ${files}`);
  assert.deepEqual(readFileSync(join(outDir, wasm[0])), readFileSync(join(REPO, "pkg/wasm/full/web/asap_state_bg.wasm")));
  const bundle = readFileSync(join(outDir, "index.js"), "utf8");
  assert.match(bundle, new RegExp(`import \\w+ from "\\./${wasm[0].replace(/[.]/g, "\\.")}"`));
  const sources = JSON.parse(readFileSync(join(outDir, "index.js.map"), "utf8")).sources.map((s) => resolve(outDir, s));
  const pkgFiles = sources.filter((s) => s.startsWith(join(REPO, "pkg") + "/")).map((s) => s.slice(REPO.length + 1)).sort();
  assert.ok(pkgFiles.includes("pkg/workerd.js"), `workerd.js not bundled: ${pkgFiles}`);
  for (const other of ["pkg/node.js", "pkg/browser.js", "pkg/web.js"]) assert.ok(!pkgFiles.includes(other), `${other} was bundled`);
  assert.ok(pkgFiles.every((f) => !f.startsWith("pkg/wasm/full/node/")), `node glue was bundled: ${pkgFiles}`);
  assert.ok(pkgFiles.includes("pkg/wasm/full/web/asap_state.js"));
});

test("runs in real workerd", async () => {
  const { status, body } = await call("/runtime");
  assert.equal(status, 200);
  assert.equal(body.navigatorUserAgent, "Cloudflare-Workers");
  assert.equal(body.stateErrorIsGlobal, true);
});

test("state persists across requests in the same isolate", async () => {
  const first = await call("/save", { task_id: "task_1", data: { step: 1, list: [0.1, 1e-7, 2 ** 53 - 1], ключ: "значение" }, created_at: "2025-02-08T14:00:00+02:00" });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.version, 1);
  assert.equal(first.body.created_at, "2025-02-08T12:00:00+00:00");
  assert.match(first.body.id, /^snap_[0-9A-Z]{26}$/);
  const second = await call("/save", { task_id: "task_1", data: { step: 2 }, checkpoint: true });
  assert.equal(second.body.version, 2);
  await call("/save", { task_id: "task_0", version: 5, data: {} });

  assert.deepEqual((await call("/versions?task=task_1")).body, [1, 2]);
  const latest = await call("/get?task=task_1");
  assert.deepEqual(latest.body, second.body);
  const v1 = await call("/get?task=task_1&version=1");
  assert.deepEqual(v1.body, first.body);
  assert.deepEqual(v1.body.data, { step: 1, list: [0.1, 1e-7, 2 ** 53 - 1], ключ: "значение" });
  assert.deepEqual((await call("/get?task=nope")).body, null);
  const tasks = (await call("/tasks")).body;
  assert.deepEqual(tasks.map((t) => [t.task_id, t.versions, t.latest_version, t.checkpoints]), [["task_0", 1, 5, 0], ["task_1", 2, 2, 1]]);

  await call("/record", { task_id: "task_1", agent_id: "agent", consumer_id: "c", metrics: { tokens_in: 10, tokens_out: 20, api_calls: 1 } });
  await call("/record", { task_id: "task_1", agent_id: "agent", consumer_id: "c", metrics: { tokens_in: 5, duration_ms: 7 } });
  assert.deepEqual((await call("/aggregate?agent=agent&period=day")).body, {
    agent_id: "agent", period: "day", total_tokens: 35, total_duration: 7, total_tasks: 2, total_api_calls: 1,
  });
  const rt = (await call("/runtime")).body;
  assert.ok(rt.requests >= 10, `one isolate served every request (count ${rt.requests})`);
});

test("a StateError's code crosses the worker boundary", async () => {
  const cases = [
    ["data-array", "INVALID_SNAPSHOT", /data/],
    ["naive-timestamp", "INVALID_TIMESTAMP", /timestamp/],
  ];
  for (const [name, code, field] of cases) {
    const { status, body } = await call(`/bad?case=${name}`);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.thrown.isStateError, true);
    assert.equal(body.thrown.isError, true);
    assert.equal(body.thrown.name, "StateError");
    assert.equal(body.thrown.code, code);
    assert.match(body.thrown.message, field);
  }
  await call("/save", { task_id: "conflicted", data: {} });
  const conflict = await call("/bad?case=conflict&task=conflicted");
  assert.equal(conflict.body.thrown.code, "VERSION_CONFLICT");
  // A bad body sent by a client: the worker's catch turns it into 400 + code.
  const extra = await call("/save", { task_id: "x", data: {}, unknown: 1 });
  assert.equal(extra.status, 400);
  assert.equal(extra.body.thrown.code, "INVALID_SNAPSHOT");
  assert.match(extra.body.thrown.message, /unknown/);
  // The failed calls changed nothing and the isolate still works.
  assert.deepEqual((await call("/versions?task=conflicted")).body, [1]);
  assert.deepEqual((await call("/versions?task=x")).body, []);
  assert.equal((await call("/save", { task_id: "conflicted", data: {} })).body.version, 2);
});
