// Every ```js block of the guides and READMEs runs, as a user would paste it: written to an ES
// module beside the repository's node_modules (so `import … from "asap-state"` resolves to the
// built package) and run by Node in a fresh temporary directory (so relative files such as
// "state.db" land there). A block fails on a non-zero exit or a failed `console.assert`.
// Blocks that cannot run in Node (a browser worker) are fenced ```js no-run and say why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
const BLOCKS = path.join(REPO, "test-results", "doc-blocks");
const DOCS = [
  "README.md",
  "pkg-template/README.md",
  "docs/state-management.md",
  "docs/best-practices/agent-failover-migration.md",
  "docs/langgraph.md",
];

/** The ```js blocks of a Markdown text: [{ line, code }], `no-run` blocks left out. */
export function jsBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i += 1; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    if (open[1] === "js" && !open[2].split(/\s+/).includes("no-run")) blocks.push({ line: start + 1, code: body.join("\n") });
  }
  return blocks;
}

fs.mkdirSync(BLOCKS, { recursive: true });
let total = 0;
for (const doc of DOCS) {
  const blocks = jsBlocks(fs.readFileSync(path.join(REPO, doc), "utf8"));
  total += blocks.length;
  for (const { line, code } of blocks) {
    test(`${doc}:${line} runs`, () => {
      const file = path.join(BLOCKS, `${doc.replace(/[^A-Za-z0-9]+/g, "_")}_${line}.mjs`);
      fs.writeFileSync(file, `${code}\n`);
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "asap-state-doc-"));
      try {
        const env = { ...process.env };
        delete env.ASAP_STORAGE_BACKEND; // the blocks show the defaults
        delete env.ASAP_STORAGE_PATH;
        const r = spawnSync(process.execPath, [file], { cwd, encoding: "utf8", timeout: 60_000, env });
        const output = `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
        assert.equal(r.status, 0, `${doc}:${line} exited with ${r.status}\n${output}`);
        assert.ok(!r.stderr.includes("Assertion failed"), `${doc}:${line}: a console.assert failed\n${output}`);
      } finally {
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
}

test("the guides hold runnable blocks", () => {
  // A guide whose blocks all stopped being ```js would silently test nothing.
  for (const doc of DOCS.slice(2)) assert.ok(jsBlocks(fs.readFileSync(path.join(REPO, doc), "utf8")).length >= 3, doc);
  assert.ok(total >= 12, `${total} blocks`);
});
