"""Django host: ``mizan_urls(...)`` → URL patterns serving the Mizan protocol at the engine's base
path (``/api/mizan``) through the kernel's engine, with a sync view.

```python
# urls.py
from mizan_kernel.django import mizan_urls
from myapp.mizan import functions          # a Functions with @functions.client(...)

urlpatterns = [*mizan_urls(functions, cache="memory"), ...]     # at the root: the base path is the engine's
```

- The patterns match the base path itself and everything under it (``/api/mizan``,
  ``/api/mizan/``, ``/api/mizan/…``), so ``APPEND_SLASH`` never redirects a protocol request and
  the engine answers every path and method (404, 405 with ``Allow``, 413…) in the same envelope as
  every other backend. Add them at the root (``urlpatterns += mizan_urls(...)`` or
  ``path("", include(mizan_urls(...)))``); ``base_path=`` moves them.
- ``GET …/session/`` passes Django's CSRF token (``django.middleware.csrf.get_token``) as the
  request's ``csrf-token``; the engine answers ``{"csrfToken": …}``.
- The view passes the engine what arrived: the method as sent (``REQUEST_METHOD``; Django's
  ``request.method`` is upper-cased), the raw path (``RAW_URI`` from gunicorn, ``REQUEST_URI``
  from uWSGI, ``raw_path`` under ASGI; ``runserver`` has none, so there ``%2F`` is already
  decoded), the raw query string (non-ASCII bytes percent-encoded), every line of the two token
  headers, and at most ``body_limit + 1`` body bytes — read from the server's de-chunked stream
  when the server says it terminates it (``wsgi.input_terminated``: gunicorn, uWSGI, mod_wsgi),
  since Django reads a chunked body as empty.
- The identity is ``request.user`` (subject ``str(pk)``, ``is_staff``, ``is_superuser``) unless
  ``identity=fn(request)`` is given, read only when the kernel's exchange asks for the session (a
  valid ``X-Mizan-Token`` / bearer JWT replaces it). An exception in it is the engine's 500
  envelope, logged with its traceback.
- CSRF: the views are ``csrf_exempt`` and run Django's own CSRF check themselves for unsafe
  requests that carry the session cookie (the ambient credential CSRF is about) and that the
  engine does not authenticate by token (``engine.reads_token``: an empty ``X-Mizan-Token`` or
  an ``Authorization: Basic …`` is no token, so the check applies); a failure is answered
  ``engine.error_response(FORBIDDEN, "CSRF verification failed")`` — the protocol envelope, not
  Django's HTML page. ``csrf=False`` turns the check off.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Optional

from ._extras import need

need("django", "django", "mizan_kernel.django")

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.urls import re_path
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt

from .app import MizanApp, raw_query
from .server import Identity, Request, request_headers

IdentityFn = Callable[[HttpRequest], Optional[Identity]]


def user_identity(request: HttpRequest) -> Optional[Identity]:
    """``request.user`` as an identity (``None`` when anonymous or without auth middleware)."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Identity(str(user.pk), bool(getattr(user, "is_staff", False)), bool(getattr(user, "is_superuser", False)))


def to_django(resp: Any, head: bool = False) -> HttpResponse:
    """The engine's response as a Django response: same status, headers and bytes."""
    body = resp.body.encode()
    out = HttpResponse(b"" if head else body, status=resp.status)
    for name, value in resp.headers:
        out[name] = value
    if head:
        out["Content-Length"] = str(len(body))
    return out


def _raw_path(request: HttpRequest) -> str:
    meta = request.META
    raw = meta.get("RAW_URI") or meta.get("REQUEST_URI")  # gunicorn / uwsgi
    if not raw:
        scope = getattr(request, "scope", None)  # ASGI
        raw_path = scope.get("raw_path") if isinstance(scope, dict) else None
        if raw_path:
            raw = raw_path.decode("latin-1")
    if raw:
        return raw.split("?", 1)[0]
    return escape_uri_path(request.path)


