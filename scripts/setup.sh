#!/usr/bin/env bash
# Install what the build and the tests need, idempotently: the wasm target, npm packages (the
# package's, the todo example frontend's, the Node and edge wire apps'), the Python virtualenv, and (with --browser /
# --redis) Debian's chromium and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
want_browser=0; want_redis=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --redis) want_redis=1 ;;
  esac
done
rustup target add wasm32-unknown-unknown >/dev/null 2>&1
if [ ! -x js-shims/node_modules/.bin/jco ] || [ js-shims/package-lock.json -nt js-shims/node_modules/.package-lock.json ]; then
  (cd js-shims && npm ci --no-audit --no-fund --loglevel=error)
fi
# The todo example's frontend links the package from js-shims (examples/todo/frontend/package.json).
todo=examples/todo/frontend
if [ ! -x $todo/node_modules/.bin/vite ] || [ $todo/package-lock.json -nt $todo/node_modules/.package-lock.json ]; then
  (cd $todo && npm ci --no-audit --no-fund --loglevel=error)
fi
# The Node wire app (examples/node_app) links the package from js-shims too, and uses node-redis.
node_app=examples/node_app
if [ ! -d $node_app/node_modules/redis ] || [ $node_app/package-lock.json -nt $node_app/node_modules/.package-lock.json ]; then
  (cd $node_app && npm ci --no-audit --no-fund --loglevel=error)
fi
# The edge example (examples/edge_app) runs under Deno, installed from npm (the package ships the binary).
edge_app=examples/edge_app
if [ ! -x $edge_app/node_modules/.bin/deno ] || [ $edge_app/package-lock.json -nt $edge_app/node_modules/.package-lock.json ]; then
  (cd $edge_app && npm ci --no-audit --no-fund --loglevel=error)
fi
apt_packages=()
[ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ] && apt_packages+=(chromium)
[ "$want_redis" = 1 ] && ! command -v redis-server >/dev/null && apt_packages+=(redis-server)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing ${apt_packages[*]} (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi
./scripts/build-component.sh
./scripts/python-env.sh
