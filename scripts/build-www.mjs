// Builds the inspector: www/src/main.js (+ chart.js, + the package's web entry) bundled by esbuild
// into www/dist/inspector.js, the wasm copied beside it. Needs pkg/ (`make pkg`).
// `node scripts/build-www.mjs` prints the bundle's sizes (raw and gzip).
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const REPO = resolve(fileURLToPath(new URL("..", import.meta.url)));
const WWW = join(REPO, "www");
const DIST = join(WWW, "dist");
const WASM = join(REPO, "pkg/wasm/full/web/asap_state_bg.wasm");

/** Builds www/dist/; returns the sizes of what a browser downloads. */
export async function buildInspector({ minify = true } = {}) {
  if (!existsSync(WASM)) throw new Error(`${WASM} is missing: run \`make pkg\` first`);
  mkdirSync(DIST, { recursive: true });
  await build({
    entryPoints: [join(WWW, "src/main.js")],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: ["chrome110", "firefox115", "safari16"],
    outfile: join(DIST, "inspector.js"),
    minify,
    sourcemap: true,
    legalComments: "linked",
    logLevel: "warning",
    // wasm-bindgen's glue lists each JS snippet once per `extern` block that imports it: harmless.
    logOverride: { "duplicate-object-key": "silent" },
    absWorkingDir: REPO,
  });
  copyFileSync(WASM, join(DIST, "asap_state_bg.wasm"));
  const size = (file) => {
    const bytes = readFileSync(join(DIST, file));
    return { file: `www/dist/${file}`, bytes: statSync(join(DIST, file)).size, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  return [size("inspector.js"), size("asap_state_bg.wasm")];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const sizes = await buildInspector();
  for (const s of sizes) {
    console.log(`==> ${s.file}: ${(s.bytes / 1024).toFixed(1)} KiB (${(s.gzip / 1024).toFixed(1)} KiB gzip)`);
  }
}
