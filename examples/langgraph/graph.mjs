import { Annotation, END, START, StateGraph, interrupt } from "@langchain/langgraph";

/** The graph's state: a topic, a draft, the reviewer's decision and a log every node appends to. */
export const EssayState = Annotation.Root({
  topic: Annotation(),
  draft: Annotation(),
  approved: Annotation(),
  log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

/** plan → review (waits for a human: `interrupt`) → write. */
export function buildEssayGraph(checkpointer) {
  return new StateGraph(EssayState)
    .addNode("plan", (s) => ({ draft: `Plan for ${s.topic}: research, outline, write`, log: ["plan"] }))
    .addNode("review", (s) => {
      const decision = interrupt({ question: "Approve this plan?", draft: s.draft });
      return { approved: decision === "yes", log: [`review:${decision}`] };
    })
    .addNode("write", (s) => ({ draft: `${s.draft} -> ${s.approved ? "written" : "rejected"}`, log: ["write"] }))
    .addEdge(START, "plan")
    .addEdge("plan", "review")
    .addEdge("review", "write")
    .addEdge("write", END)
    .compile({ checkpointer });
}

/**
 * The same essay with a breakpoint instead of `interrupt()`: the graph stops before "review",
 * the human's answer goes in with `updateState`, and `invoke(null)` carries on. This is the form
 * for browsers: `interrupt()` needs the AsyncLocalStorage that Node and workerd (nodejs_compat)
 * have and browsers do not.
 */
export const ReviewState = Annotation.Root({
  topic: Annotation(),
  draft: Annotation(),
  decision: Annotation(),
  log: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

export function buildReviewGraph(checkpointer) {
  return new StateGraph(ReviewState)
    .addNode("plan", (s) => ({ draft: `Plan for ${s.topic}: research, outline, write`, log: ["plan"] }))
    .addNode("review", (s) => ({ log: [`review:${s.decision}`] }))
    .addNode("write", (s) => ({ draft: `${s.draft} -> ${s.decision === "yes" ? "written" : "rejected"}`, log: ["write"] }))
    .addEdge(START, "plan")
    .addEdge("plan", "review")
    .addEdge("review", "write")
    .addEdge("write", END)
    .compile({ checkpointer, interruptBefore: ["review"] });
}
