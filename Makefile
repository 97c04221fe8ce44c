# asap-state — two commands for a new user: `make demo` and `make test`.
# Every target installs what it needs, idempotently (wasm target, the pinned wasm-bindgen CLI,
# Chromium + chromedriver from apt, npm packages from package-lock.json).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export CARGO_TERM_COLOR ?= never
# The wasm-bindgen CLI must match the crate exactly: read its version from Cargo.lock.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/"/,"",$$3); print $$3; exit}' Cargo.lock)
CHROMEDRIVER ?= /usr/bin/chromedriver
export CHROMEDRIVER

.PHONY: help demo www test setup setup-rust setup-node setup-browser pkg lint fmt \
        test-rust test-wasm test-js test-langgraph coverage setup-coverage setup-python setup-sqlite3 clean \
        bench bench-smoke setup-bench

help:
	@echo "make demo   build the package and the inspector, write a demo state file, serve the inspector on 127.0.0.1"
	@echo "make test   everything: lint, Rust tests, wasm tests (Node + Chromium), package, JS tests, coverage"
	@echo "make bench  benchmarks against the peers (sql.js, better-sqlite3, LangGraph MemorySaver, a JS Map store): bench/RESULTS.md"
	@echo "(also: make pkg, make www, make lint, make test-rust, make test-wasm, make test-js, make test-langgraph, make coverage)"

## ---------------------------------------------------------------- setup (idempotent)
setup: setup-rust setup-node setup-browser setup-coverage setup-python setup-sqlite3

setup-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown \
	  || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)"; then \
	  echo "==> installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (about 4 minutes, once)"; \
	  cargo install wasm-bindgen-cli --version "=$(WASM_BINDGEN_VERSION)" --locked \
	    || cargo install wasm-bindgen-cli --version "=$(WASM_BINDGEN_VERSION)"; \
	fi

setup-node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

setup-browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  echo "==> installing chromium and chromium-driver from apt"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

CARGO_LLVM_COV_VERSION := 0.9.1
COVERAGE_MIN_LINES := 95

setup-coverage:
	@rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools-preview
	@if ! cargo llvm-cov --version 2>/dev/null | grep -q "$(CARGO_LLVM_COV_VERSION)"; then \
	  echo "==> installing cargo-llvm-cov $(CARGO_LLVM_COV_VERSION) (about 2 minutes, once)"; \
	  cargo install cargo-llvm-cov --version "=$(CARGO_LLVM_COV_VERSION)" --locked \
	    || cargo install cargo-llvm-cov --version "=$(CARGO_LLVM_COV_VERSION)"; \
	fi

# The Python reference (asap-protocol 2.5.10) in a local virtualenv, for file-interop tests.
# It asks for Python 3.13 only for one decorator, so it is installed with
# --ignore-requires-python and used with a shim (see tests/interop/).
PYTHON_REF_VERSION := 2.5.10
ASAP_PYTHON := $(CURDIR)/.venv/bin/python
export ASAP_PYTHON

setup-python: .venv/.installed

.venv/.installed:
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check --ignore-requires-python "asap-protocol==$(PYTHON_REF_VERSION)"
	@touch $@

setup-sqlite3:
	@if ! command -v sqlite3 >/dev/null; then \
	  echo "==> installing sqlite3 from apt"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq sqlite3; \
	fi

## ---------------------------------------------------------------- build
pkg: setup-rust setup-node
	./scripts/build-pkg.sh
	@ln -sfn ../pkg node_modules/asap-state

# The inspector (www/) on a demo state file: build, write www/dist/demo.db, serve on 127.0.0.1.
www: pkg
	node scripts/build-www.mjs

demo: www
	node examples/demo-state.mjs
	node scripts/serve-www.mjs

