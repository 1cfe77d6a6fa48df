"""An anonymous flood and a broad purge of a large context on Redis (docs/SERVER.md "Bounded
public entries", "Purging in bounded steps").

Starts a throwaway redis-server on a free port (or uses MIZAN_BENCH_REDIS=host:port, which it
FLUSHALLs). Then:

1. the flood: N anonymous fetches of one context with distinct params (default 60 000, 1.5 KB
   bodies: issue 8's flood), each put through the kernel's put script as the engine plans it
   (default bound: 1 000 public entries per context) — how many keys and how much memory remain;
2. the purge: the same N entries stored without a bound (`max_public_entries=0`), then one
   broad purge of the context with the RedisOriginStore: the wall time, the number of script
   runs, and the longest single script run (SLOWLOG records each command's own duration; while
   one runs, Redis serves nothing else).

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
from mizan_kernel.server import CachePut, Engine, Fetch, Request  # noqa: E402

N = int(os.environ.get("N", "60000"))
BODY = "x" * 1500
REGISTRY = {"functions": {"items_list": {"context": "items", "inputs": {"page": "integer"}, "output": "any", "cache": 3600}}}
SECRET = "bench-cache-secret-of-32-bytes-ok!"


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


def fill(client: "redis.Redis", store: RedisOriginStore, engine: Engine) -> float:
    """N anonymous fetches of `items` with distinct pages, put as the engine plans them."""
    t0 = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    sha = client.script_load(store.put_script)
    for i in range(N):
        plan = engine.plan(Request("GET", "/api/mizan/ctx/items/", f"page={i}"), None)
        assert isinstance(plan, Fetch) and plan.cache is not None
        c = plan.cache
        put = CachePut(c.key, BODY, c.index_keys, c.ttl_seconds, c.bound)
        pipe.evalsha(sha, 0, *store._put_args(put, None))
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - t0


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
        store = RedisOriginStore(client, prefix="bench:")
        version = client.info("server")["redis_version"]
        print(f"redis-server {version}; {N} anonymous fetches of one context, {len(BODY)}-byte bodies")
        bounded = Engine(REGISTRY, cache_secret=SECRET)
        took = fill(client, store, bounded)
        cap = bounded.plan(Request("GET", "/api/mizan/ctx/items/", "page=0"), None).cache.bound.max_entries  # type: ignore[union-attr]
        print(f"flood, default bound ({cap} public entries per context): "
              f"{client.dbsize()} keys, {client.info('memory')['used_memory'] / 1e6:.1f} MB after {took:.1f} s")
        client.flushall()
        unbounded = Engine(REGISTRY, cache_secret=SECRET, max_public_entries=0)
        took = fill(client, store, unbounded)
        keys, used = client.dbsize(), client.info("memory")["used_memory"]
        print(f"flood, unbounded: {keys} keys, {used / 1e6:.0f} MB after {took:.1f} s")
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 1_000_000)
        client.slowlog_reset()
        t0 = time.perf_counter()
        purged = store.purge(unbounded.purge_plan(["items"]))
        wall = time.perf_counter() - t0
        log = [e for e in client.slowlog_get(1_000_000) if e["command"].split(b" ")[0].upper() in (b"EVALSHA", b"EVAL")]
        longest = max((e["duration"] for e in log), default=0)
        left = [k for k in client.keys("bench:*") if not k.startswith((b"bench:mark:", b"bench:purges"))]
        print(f"broad purge of those {keys} keys: {len(purged)} entries purged in {wall * 1000:.0f} ms wall, {len(log)} script runs, "
              f"longest single script run (Redis blocked) {longest / 1000:.1f} ms; {len(left)} data keys left")
    finally:
        client.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
