#!/usr/bin/env bash
# Build the components once; every host loads these same bytes:
#   target/mizan-kernel.wasm         the kernel (world `kernel`, wit/kernel.wit …): every interface,
#                                    for servers, Node, Python and Rust
#   target/mizan-kernel-client.wasm  the kernel's browser build (world `client`, wit/session.wit):
#                                    the client session alone, no server code;
#                                    for @mizan/kernel-wasm/client and the framework adapters
#                                    (scripts/client-core.sh: a pinned nightly, std built for size)
#   target/mizan-codegen.wasm        the code generator (world `codegen`, wit/codegen.wit), for
#                                    `npx mizan-generate`
# Each is: the crate + WIT glue for wasm32-unknown-unknown (no WASI imports), wasm-opt -Oz on
# the core module (binaryen from npm), then `jco new` wraps it into a component (jco ships
# wasm-tools compiled to wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown
[ -x js-shims/node_modules/.bin/jco ] || (cd js-shims && npm ci --no-audit --no-fund --loglevel=error)
bin=js-shims/node_modules/.bin

component() { # core-module-path artifact-name
  local core=$1 out=target/$2
  # A new file, not a rewrite in place: a target/ copied with hard links (cp -al) must not
  # change another tree's artifact.
  rm -f "target/${2%.wasm}.core.wasm"
  "$bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-multivalue --enable-reference-types "$core" -o "target/${2%.wasm}.core.wasm"
  "$bin/jco" new "target/${2%.wasm}.core.wasm" -o "$out.tmp" >/dev/null
  # Only replace the artifact when its bytes change, so hosts' compiled caches stay valid.
  if cmp -s "$out.tmp" "$out" 2>/dev/null; then rm "$out.tmp"; else mv "$out.tmp" "$out"; fi
  if "$bin/jco" wit "$out" | grep -q '^ *import '; then
    echo "error: $out imports something; it must import nothing (no WASI)" >&2
    exit 1
  fi
  echo "$out: $(wc -c < "$out") bytes, $(gzip -9 -c "$out" | wc -c) gzip"
}

# One cargo run per component, not one for all: features unify across the packages of one run,
# and each component's bytes must not depend on what another pulls in. The two kernel builds
# write the same file, so each is wrapped before the next build.
core=target/wasm32-unknown-unknown/wasm
cargo build --quiet -p mizan-kernel-component --target wasm32-unknown-unknown --profile wasm
component $core/mizan_kernel_component.wasm mizan-kernel.wasm
# The browser component: with a pinned nightly rebuilding std for size when it can be had
# (scripts/client-core.sh), else stable.
component "$(scripts/client-core.sh wasm)" mizan-kernel-client.wasm
cargo build --quiet -p mizan-codegen-component --target wasm32-unknown-unknown --profile wasm
component $core/mizan_codegen_component.wasm mizan-codegen.wasm
