#!/usr/bin/env bash
# The Tauri suites: tauri-plugin-mizan on Tauri's mock runtime (hosts/mizan-tauri/tests) and
# examples/tauri_app in a real WebKitGTK webview (examples/tauri_app/src-tauri/tests/webview.rs:
# Xvfb + tauri-driver + WebKitWebDriver, plain W3C WebDriver). Installs what they need once
# (Debian packages with apt-get, tauri-driver with cargo install); Tauri's crates build in their
# own workspace (hosts/mizan-tauri) and target dir (target/tauri).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev xvfb webkit2gtk-driver)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v tauri-driver >/dev/null; then
  echo "installing tauri-driver (cargo install)"
  cargo install tauri-driver --locked --quiet
fi

# The webview's page: the kernel's npm glue (js-shims/dist), then the todo example's page built
# for the Tauri transport (examples/todo/frontend/dist-tauri).
(cd js-shims && node scripts/build.mjs)
todo=examples/todo/frontend
if [ ! -x $todo/node_modules/.bin/vite ] || [ $todo/package-lock.json -nt $todo/node_modules/.package-lock.json ]; then
  (cd $todo && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd $todo && npm run --silent build:tauri)

export CARGO_TARGET_DIR="$PWD/target/tauri" MIZAN_REQUIRE_WEBVIEW=1
cargo test --manifest-path hosts/mizan-tauri/Cargo.toml --workspace
