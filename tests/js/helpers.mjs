// Helpers shared by the JS tests (tests/js/*.test.mjs): the StateError checks, hostile values,
// and the offline `wrangler deploy --dry-run` bundle of a worker.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StateError } from "asap-state";
import { mintDevToken, parseJsonc } from "../../examples/worker-lib/dev-token.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));

// ---- StateError ------------------------------------------------------------------------------

/** The checks every failure must pass: a StateError (and an Error) of `code`, a non-empty message containing `messagePart`. */
export function assertStateError(caught, code, messagePart) {
  assert.ok(caught !== undefined, `expected a StateError ${code}, nothing was thrown`);
  assert.ok(caught instanceof Error, `expected an Error, got ${String(caught)}`);
  assert.ok(caught instanceof StateError, `expected a StateError, got ${caught?.constructor?.name}: ${caught?.message}`);
  assert.equal(caught.name, "StateError");
  assert.equal(caught.code, code, `code (message: ${caught.message})`);
  assert.equal(typeof caught.message, "string");
  assert.ok(caught.message.length > 0, "empty message");
  if (messagePart !== undefined) assert.ok(caught.message.includes(messagePart), `message "${caught.message}" lacks "${messagePart}"`);
  return caught;
}

/** Runs `fn`, which must throw a StateError with this code; returns the error. */
export function throwsCode(fn, code, messagePart) {
  let caught;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return assertStateError(caught, code, messagePart);
}

/** `fn()` must return a promise (not throw) that rejects with a StateError of this code. */
export async function rejectsCode(fn, code, messagePart) {
  let promise;
  try {
    promise = fn();
  } catch (e) {
    assert.fail(`expected a rejected promise, the call threw synchronously: ${e?.code} ${e?.message}`);
  }
  assert.ok(promise instanceof Promise, "expected a Promise");
  let caught;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  return assertStateError(caught, code, messagePart);
}

// ---- hostile values --------------------------------------------------------------------------

/** The proxy traps `throwingProxy` makes throw unless told otherwise. */
export const PROXY_TRAPS = ["get", "ownKeys", "has", "getOwnPropertyDescriptor"];

/** A proxy of `base` whose every trap in `traps` throws "boom from proxy <trap>". */
export const throwingProxy = (base, traps = PROXY_TRAPS) =>
  new Proxy(
    base,
    Object.fromEntries(
      traps.map((trap) => [
        trap,
        () => {
          throw new Error(`boom from proxy ${trap}`);
        },
      ]),
    ),
  );

/** A copy of `base` whose enumerable property `key` is a getter that throws. */
export const throwingGetter = (base, key) =>
  Object.defineProperty({ ...base }, key, {
    enumerable: true,
    get() {
      throw new Error("boom from getter");
    },
  });

// ---- workers ---------------------------------------------------------------------------------

export const WRANGLER = join(REPO, "node_modules/wrangler/bin/wrangler.js");

/**
 * Bundles a worker as `wrangler deploy` does, offline (`--dry-run --outdir outDir`), with the
 * configuration file `config`; wrangler's logs and global files stay in `tmp`. Returns its output.
 */
