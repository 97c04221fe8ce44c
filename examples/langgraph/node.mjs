#!/usr/bin/env node
// The essay graph (graph.mjs: plan → review, which waits for a human → write) on a SQLite file,
// one command per process, as a real deployment would run it: the process that pauses at the
// review exits, and a later one finds the thread in the file and resumes it.
//
//   node examples/langgraph/node.mjs essay.db start "edge agents"   # runs to the review, exits
//   node examples/langgraph/node.mjs essay.db resume yes            # another process resumes
//   node examples/langgraph/node.mjs essay.db history               # every checkpoint, newest first
//   node examples/langgraph/node.mjs essay.db fork no               # time travel: redo the review
//
// Each command prints one JSON line (commands.mjs). Open essay.db in the inspector (make demo,
// then "Open a state file"): the thread is the task "langgraph:essay", each checkpoint a version.
import { SqliteStateDb } from "asap-state";
import { AsapCheckpointSaver } from "asap-state/langgraph";
import { essayCommand } from "./commands.mjs";
import { buildEssayGraph } from "./graph.mjs";

const [file = "essay.db", command = "start", arg] = process.argv.slice(2);
const db = await SqliteStateDb.open({ path: file });
try {
  const graph = buildEssayGraph(new AsapCheckpointSaver(db.snapshots));
  console.log(JSON.stringify(await essayCommand(graph, "essay", command, arg)));
} finally {
  db.close();
}