## ---------------------------------------------------------------- benchmarks
# The peers come from bench/package-lock.json. better-sqlite3 is native: npm here does not run
# install scripts, and its prebuilt binaries are not reachable, so it is compiled once from the
# registry package's sources with npm's own node-gyp against the local Node headers (~1 minute).
NODE_GYP := $(shell dirname "$$(readlink -f "$$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
NODE_PREFIX := $(shell dirname "$$(dirname "$$(readlink -f "$$(command -v node)")")")

setup-bench: bench/node_modules/.installed bench/node_modules/better-sqlite3/build/Release/better_sqlite3.node

bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	@touch $@

bench/node_modules/better-sqlite3/build/Release/better_sqlite3.node: bench/node_modules/.installed
	@echo "==> compiling better-sqlite3 (native peer of the benchmarks, about a minute, once)"
	@cd bench/node_modules/better-sqlite3 && node "$(NODE_GYP)" rebuild --release -j 2 \
	  $$( [ -f "$(NODE_PREFIX)/include/node/node.h" ] && echo --nodedir="$(NODE_PREFIX)" ) \
	  > build.log 2>&1 || { tail -40 build.log; exit 1; }
	@test -f $@

# Every part, several rounds, written to bench/RESULTS.md (about 15 minutes).
bench: pkg setup-bench
	node --expose-gc bench/run.mjs

# One small round of every part, its answers cross-checked (part of make test via test-js).
bench-smoke: pkg setup-bench
	node --expose-gc bench/run.mjs --smoke --out /dev/null >/dev/null

## ---------------------------------------------------------------- tests
lint: setup-rust
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p asap-state --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p asap-state-wasm --all-targets --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p asap-state-wasm --all-targets --target wasm32-unknown-unknown --features host -- -D warnings
	cargo clippy -p asap-state-wasm --all-targets --target wasm32-unknown-unknown --features sqlite -- -D warnings

fmt:
	cargo fmt --all

test-rust: setup-python setup-sqlite3
	cargo test --workspace

test-wasm: setup-rust setup-browser
	cargo test -p asap-state-wasm --target wasm32-unknown-unknown --test node
	cargo test -p asap-state-wasm --target wasm32-unknown-unknown --test browser

test-js: pkg setup-browser setup-sqlite3 setup-python setup-bench
	node --test --test-reporter=spec tests/js/*.test.mjs
	$(LANGGRAPH_SUITE)

# LangGraph's checkpointer conformance suite (@langchain/langgraph-checkpoint-validation, vitest)
# against AsapCheckpointSaver on the memory store, a SQLite image, a SQLite Node file and Durable
# Objects in workerd (tests/langgraph/); part of test-js.
LANGGRAPH_SUITE := node_modules/.bin/vitest run --config tests/langgraph/vitest.config.mjs
test-langgraph: pkg
	$(LANGGRAPH_SUITE)

# Line and region coverage of the core crate; fails under $(COVERAGE_MIN_LINES)% of lines.
# HTML report: coverage/html/index.html (git-ignored).
coverage: setup-coverage
	cargo llvm-cov --package asap-state --html --output-dir coverage
	cargo llvm-cov report --package asap-state --summary-only --fail-under-lines $(COVERAGE_MIN_LINES)

# Each fuzz target (fuzz/, cargo fuzz on nightly; see fuzz/README.md) for a few seconds on the
# committed corpus. New inputs go to a scratch directory, crashes to fuzz/artifacts/ (ignored).
# The first run installs nightly and cargo-fuzz and builds the targets (about 15 minutes).
FUZZ_TARGETS := open_bytes decode_json ops_differential read_image
FUZZ_SECONDS ?= 5
FUZZ_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/fuzz

.PHONY: fuzz-smoke
fuzz-smoke:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	cargo +nightly fuzz build --target-dir "$(FUZZ_TARGET_DIR)"
	@for t in $(FUZZ_TARGETS); do \
	  scratch=$$(mktemp -d); \
	  echo "==> fuzz $$t for $(FUZZ_SECONDS) s"; \
	  cargo +nightly fuzz run --target-dir "$(FUZZ_TARGET_DIR)" $$t "$$scratch" fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=60 -print_final_stats=1 \
	    || { rm -rf "$$scratch"; exit 1; }; \
	  rm -rf "$$scratch"; \
	done

test: setup lint test-rust test-wasm test-js coverage fuzz-smoke
	@echo "make test: all green"

clean:
	rm -rf pkg target/wasm32-unknown-unknown
