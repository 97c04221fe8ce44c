// Rollup 4 for the browser: node-resolve with the browser condition, and the usual plugin for
// assets referenced as new URL("…", import.meta.url) (the package's .wasm), applied to the
// package only; the worker is an input of its own, so it is bundled beside main.js.
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { importMetaAssets } from "@web/rollup-plugin-import-meta-assets";

export default {
  input: ["main.js", "worker.js"],
  output: { dir: "dist", format: "es", entryFileNames: "[name].js" },
  plugins: [nodeResolve({ browser: true }), importMetaAssets({ include: ["node_modules/asap-state/**"] })],
};
