"""RedisOriginStore against a real redis-server started here on a free port (skipped when
redis-server or redis-py is missing; scripts/python-env.sh installs both). Checks the kernel's
Lua scripts through redis-py: exact purges for every user and every rev, emptied index sets
removed, the TTL safety net, NOSCRIPT recovery, async, prefixes, and agreement with the
in-memory store."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mizan_kernel as mk  # noqa: E402
from mizan_kernel.origin import MemoryOriginStore, RedisOriginStore  # noqa: E402
from mizan_kernel.server import CachePut  # noqa: E402

redis = pytest.importorskip("redis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> Tuple[subprocess.Popen, int]:
    """A throwaway redis-server on 127.0.0.1 (no persistence)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (scripts/python-env.sh installs it: apt-get install -y redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    else:  # pragma: no cover
        proc.kill()
        raise RuntimeError("redis-server did not start")
    client.close()
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    proc, port = start_redis()
    yield port
    stop(proc)


@pytest.fixture
def client(redis_port: int) -> Iterator[object]:
    c = redis.Redis(port=redis_port)
    c.flushall()
    yield c
    c.close()


SECRET = "redis-test-cache-secret-0123456789ab"
CONTEXTS = ("user", "feed")
USERS = (None, "1", "2")
PARAMS = ({}, {"user_id": "5"}, {"user_id": "6"}, {"user_id": "5", "page": "2"}, {"page": "2"})
REVS = (0, 3)


def entries() -> List[CachePut]:
    """60 entries: 2 contexts × 3 users (one public) × 5 param sets × 2 revs."""
    keyer = mk.Keyer(SECRET)
    out = []
    for ctx in CONTEXTS:
        for user in USERS:
            for params in PARAMS:
                for rev in REVS:
                    e = keyer.index_entry(ctx, params, user, rev)
                    out.append(CachePut(e.key, f'{{"{ctx}":{len(out)}}}', e.index_keys, 60))
    return out


PLANS = [
    [{"context": "user", "params": {"user_id": 5}}],
    [{"context": "feed", "params": {"user_id": "6", "page": 2}}],
    ["feed"],
]


def test_purges_match_the_memory_store(client: object) -> None:
    keyer = mk.Keyer(SECRET)
    for prefix in ("", "wire:", "{mizan}:"):
        client.flushall()  # type: ignore[attr-defined]
        r = RedisOriginStore(client, prefix=prefix)
        m = MemoryOriginStore()
        all_entries = entries()
        for e in all_entries:
            r.put(e)
            m.put(e)
        assert all(r.get(e.key) == e.body for e in all_entries)
        purged: List[str] = []
        for plan_entries in PLANS:
            plan = keyer.purge_plan(plan_entries)
            got = r.purge(plan)
            assert got == m.purge(plan) and got == sorted(got)
            purged += got
        user_plan = keyer.purge_user_plan(list(CONTEXTS), "1")
        got = r.purge(user_plan)
        assert got == m.purge(user_plan)
        purged += got
        # scoped user_id=5 purged every user and every rev, and the entries lacking user_id
        for e in all_entries:
            assert (r.get(e.key) is None) == (e.key in purged), e.key
            assert (m.get(e.key) is None) == (e.key in purged)
        assert len(purged) == len(set(purged))
        survivors = [e for e in all_entries if e.key not in purged]
        assert len(survivors) == len(m) > 0
        keys = {k.decode() for k in client.keys("*")}  # type: ignore[attr-defined]
        live_index_sets = {k for k in keys if k.startswith(prefix + "idx:")}
        assert len(live_index_sets) == m.index_sets()
        for k in live_index_sets:
            assert client.scard(k) > 0 and client.ttl(k) > 0  # type: ignore[attr-defined]
        # purge the rest: nothing left behind, no empty or orphan index set
        everything = keyer.purge_plan(list(CONTEXTS))
        assert sorted(r.purge(everything)) == sorted(e.key for e in survivors)
        # Nothing left but the purge counter and the purges' marks (docs/SERVER.md "Redis").
        left = {k.decode() for k in client.keys("*")}  # type: ignore[attr-defined]
        assert {k for k in left if k != prefix + "purges" and not k.startswith(prefix + "mark:")} == set()
        assert m.purge(everything) and len(m) == 0 and m.index_sets() == 0


def test_ttl_safety_net_and_replacement(client: object) -> None:
    r = RedisOriginStore(client, prefix="t:")
    keyer = mk.Keyer(SECRET)
    e = keyer.index_entry("user", {"user_id": "5"}, "1", 0)
    r.put(CachePut(e.key, "a", e.index_keys, 1))
    for idx in e.index_keys:
        assert 0 < client.ttl("t:" + idx) <= 1  # type: ignore[attr-defined]
    long = keyer.index_entry("user", {"user_id": "5"}, "2", 0)
    r.put(CachePut(long.key, "b", long.index_keys, 500))
    shared = set(e.index_keys) & set(long.index_keys)
    assert shared and all(client.ttl("t:" + i) > 100 for i in shared)  # type: ignore[attr-defined]
    r.put(CachePut(e.key, "a2", e.index_keys, 60))  # replaced: same key, new body and TTL
    assert r.get(e.key) == "a2" and client.ttl("t:" + e.key) > 1  # type: ignore[attr-defined]
    short = keyer.index_entry("feed", {}, None, 0)
    r.put(CachePut(short.key, "c", short.index_keys, 1))
    time.sleep(2.1)
    assert r.get(short.key) is None
    assert all(not client.exists("t:" + i) for i in short.index_keys)  # type: ignore[attr-defined]
    r.put(CachePut("ctx:x:zero", "z", ["idx:x:1"], 0))  # TTL 0 stores nothing
    assert r.get("ctx:x:zero") is None


def test_noscript_is_recovered(client: object) -> None:
    r = RedisOriginStore(client, prefix="n:")
    keyer = mk.Keyer(SECRET)
    e = keyer.index_entry("user", {}, None, 0)
    r.put(CachePut(e.key, "a", e.index_keys, 60))
    client.script_flush()  # type: ignore[attr-defined]
    r.put(CachePut(e.key, "b", e.index_keys, 60))
    client.script_flush()  # type: ignore[attr-defined]
    assert r.purge(keyer.purge_plan(["user"])) == [e.key]
    assert r.purge(mk.PurgePlan([])) == []


def test_async_client(redis_port: int, client: object) -> None:
    async def go() -> None:
        r = RedisOriginStore(url=f"redis://127.0.0.1:{redis_port}/0", prefix="a:")
        keyer = mk.Keyer(SECRET)
        e = keyer.index_entry("user", {"user_id": "1"}, "1", 0)
        await r.aput(CachePut(e.key, "body", e.index_keys, 60))
        assert await r.aget(e.key) == "body"
        assert r.get(e.key) == "body"  # the sync client sees the same entry
        assert await r.apurge(keyer.purge_user_plan(["user"], "1")) == [e.key]
        assert await r.aget(e.key) is None
        await r.aclose()
        r.close()

    asyncio.run(go())


def test_decoded_responses(redis_port: int, client: object) -> None:
    c = redis.Redis(port=redis_port, decode_responses=True)
    r = RedisOriginStore(c, prefix="d:")
    r.put(CachePut("ctx:a:1", "é", ["idx:a:1"], 60))
    assert r.get("ctx:a:1") == "é"
    assert r.purge(mk.PurgePlan([mk.PurgeScope("idx:a:1", [])])) == ["ctx:a:1"]
    c.close()


def test_store_needs_a_client() -> None:
    with pytest.raises(ValueError):
        RedisOriginStore()
    with pytest.raises(RuntimeError):
        RedisOriginStore(async_client=object()).get("x")
