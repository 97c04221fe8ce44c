// The package's TypeScript types: a strict consumer (tests/types/consumer.ts) compiles against
// pkg/ resolved through node_modules/asap-state, its @ts-expect-error lines prove wrong shapes are
// rejected, the .d.ts files contain no `any`, and every runtime export has a declaration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const TSC = join(REPO, "node_modules/.bin/tsc");
const DTS = ["pkg/index.d.ts", "pkg/web.d.ts", "pkg/durable-object/index.d.ts", "pkg/langgraph/index.d.ts"];

function tsc(project) {
  return new Promise((ok, fail) => {
    const child = spawn(TSC, ["-p", project, "--pretty", "false"], { cwd: REPO });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", fail);
    child.on("close", (code) => ok({ code, out }));
  });
}

test("tsc --strict compiles the consumer (moduleResolution bundler and node16)", async () => {
  const [bundler, node16] = await Promise.all([tsc("tests/types/tsconfig.json"), tsc("tests/types/tsconfig.node16.json")]);
  assert.equal(bundler.out, "", `bundler:\n${bundler.out}`);
  assert.equal(bundler.code, 0);
  assert.equal(node16.out, "", `node16:\n${node16.out}`);
  assert.equal(node16.code, 0);
});

test("the consumer is strict, resolves the package by name and proves wrong shapes are rejected", () => {
  const config = JSON.parse(readFileSync(join(REPO, "tests/types/tsconfig.json"), "utf8"));
  assert.equal(config.compilerOptions.strict, true);
  assert.equal(config.compilerOptions.noEmit, true);
  assert.equal(config.compilerOptions.skipLibCheck, false, "the package's .d.ts files are checked too");
  const consumer = readFileSync(join(REPO, "tests/types/consumer.ts"), "utf8");
  for (const spec of ['from "asap-state"', 'from "asap-state/memory"', 'from "asap-state/durable-object"', 'from "asap-state/web"', 'from "asap-state/langgraph"']) assert.ok(consumer.includes(spec), spec);
  const expectErrors = consumer.match(/\/\/ @ts-expect-error/g) ?? [];
  assert.ok(expectErrors.length >= 20, `only ${expectErrors.length} @ts-expect-error lines`);
  // node_modules/asap-state is the built package.
  assert.equal(realpathSync(join(REPO, "node_modules/asap-state")), join(REPO, "pkg"));
});

/** Every `any` keyword in a declaration file (comments do not count). */
function anyKeywords(file) {
  const text = readFileSync(join(REPO, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if (node.kind === ts.SyntaxKind.AnyKeyword) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${file}:${line + 1}: ${text.split("\n")[line].trim()}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { found, source, text };
}

test("no `any` in the entries' declaration files", () => {
  for (const file of DTS) {
    const { found, text } = anyKeywords(file);
    assert.deepEqual(found, [], `${file} uses any`);
    // And textually, outside comments (catches `any` the parser might place elsewhere).
    const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    assert.doesNotMatch(code, /\bany\b/, `${file} mentions any`);
  }
  // The check itself works.
  assert.equal(ts.createSourceFile("x.d.ts", "export declare function f(x: any): void;", ts.ScriptTarget.Latest, true).statements.length, 1);
});

/** Names a declaration file exports (syntactically; `export *` followed). */
function declaredExports(file, seen = new Set()) {
  if (seen.has(file)) return new Set();
  seen.add(file);
  const source = ts.createSourceFile(file, readFileSync(join(REPO, file), "utf8"), ts.ScriptTarget.Latest, true);
  const names = new Set();
  const isExported = (node) => ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export;
  for (const st of source.statements) {
    if (ts.isExportDeclaration(st) && !st.exportClause && st.moduleSpecifier) {
      const target = join(file, "..", st.moduleSpecifier.text.replace(/\.js$/, ".d.ts"));
      for (const n of declaredExports(target, seen)) names.add(n);
    } else if (ts.isExportDeclaration(st) && st.exportClause && ts.isNamedExports(st.exportClause)) {
      for (const el of st.exportClause.elements) names.add(el.name.text);
    } else if ((ts.isClassDeclaration(st) || ts.isFunctionDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) && isExported(st)) {
      const isDefault = ts.getCombinedModifierFlags(st) & ts.ModifierFlags.Default;
      names.add(isDefault ? "default" : st.name.text);
    } else if (ts.isVariableStatement(st) && isExported(st)) {
      for (const d of st.declarationList.declarations) names.add(d.name.text);
    }
  }
  return names;
}

test("every runtime export of every entry has a declaration", async () => {
  const pkgJson = JSON.parse(readFileSync(join(REPO, "pkg/package.json"), "utf8"));
  const entries = { "asap-state": ".", "asap-state/memory": "./memory", "asap-state/durable-object": "./durable-object", "asap-state/web": "./web", "asap-state/langgraph": "./langgraph" };
  for (const [specifier, key] of Object.entries(entries)) {
    const types = pkgJson.exports[key].types;
    assert.ok(types, `${key} has a types condition`);
    assert.equal(Object.keys(pkgJson.exports[key])[0], "types", `${key}: "types" must come first`);
    assert.ok(existsSync(join(REPO, "pkg", types)), `${types} exists`);
    const declared = declaredExports(join("pkg", types));
    const runtime = Object.keys(await import(specifier));
    assert.ok(runtime.length >= 2, `${specifier} exports ${runtime}`);
    for (const name of runtime) assert.ok(declared.has(name), `${specifier} exports ${name} at run time but ${types} does not declare it`);
  }
  const all = declaredExports("pkg/index.d.ts");
  for (const name of ["Json", "JsonObject", "Timestamp", "TimestampInput", "StateSnapshot", "StateSnapshotInput", "UsageMetrics", "UsageEvent", "UsageEventInput", "UsageAggregate", "TaskSummary", "UsageBucket", "SnapshotStore", "MeteringStore", "StateErrorCode", "StateError", "MemorySnapshotStore", "MemoryMeteringStore", "JsonChange", "JsonPathSegment", "SnapshotDiff", "diffSnapshots", "diffJson", "Envelope", "JsonRpcError", "JsonRpcRequest", "JsonRpcResponse", "StateQueryPayload", "StateRestorePayload", "StateSavePayload", "StateReplyEnvelope", "handleStateEnvelope", "handleAsapRequest", "copyState", "CopyReport"]) {
    assert.ok(all.has(name), `index.d.ts declares ${name}`);
  }
  const web = declaredExports("pkg/web.d.ts");
  for (const name of ["default", "initSync", "InitInput", "MemorySnapshotStore", "StateError", "diffSnapshots", "diffJson", "handleStateEnvelope", "handleAsapRequest", "copyState"]) assert.ok(web.has(name), `web.d.ts declares ${name}`);
  const mem = declaredExports("pkg/memory/index.d.ts");
  for (const name of ["JsonChange", "JsonPathSegment", "SnapshotDiff", "diffSnapshots", "diffJson", "Envelope", "JsonRpcResponse", "handleStateEnvelope", "handleAsapRequest", "copyState"]) assert.ok(mem.has(name), `memory/index.d.ts declares ${name}`);
  const durable = declaredExports("pkg/durable-object/index.d.ts");
  for (const name of ["DurableObjectStateDb", "DurableObjectSqlStorage", "mergeStateImages", "SqliteSnapshotStore", "SqliteMeteringStore", "StateError", "handleAsapRequest", "copyState"]) assert.ok(durable.has(name), `durable-object/index.d.ts declares ${name}`);
});
