"""The server side of the Python host: Engine / OriginStore wrappers (typed lowering), the
@client decorator and registry building, MizanApp's flow (sync and async), the Django CSRF
path. The HTTP apps themselves are exercised by test_server_wire.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, TypedDict

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO  # noqa: E402
from conformance_files import load_scenarios  # noqa: E402

import mizan_kernel as mk  # noqa: E402
from mizan_kernel import server as srv  # noqa: E402
from mizan_kernel.app import MizanApp  # noqa: E402
from mizan_kernel.decorators import Functions, Upload, current_identity, current_request, current_user  # noqa: E402
from mizan_kernel.origin import MemoryOriginStore, make_store  # noqa: E402

SERVER_REG = load_scenarios(REPO / "tests" / "conformance" / "server")["registries"]["server"]
SECRETS = dict(
    cache_secret="test-cache-secret-0123456789abcdef",
    mwt_secret="test-mwt-secret-0123456789abcdefgh",
    jwt_secret="test-jwt-secret-0123456789abcdefgh",
)
NOW = 1_700_000_000_000


def engine(**config: object) -> srv.Engine:
    return srv.Engine(SERVER_REG, {**SECRETS, **config})


def call_body(fn: str, args: object = None) -> bytes:
    return json.dumps({"fn": fn} if args is None else {"fn": fn, "args": args}).encode()


# --- Engine -------------------------------------------------------------------------------------


def test_engine_from_every_registry_form() -> None:
    kdl = (REPO / "tests" / "wire" / "app.kdl").read_text()
    reg = mk.Registry.from_kdl(kdl)
    for source in (kdl, reg, reg.to_json(), json.dumps(reg.to_json())):
        e = srv.Engine(source)
        assert e.registry.to_kdl() == kdl
        assert isinstance(e.plan(srv.Request("GET", "/api/mizan/session/")), srv.Respond)


def test_engine_config_errors() -> None:
    with pytest.raises(mk.MizanKernelError) as e:
        srv.Engine(SERVER_REG, cache_secret="same-secret-0123456789abcdefghijkl", mwt_secret="same-secret-0123456789abcdefghijkl")
    assert e.value.code == "invalid-argument"
    with pytest.raises(mk.MizanKernelError):
        srv.Engine(SERVER_REG, cache_secret="")
    with pytest.raises(TypeError):
        srv.Engine(SERVER_REG, cache_secrets="x")
    assert srv.Engine(SERVER_REG, cache_secret="short").warnings() == ["the cache secret is 5 bytes; use at least 32 random bytes"]
    with pytest.raises(mk.MizanKernelError) as e:
        srv.Engine({"functions": {"f": {"affects": ["nowhere"]}}})
    assert e.value.code == "invalid-registry"


def test_plans() -> None:
    e = engine()
    p = e.plan(srv.Request("POST", "/api/mizan/call/", body=call_body("typed", {"count": "4", "ratio": 1, "flag": "1"})), None, NOW)
    assert isinstance(p, srv.Call)
    assert (p.function, p.args, p.identity) == ("typed", {"count": 4, "flag": True, "ratio": 1}, None)
    p = e.plan(srv.Request("GET", "/api/mizan/ctx/items/", "page=2"), srv.Identity("7"), NOW)
    assert isinstance(p, srv.Fetch)
    assert p.params == {"page": 2} and [m.function for m in p.members] == ["item_count", "items_list"]
    assert p.cache is not None and p.cache.ttl_seconds == 60 and p.cache.key.startswith("ctx:items:")
    p = e.plan(srv.Request("GET", "/api/mizan/ctx/audit/"), srv.Identity("7"), NOW)
    assert p == srv.CheckPredicates(["can_audit"], srv.Identity("7"))
    p = e.plan(srv.Request("GET", "/api/mizan/ctx/audit/"), srv.Identity("7"), NOW, {"can_audit": False})
    assert isinstance(p, srv.Respond) and p.response.status == 403
    p = e.plan(srv.Request("GET", "/api/mizan/ctx/audit/"), srv.Identity("7"), NOW, [("can_audit", True)])
    assert isinstance(p, srv.Fetch)


def test_request_bodies_and_headers() -> None:
    e = engine()
    for body in (b"\xff\xfe", bytearray(b"\xff"), memoryview(b"not json"), "not json"):
        p = e.plan(srv.Request("POST", "/api/mizan/call/", body=body), None, NOW)
        assert isinstance(p, srv.Respond) and p.response.status == 400
        assert p.response.body == '{"error":{"code":"BAD_REQUEST","message":"Invalid request body"}}'
    token = e.mint_mwt(srv.Identity("9", staff=True), NOW)
    for headers in ([("X-Mizan-Token", token)], {"x-mizan-token": token}):
        p = e.plan(srv.Request("POST", "/api/mizan/call/", headers=headers, body=call_body("staff_op")), None, NOW)
        assert isinstance(p, srv.Call) and p.identity == srv.Identity("9", staff=True)
    big = b'{"fn":"typed","args":{"pad":"' + b"x" * 2_000_000 + b'"}}'
    p = e.plan(srv.Request("POST", "/api/mizan/call/", body=big), None, NOW)
    assert p.response.status == 413  # type: ignore[union-attr]
    p = srv.Engine(SERVER_REG, body_limit=4 << 20).plan(srv.Request("POST", "/api/mizan/call/", body=big + b"\xff"), None, NOW)
    assert p.response.status == 400  # type: ignore[union-attr]  (a non-UTF-8 body goes as bytes)


def test_host_side_argument_errors() -> None:
    e = engine()
    with pytest.raises(mk.MizanKernelError) as err:
        e.plan(srv.Request("GET", "/api/mizan/\udc80"), None, NOW)
    assert err.value.code == "invalid-argument"
    with pytest.raises(mk.MizanKernelError):
        e.plan(srv.Request("GET", "/api/mizan/session/"), None, -1)
    with pytest.raises(TypeError):
        e.plan(srv.Request(5, "/api/mizan/session/"), None, NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        srv.Outcome.error("NOPE", "x")
    assert e.plan(srv.Request("GET", "/api/mizan/session/"), None, NOW).response.status == 200  # type: ignore[union-attr]


def test_finish_call_outcomes() -> None:
    e = engine()
    p = e.plan(srv.Request("POST", "/api/mizan/call/", body=call_body("rename_item", {"id": 42, "name": "n"})), None, NOW)
    fin = e.finish_call(p, srv.Outcome.ok({"id": 42, "name": "n"}))
    assert fin.response.status == 200 and fin.response.header("x-mizan-invalidate") == "items"
    assert fin.response.json() == {
        "result": {"id": 42, "name": "n"},
        "merge": [{"context": "items", "slot": "items_list", "value": {"id": 42, "name": "n"}}],
        "invalidate": ["items"],
    }
    assert fin.purge is not None and len(fin.purge.scopes) == 1 and fin.cache_put is None
    for exc, status, body in [
        (srv.NotFound("No such item"), 404, '{"error":{"code":"NOT_FOUND","message":"No such item"}}'),
        (NotImplementedError(), 501, '{"error":{"code":"NOT_IMPLEMENTED","message":"Not implemented"}}'),
        (srv.ValidationFailed({"name": ["Too short"]}), 422,
         '{"error":{"code":"VALIDATION_ERROR","message":"Input validation failed","details":{"fields":{"name":["Too short"]}}}}'),
        (RuntimeError("secret detail"), 500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}'),
        (srv.ProtocolError("INTERNAL_ERROR", "secret detail"), 500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}'),
    ]:
        fin = e.finish_call(p, srv.Outcome.from_exception(exc))
        assert (fin.response.status, fin.response.body, fin.purge) == (status, body, None)
        assert fin.response.header("X-Mizan-Invalidate") is None
        if status == 500:
            assert "secret detail" in fin.diagnostics[0]
    assert e.finish_call(p, srv.Outcome.ok_json("{not json")).response.status == 500
    with pytest.raises(mk.MizanKernelError):
        srv.Outcome.ok(float("nan"))


def test_finish_fetch_and_error_response() -> None:
    e = engine()
    p = e.plan(srv.Request("GET", "/api/mizan/ctx/items/"), None, NOW)
    assert isinstance(p, srv.Fetch)
    fin = e.finish_fetch(p.context, p.cache, srv.FetchOutcome.results([("items_list", srv.Outcome.ok([])), ("item_count", srv.Outcome.ok(0))]))
    assert fin.response.body == '{"item_count":0,"items_list":[]}' and fin.response.header("X-Mizan-Cache") == "MISS"
    assert fin.cache_put is not None and fin.cache_put.key == p.cache.key  # type: ignore[union-attr]
    hit = e.finish_fetch(p.context, p.cache, srv.FetchOutcome.hit(fin.cache_put.body))
    assert hit.response.header("X-Mizan-Cache") == "HIT" and hit.response.body == fin.response.body
    r = e.error_response("UNAUTHORIZED", "Session revoked")
    assert (r.status, r.body) == (401, '{"error":{"code":"UNAUTHORIZED","message":"Session revoked"}}')
    assert e.error_response(srv.ProtocolError("FORBIDDEN", "CSRF verification failed")).status == 403


def test_tokens() -> None:
    e = engine()
    who = srv.Identity("7", staff=True, perm="ph")
    t = e.mint_mwt(who, NOW)
    claims = e.verify_mwt(t, NOW)
    assert claims.identity() == who and claims.kind == "mwt" and claims.expires_at == NOW // 1000 + 300
    pair = e.mint_jwt_pair(srv.Identity("7"), "s1", NOW)
    assert e.verify_jwt(pair.access, "access", NOW).session_id == "s1"
    assert e.verify_jwt(pair.refresh, "refresh", NOW).kind == "refresh"
    for token, kind, reason in [(t, "access", "wrong-kind"), (pair.access, "refresh", "wrong-kind"), ("a.b", "access", "malformed")]:
        with pytest.raises(mk.MizanKernelError) as err:
            e.verify_jwt(token, kind, NOW)
        assert err.value.details == {"reason": reason}
    with pytest.raises(mk.MizanKernelError) as err:
        e.verify_mwt(t, NOW + 301_000)
    assert err.value.details == {"reason": "expired"}
    with pytest.raises(mk.MizanKernelError):
        srv.Engine(SERVER_REG).mint_mwt(who, NOW)  # no MWT secret


def test_origin_store_and_purges() -> None:
    e = engine()
    store = srv.OriginStore()
    keys = []
    for who in (None, srv.Identity("1"), srv.Identity("2")):
        for page in ("1", "2"):
            p = e.plan(srv.Request("GET", "/api/mizan/ctx/items/", f"page={page}"), who, NOW)
            fin = e.finish_fetch(p.context, p.cache, srv.FetchOutcome.results([("items_list", srv.Outcome.ok([])), ("item_count", srv.Outcome.ok(0))]))
            put = fin.cache_put
            assert store.put(put.key, put.body, put.index_keys, put.ttl_seconds, NOW)  # type: ignore[union-attr]
            keys.append(put.key)  # type: ignore[union-attr]
    assert len(store) == 6 and store.get(keys[0], NOW) is not None
    assert store.purge(e.purge_user_plan("1")) == sorted(keys[2:4])
    assert store.purge(e.purge_plan([{"context": "items", "params": {"page": 2}}])) == sorted([keys[1], keys[5]])
    assert store.purge(e.purge_plan(["items"])) == sorted([keys[0], keys[4]])
    assert len(store) == 0 and store.index_sets() == 0
    assert store.get(keys[0], NOW) is None
    plan = e.purge_plan(["items"])
    assert json.loads(srv.redis_plan_json(plan)) == dataclasses.asdict(plan)
    assert "SMEMBERS" in srv.redis_purge_script() and "SADD" in srv.redis_put_script()


def test_memory_origin_store_interface() -> None:
    s = make_store("memory")
    assert isinstance(s, MemoryOriginStore)
    put = srv.CachePut("ctx:a:1", "{}", ["idx:a:x"], 60)
    s.put(put)
    assert s.get("ctx:a:1") == "{}" and len(s) == 1
    assert asyncio.run(s.aget("ctx:a:1")) == "{}"
    assert asyncio.run(s.apurge(mk.PurgePlan([mk.PurgeScope("idx:a:x", [])]))) == ["ctx:a:1"]
    assert s.get("ctx:a:1") is None
    with pytest.raises(ValueError):
        make_store("nope")


def test_threads_share_one_engine() -> None:
    e = engine()
    reqs = [srv.Request("GET", "/api/mizan/ctx/items/", f"page={i}") for i in range(20)]
    want = [e.plan(r, srv.Identity("5"), NOW) for r in reqs]
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                assert [e.plan(r, srv.Identity("5"), NOW) for r in reqs] == want
        except BaseException as ex:  # pragma: no cover - reported below
            errors.append(ex)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_engine_and_store_survive_a_trap() -> None:
    e = engine()
    store = srv.OriginStore()
    store.put("k", "v", ["i"], 60, NOW)
    before = e.plan(srv.Request("GET", "/api/mizan/ctx/items/", "page=3"), None, NOW)
    mk.set_memory_limit(4 << 20)
    try:
        with pytest.raises(mk.MizanKernelError) as err:
            e.plan(srv.Request("POST", "/api/mizan/call/", body="x" * (8 << 20)), None, NOW)
        assert err.value.code == "trap"
    finally:
        mk.set_memory_limit(None)
    assert e.plan(srv.Request("GET", "/api/mizan/ctx/items/", "page=3"), None, NOW) == before  # re-created
    assert store.get("k", NOW) is None and len(store) == 0  # re-created empty: a cache may miss
    assert store.put("k", "v", ["i"], 60, NOW) and store.get("k", NOW) == "v"


def test_resources_are_dropped() -> None:
    import gc

    rt = mk._runtime.runtime()
    for _ in range(50):
        srv.Engine(SERVER_REG)
        srv.OriginStore()
    gc.collect()
    mk.stringify(1)  # drops run under the lock at the next call
    assert not rt.pending_drops


# --- @client and registry building --------------------------------------------------------------


class Address(TypedDict):
    city: str
    zip: Optional[str]


@dataclasses.dataclass
class Profile:
    name: str
    address: Address
    tags: List[str] = dataclasses.field(default_factory=list)


def test_type_hints_to_ir() -> None:
    fns = Functions()

    @fns.client(context="profiles", cache=30, rev=3)
    def profile(user_id: int, detail: bool = False, ratio: Optional[float] = None) -> Profile:
        raise AssertionError

    @fns.client(affects=[profile], merge=["profiles"], auth=True)
    def save(user_id: int, names: List[str], scores: Dict[str, float], doc: Upload, meta: dict = None) -> Profile:  # type: ignore[assignment]
        raise AssertionError

    @fns.client(auth="staff", private=True, route="/hooks/x/", methods=["post"], cache=False, view=True)
    def hook() -> None:
        raise AssertionError

    def is_owner(identity: object, request: object) -> bool:
        return True

    @fns.client(auth=is_owner, context="feeds", websocket=True, shared=True)
    def feed() -> list:
        return []

    j = fns.registry_json()
    assert j["functions"]["profile"]["inputs"] == {
        "user_id": {"type": "integer", "required": True},
        "detail": {"type": "boolean", "required": False},
        "ratio": {"type": "optional<number>", "required": False},
    }
    assert j["functions"]["save"]["inputs"]["names"]["type"] == "list<string>"
    assert j["functions"]["save"]["inputs"]["scores"]["type"] == "map<number>"
    assert j["functions"]["save"]["inputs"]["doc"]["type"] == "upload"
    assert j["functions"]["save"]["inputs"]["meta"] == {"type": "map<any>", "required": False}
    assert j["functions"]["save"]["affects"] == ["profile"]
    assert j["functions"]["hook"]["output"] == "null" and j["functions"]["hook"]["methods"] == ["POST"]
    assert j["functions"]["feed"]["auth"] == "predicate:is_owner" and fns.predicates["is_owner"] is is_owner
    assert j["types"]["Profile"]["fields"] == {
        "name": {"type": "string", "required": True},
        "address": {"type": "Address", "required": True},
        "tags": {"type": "list<string>", "required": False},
    }
    assert j["types"]["Address"]["fields"]["zip"] == {"type": "optional<string>", "required": True}
    kdl = fns.to_kdl()
    assert "context feeds shared=#true" in kdl
    assert 'function feed context=feeds output="list<any>" auth="predicate:is_owner" websocket=#true' in kdl
    assert "function profile context=profiles output=Profile rev=3 cache=30" in kdl
    assert 'function hook output="null" auth=staff private=#true view=#true cache=#false route="/hooks/x/"' in kdl
    assert mk.Registry.from_kdl(kdl).to_kdl() == kdl
    with pytest.raises(ValueError):
        fns.client(lambda: None, name="hook")
    with pytest.raises(ValueError):
        fns.client(auth="admin")(lambda: None)


def test_pydantic_models() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        id: int
        name: str
        price: Optional[float] = None

    fns = Functions()

    @fns.client(context="shop")
    def items() -> List[Item]:
        return [Item(id=1, name="a")]

    assert fns.registry_json()["types"]["Item"]["fields"] == {
        "id": {"type": "integer", "required": True},
        "name": {"type": "string", "required": True},
        "price": {"type": "optional<number>", "required": False},
    }
    app = MizanApp(fns)
    r = app.handle(srv.Request("GET", "/api/mizan/ctx/shop/"))
    assert r.body == '{"items":[{"id":1,"name":"a","price":null}]}'


def test_wire_app_functions_emit_app_kdl() -> None:
    sys.path.insert(0, str(REPO / "examples" / "fastapi_app"))
    try:
        import functions as wire  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert wire.functions.to_kdl() == (REPO / "tests" / "wire" / "app.kdl").read_text()


# --- MizanApp -----------------------------------------------------------------------------------


def small_app(**options: object) -> MizanApp:
    fns = Functions()
    seen: Dict[str, object] = {}

    @fns.client(context="mine", auth=True)
    def me() -> dict:
        seen["request"] = current_request()
        return {"user": current_user(), "staff": current_identity().staff}  # type: ignore[union-attr]

    @fns.client(context="notebook", cache=60)
    async def notes(topic: str = "all") -> list:
        await asyncio.sleep(0)
        return [topic]

    @fns.client(affects=["notebook"], auth=True)
    def add_note(topic: str) -> str:
        return topic

    @fns.client(auth="predicate:even")
    def even_only() -> bool:
        return True

    @fns.predicate("even")
    def even(identity: Optional[srv.Identity], request: object) -> bool:
        return identity is not None and int(identity.subject) % 2 == 0

    app = MizanApp(fns, **options)  # type: ignore[arg-type]
    app.seen = seen  # type: ignore[attr-defined]
    return app


def test_app_flow_sync_and_async() -> None:
    app = small_app(cache="memory", jwt_secret=SECRETS["jwt_secret"], revoked=lambda sid: sid == "gone")
    who = srv.Identity("4", staff=True)
    for handle in (app.handle, lambda *a: asyncio.run(app.ahandle(*a))):
        assert app.purge(["notebook"]) is not None
        r = handle(srv.Request("GET", "/api/mizan/ctx/mine/"), "REQ", who)
        assert (r.status, r.body) == (200, '{"me":{"staff":true,"user":"4"}}') and app.seen["request"] == "REQ"  # type: ignore[attr-defined]
        assert handle(srv.Request("GET", "/api/mizan/ctx/notebook/", "topic=a"), None, None).header("X-Mizan-Cache") == "MISS"
        assert handle(srv.Request("GET", "/api/mizan/ctx/notebook/", "topic=a"), None, None).header("X-Mizan-Cache") == "HIT"
        r = handle(srv.Request("POST", "/api/mizan/call/", body=call_body("add_note", {"topic": "a"})), None, who)
        assert r.header("X-Mizan-Invalidate") == "notebook;topic=a"
        assert handle(srv.Request("GET", "/api/mizan/ctx/notebook/", "topic=a"), None, None).header("X-Mizan-Cache") == "MISS"
        assert handle(srv.Request("POST", "/api/mizan/call/", body=call_body("even_only")), None, who).status == 200
        assert handle(srv.Request("POST", "/api/mizan/call/", body=call_body("even_only")), None, srv.Identity("3")).status == 403
        assert handle(srv.Request("POST", "/api/mizan/call/", body=call_body("even_only")), None, None).status == 403
        revoked = srv.Identity("4", session_id="gone")
        r = handle(srv.Request("GET", "/api/mizan/ctx/mine/"), None, revoked)
        assert (r.status, r.body) == (401, '{"error":{"code":"UNAUTHORIZED","message":"Session revoked"}}')
    assert app.purge_user("4") == [] or True


def test_the_session_is_read_only_when_the_exchange_asks_and_failures_are_logged_with_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    app = small_app(mwt_secret=SECRETS["mwt_secret"])
    token = app.engine.mint_mwt(srv.Identity("8"))
    reads: List[str] = []

    def session() -> Optional[srv.Identity]:
        reads.append("read")
        return srv.Identity("6")

    def broken() -> Optional[srv.Identity]:
        raise ConnectionError("session store down")

    async def asession() -> Optional[srv.Identity]:
        return session()

    mine = srv.Request("GET", "/api/mizan/ctx/mine/")
    with_token = srv.Request("GET", "/api/mizan/ctx/mine/", headers=[("X-Mizan-Token", token)])
    for handle, resolve in ((app.handle, session), (lambda *a, **k: asyncio.run(app.ahandle(*a, **k)), asession)):
        reads.clear()
        assert json.loads(handle(with_token, None, resolve=resolve).body)["me"]["user"] == "8"
        assert reads == [], "a token replaces the session: the exchange never asks for it"
        assert json.loads(handle(mine, None, resolve=resolve).body)["me"]["user"] == "6"
        assert reads == ["read"]
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="mizan_kernel.server"):
            r = handle(mine, None, resolve=broken)
        assert (r.status, r.body) == (500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}')
        (line,) = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
        assert "ConnectionError: session store down" in line.getMessage()
        assert line.exc_info is not None and isinstance(line.exc_info[1], ConnectionError)


def test_a_revocation_hook_that_raises_fails_closed_in_the_envelope() -> None:
    def revoked(sid: str) -> bool:
        raise TimeoutError("revocation list unreachable")

    app = small_app(jwt_secret=SECRETS["jwt_secret"], revoked=revoked)
    who = srv.Identity("4", session_id="s1")
    for handle in (app.handle, lambda *a: asyncio.run(app.ahandle(*a))):
        r = handle(srv.Request("GET", "/api/mizan/ctx/mine/"), None, who)
        assert (r.status, r.body) == (500, '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}')
        assert handle(srv.Request("GET", "/api/mizan/ctx/mine/"), None, srv.Identity("4")).status == 200  # no sid: not asked


KDL_TWO = """mizan-ir version=1
context items {
    member item_count
}
function item_count context=items output=integer
function fail output=any {
    input kind type=string
}
"""


def test_app_without_cache_and_implementations_checked_at_start() -> None:
    app = MizanApp(KDL_TWO, implementations={"item_count": lambda: 3, "fail": lambda kind: kind})
    assert app.store is None and app.purge(["items"]) == [] and app.purge_user(1) == []
    r = app.handle(srv.Request("POST", "/api/mizan/call/", body=call_body("item_count")))
    assert r.body == '{"result":3,"invalidate":[]}'
    with pytest.raises(ValueError):
        MizanApp(app.engine.registry, cache=MemoryOriginStore())  # a shared store needs an explicit secret
    # A registry function without an implementation, or an implementation the registry lacks,
    # fails at start, naming it (not as a 500 at the first call).
    with pytest.raises(ValueError, match=r"^mizan: no implementation for `fail`$"):
        MizanApp(KDL_TWO, implementations={"item_count": lambda: 3})
    with pytest.raises(ValueError, match=r"`item_cuont` registered, but the registry has no such function"):
        MizanApp(KDL_TWO, implementations={"item_count": lambda: 3, "fail": lambda kind: kind, "item_cuont": lambda: 3})


def test_module_level_client_and_function_lists() -> None:
    from mizan_kernel import decorators

    @decorators.client(context="ping_ctx")
    def ping_fn() -> str:
        return "pong"

    try:
        app = MizanApp([ping_fn])
        assert app.handle(srv.Request("GET", "/api/mizan/ctx/ping_ctx/")).body == '{"ping_fn":"pong"}'
        with pytest.raises(ValueError):
            MizanApp([lambda: None])
    finally:
        decorators.default_functions.functions.pop("ping_fn")


def test_results_are_converted() -> None:
    import datetime
    import uuid

    from mizan_kernel.app import result_outcome

    assert result_outcome("f", {"a": (1, 2)}) == ("ok", '{"a":[1,2]}')
    assert result_outcome("f", Profile("n", {"city": "c", "zip": None})).payload == '{"name":"n","address":{"city":"c","zip":null},"tags":[]}'
    assert result_outcome("f", datetime.date(2024, 1, 2)).payload == '"2024-01-02"'
    assert result_outcome("f", uuid.UUID(int=1)).payload == '"00000000-0000-0000-0000-000000000001"'
    assert result_outcome("f", object()).case == "exception"
    assert result_outcome("f", float("inf")).case == "exception"


# --- Django: CSRF through the engine's envelope (in a subprocess: its own settings) ------------

DJANGO_CSRF = r"""
import os, sys, json
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "wire_django.settings"
os.environ["MIZAN_CACHE"] = "memory"
import django
django.setup()
from django.test import Client
c = Client(enforce_csrf_checks=True)
c.cookies["sessionid"] = "abc"
r = c.post("/api/mizan/call/", data=json.dumps({"fn": "item_count"}), content_type="application/json")
out = {"no_token": [r.status_code, r.content.decode()]}
s = c.get("/api/mizan/session/")
token = json.loads(s.content)["csrfToken"]
r = c.post("/api/mizan/call/", data=json.dumps({"fn": "item_count"}), content_type="application/json", HTTP_X_CSRFTOKEN=token)
out["with_token"] = [r.status_code, r.content.decode()]
c2 = Client(enforce_csrf_checks=True)
r = c2.post("/api/mizan/call/", data=json.dumps({"fn": "item_count"}), content_type="application/json")
out["no_session_cookie"] = [r.status_code, r.content.decode()]
out["session_token_type"] = type(token).__name__
print(json.dumps(out))
"""


def test_django_csrf_uses_the_envelope() -> None:
    pytest.importorskip("django")
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(REPO / "python-shims"))
    out = subprocess.run(
        [sys.executable, "-c", DJANGO_CSRF, str(REPO / "examples" / "django_app")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["no_token"] == [403, '{"error":{"code":"FORBIDDEN","message":"CSRF verification failed"}}']
    assert got["with_token"] == [200, '{"result":3,"invalidate":[]}']
    assert got["no_session_cookie"] == [200, '{"result":3,"invalidate":[]}']
    assert got["session_token_type"] == "str"
