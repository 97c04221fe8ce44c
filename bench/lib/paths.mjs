// Where the benchmarked files live.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO = dirname(BENCH);
export const PKG = join(REPO, "pkg");

/** The directory of an installed package (bench's own dependencies, then the repository's). */
export function packageDir(name) {
  for (const base of [join(BENCH, "node_modules"), join(REPO, "node_modules")]) {
    const dir = join(base, name);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`${name} is not installed: run make bench (it installs bench/package-lock.json)`);
}

/** An installed package's version. */
export function packageVersion(name) {
  return JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")).version;
}

/**
 * Miniflare's options for a worker script written under the repository (it imports the built
 * package by a relative path): ES modules, the .wasm as compiled modules, plus `extra` (bindings).
 */
export function workerdOptions(scriptPath, extra = {}) {
  return {
    modules: true,
    scriptPath,
    modulesRoot: REPO,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-01-01",
    ...extra,
  };
}
