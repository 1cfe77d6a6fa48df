"""How long a broad purge of a large context blocks Redis (docs/SERVER.md "Purging in batches").

Starts a throwaway redis-server on a free port (or uses MIZAN_BENCH_REDIS=host:port, which it
FLUSHALLs), fills one context with N entries through the kernel's put script (default 60 000,
1.5 KB bodies: the size of the anonymous flood in issue 8), then purges the whole context with
the RedisOriginStore and prints the wall time, the number of script runs and the longest single
command Redis ran (SLOWLOG, which records every command's own duration: while one runs, Redis
serves nothing else).

    .venv/bin/python python-shims/bench_redis_purge.py            # 60 000 entries
    N=10000 .venv/bin/python python-shims/bench_redis_purge.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
if (REPO / "target" / "mizan-kernel.wasm").is_file():
    os.environ.setdefault("MIZAN_KERNEL_WASM", str(REPO / "target" / "mizan-kernel.wasm"))

import redis  # noqa: E402

from mizan_kernel.origin import RedisOriginStore  # noqa: E402
from mizan_kernel.server import Engine, Fetch, Request  # noqa: E402

N = int(os.environ.get("N", "60000"))
BODY = "x" * 1500
REGISTRY = {"functions": {"items_list": {"context": "items", "inputs": {"page": "integer"}, "output": "any", "cache": 3600}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> "tuple[subprocess.Popen | None, int]":
    given = os.environ.get("MIZAN_BENCH_REDIS")
    if given:
        return None, int(given.rsplit(":", 1)[1])
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def main() -> None:
    proc, port = start()
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    try:
        client.flushall()
        engine = Engine(REGISTRY, cache_secret="bench-cache-secret-of-32-bytes-ok!")
        store = RedisOriginStore(client, prefix="bench:")
        t0 = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        sha = client.script_load(store.put_script)
        for i in range(N):
            plan = engine.plan(Request("GET", "/api/mizan/ctx/items/", f"page={i}"), None)
            assert isinstance(plan, Fetch) and plan.cache is not None
            c = plan.cache
            pipe.evalsha(sha, 0, *store_put_args(store, c.key, BODY, c.ttl_seconds, c.index_keys))
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()
        fill = time.perf_counter() - t0
        used = client.info("memory")["used_memory"]
        keys = client.dbsize()
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 1_000_000)
        client.slowlog_reset()
        t0 = time.perf_counter()
        purged = store.purge(engine.purge_plan(["items"]))
        wall = time.perf_counter() - t0
        log = [e for e in client.slowlog_get(1_000_000) if e["command"].split(b" ")[0].upper() in (b"EVALSHA", b"EVAL")]
        longest = max((e["duration"] for e in log), default=0)
        left = client.dbsize()
        print(f"redis-server {client.info('server')['redis_version']}, {N} entries of {len(BODY)} bytes in one context "
              f"({keys} keys, {used / 1e6:.0f} MB; filled in {fill:.1f} s)")
        print(f"broad purge: {len(purged)} entries purged in {wall * 1000:.0f} ms wall, {len(log)} script runs, "
              f"longest single script run (Redis blocked) {longest / 1000:.1f} ms; {left} keys left")
    finally:
        client.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)


def store_put_args(store: RedisOriginStore, key: str, body: str, ttl: int, index_keys: "list[str]") -> list:
    """The put script's arguments, as RedisOriginStore.put sends them."""
    return [store.prefix, key, body, ttl, *index_keys]


if __name__ == "__main__":
    main()
