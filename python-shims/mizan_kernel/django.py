"""Django host: ``path("api/mizan/", include(mizan_urls(...)))`` serves the Mizan protocol through
the kernel's engine, with a sync view.

```python
# urls.py
from django.urls import include, path
from mizan_kernel.django import mizan_urls
from myapp.mizan import functions          # a Functions with @functions.client(...)

urlpatterns = [path("api/mizan/", include(mizan_urls(functions, cache="memory")))]
```

- ``GET session/`` passes Django's CSRF token (``django.middleware.csrf.get_token``) as the
  request's ``csrf-token``; the engine answers ``{"csrfToken": …}``.
- Every other path under the include goes to one catch-all view; the engine routes and answers
  (404, 405 with ``Allow``, 413…) in the same envelope as every other backend.
- The identity is ``request.user`` (subject ``str(pk)``, ``is_staff``, ``is_superuser``) unless
  ``identity=fn(request)`` is given; a valid ``X-Mizan-Token`` / bearer JWT replaces it.
- CSRF: the views are ``csrf_exempt`` and run Django's own CSRF check themselves for requests
  that carry the session cookie (the ambient credential CSRF is about) and no token header;
  a failure is answered ``engine.error_response(FORBIDDEN, "CSRF verification failed")`` — the
  protocol envelope, not Django's HTML page. ``csrf=False`` turns the check off.
- ``base_path`` (default ``/api/mizan``) must be the include's path, as ``request.path`` shows it.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from ._extras import need

need("django", "django", "mizan_kernel.django")

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.urls import re_path
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt

from .app import MizanApp
from .server import Identity, Request

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
    if raw:
        return raw.split("?", 1)[0]
    return escape_uri_path(request.path)


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
    """URL patterns for ``include()``. ``functions`` and ``options`` are :class:`MizanApp`'s
    (``cache``, ``cache_secret``, ``mwt_secret``, ``jwt_secret``, ``predicates``, ``revoked``,
    ``base_path``, ``body_limit``…). The :class:`MizanApp` is ``mizan_urls(...).mizan``."""
    mizan = app if app is not None else MizanApp(functions, **options)
    limit = mizan.body_limit
    who = identity or user_identity
    checker = _CsrfCheck(lambda r: HttpResponse())

    def serve(request: HttpRequest, csrf_token: Optional[str]) -> HttpResponse:
        meta = request.META
        method = request.method or "GET"
        headers = []
        token = meta.get("HTTP_X_MIZAN_TOKEN")
        if token is not None:
            headers.append(("X-Mizan-Token", token))
        auth = meta.get("HTTP_AUTHORIZATION")
        if auth is not None:
            headers.append(("Authorization", auth))
        if (
            csrf
            and not headers
            and method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and settings.SESSION_COOKIE_NAME in request.COOKIES
            and _csrf_rejects(checker, request)
        ):
            return to_django(mizan.engine.error_response("FORBIDDEN", "CSRF verification failed"))
        body = b"" if method in ("GET", "HEAD") else request.read(limit + 1)
        query = meta.get("QUERY_STRING", "")
        req = Request(method, _raw_path(request), query, headers, body, csrf_token)
        return to_django(mizan.handle(req, request, who(request)), method == "HEAD")

    @csrf_exempt
    def session_view(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return serve(request, None)
        if "CSRF_COOKIE" not in request.META:  # CsrfViewMiddleware not installed: read the cookie
            checker.process_request(request)
        out = serve(request, get_token(request))
        return checker.process_response(request, out)  # sets the CSRF cookie when it is new

    @csrf_exempt
    def view(request: HttpRequest, rest: str = "") -> HttpResponse:
        return serve(request, None)

    patterns: Any = _Patterns([re_path(r"^session/?$", session_view, name="mizan-session"), re_path(r"^(?P<rest>.*)$", view, name="mizan")])
    patterns.mizan = mizan
    return patterns  # type: ignore[no-any-return]


class _Patterns(list):
    """A list of URL patterns that also carries ``.mizan`` (the :class:`MizanApp`)."""

    mizan: MizanApp


__all__ = ["mizan_urls", "user_identity", "to_django"]