def _body(request: HttpRequest, method: str, limit: int) -> bytes:
    """At most ``limit + 1`` body bytes. A server that de-chunks a chunked body says so with
    ``wsgi.input_terminated``, and Django (which trusts ``Content-Length`` alone) would read it as
    empty: then read the server's stream directly."""
    if method in ("GET", "HEAD"):
        return b""
    meta = request.META
    if meta.get("wsgi.input_terminated") and "CONTENT_LENGTH" not in meta:
        return meta["wsgi.input"].read(limit + 1)
    return request.read(limit + 1)


def _csrf_rejects(checker: CsrfViewMiddleware, request: HttpRequest) -> bool:
    if "CSRF_COOKIE" not in request.META:
        checker.process_request(request)
    return checker.process_view(request, None, (), {}) is not None


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return HttpResponse(status=403, reason=reason)


def mizan_urls(
    functions: Any = None,
    *,
    identity: Optional[IdentityFn] = None,
    csrf: bool = True,
    app: Optional[MizanApp] = None,
    **options: Any,
) -> List[Any]:
    """URL patterns for the root URLconf. ``functions`` and ``options`` are :class:`MizanApp`'s
    (``cache``, ``cache_secret``, ``mwt_secret``, ``jwt_secret``, ``predicates``, ``revoked``,
    ``base_path``, ``body_limit``…). The :class:`MizanApp` is ``mizan_urls(...).mizan``."""
    mizan = app if app is not None else MizanApp(functions, **options)
    limit = mizan.body_limit
    # The headers the engine reads (the kernel's list), as Django's META keys.
    credentials = [("HTTP_" + name.upper().replace("-", "_"), name) for name in request_headers()]
    who = identity or user_identity
    checker = _CsrfCheck(lambda r: HttpResponse())

    def serve(request: HttpRequest, csrf_token: Optional[str]) -> HttpResponse:
        meta = request.META
        method = meta.get("REQUEST_METHOD") or request.method or "GET"
        head = method == "HEAD"
        headers = []
        for key, name in credentials:
            if key in meta:
                headers.append((name, meta[key]))  # repeated lines arrive comma-joined: the engine reads both forms
        path = _raw_path(request)
        if (
            csrf
            and method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and settings.SESSION_COOKIE_NAME in request.COOKIES
            and not mizan.engine.reads_token(Request(method, path, "", headers))
            and _csrf_rejects(checker, request)
        ):
            return to_django(mizan.engine.error_response("FORBIDDEN", "CSRF verification failed"), head)
        query = raw_query(meta.get("QUERY_STRING", "").encode("latin-1", "replace"))
        req = Request(method, path, query, headers, _body(request, method, limit), csrf_token)
        return to_django(mizan.handle(req, request, resolve=lambda: who(request)), head)

    @csrf_exempt
    def session_view(request: HttpRequest, rest: str = "") -> HttpResponse:
        if request.META.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return serve(request, None)
        if "CSRF_COOKIE" not in request.META:  # CsrfViewMiddleware not installed: read the cookie
            checker.process_request(request)
        out = serve(request, get_token(request))
        return checker.process_response(request, out)  # sets the CSRF cookie when it is new

    @csrf_exempt
    def view(request: HttpRequest, rest: str = "") -> HttpResponse:
        return serve(request, None)

    # The views carry the app too, so `manage.py export_mizan_ir` finds it once the patterns are
    # spread into a URLconf (a list spread loses `.mizan`).
    session_view.mizan = view.mizan = mizan  # type: ignore[attr-defined]
    base = re.escape(mizan.base_path.strip("/"))
    under = f"{base}/" if base else ""
    patterns: Any = _Patterns(
        [
            re_path(rf"^{under}session/?$", session_view, name="mizan-session"),
            re_path(rf"^{base}(?:/(?P<rest>.*))?$" if base else r"^(?P<rest>.*)$", view, name="mizan"),
        ]
    )
    patterns.mizan = mizan
    return patterns  # type: ignore[no-any-return]


class _Patterns(list):
    """A list of URL patterns that also carries ``.mizan`` (the :class:`MizanApp`)."""

    mizan: MizanApp


__all__ = ["mizan_urls", "user_identity", "to_django"]
