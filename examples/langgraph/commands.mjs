// The essay graph's commands, one per request or process, shared by node.mjs (a SQLite file,
// one process per command) and the Durable Object of tests/langgraph/worker/ (one request per
// command): start (runs to the human review and pauses), resume (answers it), history (every
// checkpoint, newest first) and fork (time travel: back to before the review, another answer).
import { Command } from "@langchain/langgraph";

/** Every state of the thread, newest first. */
async function historyOf(graph, config) {
  const states = [];
  for await (const s of graph.getStateHistory(config)) states.push(s);
  return states;
}

/** Runs `command` on `graph` for the thread `threadId`; the answer is plain JSON. */
export async function essayCommand(graph, threadId, command, arg) {
  const config = { configurable: { thread_id: threadId } };
  const history = () => historyOf(graph, config);
  switch (command) {
    case "start": {
      const r = await graph.invoke({ topic: arg ?? "edge agents" }, config);
      return { paused: r.__interrupt__.map((i) => i.value) };
    }
    case "resume":
      return { done: await graph.invoke(new Command({ resume: arg ?? "yes" }), config) };
    case "history":
      return { history: (await history()).map((s) => ({ step: s.metadata.step, next: s.next, log: s.values.log ?? [] })) };
    case "fork": {
      const atReview = (await history()).find((s) => s.next.includes("review"));
      await graph.invoke(null, atReview.config);
      return { forked: await graph.invoke(new Command({ resume: arg ?? "no" }), config) };
    }
    default:
      throw new Error(`unknown command ${command}: start, resume, history or fork`);
  }
}

/** `essayCommand` for `buildReviewGraph` (a breakpoint before the review; no `interrupt()`). */
export async function reviewCommand(graph, threadId, command, arg) {
  const config = { configurable: { thread_id: threadId } };
  const history = () => historyOf(graph, config);
  switch (command) {
    case "start":
      await graph.invoke({ topic: arg ?? "edge agents" }, config);
      return { paused: (await graph.getState(config)).next };
    case "resume":
      await graph.updateState(config, { decision: arg ?? "yes" });
      return { done: await graph.invoke(null, config) };
    case "history":
      return { history: (await history()).map((s) => ({ step: s.metadata.step, source: s.metadata.source, next: s.next, log: s.values.log ?? [] })) };
    case "fork": {
      // The checkpoint where the graph first stopped before the review, another answer there.
      const paused = (await history()).filter((s) => s.next.includes("review") && s.metadata.source === "loop").at(-1);
      const forkConfig = await graph.updateState(paused.config, { decision: arg ?? "no" });
      return { forked: await graph.invoke(null, forkConfig) };
    }
    default:
      throw new Error(`unknown command ${command}: start, resume, history or fork`);
  }
}
