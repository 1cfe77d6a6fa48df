"""Origin-cache stores behind one small interface (KERNEL.md §2.1; docs/SERVER.md "Redis").

A store does these, each both sync and async (``alookup``/``aput``/``apurge``…), so one store
serves a Django (threads) and a FastAPI (asyncio) host:

- ``lookup(key) -> Lookup(body | None, ticket)`` — ``get(key)`` is the body alone
- ``put(put: CachePut, ticket) -> bool`` — the entry and its reverse-index sets, unless a purge
  of one of its sets started after ``ticket`` was handed out (the fetch read before a mutation's
  purge: its answer may be older) or its public-entry bound is full
- ``purge(plan: PurgePlan) -> [deleted keys]`` — every user, every rev, in bounded atomic steps

Keys, index keys, TTLs, bounds and purge plans all come from the engine (``Fetch.cache``,
``Finished.cache_put``, ``Finished.purge``, ``Engine.purge_user_plan``); a store never derives
or matches anything itself: the in-memory store is the kernel's, the Redis one runs the kernel's
scripts (docs/SERVER.md).

- :class:`MemoryOriginStore` — the kernel's own in-memory store (``server.OriginStore``), one
  per process, behind one lock.
- :class:`RedisOriginStore` — the distributed store: redis-py, the kernel's two Lua scripts
  loaded with ``SCRIPT LOAD`` and run with ``EVALSHA`` (``NOSCRIPT`` → load again and retry),
  so a put and a purge are atomic; ``UNLINK``; index sets that live at least as long as their
  longest-lived member (the TTL safety net) and vanish with their last member.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional, Union

from ._extras import need
from .server import CachePut, Lookup, OriginStore, PurgePlan, now_ms, redis_plan_json, redis_purge_script, redis_put_script


class OriginCache:
    """The interface every host uses. Subclasses implement the sync methods; the async ones
    default to calling them (right for an in-memory store). A store without tickets (``lookup``
    not overridden) stores every put: it cannot tell a fetch that read before a purge."""

    def get(self, key: str) -> Optional[str]:
        raise NotImplementedError

    def lookup(self, key: str) -> Lookup:
        return Lookup(self.get(key), None)

    def put(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        raise NotImplementedError

    def purge(self, plan: PurgePlan) -> List[str]:
        raise NotImplementedError

    async def aget(self, key: str) -> Optional[str]:
        return self.get(key)

    async def alookup(self, key: str) -> Lookup:
        return self.lookup(key)

    async def aput(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        return self.put(put, ticket)

    async def apurge(self, plan: PurgePlan) -> List[str]:
        return self.purge(plan)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        self.close()


class MemoryOriginStore(OriginCache):
    """The kernel's in-memory origin store for one process: entries, their index sets, purge
    plans evaluated by the kernel, LRU bounds (0: 10 000 entries, 64 MiB). Every access holds
    one lock. Times are the wall clock (``now_ms``), as the engine's."""

    def __init__(self, max_entries: int = 0, max_bytes: int = 0) -> None:
        self.store = OriginStore(max_entries, max_bytes)
        self.lock = threading.Lock()

    def get(self, key: str) -> Optional[str]:
        with self.lock:
            return self.store.get(key, now_ms())

    def lookup(self, key: str) -> Lookup:
        with self.lock:
            return self.store.lookup(key, now_ms())

    def put(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        with self.lock:
            return self.store.put_entry(put, ticket, now_ms())

    def purge(self, plan: PurgePlan) -> List[str]:
        """In steps of 256 set members, the lock released between them."""
        purged: List[str] = []
        cursor: Optional[str] = None
        first = True
        while first or cursor is not None:
            with self.lock:
                step = self.store.purge_step(plan, cursor, 0)
            purged.extend(step.purged)
            cursor, first = step.cursor, False
        return sorted(set(purged))

    def __len__(self) -> int:
        with self.lock:
            return self.store.len()

    def index_sets(self) -> int:
        with self.lock:
            return self.store.index_sets()

    def clear(self) -> None:
        with self.lock:
            self.store.clear()


def _text(v: Any) -> Optional[str]:
    if v is None or isinstance(v, str):
        return v
    return bytes(v).decode("utf-8")


class RedisOriginStore(OriginCache):
    """The Redis origin store (redis-py ≥ 5). ``client`` is a ``redis.Redis`` for the sync
    methods, ``async_client`` a ``redis.asyncio.Redis`` for the async ones; give ``url``
    instead and each is created on first use. ``prefix`` namespaces every key (``"mizan:"``;
    on Redis Cluster use a hash tag such as ``"{mizan}:"``). Responses may be bytes or text
    (``decode_responses`` either way).

    Layout (docs/SERVER.md): ``{prefix}ctx:…`` entries (string, the entry's TTL), their
    ``…:idx`` companions (set of index keys, same TTL), ``{prefix}idx:…`` index sets whose
    TTL is raised to at least each member's on put, the purge counter ``{prefix}purges`` and the
    purges' marks ``{prefix}mark:…`` (a day)."""

    def __init__(
        self,
        client: Any = None,
        *,
        url: Optional[str] = None,
        async_client: Any = None,
        prefix: str = "mizan:",
    ) -> None:
        if client is None and async_client is None and url is None:
            raise ValueError("RedisOriginStore needs a client, an async_client or a url")
        self.url = url
        self.prefix = prefix
        self._client = client
        self._async = async_client
        self.put_script = redis_put_script()
        self.purge_script = redis_purge_script()
        self._sha: dict = {}  # script text -> sha1, per client kind
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisOriginStore(prefix={self.prefix!r})"

    # --- clients -------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    redis = need("redis", "redis", "RedisOriginStore")
                    if self.url is None:
                        raise RuntimeError("this RedisOriginStore has only an async client; use aget/aput/apurge")
                    self._client = redis.Redis.from_url(self.url)
        return self._client

    @property
    def async_client(self) -> Any:
        if self._async is None:
            redis = need("redis.asyncio", "redis", "RedisOriginStore")
            if self.url is None:
                raise RuntimeError("this RedisOriginStore has only a sync client; use get/put/purge")
            self._async = redis.Redis.from_url(self.url)
        return self._async

    def _evalsha(self, script: str, *args: Any) -> Any:
        import redis

        c = self.client
        sha = self._sha.get(("sync", script))
        for attempt in (0, 1):
            if sha is None:
                sha = _text(c.script_load(script))
                self._sha[("sync", script)] = sha
            try:
                return c.evalsha(sha, 0, *args)
            except redis.exceptions.NoScriptError:  # flushed, restarted, failed over
                if attempt:
                    raise
                sha = None

    async def _aevalsha(self, script: str, *args: Any) -> Any:
        import redis

        c = self.async_client
        sha = self._sha.get(("async", script))
        for attempt in (0, 1):
            if sha is None:
                sha = _text(await c.script_load(script))
                self._sha[("async", script)] = sha
            try:
                return await c.evalsha(sha, 0, *args)
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                sha = None

    # --- the interface -------------------------------------------------------------------------

    # A read is MGET of the entry and the purge counter (the ticket); a put runs the put script
    # with the ticket and the bound; a purge runs the purge script in bounded steps.

    def _put_args(self, put: CachePut, ticket: Optional[int]) -> list:
        bound_set, bound_max = ("", 0) if put.bound is None else (put.bound.set, put.bound.max_entries)
        return [self.prefix, put.key, put.body, put.ttl_seconds, "" if ticket is None else ticket, bound_set, bound_max, *put.index_keys]

    def _lookup(self, reply: Any) -> Lookup:
        body, ticket = reply
        return Lookup(_text(body), int(ticket) if ticket is not None else 0)

    def get(self, key: str) -> Optional[str]:
        return _text(self.client.get(self.prefix + key))

    def lookup(self, key: str) -> Lookup:
        return self._lookup(self.client.mget(self.prefix + key, self.prefix + "purges"))

    def put(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        return int(self._evalsha(self.put_script, *self._put_args(put, ticket))) == 1

    def purge(self, plan: PurgePlan) -> List[str]:
        if not plan.scopes:
            return []
        plan_json, cursor, purged = redis_plan_json(plan), "", []  # type: ignore[var-annotated]
        while True:
            next_cursor, keys = self._evalsha(self.purge_script, plan_json, self.prefix, cursor)
            purged.extend(_text(k) for k in keys or [])
            cursor = _text(next_cursor) or ""
            if not cursor:
                return sorted(set(purged))

    async def aget(self, key: str) -> Optional[str]:
        return _text(await self.async_client.get(self.prefix + key))

    async def alookup(self, key: str) -> Lookup:
        return self._lookup(await self.async_client.mget(self.prefix + key, self.prefix + "purges"))

    async def aput(self, put: CachePut, ticket: Optional[int] = None) -> bool:
        return int(await self._aevalsha(self.put_script, *self._put_args(put, ticket))) == 1

    async def apurge(self, plan: PurgePlan) -> List[str]:
        if not plan.scopes:
            return []
        plan_json, cursor, purged = redis_plan_json(plan), "", []  # type: ignore[var-annotated]
        while True:
            next_cursor, keys = await self._aevalsha(self.purge_script, plan_json, self.prefix, cursor)
            purged.extend(_text(k) for k in keys or [])
            cursor = _text(next_cursor) or ""
            if not cursor:
                return sorted(set(purged))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


def make_store(cache: Union[None, str, OriginCache]) -> Optional[OriginCache]:
    """``None`` (no cache), ``"memory"``, ``"redis://…"`` (a :class:`RedisOriginStore`) or a store."""
    if cache is None or isinstance(cache, OriginCache):
        return cache
    if cache == "memory":
        return MemoryOriginStore()
    if isinstance(cache, str) and cache.startswith(("redis://", "rediss://", "unix://")):
        return RedisOriginStore(url=cache)
    raise ValueError(f"cache must be None, 'memory', a redis:// URL or an OriginCache, not {cache!r}")


__all__ = ["OriginCache", "MemoryOriginStore", "RedisOriginStore", "make_store"]
