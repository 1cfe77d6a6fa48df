#!/usr/bin/env bash
# Requests per second of the Axum wire app under wrk on loopback (docs/PERFORMANCE.md
# "Server (Rust)"): a throwaway redis-server and the app (release build, tokio multi-thread) on
# free ports, then wrk -t2 -c32 -d10s against the Mizan endpoints and the same work in plain Axum
# handlers (--plain).
#   examples/axum_app/bench_wrk.sh [duration, default 10s] [cache: redis (default) | memory]
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-10s}
cache_kind=${2:-redis}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p mizan-axum-app --bin axum_app
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(port); aport=$(port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
cache=memory
if [ "$cache_kind" = redis ]; then
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  sleep 0.3
  cache="redis://127.0.0.1:$rport/0"
fi
target/release/axum_app --port "$aport" --cache "$cache" --plain 2>/dev/null &
pids+=($!)
base="http://127.0.0.1:$aport"
for _ in $(seq 100); do curl -sf "$base/api/mizan/session/" >/dev/null 2>&1 && break; sleep 0.1; done
lua=$(mktemp); trap 'cleanup; rm -f "$lua"' EXIT
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"fn":"item_count","args":{}}'
wrk.headers["Content-Type"] = "application/json"
LUA
run() {  # name, wrk args…
  local name=$1; shift
  curl -sf -o /dev/null "${@: -1}" -X "${method:-GET}" ${body:+-H 'Content-Type: application/json' -d "$body"} || true
  out=$(wrk -t2 -c32 -d"$dur" --latency "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Socket errors/ {print}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-52s %10s req/s  p50 %-8s p99 %-8s non-2xx %s %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errs:-socket errors 0}"
}
echo "wrk -t2 -c32 -d$dur, app: axum_app (release, tokio multi-thread), cache: $cache_kind"
run "mizan GET /ctx/items/?page=1 (cache hit)" "$base/api/mizan/ctx/items/?page=1"
run "plain GET /plain/ctx/items/?page=1" "$base/plain/ctx/items/?page=1"
method=POST body='{"fn":"item_count","args":{}}' run "mizan POST /call/ item_count" -s "$lua" "$base/api/mizan/call/"
method=POST body='{"fn":"item_count","args":{}}' run "plain POST /plain/call/ item_count" -s "$lua" "$base/plain/call/"
run "mizan GET /session/" "$base/api/mizan/session/"
