"""The Python clients as interpreters of the kernel's client session: the one trap rule, the
session start (retried, failing fast, calls held for its token), the error codes, operation
transports. Against the real HTTP server of test_client.py (tests/mizan_server.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

import mizan_kernel as mk
from mizan_kernel._runtime import runtime

pytest.importorskip("httpx")

from mizan_server import MizanTestServer  # noqa: E402

FAST = {"retry_base_ms": 10, "retry_max_ms": 40, "seed": 7}
U1 = {"user_id": 1}


def eventually(pred: Any, timeout: float = 5.0) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def trap() -> None:
    """Make the kernel really trap (as test_errors.py does): cap memory, send too much text."""
    mk.set_memory_limit(4 << 20)
    try:
        with pytest.raises(mk.MizanKernelError) as e:
            mk.stringify("x" * (8 << 20))
        assert e.value.code == "trap"
    finally:
        mk.set_memory_limit(None)


@pytest.fixture
def server() -> Any:
    with MizanTestServer() as s:
        yield s


def test_after_a_trap_the_client_replays_its_subscriptions_and_pending_calls_raise_trap(server: MizanTestServer) -> None:
    seen: List[Dict[str, Any]] = []
    with mk.Client(server.base_url, **FAST) as c:
        sub = c.subscribe("user", U1, seen.append)
        c.wait_idle()
        gate = server.gate("/call/")
        errors: List[BaseException] = []

        def call() -> None:
            try:
                c.call("rename_user", {"user_id": 1, "name": "late"})
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=call)
        t.start()
        eventually(lambda: server.count("/call/") == 1)
        generation = runtime().generation
        trap()
        assert runtime().generation == generation + 1
        # The next use finds its session gone: a new one, the subscription replayed.
        c.invalidate("items")
        t.join(5)
        assert isinstance(errors[0], mk.MizanRequestError) and errors[0].code == "TRAP"
        eventually(lambda: server.count("/ctx/user/?user_id=1") == 2)
        assert server.count("/ctx/user/?user_id=1") == 2, "the replayed subscription fetched again"
        gate.set()  # the old call completes on the server; its answer means nothing to the new session
        c.wait_idle()
        assert server.count("/session/") == 2, "a new session"
        assert sub.data is not None and sub.data["user_profile"]["id"] == 1
        assert seen[-1]["data"] == sub.data


def test_a_failing_session_is_retried_then_calls_go_without_a_token(server: MizanTestServer) -> None:
    server.fail("/session/", 503, 503, 503, 503)
    with mk.Client(server.base_url, retries=2, **FAST) as c:
        # The call waits for the session (retried twice, then given up), then goes.
        with pytest.raises(mk.MizanRequestError):
            c.call("rename_user", {"user_id": 1, "name": "x"})
        assert server.count("/session/") == 3
        calls = [r for r in server.requests if r["path"].endswith("/call/")]
        assert len(calls) == 1 and "X-CSRFToken" not in calls[0]["headers"]


def test_close_fails_pending_waiters_with_closed(server: MizanTestServer) -> None:
    gate = server.gate("/ctx/user/")
    c = mk.Client(server.base_url, **FAST)
    errors: List[BaseException] = []

    def fetch() -> None:
        try:
            c.fetch("user", U1)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=fetch)
    t.start()
    eventually(lambda: server.count("/ctx/user/") == 1)
    c.close()
    t.join(5)
    gate.set()
    assert isinstance(errors[0], mk.MizanRequestError) and errors[0].code == "CLOSED"


class _Ops(mk.Transport):
    """An operation transport (no URLs): answers from a dict, counts what it was asked."""

    def __init__(self) -> None:
        self.asked: List[Tuple[str, Any]] = []

    def session(self) -> Any:
        self.asked.append(("session", None))
        return {"csrfToken": None}

    def fetch(self, context: str, params: Mapping[str, Any], query: str) -> Any:
        self.asked.append(("fetch", (context, dict(params), query)))
        if context == "missing":
            raise mk.TransportError({"code": "NOT_FOUND", "message": "no such context"})
        return {"user_profile": {"id": params["user_id"]}}

    def call(self, fn: str, args: Mapping[str, Any], csrf_token: Optional[str]) -> Tuple[Any, Optional[str]]:
        self.asked.append(("call", (fn, dict(args))))
        return {"result": 7, "invalidate": ["user"]}, None


def test_an_operation_transport_gets_operations_and_bare_errors_keep_their_codes() -> None:
    ops = _Ops()
    with mk.Client(transport=ops, **FAST) as c:
        sub = c.subscribe("user", {"user_id": 4})
        c.wait_idle()
        assert sub.data == {"user_profile": {"id": 4}}
        assert ("fetch", ("user", {"user_id": 4}, "user_id=4")) in ops.asked
        assert c.call("f", {"a": 1}) == 7
        c.wait_idle()
        assert sum(1 for kind, _ in ops.asked if kind == "fetch") == 2, "the call invalidated the observed user"
        with pytest.raises(mk.MizanRequestError) as e:
            c.fetch("missing")
        assert e.value.code == "NOT_FOUND"  # a 4xx code: answered at once, not retried
        assert sum(1 for kind, a in ops.asked if kind == "fetch" and a[0] == "missing") == 1


def test_async_trap_replay_and_reset_codes(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            sub = c.subscribe("user", U1)
            await c.wait_idle()
            trap()
            c.invalidate("items")  # finds the session gone: replays the subscription
            await c.wait_idle()
            assert server.count("/ctx/user/?user_id=1") == 2 and sub.data == {"user_profile": {"id": 1, "name": "Ada"}}
            gate = server.gate("/call/")
            task = asyncio.ensure_future(c.call("rename_user", {"user_id": 1, "name": "late"}))
            while server.count("/call/") < 1:
                await asyncio.sleep(0.005)
            c.reset()
            with pytest.raises(mk.MizanRequestError) as e:
                await task
            assert e.value.code == "RESET"
            gate.set()
            await c.wait_idle()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_config_typos_are_refused(server: MizanTestServer) -> None:
    with pytest.raises(mk.MizanKernelError) as e:
        mk.Client(server.base_url, stal_time_ms=5)
    assert e.value.code == "invalid-argument" and "stal_time_ms" in e.value.message
