"""The wire app's URLs: the protocol at ``/api/mizan`` (``mizan_urls`` at the root: the base path
is the engine's, so ``/api/mizan`` itself reaches it with no ``APPEND_SLASH`` redirect) for the
wire app's functions, plus the private webhook's own route."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fastapi_app"))  # the shared functions.py

from functions import functions, session_identity, webhook_signature_ok  # noqa: E402
from mizan_kernel.django import mizan_urls, to_django  # noqa: E402
from mizan_kernel.origin import RedisOriginStore  # noqa: E402

CACHE_SECRET = "wire-cache-secret-for-tests-only-0001"
MWT_SECRET = "wire-mwt-secret-for-tests-only-00002"
JWT_SECRET = "wire-jwt-secret-for-tests-only-00003"
WEBHOOK_SECRET = "wire-webhook-secret-for-tests-only-4"


def _cache():
    c = settings.MIZAN_CACHE
    if c in ("", "none"):
        return None
    if c == "memory":
        return "memory"
    return RedisOriginStore(url=c, prefix=settings.MIZAN_REDIS_PREFIX)


_store = _cache()
mizan_patterns = mizan_urls(
    functions,
    cache=_store,
    cache_secret=CACHE_SECRET if _store is not None else None,
    mwt_secret=MWT_SECRET,
    jwt_secret=JWT_SECRET,
    body_limit=65536,
    max_public_entries=64,
    identity=lambda request: session_identity(request.META.get("HTTP_X_WIRE_USER")),
    revoked=lambda sid: sid.startswith("revoked"),
)
mizan = mizan_patterns.mizan


@csrf_exempt
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """The private webhook's route (a view, outside the protocol): only the payment provider may
    call it (a valid ``Stripe-Signature`` over the body, else 401 in the engine's envelope); then
    run it and purge its `affects`."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    if not webhook_signature_ok(request.META.get("HTTP_STRIPE_SIGNATURE"), request.body, WEBHOOK_SECRET):
        return to_django(mizan.engine.error_response("UNAUTHORIZED", "Invalid signature"))
    result = functions["stripe_webhook"].fn()
    inv = mizan.engine.registry.resolve_invalidation("stripe_webhook", {})
    mizan.purge(inv.invalidate)
    out = HttpResponse(json.dumps(result, separators=(",", ":")), content_type="application/json")
    out["Cache-Control"] = "no-store"
    if inv.header:
        out["X-Mizan-Invalidate"] = inv.header
    return out


urlpatterns = [
    *mizan_patterns,
    path("webhooks/stripe/", stripe_webhook),
]
