#!/usr/bin/env bash
# Where the browser component's bytes go: build it with its name section (cargo profile
# `wasm-names`, the `wasm` profile unstripped, world `client`) and attribute the core module's
# code and data to crates and kernel modules (scripts/wasm-bytes.py). The build is the one
# scripts/build-component.sh makes (scripts/client-core.sh: the pinned nightly when it can be had).
#   scripts/wasm-bytes.sh            print the table
#   scripts/wasm-bytes.sh --write    …and rewrite the generated client-bytes block of docs/PERFORMANCE.md
set -euo pipefail
cd "$(dirname "$0")/.."
core=$(scripts/client-core.sh wasm-names)
python=.venv/bin/python
[ -x "$python" ] || python=python3
args=("$core")
[ "${1:-}" = --write ] && args+=(--write-docs)
"$python" scripts/wasm-bytes.py "${args[@]}"
