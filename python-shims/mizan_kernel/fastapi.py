"""FastAPI (Starlette) host: ``mizan_router(...)`` → an ``APIRouter`` serving the Mizan protocol
at ``/api/mizan`` through the kernel's engine.

```python
from fastapi import FastAPI
from mizan_kernel.fastapi import mizan_router

app = FastAPI()
app.include_router(mizan_router(functions, cache="memory", identity=lambda request: ...))
```

One catch-all route per base path, for every method whatever it is (``PROPFIND``, ``get``):
the engine routes ``/session/``, ``/call/`` and ``/ctx/{name}/`` itself and answers everything
else under the base path (unknown paths 404, wrong methods 405 with ``Allow``) in the same
envelope, so nothing here is protocol logic and Starlette never answers with its own
``{"detail": …}``. The endpoint reads at most ``body_limit + 1`` body bytes, passes the method as
it arrived, the raw path, the raw query string (non-ASCII bytes percent-encoded) and every line
of the two token headers, and sends the engine's status, headers and body bytes as they are (for
``HEAD``: the headers, with the body's ``Content-Length``, and no body). The ``identity``
callback runs only when the kernel's exchange asks for the session (not for a request that
carries a token); an exception in it is the engine's 500 envelope, logged with its traceback.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional, Union

from ._extras import need

need("starlette", "fastapi", "mizan_kernel.fastapi")
need("fastapi", "fastapi", "mizan_kernel.fastapi")

from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from fastapi import APIRouter

from .app import MizanApp, raw_query
from .server import Identity, Request, request_headers

IdentityFn = Callable[[StarletteRequest], Union[Optional[Identity], Awaitable[Optional[Identity]]]]


def to_starlette(resp: Any, head: bool = False) -> StarletteResponse:
    """The engine's response as a Starlette response: same status, headers (in order) and bytes."""
    body = resp.body.encode()
    out = StarletteResponse(b"" if head else body, status_code=resp.status)
    out.raw_headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in resp.headers]
    out.raw_headers.append((b"content-length", str(len(body)).encode()))
    return out


def mizan_router(
    functions: Any = None,
    *,
    identity: Optional[IdentityFn] = None,
    app: Optional[MizanApp] = None,
    **options: Any,
) -> APIRouter:
    """An ``APIRouter`` serving ``functions`` (see :class:`~mizan_kernel.app.MizanApp` for them
    and for ``options``: ``cache=None|"memory"|RedisOriginStore``, ``cache_secret``,
    ``mwt_secret``, ``jwt_secret``, ``predicates``, ``revoked``, ``base_path``,
    ``body_limit``…). ``identity(request)`` (sync or async) returns the session's
    :class:`~mizan_kernel.server.Identity` or ``None``; a valid ``X-Mizan-Token`` / bearer JWT
    replaces it. The :class:`MizanApp` is ``router.mizan`` (``purge``, ``purge_user``…)."""
    mizan = app if app is not None else MizanApp(functions, **options)
    limit = mizan.body_limit
    handle = mizan.ahandle
    # The headers the engine reads (the kernel's list; ASGI names are lower-case bytes).
    credentials = frozenset(name.encode("latin-1") for name in request_headers())

    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        scope = request.scope
        method = scope["method"]
        raw = scope.get("raw_path")
        path = raw.decode("utf-8", "replace") if raw else scope["path"]
        query = raw_query(scope.get("query_string", b""))
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name in credentials
        ]
        body = b""
        if method != "GET" and method != "HEAD":
            chunks = []
            size = 0
            try:
                async for chunk in request.stream():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        break
            except ClientDisconnect:  # the body never arrived whole: the engine's 400, as on Axum
                return to_starlette(mizan.engine.error_response("BAD_REQUEST", "Invalid request body"), method == "HEAD")
            body = b"".join(chunks)[: limit + 1]
        resolve = None if identity is None else (lambda: identity(request))
        resp = await handle(Request(method, path, query, headers, body), request, resolve=resolve)
        return to_starlette(resp, method == "HEAD")

    router = APIRouter()
    base = mizan.base_path
    paths = [(base + "/{path:path}", "mizan")] + ([(base, "mizan-base")] if base else [])
    for path, name in paths:
        route = Route(path, endpoint, include_in_schema=False, name=name)
        # Every method reaches the engine (PROPFIND, `get`…): a route without methods matches
        # them all. Starlette defaults a function endpoint to GET, so the list is cleared here.
        route.methods = None
        router.routes.append(route)
    router.mizan = mizan  # type: ignore[attr-defined]
    # An app that includes the router keeps only its routes: this lets `python -m mizan_kernel ir
    # main:app` find the functions from the app (mizan_kernel.ir_export).
    endpoint.mizan = mizan  # type: ignore[attr-defined]
    return router


__all__ = ["mizan_router", "to_starlette"]
