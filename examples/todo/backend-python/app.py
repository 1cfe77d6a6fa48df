"""The todo example on FastAPI: ``todo_functions.py`` served by ``mizan_router``, a stand-in login,
and the built frontend (``../frontend/dist``) on one origin.

    python examples/todo/backend-python/app.py --port 8000                   # in-memory origin cache
    python examples/todo/backend-python/app.py --cache redis://127.0.0.1:6379/0
    uvicorn --app-dir examples/todo/backend-python app:app                    # TODO_CACHE=… in the environment

Routes: ``/api/mizan/…`` (the Mizan protocol), ``POST /auth/login`` ``{"name": "alice"}`` and
``POST /auth/logout`` (the session cookie), and the frontend at ``/`` (React) and ``/vue.html``.

**The login is a stand-in, not authentication**: it trusts the name it is given and keeps it in
an ``HttpOnly``, ``SameSite=Lax`` cookie, ``todo_user``; the identity callback below reads the
cookie back. A real app puts its own session here (Starlette's ``SessionMiddleware``, OAuth…):
Mizan only needs ``identity(request)`` to say who is calling.

Configuration (arguments or environment): ``TODO_CACHE`` (``memory``, ``none`` or a ``redis://``
URL), ``TODO_REDIS_PREFIX`` (``todo:``), ``MIZAN_CACHE_SECRET`` (the origin cache's key secret;
random per process when unset, which is right for one process).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fastapi import FastAPI  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.staticfiles import StaticFiles  # noqa: E402

from mizan_kernel.fastapi import mizan_router  # noqa: E402
from mizan_kernel.origin import RedisOriginStore  # noqa: E402
from mizan_kernel.server import Identity  # noqa: E402
from todo_functions import functions  # noqa: E402

#: The session cookie and what a user name may be (the same on every backend of the example).
COOKIE = "todo_user"
NAME = re.compile(r"[a-z0-9_-]{1,32}")
DEFAULT_FRONTEND = HERE.parent / "frontend" / "dist"


def session_identity(request: Request) -> Optional[Identity]:
    """The caller, from the stand-in session cookie (``None``: nobody signed in)."""
    name = request.cookies.get(COOKIE)
    return Identity(name) if name and NAME.fullmatch(name) else None


def make_cache(cache: str, prefix: str) -> Any:
    if cache in ("", "none"):
        return None
    if cache == "memory":
        return "memory"
    return RedisOriginStore(url=cache, prefix=prefix)


def create_app(cache: Optional[str] = None, redis_prefix: Optional[str] = None, frontend: Optional[Path] = None) -> FastAPI:
    cache = os.environ.get("TODO_CACHE", "memory") if cache is None else cache
    prefix = os.environ.get("TODO_REDIS_PREFIX", "todo:") if redis_prefix is None else redis_prefix
    store = make_cache(cache, prefix)
    app = FastAPI(title="Mizan todo example (FastAPI)")
    app.include_router(
        mizan_router(
            functions,
            cache=store,
            cache_secret=(os.environ.get("MIZAN_CACHE_SECRET") or secrets.token_hex(32)) if store is not None else None,
            identity=session_identity,
        )
    )

    @app.post("/auth/login")
    async def login(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name):
            return JSONResponse({"error": "name: 1 to 32 of a-z, 0-9, _ and -"}, status_code=400)
        response = JSONResponse({"name": name})
        response.set_cookie(COOKIE, name, path="/", httponly=True, samesite="lax")
        return response

    @app.post("/auth/logout")
    async def logout() -> Response:
        response = JSONResponse({"name": None})
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
        return response

    site = frontend if frontend is not None else Path(os.environ.get("TODO_FRONTEND", DEFAULT_FRONTEND))
    if site.is_dir():
        app.mount("/", StaticFiles(directory=site, html=True), name="frontend")
    return app


app = create_app()


def main(argv: Optional[list] = None) -> None:
    import socket

    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    ap.add_argument("--cache", default=os.environ.get("TODO_CACHE", "memory"), help="memory | none | redis://…")
    ap.add_argument("--redis-prefix", default=os.environ.get("TODO_REDIS_PREFIX", "todo:"))
    ap.add_argument("--frontend", type=Path, default=None, help=f"the built frontend (default {DEFAULT_FRONTEND})")
    a = ap.parse_args(argv)
    app = create_app(a.cache, a.redis_prefix, a.frontend)
    # Bind first, so that the printed URL is the real one (also with --port 0).
    sock = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    host, port = sock.getsockname()[:2]
    print(f"todo example (FastAPI, cache {a.cache}) on http://{host}:{port}/", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
