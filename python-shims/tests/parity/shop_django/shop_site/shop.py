"""The parity fixture (tests/fixtures/ir/parity.kdl) as a Django project registers it:
dataclasses and ``TypedDict``s, the enum as a ``str`` ``Enum``, builtin generics and ``X | None``
under postponed annotations, ``affects=`` by name, a named predicate.

    python manage.py export_mizan_ir      # prints parity.kdl
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, TypedDict

from mizan_kernel import Functions, Identity
from mizan_kernel.decorators import Upload
from mizan_kernel.server import NotFound

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:
    from typing_extensions import NotRequired


class OrderStatus(str, Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class SiteSettings(TypedDict):
    currency: str
    maintenance: bool
    features: dict[str, bool]


class Address(TypedDict):
    street: str
    city: str
    postcode: NotRequired[Optional[str]]


@dataclass
class UserProfile:
    id: int
    name: str
    address: Address
    tags: list[str]
    email: str | None = None


@dataclass
class OrderLine:
    product_id: int
    quantity: int
    unit_price: float


class OrderLineInput(TypedDict):
    product_id: int
    quantity: int


@dataclass
class Order:
    id: int
    status: OrderStatus
    lines: list[OrderLine]
    totals: dict[str, float]
    placed_at: str
    shipping: Address | None = None


@dataclass
class OrderSummary:
    id: int
    status: OrderStatus
    total: float


@dataclass
class Product:
    id: int
    name: str
    price: float
    category: str
    attributes: dict[str, str]


PRODUCTS = [Product(1, "tea", 4.0, "drinks", {"origin": "Assam"}), Product(2, "mug", 9.5, "kitchen", {"colour": "blue"})]
PROFILES: dict[int, UserProfile] = {1: UserProfile(1, "Rana", {"street": "1 High St", "city": "Leeds"}, ["early"])}
ORDERS: dict[int, Order] = {}

functions = Functions()


def _order(order_id: int) -> Order:
    if order_id not in ORDERS:
        raise NotFound("No such order")
    return ORDERS[order_id]


def _summary(o: Order) -> OrderSummary:
    return OrderSummary(o.id, o.status, o.totals["total"])


@functions.client(context="global", cache=300)
def site_settings() -> SiteSettings:
    return {"currency": "GBP", "maintenance": False, "features": {"reviews": True}}


@functions.client(context="user", auth="required")
def user_profile(user_id: int) -> UserProfile:
    if user_id not in PROFILES:
        raise NotFound("No such user")
    return PROFILES[user_id]


@functions.client(context="user", auth="required")
def user_orders(user_id: int, status: OrderStatus | None = None) -> list[OrderSummary]:
    return [_summary(o) for o in ORDERS.values() if status is None or o.status == status]


@functions.client(context="user", auth="required", rev=2)
def user_addresses(user_id: int) -> list[Address]:
    return [PROFILES[user_id].address] if user_id in PROFILES else []


@functions.client(context="catalog", cache=3600, shared=True)
def catalog_products(category: str | None = None) -> list[Product]:
    return [p for p in PRODUCTS if category is None or p.category == category]


@functions.client(context="catalog", cache=3600)
def catalog_categories() -> list[str]:
    return sorted({p.category for p in PRODUCTS})


@functions.client(context="orders", auth="required", cache=False)
def order_detail(order_id: int) -> Order:
    return _order(order_id)


@functions.client(context="orders", auth="staff")
def order_list(page: int = 1) -> list[OrderSummary]:
    return [_summary(o) for o in list(ORDERS.values())[(page - 1) * 20 : page * 20]]


@functions.client(affects="user", merge="user", auth="required")
def update_profile(user_id: int, name: str, email: str | None = None) -> UserProfile:
    profile = dataclasses.replace(user_profile(user_id), name=name, email=email)
    PROFILES[user_id] = profile
    return profile


@functions.client(affects=["user_profile"], auth="required")
def upload_avatar(user_id: int, image: Upload) -> UserProfile:
    return user_profile(user_id)


@functions.client(affects=["orders", "user_orders"], merge=["orders"], auth="required")
def place_order(user_id: int, lines: list[OrderLineInput], note: str | None = None) -> Order:
    priced = [OrderLine(line["product_id"], line["quantity"], PRODUCTS[line["product_id"] - 1].price) for line in lines]
    total = sum(line.quantity * line.unit_price for line in priced)
    order = Order(len(ORDERS) + 1, OrderStatus.PENDING, priced, {"total": total}, "2026-01-01T00:00:00Z")
    ORDERS[order.id] = order
    return order


@functions.client(affects=["orders"], merge=["orders"], auth="staff")
def set_order_status(order_id: int, status: OrderStatus) -> Order:
    order = dataclasses.replace(_order(order_id), status=OrderStatus(status))
    ORDERS[order_id] = order
    return order


@functions.predicate("can_refund")
def can_refund(identity: Optional[Identity], request: Any) -> bool:
    return identity is not None and identity.staff


@functions.client(affects=["orders"], auth="predicate:can_refund")
def refund_order(order_id: int, amount: float) -> Order:
    order = _order(order_id)
    order.totals["refunded"] = amount
    return order


@functions.client(affects=["catalog"], auth="superuser")
def reindex_catalog(full: bool = False) -> int:
    return len(PRODUCTS)


@functions.client(affects=["orders", "user_orders"], private=True)
def payment_webhook(payload: dict[str, Any]) -> None:
    order = ORDERS.get(int(payload.get("order_id", 0)))
    if order is not None:
        ORDERS[order.id] = dataclasses.replace(order, status=OrderStatus.PAID)
