#!/usr/bin/env bash
# The per-host kernel demo: build everything and run the kernel on every host (the CLI, Rust,
# Node, Python), on embedded defaults (no Redis, no network). The README's first command,
# scripts/run.sh, runs the full-stack todo example instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
(cd js-shims && npm run --silent build)
cargo build --quiet --release --bin mizan -p mizan-cli
cargo build --quiet --release -p mizan-host --example demo
ir=tests/fixtures/ir/shop.kdl
echo "== the mizan CLI (native kernel)"
./target/release/mizan key --secret test-pin-secret-that-is-32bytes! --context user --params '{"user_id": 5}' --explain
./target/release/mizan ir check "$ir"
./target/release/mizan invalidate "$ir" --fn update_profile --args '{"user_id": 5, "name": "Ryth"}'
echo; echo "== Rust (wasmtime host)"
./target/release/examples/demo
echo; echo "== Node (@mizan/kernel-wasm)"
node js-shims/examples/demo.mjs
echo; echo "== Python (mizan_kernel)"
.venv/bin/python python-shims/examples/demo.py
