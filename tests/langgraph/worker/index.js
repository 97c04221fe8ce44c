// The test worker of the LangGraph tests in workerd: a Durable Object (SQLite storage) whose
// AsapCheckpointSaver, on DurableObjectStateDb, runs
//  - every call the conformance suite makes (tests/langgraph/conformance-durable-object.test.mjs:
//    the suite runs in Node; each checkpointer there forwards its calls to an object of its own,
//    POST /?object=NAME with JSON `{ method, args }`, and the saver code runs here);
//  - the essay graph of examples/langgraph/ (`{ method: "essay", args: [command, arg] }`: one
//    command per request, the thread's object holding its checkpoints between them;
//    tests/js/langgraph.test.mjs).
import { AsyncLocalStorage } from "node:async_hooks";
import { DurableObject } from "cloudflare:workers";
import { AsyncLocalStorageProviderSingleton } from "@langchain/core/singletons";
import { DurableObjectStateDb } from "asap-state/durable-object";
import { AsapCheckpointSaver } from "asap-state/langgraph";
import { essayCommand } from "../../../examples/langgraph/commands.mjs";
import { buildEssayGraph } from "../../../examples/langgraph/graph.mjs";

// Bundlers pick LangGraph's "browser" build in workerd, which leaves LangChain's context storage
// unset: `interrupt()` needs it (nodejs_compat provides AsyncLocalStorage).
AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new AsyncLocalStorage());

const METHODS = new Set(["getTuple", "list", "put", "putWrites", "deleteThread", "prune", "essay", "tasks"]);

export class SaverObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.saver = new AsapCheckpointSaver(DurableObjectStateDb.open(ctx.storage).snapshots);
  }

  async fetch(request) {
    const { method, args } = await request.json();
    try {
      if (!METHODS.has(method)) throw new Error(`no method ${method}`);
      let result;
      if (method === "list") {
        result = [];
        for await (const tuple of this.saver.list(...args)) result.push(tuple);
      } else if (method === "essay") {
        this.graph ??= buildEssayGraph(this.saver);
        result = await essayCommand(this.graph, "essay", ...args);
      } else if (method === "tasks") {
        result = this.saver.snapshots.listTasks().map((t) => [t.task_id, t.versions]);
      } else {
        result = await this.saver[method](...args);
      }
      return Response.json({ ok: true, result });
    } catch (e) {
      return Response.json({ ok: false, error: { name: e?.name, code: e?.code, message: String(e?.message ?? e) } });
    }
  }
}

export default {
  fetch(request, env) {
    const name = new URL(request.url).searchParams.get("object") ?? "default";
    return env.SAVER.get(env.SAVER.idFromName(name)).fetch(request);
  },
};
