"""mizan_kernel.Client and AsyncClient against a real HTTP server on 127.0.0.1 (tests/mizan_server.py).

Every assertion about what was refetched is made on the server's request counts."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

import mizan_kernel as mk

pytest.importorskip("httpx")
pytestmark = pytest.mark.skipif(not mk.has_store(), reason="the component predates the store interface")

from mizan_server import MizanTestServer  # noqa: E402

FAST = {"retry_base_ms": 10, "retry_max_ms": 40, "seed": 7}
U1 = {"user_id": 1}
U2 = {"user_id": 2}


def eventually(pred: Callable[[], Any], timeout: float = 5.0) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def server() -> Iterator[MizanTestServer]:
    with MizanTestServer() as s:
        yield s


@pytest.fixture
def client(server: MizanTestServer) -> Iterator[mk.Client]:
    with mk.Client(server.base_url, **FAST) as c:
        yield c


def recorder() -> "tuple[List[Dict[str, Any]], Callable[[Dict[str, Any]], None]]":
    seen: List[Dict[str, Any]] = []
    return seen, seen.append


# --- the sync client ---------------------------------------------------------------------------


def test_fetch_returns_the_bundle(client: mk.Client, server: MizanTestServer) -> None:
    assert client.fetch("user", U1) == {"user_profile": {"id": 1, "name": "Ada"}}
    assert client.fetch("items") == {"items_list": server.app.items}
    assert client.fetch("items", {"category": "fruit"})["items_list"] == [server.app.items[0]]
    assert server.count("/ctx/user/?user_id=1") == 1
    snap = client.snapshot("user", {"user_id": "1"})  # "1" and 1 are one instance
    assert snap is not None and snap["status"] == "success" and snap["subscribers"] == 0
    assert client.snapshot("user", {"user_id": 3}) is None


def test_concurrent_fetches_share_one_request(client: mk.Client, server: MizanTestServer) -> None:
    gate = server.gate("/ctx/user/")
    results: List[Any] = [None, None]

    def run(i: int) -> None:
        results[i] = client.fetch("user", U1, timeout=10)

    a = threading.Thread(target=run, args=(0,))
    a.start()
    eventually(lambda: server.count("/ctx/user/") == 1)  # A's request is held at the gate
    b = threading.Thread(target=run, args=(1,))
    b.start()
    eventually(lambda: (client.snapshot("user", U1) or {}).get("subscribers") == 2)  # B is waiting too
    gate.set()
    a.join(10)
    b.join(10)
    assert results[0] == results[1] == {"user_profile": {"id": 1, "name": "Ada"}}
    assert server.count("/ctx/user/") == 1


def test_fresh_data_comes_from_the_cache(server: MizanTestServer) -> None:
    with mk.Client(server.base_url, stale_time_ms=60_000, **FAST) as c:
        c.fetch("user", U1)
        c.fetch("user", {"user_id": "1"})
        assert server.count("/ctx/user/") == 1
    with mk.Client(server.base_url, **FAST) as c:  # stale_time 0: every fetch asks the server
        c.fetch("user", U1)
        c.fetch("user", U1)
        assert server.count("/ctx/user/") == 3


def test_a_mutation_refetches_exactly_the_affected_observed_instance(client: mk.Client, server: MizanTestServer) -> None:
    seen1, cb1 = recorder()
    seen_items, cb_items = recorder()
    sub1 = client.subscribe("user", U1, cb1)
    sub_items = client.subscribe("items", None, cb_items)
    client.fetch("user", U2)  # cached, not observed
    client.wait_idle()
    assert (server.count("/ctx/user/?user_id=1"), server.count("/ctx/user/?user_id=2"), server.count("/ctx/items/")) == (1, 1, 1)
    n_items = len(seen_items)

    assert client.call("rename_user", {"user_id": 1, "name": "Ada L."}) == {"id": 1, "name": "Ada L."}
    client.wait_idle()
    assert server.count("/ctx/user/?user_id=1") == 2  # observed and matched: refetched
    assert server.count("/ctx/user/?user_id=2") == 1  # another user_id: untouched
    assert server.count("/ctx/items/") == 1  # another context: untouched
    assert sub1.data == {"user_profile": {"id": 1, "name": "Ada L."}}
    assert seen1[-1]["data"] == {"user_profile": {"id": 1, "name": "Ada L."}} and not seen1[-1]["is_fetching"]
    assert len(seen_items) == n_items  # subscribers hear about their changed instances only

    # An unobserved instance is only marked stale; it refetches when next used.
    client.call("rename_user", {"user_id": 2, "name": "G. Hopper"})
    client.wait_idle()
    assert server.count("/ctx/user/?user_id=2") == 1
    assert client.snapshot("user", U2)["is_stale"] is True  # type: ignore[index]
    assert client.fetch("user", U2) == {"user_profile": {"id": 2, "name": "G. Hopper"}}
    assert server.count("/ctx/user/?user_id=2") == 2
    assert server.count("/ctx/user/?user_id=1") == 2
    sub1.close()
    sub_items.close()


def test_header_only_invalidation(client: mk.Client, server: MizanTestServer) -> None:
    server.header_only = True  # body `invalidate: []`, entries only in X-Mizan-Invalidate
    sub = client.subscribe("user", U1)
    client.wait_idle()
    client.call("rename_user", {"user_id": 1, "name": "Header"})
    client.wait_idle()
    assert server.count("/ctx/user/?user_id=1") == 2
    assert sub.data == {"user_profile": {"id": 1, "name": "Header"}}


def test_merge_is_applied_before_the_refetch(client: mk.Client, server: MizanTestServer) -> None:
    seen, cb = recorder()
    sub = client.subscribe("items", None, cb)
    client.wait_idle()
    gate = server.gate("/ctx/items/")
    # set_item_name merges its result into items_list, and invalidates `items`.
    client.call("set_item_name", {"id": 1, "name": "pear"})
    eventually(lambda: server.count("/ctx/items/") == 2)  # the refetch is held at the gate
    snap = sub.snapshot()
    assert snap is not None and snap["is_fetching"] is True
    assert [i["name"] for i in snap["data"]["items_list"]] == ["pear", "leek"]  # merged already
    gate.set()
    client.wait_idle()
    # The subscriber saw the merged value first while the refetch was still running.
    first_pear = next(s for s in seen if s["data"] and s["data"]["items_list"][0]["name"] == "pear")
    assert first_pear["is_fetching"] is True
    assert sub.data["items_list"][0]["name"] == "pear" and not sub.snapshot()["is_fetching"]  # type: ignore[index]
    assert server.count("/ctx/items/") == 2


def test_optimistic_patch_rolls_back_on_500_and_invalidates_nothing(client: mk.Client, server: MizanTestServer) -> None:
    seen, cb = recorder()
    sub = client.subscribe("user", U1, cb)
    client.wait_idle()
    before = sub.data
    server.fail("/call/", 500)
    optimistic = [{"context": "user", "slot": "user_profile", "value": {"id": 1, "name": "Optimist"}, "params": U1}]
    with pytest.raises(mk.MizanRequestError) as e:
        client.call("rename_user", {"user_id": 1, "name": "Optimist"}, optimistic=optimistic)
    assert e.value.code == "INTERNAL_ERROR"
    client.wait_idle()
    assert any(s["data"] == {"user_profile": {"id": 1, "name": "Optimist"}} for s in seen)  # it was shown
    assert sub.data == before == {"user_profile": {"id": 1, "name": "Ada"}}  # and rolled back exactly
    assert server.count("/ctx/user/") == 1  # nothing invalidated, nothing refetched
    assert server.count("/call/") == 1  # calls are not retried


def test_optimistic_patch_is_superseded_by_the_server_on_success(client: mk.Client, server: MizanTestServer) -> None:
    sub = client.subscribe("items")
    client.wait_idle()
    optimistic = [{"context": "items", "slot": "items_list", "value": {"id": 2, "name": "LEEK?", "category": "vegetable"}}]
    client.call("set_item_name", {"id": 2, "name": "leek!"}, optimistic=optimistic)
    client.wait_idle()
    assert [i["name"] for i in sub.data["items_list"]] == ["apple", "leek!"]  # type: ignore[index]


def test_retry_on_503_then_success(client: mk.Client, server: MizanTestServer) -> None:
    server.fail("/ctx/user/", 503, 503)
    assert client.fetch("user", U1) == {"user_profile": {"id": 1, "name": "Ada"}}
    assert server.count("/ctx/user/") == 3


def test_a_dropped_connection_is_a_network_error_and_retried(client: mk.Client, server: MizanTestServer) -> None:
    server.fail("/ctx/user/", "drop")
    assert client.fetch("user", U1) == {"user_profile": {"id": 1, "name": "Ada"}}
    assert server.count("/ctx/user/") == 2


def test_retries_are_bounded(server: MizanTestServer) -> None:
    with mk.Client(server.base_url, retries=1, **FAST) as c:
        server.fail("/ctx/user/", 503, 503, 503)
        with pytest.raises(mk.MizanRequestError) as e:
            c.fetch("user", U1)
        assert e.value.code == "INTERNAL_ERROR" and e.value.message == "Injected failure 503"
        assert server.count("/ctx/user/") == 2
        c.fetch("user", U1)  # the next fetch starts over (and meets the third 503, then succeeds)
        assert server.count("/ctx/user/") == 4
    with mk.Client("http://127.0.0.1:9/api/mizan", retries=0, **FAST) as c:  # nothing listens
        with pytest.raises(mk.MizanRequestError) as e:
            c.fetch("user", U1)
        assert e.value.code == "NETWORK_ERROR"


def test_4xx_is_not_retried(client: mk.Client, server: MizanTestServer) -> None:
    with pytest.raises(mk.MizanRequestError) as e:
        client.fetch("user", {"user_id": 99})
    assert (e.value.code, e.value.message) == ("NOT_FOUND", "User not found")
    assert server.count("/ctx/user/?user_id=99") == 1
    with pytest.raises(mk.MizanRequestError) as e:
        client.fetch("user")
    assert e.value.code == "VALIDATION_ERROR" and e.value.details == {"fields": {"user_id": ["Field required"]}}
    server.fail("/ctx/items/", 400)
    with pytest.raises(mk.MizanRequestError) as e:
        client.fetch("items")
    assert e.value.code == "BAD_REQUEST"
    with pytest.raises(mk.MizanRequestError) as e:
        client.call("no_such_function", {})
    assert e.value.code == "NOT_FOUND"
    client.wait_idle()
    assert server.count("/ctx/user/") == 2 and server.count("/ctx/items/") == 1 and server.count("/call/") == 1


def test_a_success_without_json_is_an_invalid_response(client: mk.Client, server: MizanTestServer) -> None:
    server.fail("/ctx/user/", "garbage")
    with pytest.raises(mk.MizanRequestError) as e:
        client.fetch("user", U1)
    assert e.value.code == "INVALID_RESPONSE"
    assert server.count("/ctx/user/") == 1  # the store does not retry an unreadable answer
    server.fail("/call/", "garbage")
    with pytest.raises(mk.MizanRequestError) as e:
        client.call("rename_user", {"user_id": 1, "name": "Z"})
    assert e.value.code == "INVALID_RESPONSE"


def test_reset_drops_data(client: mk.Client, server: MizanTestServer) -> None:
    seen, cb = recorder()
    sub = client.subscribe("user", U1, cb)
    client.fetch("user", U2)  # unobserved
    client.wait_idle()
    gate = server.gate("/ctx/user/")
    client.reset()
    snap = sub.snapshot()
    assert snap is not None and snap["data"] is None and snap["status"] == "loading"  # at once
    assert client.snapshot("user", U2) is None  # unobserved instances are gone
    gate.set()
    client.wait_idle()
    assert any(s["data"] is None for s in seen)  # the subscriber saw the data go
    assert sub.data == {"user_profile": {"id": 1, "name": "Ada"}}  # and come back, refetched
    assert server.count("/ctx/user/?user_id=1") == 2
    assert server.count("/session/") == 2  # a new session for the new identity


def test_reset_cancels_a_pending_call(client: mk.Client, server: MizanTestServer) -> None:
    gate = server.gate("/call/")
    errors: List[BaseException] = []

    def run() -> None:
        try:
            client.call("rename_user", {"user_id": 1, "name": "Late"})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    eventually(lambda: server.count("/call/") == 1)
    client.reset()
    t.join(5)
    gate.set()
    assert isinstance(errors[0], mk.MizanRequestError) and errors[0].code == "RESET"


def test_session_is_fetched_once_and_the_csrf_token_sent(client: mk.Client, server: MizanTestServer) -> None:
    for name in ("A", "B", "C"):
        client.call("rename_user", {"user_id": 1, "name": name})
    client.fetch("user", U1)
    assert server.count("/session/") == 1
    calls = [r for r in server.requests if r["path"].endswith("/call/")]
    assert len(calls) == 3
    for r in calls:
        assert r["headers"]["X-CSRFToken"] == server.csrf_token
        assert f"csrftoken={server.csrf_token}" in r["headers"].get("Cookie", "")  # httpx keeps cookies
        assert r["headers"]["Content-Type"] == "application/json"


def test_invalidate_remove_and_close_subscription(client: mk.Client, server: MizanTestServer) -> None:
    sub = client.subscribe("items")
    client.subscribe("user", U1)
    client.wait_idle()
    client.invalidate("items")
    client.wait_idle()
    assert server.count("/ctx/items/") == 2 and server.count("/ctx/user/") == 1
    client.invalidate([{"context": "user", "params": {"user_id": "2"}}])  # matches nothing observed
    client.wait_idle()
    assert server.count("/ctx/user/") == 1
    client.remove([{"context": "user", "params": {"user_id": 1}}])
    client.wait_idle()
    assert server.count("/ctx/user/") == 2  # observed: dropped, then fetched again
    sub.close()
    sub.close()  # idempotent
    client.invalidate("items")
    client.wait_idle()
    assert server.count("/ctx/items/") == 2  # no longer observed: not refetched


def test_fetch_timeout(client: mk.Client, server: MizanTestServer) -> None:
    gate = server.gate("/ctx/user/")
    with pytest.raises(TimeoutError):
        client.fetch("user", U1, timeout=0.1)
    gate.set()
    client.wait_idle()
    assert client.snapshot("user", U1)["subscribers"] == 0  # type: ignore[index]


def test_dehydrate_and_hydrate(client: mk.Client, server: MizanTestServer) -> None:
    client.fetch("user", U1)
    payload = client.dehydrate()
    assert payload["version"] == 1 and payload["instances"][0]["context"] == "user"
    with mk.Client(server.base_url, stale_time_ms=60_000, **FAST) as other:
        other.hydrate(payload)
        assert other.fetch("user", U1) == {"user_profile": {"id": 1, "name": "Ada"}}
    assert server.count("/ctx/user/") == 1


def test_configuration_and_closing(server: MizanTestServer) -> None:
    with pytest.raises(mk.MizanKernelError) as e:
        mk.Client(server.base_url, stale_time=5)
    assert e.value.code == "invalid-argument"
    with pytest.raises(TypeError):
        mk.Client()
    c = mk.Client(server.base_url)
    c.close()
    c.close()
    with pytest.raises(RuntimeError):
        c.fetch("user", U1)


def test_a_callback_may_use_the_client(client: mk.Client, server: MizanTestServer) -> None:
    """Callbacks run on the background thread; a blocking fetch inside one still completes
    (retry timers included)."""
    got: List[Any] = []

    def cb(snap: Dict[str, Any]) -> None:
        if snap["status"] == "success" and not got:
            server.fail("/ctx/user/?user_id=2", 503)
            got.append(client.fetch("user", U2, timeout=5))

    sub = client.subscribe("user", U1, cb)
    eventually(lambda: got)
    assert got == [{"user_profile": {"id": 2, "name": "Grace"}}]
    sub.close()


# --- the asyncio client ------------------------------------------------------------------------


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_async_fetch_dedup_and_session(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            a, b = await asyncio.gather(c.fetch("user", U1), c.fetch("user", {"user_id": "1"}))
            assert a == b == {"user_profile": {"id": 1, "name": "Ada"}}
            assert server.count("/ctx/user/") == 1
            await c.call("rename_user", {"user_id": 1, "name": "X"})
            await c.call("rename_user", {"user_id": 1, "name": "Y"})
            assert server.count("/session/") == 1
            assert all(r["headers"]["X-CSRFToken"] == server.csrf_token for r in server.requests if r["path"].endswith("/call/"))

    run(main())


def test_async_mutation_refetches_exactly_the_affected_observed_instance(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            seen1: List[Dict[str, Any]] = []
            seen2: List[Dict[str, Any]] = []

            async def acb(snap: Dict[str, Any]) -> None:  # coroutine callbacks become tasks
                seen2.append(snap)

            s1 = c.subscribe("user", U1, seen1.append)
            s2 = c.subscribe("user", U2, acb)
            c.subscribe("items")
            await c.wait_idle()
            n2 = len(seen2)
            assert await c.call("rename_user", {"user_id": 1, "name": "Async"}) == {"id": 1, "name": "Async"}
            await c.wait_idle()
            await asyncio.sleep(0)
            assert server.count("/ctx/user/?user_id=1") == 2
            assert server.count("/ctx/user/?user_id=2") == 1
            assert server.count("/ctx/items/") == 1
            assert s1.data == {"user_profile": {"id": 1, "name": "Async"}}
            assert seen1[-1]["data"] == s1.data and len(seen2) == n2
            server.header_only = True
            await c.call("rename_user", {"user_id": 2, "name": "Hdr"})
            await c.wait_idle()
            assert server.count("/ctx/user/?user_id=2") == 2 and s2.data == {"user_profile": {"id": 2, "name": "Hdr"}}

    run(main())


def test_async_merge_before_refetch_and_optimistic_rollback(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            sub = c.subscribe("items")
            await c.wait_idle()
            gate = server.gate("/ctx/items/")
            await c.call("set_item_name", {"id": 1, "name": "pear"})
            snap = sub.snapshot()
            assert snap["is_fetching"] and snap["data"]["items_list"][0]["name"] == "pear"  # type: ignore[index]
            gate.set()
            await c.wait_idle()
            assert server.count("/ctx/items/") == 2

            server.fail("/call/", 500)
            before = sub.data
            opt = [{"context": "items", "slot": "items_list", "value": {"id": 2, "name": "nope", "category": "vegetable"}}]
            task = asyncio.ensure_future(c.call("set_item_name", {"id": 2, "name": "nope"}, optimistic=opt))
            await asyncio.sleep(0)
            assert sub.data["items_list"][1]["name"] == "nope"  # type: ignore[index]
            with pytest.raises(mk.MizanRequestError) as e:
                await task
            assert e.value.code == "INTERNAL_ERROR"
            await c.wait_idle()
            assert sub.data == before and server.count("/ctx/items/") == 2

    run(main())


def test_async_retry_and_4xx(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            server.fail("/ctx/user/", 503, "drop")
            assert await c.fetch("user", U1) == {"user_profile": {"id": 1, "name": "Ada"}}
            assert server.count("/ctx/user/") == 3
            with pytest.raises(mk.MizanRequestError) as e:
                await c.fetch("user", {"user_id": 42})
            assert e.value.code == "NOT_FOUND" and server.count("/ctx/user/?user_id=42") == 1
            gate = server.gate("/ctx/items/")
            with pytest.raises(TimeoutError):
                await c.fetch("items", timeout=0.05)
            gate.set()
            await c.wait_idle()

    run(main())


def test_async_reset(server: MizanTestServer) -> None:
    async def main() -> None:
        async with mk.AsyncClient(server.base_url, **FAST) as c:
            sub = c.subscribe("user", U1)
            await c.fetch("user", U2)
            await c.wait_idle()
            c.reset()
            assert sub.snapshot()["data"] is None and c.snapshot("user", U2) is None  # type: ignore[index]
            await c.wait_idle()
            assert sub.data == {"user_profile": {"id": 1, "name": "Ada"}}
            assert server.count("/ctx/user/?user_id=1") == 2 and server.count("/session/") == 2
        with pytest.raises(RuntimeError):
            await c.fetch("user", U1)

    run(main())
