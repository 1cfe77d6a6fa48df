#!/usr/bin/env bash
# Build the kernel component once: target/mizan-kernel.wasm. Every host loads these same bytes.
#   1. the kernel crate + WIT glue for wasm32-unknown-unknown (no WASI imports),
#   2. wasm-opt -Oz on the core module (binaryen from npm),
#   3. `jco new` wraps the core module into a component (jco ships wasm-tools compiled to wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
[ -x js-shims/node_modules/.bin/jco ] || (cd js-shims && npm ci --no-audit --no-fund --loglevel=error)
cargo build --quiet -p mizan-kernel-component --target wasm32-unknown-unknown --profile wasm
bin=js-shims/node_modules/.bin
core=target/wasm32-unknown-unknown/wasm/mizan_kernel_component.wasm
"$bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-multivalue --enable-reference-types "$core" -o target/mizan-kernel.core.wasm
"$bin/jco" new target/mizan-kernel.core.wasm -o target/mizan-kernel.wasm.tmp >/dev/null
# Only replace the artifact when its bytes change, so hosts' compiled caches stay valid.
if cmp -s target/mizan-kernel.wasm.tmp target/mizan-kernel.wasm 2>/dev/null; then
  rm target/mizan-kernel.wasm.tmp
else
  mv target/mizan-kernel.wasm.tmp target/mizan-kernel.wasm
fi
if "$bin/jco" wit target/mizan-kernel.wasm | grep -q '^ *import '; then
  echo "error: the component imports something; it must import nothing (no WASI)" >&2
  exit 1
fi
echo "target/mizan-kernel.wasm: $(wc -c < target/mizan-kernel.wasm) bytes, $(gzip -9 -c target/mizan-kernel.wasm | wc -c) gzip"
