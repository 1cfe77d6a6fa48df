"""The wire app's functions (tests/wire/README.md "Behaviour"), registered with ``@client``.

Every example app serves exactly these; their registry emits ``tests/wire/app.kdl`` byte for
byte (a test checks it). The state is in memory, per process: four users, three items, orders.
Identity comes from the kernel (a token) or the host's session stand-in (``X-Wire-User``), and a
function reads it with ``current_user()`` / ``current_identity()``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Dict, List, Optional, TypedDict

from mizan_kernel.decorators import Functions, current_app, current_identity, current_user
from mizan_kernel.server import Forbidden, Identity, NotFound, ProtocolError, ValidationFailed


class User(TypedDict):
    id: int
    name: str


class Item(TypedDict):
    id: int
    name: str
    price: float
    category: str


class Order(TypedDict):
    id: int
    user_id: int
    item_id: int
    quantity: int


#: id -> (name, staff, superuser, may read reports)
USERS: Dict[int, Dict[str, object]] = {
    1: {"name": "alice", "staff": False, "superuser": False, "reports": True},
    2: {"name": "bob", "staff": False, "superuser": False, "reports": False},
    3: {"name": "carol", "staff": True, "superuser": False, "reports": True},
    4: {"name": "root", "staff": True, "superuser": True, "reports": False},
}

ITEMS: Dict[int, Item] = {
    1: {"id": 1, "name": "apple", "price": 1.5, "category": "fruit"},
    2: {"id": 2, "name": "bread", "price": 2.25, "category": "bakery"},
    3: {"id": 3, "name": "cheese", "price": 7.0, "category": "dairy"},
}

ORDERS: List[Order] = []
_LOCK = threading.Lock()
PAGE_SIZE = 2
#: What `counter_value` reads and `bump_counter` raises.
COUNTER = {"value": 0}

functions = Functions()


def session_identity(user_id: Optional[str]) -> Optional[Identity]:
    """The wire app's stand-in for a session: ``X-Wire-User: <id>`` of a known user, as the
    header spells it (``01`` is user 1: the kernel canonicalises the subject). ``raise`` stands
    for a session store that fails: the lookup raises."""
    if user_id == "raise":
        raise RuntimeError("the session store is down")
    if not user_id or not user_id.isdigit() or int(user_id) not in USERS:
        return None
    u = USERS[int(user_id)]
    return Identity(user_id, bool(u["staff"]), bool(u["superuser"]))


#: How old a webhook's signature may be (Stripe's default tolerance), seconds.
WEBHOOK_TOLERANCE = 300


def webhook_signature_ok(header: Optional[str], payload: bytes, secret: str, now: Optional[float] = None) -> bool:
    """Stripe's scheme: ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
    (several ``v1`` may be given during a secret rotation). The signature must match one ``v1``
    (compared in constant time) and ``t`` be within the tolerance."""
    if not header:
        return False
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    given = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not given:
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > WEBHOOK_TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, g) for g in given)


@functions.predicate("has_reports")
def has_reports(identity: Optional[Identity], request: object) -> bool:
    if identity is None or not identity.subject.isdigit():
        return False
    u = USERS.get(int(identity.subject))
    return bool(u and u["reports"])


def _me() -> int:
    subject = current_user()
    if subject is None or not subject.isdigit():
        raise ProtocolError("UNAUTHORIZED", "Authentication required")
    return int(subject)


def _may_see(user_id: int) -> None:
    ident = current_identity()
    if ident is None or (ident.subject != str(user_id) and not ident.staff):
        raise Forbidden("Not your account")


# --- reads -------------------------------------------------------------------------------------


@functions.client(name="current_user", context="global", auth=True)
def whoami() -> User:
    me = _me()
    return {"id": me, "name": str(USERS[me]["name"]) if me in USERS else "?"}


@functions.client(context="items", cache=60)
def items_list(page: Optional[int] = None, category: str = "") -> List[Item]:
    with _LOCK:
        items = [dict(i) for i in sorted(ITEMS.values(), key=lambda i: i["id"])]
    if category:
        items = [i for i in items if i["category"] == category]
    p = page or 1
    return items[(p - 1) * PAGE_SIZE : p * PAGE_SIZE]  # type: ignore[return-value]


@functions.client(context="items")
def item_count() -> int:
    return len(ITEMS)


@functions.client(context="item")
def item_detail(id: int) -> Item:
    with _LOCK:
        item = ITEMS.get(id)
        if item is None:
            raise NotFound("No such item")
        return dict(item)  # type: ignore[return-value]


@functions.client(context="user", rev=2)
def user_profile(user_id: int) -> User:
    u = USERS.get(user_id)
    if u is None:
        raise NotFound("No such user")
    return {"id": user_id, "name": str(u["name"])}


@functions.client(context="user", auth=True)
def user_orders(user_id: int, page: Optional[int] = None) -> List[Order]:
    _may_see(user_id)
    with _LOCK:
        return [dict(o) for o in ORDERS if o["user_id"] == user_id][-10:]  # type: ignore[misc]


@functions.client(context="catalog", cache=3600, shared=True)
def catalog_categories() -> List[str]:
    return sorted({i["category"] for i in ITEMS.values()})


@functions.client(context="echo", cache=False)
def echo_types(
    count: int,
    ratio: float,
    flag: bool,
    tags: List[str] = None,  # type: ignore[assignment]
    maybe: Optional[int] = None,
    label: str = None,  # type: ignore[assignment]
) -> object:
    return {"count": count, "ratio": ratio, "flag": flag, "tags": tags, "maybe": maybe, "label": label}


@functions.client(context="reports", auth=has_reports)
def reports_summary() -> Dict[str, int]:
    return {"items": len(ITEMS), "users": len(USERS)}


@functions.client(context="subscription", auth=True)
def subscription_status() -> str:
    return "active"


@functions.client(context="search", cache=60)
def search_items(q: str) -> List[Item]:
    """Items whose name contains ``q``: anyone can make a public entry per ``q``."""
    with _LOCK:
        return [dict(i) for i in sorted(ITEMS.values(), key=lambda i: i["id"]) if q in i["name"]]  # type: ignore[misc]


@functions.client(context="counter", cache=60)
def counter_value(pause_ms: int, tag: str = "") -> int:
    """The counter, read first and returned after ``pause_ms`` (a slow query: the window in which
    a mutation may write and purge)."""
    with _LOCK:
        value = COUNTER["value"]
    time.sleep(pause_ms / 1000)
    return value


# --- mutations ---------------------------------------------------------------------------------


@functions.client(affects=["items", "item"], merge=["items"], auth="staff")
def rename_item(id: int, name: str) -> Item:
    with _LOCK:
        item = ITEMS.get(id)
        if item is None:
            raise NotFound("No such item")
        item["name"] = name
        return dict(item)  # type: ignore[return-value]


@functions.client(affects=["user"], auth=True)
def place_order(user_id: int, item_id: int, quantity: int) -> Order:
    _may_see(user_id)
    if quantity < 1:
        raise ValidationFailed({"quantity": ["Must be at least 1"]})
    with _LOCK:
        if item_id not in ITEMS:
            raise NotFound("No such item")
        order: Order = {"id": len(ORDERS) + 1, "user_id": user_id, "item_id": item_id, "quantity": quantity}
        ORDERS.append(order)
        return dict(order)  # type: ignore[return-value]


@functions.client(affects=[user_profile], auth=True)
def update_profile(name: str) -> User:
    me = _me()
    with _LOCK:
        USERS[me]["name"] = name
    return {"id": me, "name": name}


@functions.client(affects=["counter"])
def bump_counter() -> int:
    with _LOCK:
        COUNTER["value"] += 1
        return COUNTER["value"]


@functions.client(auth="superuser")
def forget_user(user_id: int) -> int:
    """GDPR erasure: every origin-cache entry of the user, in every context."""
    return len(current_app().purge_user(user_id))


@functions.client(auth=has_reports)
def export_report(format: str = "csv") -> str:
    return f"report.{format}"


@functions.client
def fail(kind: str) -> object:
    if kind == "not_found":
        raise NotFound("No such thing")
    if kind == "not_implemented":
        raise NotImplementedError()
    if kind == "forbidden":
        raise Forbidden("Nope")
    if kind == "validation":
        raise ValidationFailed({"kind": ["Not a good kind"]})
    if kind == "internal":
        raise ProtocolError("INTERNAL_ERROR", "the message of a deliberate 500 stays in the log")
    if kind == "boom":
        raise RuntimeError("database password is hunter2")
    if kind == "not_json":
        return float("nan")
    return kind


@functions.client(private=True, view=True, cache=False, route="/webhooks/stripe/", methods=["POST"], affects=["subscription"])
def stripe_webhook() -> object:
    return {"received": True}


def webhook_entries() -> List[str]:
    """What the webhook route purges (the function's ``affects``)."""
    return ["subscription"]
