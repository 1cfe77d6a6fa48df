"""Issue 8 on the Python hosts: a failed purge never leaves a stale entry served (with a store
that raises, and with a real Redis that refuses writes), a read that started before a purge never
stores its answer (sync and async), failures logged at error level with their traceback,
implementations checked at start, raw query bytes answered by the engine, identity-callback
failures in the engine's envelope on FastAPI and Django."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mizan_kernel import server as srv  # noqa: E402
from mizan_kernel.app import MizanApp, raw_query  # noqa: E402
from mizan_kernel.decorators import Functions  # noqa: E402
from mizan_kernel.origin import MemoryOriginStore, OriginCache  # noqa: E402

SECRET = "hardening-cache-secret-0123456789ab"


def counter_app(store: Any, gate: Optional[threading.Event] = None, reached: Optional[threading.Event] = None) -> MizanApp:
    """`read_count` (context `count`, cached) reads a counter; `bump` raises it and invalidates `count`. With a gate,
    `read_count` reads, then waits (a slow query) until the gate opens."""
    fns = Functions()
    state = {"n": 0}

    @fns.client(context="count", cache=60)
    def read_count() -> int:
        n = state["n"]
        if gate is not None and reached is not None:
            reached.set()
            gate.wait(10)
        return n

    @fns.client(affects=["count"])
    def bump() -> int:
        state["n"] += 1
        return state["n"]

    return MizanApp(fns, cache=store, cache_secret=SECRET)


GET = srv.Request("GET", "/api/mizan/ctx/count/")


def handler(app: MizanApp, run: str) -> Any:
    """``app.handle``, or ``app.ahandle`` on one event loop (an async Redis client keeps to its loop)."""
    if run == "sync":
        return app.handle
    loop = asyncio.new_event_loop()
    return lambda r: loop.run_until_complete(app.ahandle(r))
BUMP = srv.Request("POST", "/api/mizan/call/", body=b'{"fn":"bump"}')


class FlakyStore(OriginCache):
    """The in-memory store whose purges fail while `down` is set (an unreachable Redis whose
    reads happen to work: the worst case, since the stale entry stays readable)."""

    def __init__(self) -> None:
        self.inner = MemoryOriginStore()
        self.down = False

    def get(self, key: str) -> Optional[str]:
        return self.inner.get(key)

    def lookup(self, key: str) -> srv.Lookup:
        return self.inner.lookup(key)

    def put(self, put: srv.CachePut, ticket: Optional[int] = None) -> bool:
        return self.inner.put(put, ticket)

    def purge(self, plan: srv.PurgePlan) -> List[str]:
        if self.down:
            raise ConnectionError("redis is down")
        return self.inner.purge(plan)


def test_a_failed_purge_never_leaves_a_stale_entry_served(caplog: pytest.LogCaptureFixture) -> None:
    for run in ("sync", "async"):
        store = FlakyStore()
        app = counter_app(store)
        handle = handler(app, run)
        assert handle(GET).body == '{"read_count":0}'
        assert handle(GET).header("X-Mizan-Cache") == "HIT"
        store.down = True
        with caplog.at_level(logging.ERROR, logger="mizan_kernel.server"):
            r = handle(BUMP)
        assert (r.status, r.header("X-Mizan-Invalidate")) == (200, "count"), "the mutation happened: it says so"
        failed = [rec for rec in caplog.records if rec.levelno == logging.ERROR and "purge failed" in rec.getMessage()]
        assert failed and '{"scopes":' in failed[-1].getMessage() and failed[-1].exc_info is not None, "logged with the plan and the traceback"
        key = app.engine.plan(GET).cache.key  # type: ignore[union-attr]
        assert store.get(key) == '{"read_count":0}', "the stale entry is still stored"
        # Never served: what the failed purge covers is neither read from nor stored in the cache.
        for _ in range(2):
            r = handle(GET)
            assert (r.header("X-Mizan-Cache"), r.body) == ("MISS", '{"read_count":1}')
        # The store recovers: the next request retries the purge; the cache is used again.
        store.down = False
        assert (handle(GET).header("X-Mizan-Cache"), handle(GET).header("X-Mizan-Cache")) == ("MISS", "HIT")
        assert handle(GET).body == '{"read_count":1}'
        caplog.clear()


class ReadOnlyStore(FlakyStore):
    """Reads work, every put fails."""

    def put(self, put: srv.CachePut, ticket: Optional[int] = None) -> bool:
        raise ConnectionError("read-only replica")


def test_a_failed_put_is_logged_with_its_traceback_and_the_answer_still_sent(caplog: pytest.LogCaptureFixture) -> None:
    for run in ("sync", "async"):
        app = counter_app(ReadOnlyStore())
        handle = handler(app, run)
        with caplog.at_level(logging.WARNING, logger="mizan_kernel.server"):
            r = handle(GET)
        assert (r.status, r.header("X-Mizan-Cache"), r.body) == (200, "MISS", '{"read_count":0}')
        failed = [rec for rec in caplog.records if rec.getMessage() == "mizan: cache write failed: ConnectionError: read-only replica"]
        assert len(failed) == 1 and failed[0].levelno == logging.WARNING and failed[0].exc_info is not None
        assert handle(GET).header("X-Mizan-Cache") == "MISS", "nothing was stored"
        caplog.clear()


def test_a_read_that_started_before_a_purge_never_stores_its_answer() -> None:
    for run in ("sync", "async"):
        gate, reached = threading.Event(), threading.Event()
        app = counter_app("memory", gate, reached)
        # Two threads call at once: each its own event loop (the in-memory store has no loop).
        handle = app.handle if run == "sync" else (lambda r: asyncio.run(app.ahandle(r)))
        out: List[srv.Response] = []
        reader = threading.Thread(target=lambda: out.append(handle(GET)))
        reader.start()
        assert reached.wait(10)  # it has read count 0 and waits
        reached.clear()
        gate_bump = handle(BUMP)  # count 1, purged
        assert gate_bump.status == 200
        gate.set()
        reader.join(10)
        assert (out[0].header("X-Mizan-Cache"), out[0].body) == ("MISS", '{"read_count":0}')
        # Its older answer was not stored: the next read runs the function.
        gate.clear()
        second: List[srv.Response] = []
        reader = threading.Thread(target=lambda: second.append(handle(GET)))
        reader.start()
        assert reached.wait(10), "served from the cache: the read before the purge stored its answer"
        gate.set()
        reader.join(10)
        assert (second[0].header("X-Mizan-Cache"), second[0].body) == ("MISS", '{"read_count":1}')


def test_a_redis_that_refuses_writes(caplog: pytest.LogCaptureFixture) -> None:
    redis = pytest.importorskip("redis")
    from test_server_redis import start_redis, stop

    from mizan_kernel.origin import RedisOriginStore

    proc, port = start_redis()
    try:
        admin = redis.Redis(port=port)
        store = RedisOriginStore(url=f"redis://127.0.0.1:{port}/0", prefix="oom:")
        app = counter_app(store)
        for run in ("sync", "async"):
            admin.flushall()
            handle = handler(app, run)
            before = handle(BUMP).body  # a known count, whatever the previous run did
            n = json.loads(before)["result"]
            assert handle(GET).header("X-Mizan-Cache") == "MISS"
            assert handle(GET).header("X-Mizan-Cache") == "HIT"
            admin.config_set("maxmemory", 1)  # full: reads work, every script that writes is refused (OOM)
            try:
                with caplog.at_level(logging.ERROR, logger="mizan_kernel.server"):
                    assert handle(BUMP).status == 200
                assert any("purge failed" in rec.getMessage() for rec in caplog.records)
                assert admin.keys("oom:ctx:*"), "the stale entry is still in Redis"
                r = handle(GET)
                assert (r.header("X-Mizan-Cache"), r.body) == ("MISS", json.dumps({"read_count": n + 1}, separators=(",", ":")))
            finally:
                admin.config_set("maxmemory", 0)
            assert handle(GET).header("X-Mizan-Cache") == "MISS"  # the retry purged; this one stores
            assert handle(GET).header("X-Mizan-Cache") == "HIT"
            caplog.clear()
        admin.close()
    finally:
        stop(proc)


def test_exceptions_are_logged_at_error_level_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    fns = Functions()

    @fns.client
    def explode() -> int:
        raise KeyError("password")

    @fns.client
    def refuse() -> int:
        raise srv.NotFound("No such thing")

    app = MizanApp(fns)
    with caplog.at_level(logging.ERROR, logger="mizan_kernel.server"):
        r = app.handle(srv.Request("POST", "/api/mizan/call/", body=b'{"fn":"explode"}'))
        assert (r.status, r.body) == (500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}')
        r = asyncio.run(app.ahandle(srv.Request("POST", "/api/mizan/call/", body=b'{"fn":"explode"}')))
        assert r.status == 500
        assert app.handle(srv.Request("POST", "/api/mizan/call/", body=b'{"fn":"refuse"}')).status == 404
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 2, [rec.getMessage() for rec in errors]  # an error on purpose is an answer, not logged
    for rec in errors:
        assert rec.getMessage() == "mizan: `explode` failed: KeyError: 'password'"  # the exchange's line
        assert rec.exc_info is not None and isinstance(rec.exc_info[1], KeyError)


def test_raw_query_bytes_reach_the_engine_percent_encoded() -> None:
    assert raw_query(b"page=2&q=caf%C3%A9") == "page=2&q=caf%C3%A9"
    assert raw_query(b"q=\xff\xfe") == "q=%FF%FE"
    assert raw_query("q=é".encode()) == "q=%C3%A9"
    app = MizanApp(Functions())
    e = app.engine
    bad = e.plan(srv.Request("GET", "/api/mizan/ctx/x/", raw_query(b"q=\xff")))
    assert isinstance(bad, srv.Respond)


def test_fastapi_answers_raw_query_bytes_and_identity_failures_in_the_envelope() -> None:
    pytest.importorskip("fastapi")
    from fastapi import FastAPI

    from mizan_kernel.fastapi import mizan_router

    fns = Functions()

    @fns.client(context="items")
    def find_items(q: str = "") -> str:
        return q

    def identity(request: Any) -> Optional[srv.Identity]:
        if request.headers.get("x-user") == "raise":
            raise RuntimeError("the session store is down")
        return None

    app = FastAPI()
    app.include_router(mizan_router(fns, identity=identity))

    async def asgi(method: str, path: str, query: bytes = b"", headers: Any = ()) -> Any:
        """One request straight through ASGI: a server that passes raw query bytes (uvicorn's
        h11 refuses them itself, before any app)."""
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
                 "headers": [(k.encode(), v.encode()) for k, v in headers], "server": ("t", 80), "client": ("c", 1)}
        sent: List[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await app(scope, receive, send)
        head = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return head["status"], dict((k.decode(), v.decode()) for k, v in head["headers"]), body.decode()

    async def go() -> List[Any]:
        return [
            await asgi("GET", "/api/mizan/ctx/items/", b"q=\xff"),
            await asgi("GET", "/api/mizan/ctx/items/", headers=[("x-user", "raise")]),
            await asgi("get", "/api/mizan/session/"),
        ]

    raw, boom, lower = asyncio.run(go())
    assert (raw[0], raw[2]) == (400, '{"error":{"code":"BAD_REQUEST","message":"Invalid query string"}}')
    assert (boom[0], boom[2]) == (500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}')
    assert (lower[0], lower[1]["allow"]) == (405, "GET, HEAD")


DJANGO = r"""
import os, sys, json
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "wire_django.settings"
os.environ["MIZAN_CACHE"] = "memory"
import django
django.setup()
from django.test import Client
c = Client()
out = {}
r = c.get("/api/mizan/ctx/items/", QUERY_STRING="page=1&category=\xff")   # a server that passes raw bytes (runserver)
out["raw_query"] = [r.status_code, r.content.decode()]
r = c.get("/api/mizan/ctx/catalog/", HTTP_X_WIRE_USER="raise")
out["identity_raises"] = [r.status_code, r.content.decode()]
r = c.get("/api/mizan")
out["base"] = [r.status_code, r.content.decode()]
r = c.generic("get", "/api/mizan/session/", REQUEST_METHOD="get")
out["lowercase"] = [r.status_code, r.headers.get("Allow")]
print(json.dumps(out))
"""


def test_django_answers_raw_query_bytes_identity_failures_and_the_base_path_in_the_envelope() -> None:
    pytest.importorskip("django")
    import os
    import subprocess

    from conftest import REPO

    env = dict(os.environ, PYTHONPATH=str(REPO / "python-shims"))
    out = subprocess.run([sys.executable, "-c", DJANGO, str(REPO / "examples" / "django_app")], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["raw_query"] == [400, '{"error":{"code":"BAD_REQUEST","message":"Invalid query string"}}']
    assert got["identity_raises"] == [500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}']
    assert got["base"] == [404, '{"error":{"code":"NOT_FOUND","message":"Not found"}}']
    assert got["lowercase"] == [405, "GET, HEAD"]
