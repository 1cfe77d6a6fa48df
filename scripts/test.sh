#!/usr/bin/env bash
# Every test, on every host: the kernel (unit, vectors, conformance, IR, CLI), the code generator
# (golden files; tsc, mypy and cargo check of what it writes; `mizan generate` against
# `npx mizan-generate`), the Rust wasmtime host, Node, headless Chromium and Python, all
# replaying tests/conformance; the todo example end to end (examples/todo: both backends,
# in-memory and Redis origin caches, two users in headless Chromium); then a few seconds of each
# fuzz target (scripts/fuzz.sh --smoke; installs nightly and cargo-fuzz); the Tauri plugin (mock
# runtime) and the Tauri example in a real webview (scripts/test-tauri.sh).
# Prints one `N passed, N failed` line per suite and a total.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --browser --redis || { echo "setup failed"; exit 1; }

passed=0; failed=0; failures=()
suite() {
  local name=$1; shift
  echo "::: $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}
suite "rust (kernel, CLI, codegen, wasmtime host)" cargo test --workspace --exclude mizan-kernel-component --exclude mizan-codegen-component
suite "node + chromium (@mizan/kernel-wasm)" bash -c 'cd js-shims && npm test'
suite "python (mizan_kernel)" .venv/bin/python -m pytest -q python-shims/tests
suite "todo example (FastAPI + Axum, memory + Redis, chromium)" bash -c '(cd js-shims && npm run --silent build) && cd examples/todo/frontend && npm test'
suite "fuzz smoke (kernel/fuzz, a few seconds per target)" nice scripts/fuzz.sh --smoke 4
suite "tauri (plugin on the mock runtime, the example in a WebKitGTK webview)" ./scripts/test-tauri.sh
echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
