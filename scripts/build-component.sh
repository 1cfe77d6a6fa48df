#!/usr/bin/env bash
# Build the kernel components. Every host loads these same bytes:
#   target/mizan-kernel.wasm         world `kernel`: every interface (servers, Node, Python, Rust)
#   target/mizan-kernel-client.wasm  world `client` (wit/session.wit): the client session, the
#                                    header and merges, for browsers (@mizan/kernel-wasm/client)
# Each is
#   1. the kernel crate + WIT glue for wasm32-unknown-unknown (no WASI imports),
#   2. wasm-opt -Oz on the core module (binaryen from npm),
#   3. `jco new` wrapping the core module into a component (jco ships wasm-tools compiled to wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
[ -x js-shims/node_modules/.bin/jco ] || (cd js-shims && npm ci --no-audit --no-fund --loglevel=error)
bin=js-shims/node_modules/.bin

build() { # name, cargo feature arguments…
  local name=$1
  shift
  cargo build --quiet -p mizan-kernel-component --target wasm32-unknown-unknown --profile wasm "$@"
  local core=target/wasm32-unknown-unknown/wasm/mizan_kernel_component.wasm
  "$bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types "$core" -o "target/$name.core.wasm"
  "$bin/jco" new "target/$name.core.wasm" -o "target/$name.wasm.tmp" >/dev/null
  # Only replace the artifact when its bytes change, so hosts' compiled caches stay valid.
  if cmp -s "target/$name.wasm.tmp" "target/$name.wasm" 2>/dev/null; then
    rm "target/$name.wasm.tmp"
  else
    mv "target/$name.wasm.tmp" "target/$name.wasm"
  fi
  if "$bin/jco" wit "target/$name.wasm" | grep -q '^ *import '; then
    echo "error: target/$name.wasm imports something; it must import nothing (no WASI)" >&2
    exit 1
  fi
  echo "target/$name.wasm: $(wc -c < "target/$name.wasm") bytes, $(gzip -9 -c "target/$name.wasm" | wc -c) gzip"
}

build mizan-kernel
build mizan-kernel-client --no-default-features
