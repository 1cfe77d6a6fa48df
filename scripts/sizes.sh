#!/usr/bin/env bash
# Measure what users download — the component, the npm package's glue and core module, the
# Python wheel — raw and gzip -9, and rewrite the generated `sizes` blocks of the docs
# (docs/PERFORMANCE.md, docs/hosts/javascript.md) with the table. Builds what is missing first.
#   scripts/sizes.sh            print the table and rewrite the docs
#   scripts/sizes.sh --print    print only
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f target/mizan-kernel.wasm ] && [ -f target/mizan-kernel-client.wasm ] || ./scripts/build-component.sh >/dev/null
(cd js-shims && node scripts/build.mjs >/dev/null)
wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
python=.venv/bin/python
[ -x "$python" ] || python=python3
"$python" -m pip wheel --quiet --no-deps --disable-pip-version-check -w "$wheel_dir" ./python-shims >/dev/null
wheel=$(ls "$wheel_dir"/mizan_kernel-*.whl)

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
row() {  # file, description, [gzip: yes|no]
  local raw gz
  raw=$(wc -c <"$1")
  if [ "${3:-yes}" = yes ]; then gz=$(kib "$(gzip -9 -c "$1" | wc -c)"); else gz="— (a zip)"; fi
  echo "| \`$4\` | $2 | $(kib "$raw") | $gz |"
}

table=$(
  echo "| file | what | raw | gzip -9 |"
  echo "|---|---|---|---|"
  row target/mizan-kernel.wasm "the full component (servers, Node, Python, Rust)" yes target/mizan-kernel.wasm
  row js-shims/dist/kernel.core.wasm "its core module" yes "@mizan/kernel-wasm: dist/kernel.core.wasm"
  row js-shims/dist/kernel.js "the jco glue (patched)" yes "@mizan/kernel-wasm: dist/kernel.js"
  row js-shims/dist/kernel.small.js "jco's adapter modules, inlined" yes "@mizan/kernel-wasm: dist/kernel.small.js"
  row target/mizan-kernel-client.wasm "the browser component (world \`client\`)" yes target/mizan-kernel-client.wasm
  row js-shims/dist/client.core.wasm "its core module: what a browser downloads" yes "@mizan/kernel-wasm: dist/client.core.wasm"
  row js-shims/dist/client.js "its jco glue (patched)" yes "@mizan/kernel-wasm: dist/client.js"
  row js-shims/src/client/index.js "the client, with comments" yes "@mizan/kernel-wasm: src/client/index.js"
  row "$wheel" "the Python wheel (carries the component)" no "$(basename "$wheel")"
)
echo "$table"
if [ "${1:-}" != --print ]; then
  for doc in docs/PERFORMANCE.md docs/hosts/javascript.md; do
    printf '%s\n' "$table" | "$python" scripts/docblock.py "$doc" sizes
  done
  echo "wrote the sizes blocks of docs/PERFORMANCE.md and docs/hosts/javascript.md"
fi
