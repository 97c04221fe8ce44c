// LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation) against
// AsapCheckpointSaver on every backend: `make test-langgraph`, or
// `npx vitest run --config tests/langgraph/vitest.config.mjs` after `make pkg`.
import { fileURLToPath } from "node:url";

export default {
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["tests/langgraph/*.test.mjs"],
    // The suite uses vitest's describe/it/expect as globals.
    globals: true,
    // One file at a time: two cores, and the workerd file starts its own workerd.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ["default"],
  },
};
