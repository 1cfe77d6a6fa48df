#!/usr/bin/env bash
# Requests per second of the FastAPI wire app under wrk on loopback (docs/PERFORMANCE.md
# "Server (Python)"): scripts/bench-servers.sh with the FastAPI app alone (a throwaway
# redis-server, uvicorn with one worker and plain handlers beside the Mizan endpoints, wrk -t2 -c32).
#   examples/fastapi_app/bench_wrk.sh [duration, default 10s] [cache: redis (default) | memory]
exec "$(dirname "$0")/../../scripts/bench-servers.sh" "${1:-10s}" "${2:-redis}" fastapi
