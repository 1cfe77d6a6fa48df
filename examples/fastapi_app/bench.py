"""Kernel overhead per request on the Python host (docs/PERFORMANCE.md "Server (Python)").

    python examples/fastapi_app/bench.py                 # in-process: plan + finish, no user work, no HTTP
    python examples/fastapi_app/bench.py --serve 8000 --cache redis://127.0.0.1:6379/0
        # the wire app plus plain FastAPI handlers doing the same work, for wrk (bench_wrk.sh)

In-process rows time the engine calls a request costs (plan, then finish_call / finish_fetch)
with the function's result given (and, in the `exchange:` rows, the same requests as one kernel
exchange each, through the public call path), against what a plain handler does for the same request in
Python (parse the JSON body, serialize the result). Medians of 7 rounds of 2000 requests, thread
CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from functions import ITEMS, functions, item_count, items_list  # noqa: E402
from mizan_kernel.app import MizanApp  # noqa: E402
from mizan_kernel.server import FetchOutcome, Identity, Outcome, Request  # noqa: E402

SECRETS = dict(
    cache_secret="wire-cache-secret-for-tests-only-0001",
    mwt_secret="wire-mwt-secret-for-tests-only-00002",
    jwt_secret="wire-jwt-secret-for-tests-only-00003",
)


def timeit(fn: Callable[[], Any], n: int = 2000, rounds: int = 7) -> float:
    for _ in range(200):
        fn()
    out = []
    for _ in range(rounds):
        t = time.thread_time()
        for _ in range(n):
            fn()
        out.append((time.thread_time() - t) / n * 1e6)
    return statistics.median(out)


def in_process() -> List[tuple]:
    app = MizanApp(functions, cache="memory", body_limit=65536, **{k: v for k, v in SECRETS.items() if k != "cache_secret"})
    nocache = MizanApp(functions, body_limit=65536)
    e, e0 = app.engine, nocache.engine
    carol = Identity("3", staff=True)
    rows = []

    call_body = b'{"fn":"item_count","args":{}}'
    call_req = Request("POST", "/api/mizan/call/", "", [], call_body)
    ok3 = Outcome.ok_json("3")

    def mizan_call() -> None:
        p = e.plan(call_req)
        e.finish_call(p, ok3)

    def plain_call() -> None:
        body = json.loads(call_body)
        assert body["fn"] == "item_count"
        json.dumps({"result": 3, "invalidate": []}, separators=(",", ":")).encode()

    rows.append(("POST /call/ item_count: plan + finish_call", timeit(mizan_call), timeit(plain_call)))

    rename_body = b'{"fn":"rename_item","args":{"id":1,"name":"apple"}}'
    rename_req = Request("POST", "/api/mizan/call/", "", [], rename_body)
    item = dict(ITEMS[1])
    ok_item = Outcome.ok(item)

    def mizan_rename() -> None:
        p = e.plan(rename_req, carol)
        e.finish_call(p, ok_item)

    def plain_rename() -> None:
        body = json.loads(rename_body)
        args = body["args"]
        json.dumps({"result": item, "invalidate": ["items", {"context": "item", "params": {"id": args["id"]}}]}, separators=(",", ":")).encode()

    rows.append(("POST /call/ rename_item (invalidate, merge, purge plan)", timeit(mizan_rename), timeit(plain_rename)))

    fetch_req = Request("GET", "/api/mizan/ctx/items/", "page=1")
    results = FetchOutcome.results([("item_count", Outcome.ok(item_count())), ("items_list", Outcome.ok(items_list(1)))])

    def mizan_fetch_nocache() -> None:
        p = e0.plan(fetch_req)
        e0.finish_fetch(p.context, p.cache, results)  # type: ignore[union-attr]

    bundle = {"item_count": item_count(), "items_list": items_list(1)}

    def plain_fetch() -> None:
        from urllib.parse import parse_qs

        q = parse_qs("page=1")
        int(q["page"][0])
        json.dumps(bundle, separators=(",", ":")).encode()

    rows.append(("GET /ctx/items/ (no cache): plan + finish_fetch", timeit(mizan_fetch_nocache), timeit(plain_fetch)))

    p = e.plan(fetch_req)
    cached = e.finish_fetch(p.context, p.cache, results).response.body  # type: ignore[union-attr]
    hit = FetchOutcome.hit(cached)

    def mizan_fetch_hit() -> None:
        p = e.plan(fetch_req, carol)
        e.finish_fetch(p.context, p.cache, hit)  # type: ignore[union-attr]

    rows.append(("GET /ctx/items/ (cache hit): plan (key) + finish_fetch", timeit(mizan_fetch_hit), None))

    def mizan_fetch_miss() -> None:
        p = e.plan(fetch_req, carol)
        e.finish_fetch(p.context, p.cache, results)  # type: ignore[union-attr]

    rows.append(("GET /ctx/items/ (cache miss): plan (key, index keys) + finish_fetch (put)", timeit(mizan_fetch_miss), None))

    sess = Request("GET", "/api/mizan/session/")
    rows.append(("GET /session/: plan", timeit(lambda: e.plan(sess)), None))
    rows.extend(exchange_rows(app, cached))
    return rows


def exchange_rows(app: MizanApp, cached: str) -> List[tuple]:
    """The same requests as one kernel exchange each (docs/SERVER.md "The exchange"), through
    ``mizan_kernel._exchange`` (the `_wit` lean path): `begin` and every `update` a request
    costs up to the `respond` effect, the effects' answers given at once."""
    from mizan_kernel._exchange import ExchangeServer

    # The host hands the session in the arrival (no `identity` hook), as the FastAPI app would.
    server = ExchangeServer(app.engine.registry, {"cache_secret": SECRETS["cache_secret"], "body_limit": 65536})
    carol = ("3", True, False, None, None)

    def request(method: str, path: str, query: str = "", body: str = "") -> tuple:
        return (method, path, query, [], ("text", body), None)

    def drive(req: tuple, answers: List[Any]) -> None:
        x, effects = server.begin((req, None, 1_700_000_000_000, carol))
        for answer in answers:
            effects = x.update([answer])
        assert effects[-1][0] == "respond", effects

    call = request("POST", "/api/mizan/call/", body='{"fn":"item_count","args":{}}')
    ran3 = ("ran", ([("done", ("ok", "3"))], None))
    items = request("GET", "/api/mizan/ctx/items/", "page=1")
    results = ("ran", ([("done", ("ok", json.dumps(item_count()))), ("done", ("ok", json.dumps(items_list(1))))], None))
    rows = [
        ("exchange: POST /call/ item_count (begin, ran)", timeit(lambda: drive(call, [ran3])), None),
        ("exchange: GET /ctx/items/ cache hit (begin, found)", timeit(lambda: drive(items, [("found", (cached, 1))])), None),
        ("exchange: GET /ctx/items/ miss (begin, found, ran, stored)",
         timeit(lambda: drive(items, [("found", (None, 1)), results, ("stored", None)])), None),
        ("exchange: GET /session/ (begin)", timeit(lambda: drive(request("GET", "/api/mizan/session/"), [])), None),
    ]

    # The same with every answer through `update-json` (one string each way, the scripts' JSON form).
    def drive_json(req: tuple, answers: List[Any]) -> None:
        x, effects = server.begin((req, None, 1_700_000_000_000, carol))
        for answer in answers:
            effects = json.loads(x.update_json(json.dumps([answer])))
        assert not answers or "respond" in effects[-1], effects

    results_j = {"ran": {"outcomes": [{"ok": item_count()}, {"ok": items_list(1)}], "pending": None}}
    rows += [
        ("exchange JSON: POST /call/ item_count", timeit(lambda: drive_json(call, [{"ran": {"outcomes": [{"ok": 3}]}}])), None),
        ("exchange JSON: GET /ctx/items/ cache hit", timeit(lambda: drive_json(items, [{"found": {"body": cached, "ticket": 1}}])), None),
        ("exchange JSON: GET /ctx/items/ miss (+ run, put)",
         timeit(lambda: drive_json(items, [{"found": {"body": None, "ticket": 1}}, results_j, "stored"])), None),
    ]
    return rows


