#!/usr/bin/env bash
# The todo example (examples/todo), end to end: build what it needs (the components, the npm
# package, the frontend's packages), generate the frontend's typed client from the backend's IR,
# build the frontend with Vite, start the backend (FastAPI by default), drive the page in headless
# Chromium as two users, and print what happened: the requests each step made, what each call
# invalidated and merged, what each user saw, each page's client cache, and where the
# screenshots are. Embedded defaults: the in-memory origin cache, no Redis needed.
#
#   ./scripts/run.sh                     FastAPI, in-memory origin cache, the React page
#   ./scripts/run.sh --backend axum      the same functions in Rust, on Axum
#   ./scripts/run.sh --cache redis       a throwaway redis-server as the origin cache
#   ./scripts/run.sh --page vue          the Vue page (same generated client)
#   ./scripts/run.sh --serve             then keep it running at the printed URL, for you to open
#
# Needs Rust stable, Node 20 + npm, Python 3.11; installs Chromium (and redis-server for
# --cache redis) with apt-get when missing. The per-host kernel demo is ./scripts/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=fastapi; setup=(--browser)
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend fastapi|axum}; shift ;;
    --cache) [ "${2:-}" = redis ] && setup+=(--redis); shift ;;
    --page) shift ;;
    --serve) ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$backend" in fastapi|axum) ;; *) echo "run.sh: --backend is fastapi or axum" >&2; exit 2 ;; esac

step() { printf '\n== %s\n' "$*"; }
step "setup: components, npm packages, Python environment, Chromium"
./scripts/setup.sh "${setup[@]}"
(cd js-shims && npm run --silent build)

frontend=examples/todo/frontend
config=mizan.toml; [ "$backend" = axum ] && config=mizan.rust.toml
step "the typed client, generated from the $backend backend's IR ($frontend/$config)"
# The FastAPI source runs `python -m mizan_kernel ir app:app`: the virtualenv's python.
(cd $frontend && PATH="$PWD/../../../.venv/bin:$PATH" npx --no-install mizan-generate --config $config)

step "the frontend (vite build → $frontend/dist)"
(cd $frontend && npx --no-install vite build --logLevel warn)
[ "$backend" = axum ] && { step "the Axum backend (cargo build)"; cargo build --quiet -p mizan-todo --bin todo-axum; }

step "two users in headless Chromium"
node $frontend/e2e/run.mjs "${args[@]}"
