// worker/index.js in workerd: bundled the way `wrangler deploy` bundles it, run by Miniflare (from
// the installed wrangler) with SQLite-backed Durable Objects persisted to a directory. Used by
// conformance-durable-object.test.mjs and tests/js/langgraph.test.mjs.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { wranglerDryRun } from "../../js/helpers.mjs";

const COMPAT_DATE = "2025-01-01";

/** Bundles the worker into `<tmp>/saver-worker/`; returns that directory. */
export function bundleSaverWorker(tmp) {
  const config = join(tmp, "saver-worker.json");
  writeFileSync(config, JSON.stringify({
    name: "asap-state-langgraph-test",
    main: fileURLToPath(new URL("./index.js", import.meta.url)),
    compatibility_date: COMPAT_DATE,
    compatibility_flags: ["nodejs_compat"],
    durable_objects: { bindings: [{ name: "SAVER", class_name: "SaverObject" }] },
    migrations: [{ tag: "v1", new_sqlite_classes: ["SaverObject"] }],
  }));
  const outDir = join(tmp, "saver-worker");
  wranglerDryRun(tmp, config, outDir);
  return outDir;
}

/** A Miniflare running the bundle in `outDir`, its objects persisted in `persist`. */
export function saverMiniflare(outDir, persist) {
  return new Miniflare({
    modules: true,
    scriptPath: join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: COMPAT_DATE,
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: { SAVER: { className: "SaverObject", useSQLite: true } },
    durableObjectsPersist: persist,
  });
}

/** Calls `method(...args)` on the object `object` (POST /?object=…); rejects on an error answer. */
export async function callObject(mf, object, method, ...args) {
  const res = await mf.dispatchFetch(`http://localhost/?object=${encodeURIComponent(object)}`, {
    method: "POST",
    body: JSON.stringify({ method, args }),
    headers: { "content-type": "application/json" },
  });
  const answer = await res.json();
  if (!answer.ok) throw Object.assign(new Error(answer.error.message), { name: answer.error.name, code: answer.error.code });
  return answer.result;
}