def print_rows(rows: List[tuple]) -> None:
    import mizan_kernel as mk

    info = mk.runtime_info()
    import platform

    print(f"mizan server bench: python {platform.python_version()}, wasmtime {info['wasmtime']}, component {Path(info['wasm']).name}")
    print(f"{'request':<72} {'kernel µs':>10} {'plain Py µs':>12}")
    print("-" * 96)
    for name, k, p in rows:
        print(f"{name:<72} {k:>10.1f} {'' if p is None else f'{p:>12.1f}'}")


def serve(port: int, cache: str) -> None:
    """The wire app plus `/plain/…` handlers that do what the Mizan endpoints do for the same
    requests, written as an ordinary FastAPI app would (sync handlers, JSON responses)."""
    import uvicorn
    from fastapi.responses import JSONResponse, Response

    from app import create_app  # type: ignore[import-not-found]

    app = create_app(cache)
    headers = {"Cache-Control": "no-store"}

    @app.post("/plain/call/")
    def plain_call(payload: Dict[str, Any]) -> Response:
        fn = functions[payload["fn"]].fn
        result = fn(**payload.get("args", {}))
        return JSONResponse({"result": result, "invalidate": []}, headers=headers)

    @app.get("/plain/ctx/items/")
    def plain_items(page: Optional[int] = None, category: str = "") -> Response:
        bundle = {"item_count": item_count(), "items_list": items_list(page, category)}
        return JSONResponse(bundle, headers=headers)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", type=int, help="serve the bench app on this port instead")
    ap.add_argument("--cache", default="memory")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.cache)
    else:
        print_rows(in_process())


if __name__ == "__main__":
    main()
