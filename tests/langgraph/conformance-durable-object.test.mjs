// LangGraph's checkpointer conformance suite, and its getDeltaChannelHistory cases, against
// AsapCheckpointSaver on Durable Objects in real workerd: Miniflare (from the installed wrangler)
// runs worker/index.js, bundled the way `wrangler deploy` bundles it, with SQLite-backed objects
// persisted to a temporary directory. Every checkpointer the suite creates is a forwarder in Node
// whose calls run in a Durable Object of its own (arguments and answers cross as JSON, which
// holds every value the suite uses).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { bundleSaverWorker, callObject, saverMiniflare } from "./worker/workerd.mjs";

let tmp;
let mf;
let seq = 0;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "asap-state-langgraph-do-"));
  mf = saverMiniflare(bundleSaverWorker(tmp), join(tmp, "do"));
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

  call(method, ...args) {
    return callObject(mf, this.object, method, ...args);
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
