#!/usr/bin/env bash
# Requests per second of the Axum wire app under wrk on loopback (docs/PERFORMANCE.md
# "Server (Rust)"): scripts/bench-servers.sh with the Axum app alone (a throwaway redis-server,
# the release build with its plain handlers beside the Mizan endpoints, wrk -t2 -c32).
#   examples/axum_app/bench_wrk.sh [duration, default 10s] [cache: redis (default) | memory]
exec "$(dirname "$0")/../../scripts/bench-servers.sh" "${1:-10s}" "${2:-redis}" axum
