// LangGraph's checkpointer conformance suite, and its getDeltaChannelHistory cases, against
// AsapCheckpointSaver on the in-memory store (MemorySnapshotStore), one per checkpointer (see backends.mjs).
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { memory } from "./backends.mjs";

const init = memory();
validate(init);
deltaChannelHistoryTests(init);
