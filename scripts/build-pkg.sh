#!/usr/bin/env bash
# Builds the npm package into pkg/: the wasm once (release), wasm-bindgen once per target,
# wasm-opt (npm binaryen) once, then the committed template and glue from pkg-template/.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
out=pkg
name=asap_state

echo "==> cargo rustc (wasm32-unknown-unknown, release, LTO)"
# `cargo rustc --crate-type cdylib`: with the manifest's ["cdylib", "rlib"] cargo silently
# drops `lto = true`; building the cdylib alone keeps it.
cargo rustc -p asap-state-wasm --lib --target wasm32-unknown-unknown --release --quiet --crate-type cdylib
wasm="$target_dir/wasm32-unknown-unknown/release/asap_state_wasm.wasm"

rm -rf "$out"
mkdir -p "$out/wasm"
echo "==> wasm-bindgen (experimental-nodejs-module, web)"
wasm-bindgen "$wasm" --out-dir "$out/wasm/node" --out-name "$name" --target experimental-nodejs-module --no-typescript
wasm-bindgen "$wasm" --out-dir "$out/wasm/web" --out-name "$name" --target web --no-typescript
rm -f "$out/wasm/node/package.json"

echo "==> wasm-opt -Oz (npm binaryen, once; the _bg.wasm is identical for every target)"
raw_size=$(stat -c %s "$out/wasm/node/${name}_bg.wasm")
node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/wasm/node/${name}_bg.wasm" -o "$out/wasm/${name}_opt.wasm"
mv "$out/wasm/${name}_opt.wasm" "$out/wasm/node/${name}_bg.wasm"
cp "$out/wasm/node/${name}_bg.wasm" "$out/wasm/web/${name}_bg.wasm"

echo "==> package files"
cp -r pkg-template/. "$out/"
cp wasm/js/state-error.js "$out/state-error.js"

opt_size=$(stat -c %s "$out/wasm/web/${name}_bg.wasm")
gz_size=$(gzip -9 -c "$out/wasm/web/${name}_bg.wasm" | wc -c)
echo "==> pkg/ ready: wasm ${raw_size} B from wasm-bindgen, ${opt_size} B after wasm-opt, ${gz_size} B gzip"
