#!/usr/bin/env bash
# Builds the npm package into pkg/: the wasm once (release), wasm-bindgen once per target,
# wasm-opt (npm binaryen) once, then the committed template and glue from pkg-template/.
# Each entry's .wasm is shipped once (in wasm/<entry>/web/), shared by its Node and web glue.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
out=pkg
name=asap_state

# build_entry NAME [CARGO FEATURES...]: one wasm build -> pkg/wasm/NAME/{node,web}/
build_entry() {
  local entry=$1
  shift
  echo "==> [$entry] cargo rustc (wasm32-unknown-unknown, release, LTO) $*"
  # `cargo rustc --crate-type cdylib`: with the manifest's ["cdylib", "rlib"] cargo silently
  # drops `lto = true`; building the cdylib alone keeps it.
  cargo rustc -p asap-state-wasm --lib --target wasm32-unknown-unknown --release --quiet \
    --crate-type cdylib "$@"
  local wasm="$target_dir/wasm32-unknown-unknown/release/asap_state_wasm.wasm"
  local dir="$out/wasm/$entry"
  echo "==> [$entry] wasm-bindgen (experimental-nodejs-module, web)"
  wasm-bindgen "$wasm" --out-dir "$dir/node" --out-name "$name" --target experimental-nodejs-module --no-typescript
  wasm-bindgen "$wasm" --out-dir "$dir/web" --out-name "$name" --target web --no-typescript
  rm -f "$dir/node/package.json"
  echo "==> [$entry] wasm-opt -Oz (npm binaryen, once; the _bg.wasm is identical for every target)"
  local raw_size
  raw_size=$(stat -c %s "$dir/node/${name}_bg.wasm")
  # A function with one caller is inlined into it only when small: by default binaryen inlines
  # it whatever its size, which made the engine's statement translator one 235 KB function (every
  # kind of statement, ALTER TABLE included). V8 compiles a function whole the first time it runs
  # and optimises it whole once it is hot: the first statement compiled all of it, and a process
  # that saved once then waited ~0.35 s at exit for V8 to finish optimising it. Kept apart, each
  # part is compiled when it first runs; the module is ~20 KB smaller in gzip (bench/README.md).
  node_modules/.bin/wasm-opt -Oz --one-caller-inline-max-function-size=50 --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$dir/node/${name}_bg.wasm" -o "$dir/${name}_opt.wasm"
  # Shipped once, in web/: the Node glue reads it from there (it reads the file by a URL relative
  # to itself; the web glue is fetched or imported by bundlers and workerd from its own folder).
  mv "$dir/${name}_opt.wasm" "$dir/web/${name}_bg.wasm"
  rm "$dir/node/${name}_bg.wasm"
  local glue="$dir/node/${name}.js"
  sed -i "s|new URL('${name}_bg.wasm', import.meta.url)|new URL('../web/${name}_bg.wasm', import.meta.url)|" "$glue"
  grep -q "new URL('../web/${name}_bg.wasm', import.meta.url)" "$glue" \
    || { echo "build-pkg: the Node glue no longer loads the wasm the way this script rewrites" >&2; exit 1; }
  local opt_size gz_size
  opt_size=$(stat -c %s "$dir/web/${name}_bg.wasm")
  gz_size=$(gzip -9 -c "$dir/web/${name}_bg.wasm" | wc -c)
  echo "==> [$entry] wasm: ${raw_size} B from wasm-bindgen, ${opt_size} B after wasm-opt, ${gz_size} B gzip"
  sizes+=("$entry: ${opt_size} B (${gz_size} B gzip)")
}

rm -rf "$out"
mkdir -p "$out/wasm"
sizes=()
build_entry memory
build_entry durable-object --features host
build_entry full --features sqlite

echo "==> package files"
cp -r pkg-template/. "$out/"
cp wasm/js/state-error.js "$out/state-error.js"

echo "==> pkg/ ready. wasm sizes: ${sizes[*]}"
