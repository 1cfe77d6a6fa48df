#!/usr/bin/env bash
# Every host's figures beside its native peer, from one run (docs/PERFORMANCE.md):
#   Rust: the wasmtime host vs the mizan-kernel crate linked natively
#   Node: @mizan/kernel-wasm vs node:crypto + JSON (and the client store vs @tanstack/query-core)
#   Python: mizan_kernel vs hmac + json
# plus the kernel's own criterion benchmarks. Pass --quick to skip criterion and the client bench.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0; [ "${1:-}" = "--quick" ] && quick=1
./scripts/setup.sh >/dev/null
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo; echo "== Rust: wasmtime host vs native crate (cargo run --release -p mizan-host --example bench)"
cargo run --quiet --release -p mizan-host --example bench
echo; echo "== Node: @mizan/kernel-wasm vs node:crypto + JSON (js-shims: npm run bench)"
(cd js-shims && npm run --silent bench)
echo; echo "== Python: mizan_kernel vs hmac + json (python-shims/bench.py)"
.venv/bin/python python-shims/bench.py
if [ "$quick" = 0 ]; then
  echo; echo "== Node: client store vs @tanstack/query-core (js-shims: npm run bench:client)"
  (cd js-shims && npm run --silent bench:client)
  echo; echo "== kernel, native (cargo bench -p mizan-kernel)"
  cargo bench --quiet -p mizan-kernel --bench kernel -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^[a-z].*|time:"
fi
