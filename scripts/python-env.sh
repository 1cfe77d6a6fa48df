#!/usr/bin/env bash
# The Python host's environment: .venv with mizan-kernel (python-shims, editable) and its test
# dependencies (pytest, httpx, fastapi, uvicorn, django, gunicorn, redis, pydantic, mypy, and wasmtime,
# pinned to one major by python-shims/pyproject.toml; reinstalled when the installed one fails the package's
# layout check), plus redis-server (Debian package) for the Redis and wire tests. Idempotent: a second run only
# re-syncs the component copy and returns in well under a second. Run the tests with
#   .venv/bin/python -m pytest python-shims/tests
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
# The package carries its own copy of the component (gitignored); keep it in step with target/.
if [ -f target/mizan-kernel.wasm ] && ! cmp -s target/mizan-kernel.wasm python-shims/mizan_kernel/mizan-kernel.wasm; then
  cp target/mizan-kernel.wasm python-shims/mizan_kernel/mizan-kernel.wasm
fi
stamp="$venv/.mizan-kernel-installed"
want=$(cat python-shims/pyproject.toml python-shims/setup.py | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
  || ! "$venv/bin/python" -c 'import mizan_kernel, wasmtime, pytest, httpx, fastapi, uvicorn, django, gunicorn, redis, mypy' >/dev/null 2>&1 \
  || ! "$venv/bin/python" -c 'import sys, mizan_kernel._layout as L; sys.exit(1 if L.problems() else 0)' >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e 'python-shims[test]'
  echo "$want" > "$stamp"
fi
# redis-server for tests/wire and test_server_redis.py (skipped without it).
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1; }) \
    || echo "python-env: could not install redis-server; the Redis tests will be skipped" >&2
fi