export function wranglerDryRun(tmp, config, outDir) {
  const r = spawnSync(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", outDir, "--config", config], {
    cwd: tmp,
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...process.env,
      CI: "1",
      WRANGLER_HIDE_BANNER: "true",
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      WRANGLER_LOG_PATH: join(tmp, "logs"),
      XDG_CONFIG_HOME: join(tmp, "config"), // keep wrangler's global files out of $HOME
    },
  });
  assert.equal(r.status, 0, `wrangler deploy --dry-run failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The sender of the tests' ASAP requests. */
export const COORDINATOR = "urn:asap:agent:coordinator";

let rpcSeq = 0;
/**
 * One ASAP envelope from the coordinator to `recipient` as a JSON-RPC `asap.send` request, with
 * fresh ids (`rpc-<n>`, `env-<n>`); `envelope` adds or overrides envelope fields.
 */
export function asapSend(recipient, payload_type, payload, envelope = {}) {
  rpcSeq += 1;
  return {
    jsonrpc: "2.0",
    method: "asap.send",
    id: `rpc-${rpcSeq}`,
    params: { envelope: { id: `env-${rpcSeq}`, asap_version: "0.1", sender: COORDINATOR, recipient, payload_type, payload, ...envelope } },
  };
}

/** JSON with comments (wrangler.jsonc) → a value; the examples' own parser, strings left alone. */
export { parseJsonc };

/**
 * The Worker examples' authentication in the tests: a shared HS256 secret (as `wrangler dev`
 * would have it from .dev.vars), an issuer and an audience. `token(sub, scope)` mints a token
 * the examples accept; `bearer(sub, scope)` the headers that carry it.
 */
export const AUTH_BINDINGS = Object.freeze({
  ASAP_AUTH_HS256_SECRET: "the-tests-shared-secret-0123456789abcdef",
  ASAP_AUTH_ISSUER: "https://issuer.test/",
  ASAP_AUTH_AUDIENCE: "asap-state",
});
export const ALL_SCOPES = "asap:read asap:execute asap:admin";
export const token = (sub = "tenant-a", scope = ALL_SCOPES, options = {}) => mintDevToken(AUTH_BINDINGS, { sub, scope, ...options });
export const bearer = async (sub, scope, options) => ({ authorization: `Bearer ${await token(sub, scope, options)}` });

/**
 * examples/<name>/ bundled from its wrangler.jsonc as `wrangler deploy` bundles it (offline)
 * into `tmp/out`: { config, outDir, stdout }.
 */
export function bundleExample(name, tmp) {
  const example = join(REPO, "examples", name);
  const config = parseJsonc(readFileSync(join(example, "wrangler.jsonc"), "utf8"));
  const outDir = join(tmp, "out");
  const wranglerJson = join(tmp, "wrangler.json");
  const { $schema, ...rest } = config; // eslint-disable-line no-unused-vars
  writeFileSync(wranglerJson, JSON.stringify({ ...rest, main: join(example, config.main) }));
  const r = wranglerDryRun(tmp, wranglerJson, outDir);
  return { config, outDir, stdout: r.stdout };
}

/** examples/durable-objects/ bundled (see `bundleExample`). */
export const bundleDurableObjectsExample = (tmp) => bundleExample("durable-objects", tmp);

/** What every Miniflare running a bundled example is given: the worker, its vars, an address. */
function exampleOptions({ config, outDir }, bindings) {
  return {
    modules: true,
    scriptPath: join(outDir, "index.js"),
    modulesRoot: outDir,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: config.compatibility_date,
    bindings: { ...config.vars, ...bindings },
    host: "127.0.0.1",
    port: 0,
  };
}

/** The options of a Miniflare running the bundled examples/edge-worker/, its KV persisted to `kvDir`. */
export function edgeWorkerMiniflareOptions(bundle, kvDir, bindings = {}) {
  return { ...exampleOptions(bundle, bindings), kvNamespaces: bundle.config.kv_namespaces.map((ns) => ns.binding), kvPersist: kvDir };
}

/** The options of a Miniflare running the bundled example, its objects persisted to `persist`. */
export function durableObjectsMiniflareOptions(bundle, persist, bindings = {}) {
  return {
    ...exampleOptions(bundle, bindings),
    durableObjects: Object.fromEntries(bundle.config.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: true }])),
    durableObjectsPersist: persist,
  };
}

/** The Python reference's interpreter (ASAP_PYTHON, else the repository's .venv), or "" without one. */
export const PYTHON = process.env.ASAP_PYTHON || (existsSync(join(REPO, ".venv/bin/python")) ? join(REPO, ".venv/bin/python") : "");

/**
 * What the Python reference (asap-protocol 2.5.10) reads in the SQLite file `file`, through
 * tests/interop/read_with_reference.py with `spec` (its `tasks`, `queries`, `aggregates`); the
 * spec is written beside the file. `null` (and a printed line) when there is no reference here;
 * `make test` always has one.
 */
export function readWithReference(file, spec) {
  if (!PYTHON) {
    console.log("# skipped the Python reference: set ASAP_PYTHON (make test sets it)");
    return null;
  }
  const specFile = `${file}.spec.json`;
  writeFileSync(specFile, JSON.stringify({ queries: [], aggregates: [], ...spec }));
  const r = spawnSync(PYTHON, [join(REPO, "tests/interop/read_with_reference.py"), file, specFile], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" },
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `the reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
