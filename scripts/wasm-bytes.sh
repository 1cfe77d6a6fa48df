#!/usr/bin/env bash
# Where the browser component's bytes go: build it with its name section (cargo profile
# `wasm-names`, the `wasm` profile unstripped, world `client`) and attribute the core module's
# code and data to crates and kernel modules (scripts/wasm-bytes.py).
#   scripts/wasm-bytes.sh            print the table
#   scripts/wasm-bytes.sh --write    …and rewrite the generated client-bytes block of docs/PERFORMANCE.md
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p mizan-kernel-component --target wasm32-unknown-unknown --profile wasm-names --no-default-features
python=.venv/bin/python
[ -x "$python" ] || python=python3
args=(target/wasm32-unknown-unknown/wasm-names/mizan_kernel_component.wasm)
[ "${1:-}" = --write ] && args+=(--write-docs)
"$python" scripts/wasm-bytes.py "${args[@]}"
