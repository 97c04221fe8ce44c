// LangGraph's checkpointer conformance suite, and its getDeltaChannelHistory cases, against
// AsapCheckpointSaver on a SQLite image (SqliteStateDb.open()), one per checkpointer (see backends.mjs).
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { sqliteImage } from "./backends.mjs";

const init = sqliteImage();
validate(init);
deltaChannelHistoryTests(init);
