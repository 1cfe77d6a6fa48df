#!/usr/bin/env bash
# The wire app on Node, Axum and FastAPI under wrk, one after another on the same machine at the
# same moment (docs/PERFORMANCE.md "Server (Node)"): one throwaway redis-server, then each app on
# a free port with its plain handlers beside the Mizan endpoints (node_app and axum_app `--plain`,
# fastapi_app's bench.py), wrk -t2 -c32 --latency against five endpoints, and one table of
# requests per second (p50 / p99) with an app per column.
#   scripts/bench-servers.sh [duration, default 10s] [cache: redis (default) | memory] [apps…: node axum fastapi]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
cache_kind=${2:-redis}
shift $(( $# < 2 ? $# : 2 ))
apps=("${@:-node axum fastapi}")
read -r -a apps <<<"${apps[*]}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
lua=$(mktemp); results=$(mktemp)
trap 'cleanup; rm -f "$lua" "$results"' EXIT
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"fn":"item_count","args":{}}'
wrk.headers["Content-Type"] = "application/json"
LUA
cache=memory
if [ "$cache_kind" = redis ]; then
  rport=$(port)
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  sleep 0.3
  cache="redis://127.0.0.1:$rport/0"
fi
for app in "${apps[@]}"; do  # build before any measuring
  case $app in
    axum) cargo build --release -q -p mizan-axum-app --bin axum_app ;;
    node | fastapi) ;;
    *) echo "unknown app $app (node, axum, fastapi)" >&2; exit 2 ;;
  esac
done

start() {  # app port prefix: the server in the background (its pid in $!)
  case $1 in
    node) node examples/node_app/app.js --port "$2" --cache "$cache" --redis-prefix "$3" --plain >/dev/null 2>&1 & ;;
    axum) target/release/axum_app --port "$2" --cache "$cache" --redis-prefix "$3" --plain >/dev/null 2>&1 & ;;
    fastapi) MIZAN_REDIS_PREFIX=$3 .venv/bin/python examples/fastapi_app/bench.py --serve "$2" --cache "$cache" >/dev/null 2>&1 & ;;
  esac
}

measure() {  # app endpoint url [wrk args…] → "rps (p50 / p99)"
  local out rps p50 p99 bad
  curl -sf -o /dev/null "${@: -1}" -X "${method:-GET}" ${body:+-H 'Content-Type: application/json' -d "$body"} || true
  out=$(wrk -t2 -c32 -d"$dur" --latency "$@")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  bad=$(awk '/Socket errors|Non-2xx/ {printf " %s", $0}' <<<"$out")
  echo "$rps ($p50 / $p99)${bad:+ !$bad}"
}

rows=("Mizan GET /api/mizan/ctx/items/?page=1 (cache hit)" "plain GET /plain/ctx/items/?page=1" \
      "Mizan POST /api/mizan/call/ item_count" "plain POST /plain/call/ item_count" "Mizan GET /api/mizan/session/")
for app in "${apps[@]}"; do
  p=$(port)
  start "$app" "$p" "bench-$app:"
  pid=$!
  pids+=("$pid")
  base="http://127.0.0.1:$p"
  for _ in $(seq 200); do curl -sf "$base/api/mizan/session/" >/dev/null 2>&1 && break; sleep 0.1; done
  {
    echo "$app|0|$(measure "$base/api/mizan/ctx/items/?page=1")"
    echo "$app|1|$(measure "$base/plain/ctx/items/?page=1")"
    echo "$app|2|$(method=POST body='{"fn":"item_count","args":{}}' measure -s "$lua" "$base/api/mizan/call/")"
    echo "$app|3|$(method=POST body='{"fn":"item_count","args":{}}' measure -s "$lua" "$base/plain/call/")"
    echo "$app|4|$(measure "$base/api/mizan/session/")"
  } >>"$results"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done

echo "wrk -t2 -c32 -d$dur --latency on 127.0.0.1, cache: $cache_kind; node $(node --version); load average $(cut -d' ' -f1 /proc/loadavg); requests/s (p50 / p99)"
echo
header="| endpoint |"; rule="|---|"
for app in "${apps[@]}"; do header+=" $app |"; rule+="---|"; done
echo "$header"; echo "$rule"
for i in "${!rows[@]}"; do
  line="| ${rows[$i]} |"
  for app in "${apps[@]}"; do line+=" $(awk -F'|' -v a="$app" -v i="$i" '$1==a && $2==i {print $3}' "$results") |"; done
  echo "$line"
done
