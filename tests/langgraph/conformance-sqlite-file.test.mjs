// LangGraph's checkpointer conformance suite, and its getDeltaChannelHistory cases, against
// AsapCheckpointSaver on a SQLite Node file (SqliteStateDb.open({ path })), one per checkpointer (see backends.mjs).
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { sqliteFile } from "./backends.mjs";

const init = sqliteFile();
validate(init);
deltaChannelHistoryTests(init);
