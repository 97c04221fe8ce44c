// LangGraph's checkpointer conformance suite, and its getDeltaChannelHistory cases, against
// AsapCheckpointSaver on Durable Objects in real workerd: Miniflare (from the installed wrangler)
// runs worker/index.js, bundled the way `wrangler deploy` bundles it, with SQLite-backed objects
// persisted to a temporary directory. Every checkpointer the suite creates is a forwarder in Node
// whose calls run in a Durable Object of its own (arguments and answers cross as JSON, which
// holds every value the suite uses).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { wranglerDryRun } from "../js/helpers.mjs";

const HERE = resolve(fileURLToPath(new URL(".", import.meta.url)));
const COMPAT_DATE = "2025-01-01";
let tmp;
let mf;
let seq = 0;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "asap-state-langgraph-do-"));
  const outDir = join(tmp, "out");
  const config = join(tmp, "wrangler.json");
  writeFileSync(config, JSON.stringify({
    name: "asap-state-langgraph-test",
    main: join(HERE, "worker/index.js"),
    compatibility_date: COMPAT_DATE,
    compatibility_flags: ["nodejs_compat"],
    durable_objects: { bindings: [{ name: "SAVER", class_name: "SaverObject" }] },
    migrations: [{ tag: "v1", new_sqlite_classes: ["SaverObject"] }],
  }));
  wranglerDryRun(tmp, config, outDir);
  mf = new Miniflare({
    modules: true,
    scriptPath: join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: COMPAT_DATE,
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: { SAVER: { className: "SaverObject", useSQLite: true } },
    durableObjectsPersist: join(tmp, "do"),
  });
  await mf.ready;
}, 180_000);

afterAll(async () => {
  try {
    await mf?.dispose();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
});

/** A checkpointer in Node whose every call runs in the Durable Object `object`. */
class DurableObjectSaver extends BaseCheckpointSaver {
  constructor(object) {
    super();
    this.object = object;
  }

  async call(method, ...args) {
    const res = await mf.dispatchFetch(`http://localhost/?object=${encodeURIComponent(this.object)}`, {
      method: "POST",
      body: JSON.stringify({ method, args }),
      headers: { "content-type": "application/json" },
    });
    const answer = await res.json();
    if (!answer.ok) throw Object.assign(new Error(answer.error.message), { name: answer.error.name, code: answer.error.code });
    return answer.result;
  }

  getTuple(config) {
    return this.call("getTuple", config);
  }

  async *list(config, options) {
    yield* await this.call("list", config, options);
  }

  put(config, checkpoint, metadata, newVersions) {
    return this.call("put", config, checkpoint, metadata, newVersions);
  }

  putWrites(config, writes, taskId, taskPath) {
    return this.call("putWrites", config, writes, taskId, taskPath);
  }

  deleteThread(threadId) {
    return this.call("deleteThread", threadId);
  }
}

const init = {
  checkpointerName: "asap-state Durable Objects (workerd)",
  createCheckpointer: () => new DurableObjectSaver(`suite-${++seq}`),
};
validate(init);
deltaChannelHistoryTests(init);
