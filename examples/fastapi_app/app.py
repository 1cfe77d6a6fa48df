"""The wire app on FastAPI: tests/wire/app.kdl's functions (``functions.py``) served through
``mizan_kernel.fastapi.mizan_router``.

    python examples/fastapi_app/app.py --port 8000 --cache memory          # or redis://127.0.0.1:6379/0, none
    uvicorn --app-dir examples/fastapi_app app:app                         # MIZAN_CACHE=… in the environment

Configuration (environment, or ``create_app`` arguments): ``MIZAN_CACHE`` (``memory``, a
``redis://`` URL, ``none``), ``MIZAN_REDIS_PREFIX`` (``wire:``). The secrets are the wire
suite's fixed test secrets (tests/wire/README.md); never reuse them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fastapi import FastAPI  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from functions import functions, session_identity, webhook_signature_ok  # noqa: E402
from mizan_kernel.fastapi import mizan_router, to_starlette  # noqa: E402
from mizan_kernel.origin import RedisOriginStore  # noqa: E402

#: The wire suite's secrets (tests/wire/probes.json "config"): test-only values.
CACHE_SECRET = "wire-cache-secret-for-tests-only-0001"
MWT_SECRET = "wire-mwt-secret-for-tests-only-00002"
JWT_SECRET = "wire-jwt-secret-for-tests-only-00003"
WEBHOOK_SECRET = "wire-webhook-secret-for-tests-only-4"
BODY_LIMIT = 65536
MAX_PUBLIC_ENTRIES = 64


def make_cache(cache: Optional[str], prefix: str) -> Any:
    if cache in (None, "", "none"):
        return None
    if cache == "memory":
        return "memory"
    return RedisOriginStore(url=cache, prefix=prefix)


def create_app(cache: Optional[str] = None, redis_prefix: Optional[str] = None) -> FastAPI:
    cache = os.environ.get("MIZAN_CACHE", "memory") if cache is None else cache
    prefix = os.environ.get("MIZAN_REDIS_PREFIX", "wire:") if redis_prefix is None else redis_prefix
    store = make_cache(cache, prefix)
    router = mizan_router(
        functions,
        cache=store,
        cache_secret=CACHE_SECRET if store is not None else None,
        mwt_secret=MWT_SECRET,
        jwt_secret=JWT_SECRET,
        body_limit=BODY_LIMIT,
        max_public_entries=MAX_PUBLIC_ENTRIES,
        identity=lambda request: session_identity(request.headers.get("x-wire-user")),
        revoked=lambda sid: sid.startswith("revoked"),
    )
    mizan = router.mizan  # type: ignore[attr-defined]
    app = FastAPI(title="mizan wire app (FastAPI)")
    app.include_router(router)

    @app.post("/webhooks/stripe/")
    async def stripe_webhook(request: Request) -> Response:
        """The private webhook's own route (a view, outside the protocol). Only the payment
        provider may call it: the body must carry a valid ``Stripe-Signature``, else 401 in the
        engine's envelope. Then run it and purge what its `affects` covers — the kernel resolves
        the entries and the plan."""
        payload = await request.body()
        if not webhook_signature_ok(request.headers.get("stripe-signature"), payload, WEBHOOK_SECRET):
            return to_starlette(mizan.engine.error_response("UNAUTHORIZED", "Invalid signature"))
        result = functions["stripe_webhook"].fn()
        inv = mizan.engine.registry.resolve_invalidation("stripe_webhook", {})
        await mizan.apurge(inv.invalidate)
        import json

        headers = {"Cache-Control": "no-store"}
        if inv.header:
            headers["X-Mizan-Invalidate"] = inv.header
        return Response(json.dumps(result, separators=(",", ":")), media_type="application/json", headers=headers)

    app.state.mizan = mizan
    return app


app = create_app()


def main(argv: Optional[list] = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--cache", default=os.environ.get("MIZAN_CACHE", "memory"), help="memory | redis://… | none")
    ap.add_argument("--redis-prefix", default=os.environ.get("MIZAN_REDIS_PREFIX", "wire:"))
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    os.environ["MIZAN_CACHE"] = a.cache
    os.environ["MIZAN_REDIS_PREFIX"] = a.redis_prefix
    # h11, the pure-Python HTTP parser, hands every method token to the app (`PROPFIND`, `get`),
    # which answers them through the engine; httptools would refuse unknown ones itself.
    if a.workers > 1:
        uvicorn.run("app:app", host=a.host, port=a.port, workers=a.workers, log_level="warning", app_dir=str(HERE), http="h11")
    else:
        uvicorn.run(create_app(a.cache, a.redis_prefix), host=a.host, port=a.port, log_level="warning", access_log=False, http="h11")


if __name__ == "__main__":
    main()
