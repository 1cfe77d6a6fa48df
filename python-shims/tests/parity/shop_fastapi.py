"""The parity fixture (tests/fixtures/ir/parity.kdl) as a FastAPI app registers it: pydantic
models, the enum as a named ``Literal``, ``typing`` generics, ``affects=`` by function.

    python -m mizan_kernel ir shop_fastapi:app      # prints parity.kdl
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

from fastapi import FastAPI
from pydantic import BaseModel

from mizan_kernel import Functions, Identity
from mizan_kernel.decorators import Upload, current_user
from mizan_kernel.fastapi import mizan_router
from mizan_kernel.server import NotFound

OrderStatus = Literal["pending", "paid", "shipped", "delivered", "cancelled"]


class SiteSettings(BaseModel):
    currency: str
    maintenance: bool
    features: Dict[str, bool]


class Address(BaseModel):
    street: str
    city: str
    postcode: Optional[str] = None


class UserProfile(BaseModel):
    id: int
    name: str
    email: Optional[str] = None
    address: Address
    tags: List[str]


class OrderLine(BaseModel):
    product_id: int
    quantity: int
    unit_price: float


class OrderLineInput(BaseModel):
    product_id: int
    quantity: int


class Order(BaseModel):
    id: int
    status: OrderStatus
    lines: List[OrderLine]
    totals: Dict[str, float]
    shipping: Optional[Address] = None
    placed_at: str


class OrderSummary(BaseModel):
    id: int
    status: OrderStatus
    total: float


class Product(BaseModel):
    id: int
    name: str
    price: float
    category: str
    attributes: Dict[str, str]


PRODUCTS = [
    Product(id=1, name="tea", price=4.0, category="drinks", attributes={"origin": "Assam"}),
    Product(id=2, name="mug", price=9.5, category="kitchen", attributes={"colour": "blue"}),
]
PROFILES: Dict[int, UserProfile] = {
    1: UserProfile(id=1, name="Rana", address=Address(street="1 High St", city="Leeds"), tags=["early"]),
}
ORDERS: Dict[int, Order] = {}

functions = Functions()
functions.context("catalog", shared=True)


def _order(order_id: int) -> Order:
    if order_id not in ORDERS:
        raise NotFound("No such order")
    return ORDERS[order_id]


def _summary(o: Order) -> OrderSummary:
    return OrderSummary(id=o.id, status=o.status, total=o.totals["total"])


@functions.client(context="global", cache=300)
def site_settings() -> SiteSettings:
    return SiteSettings(currency="GBP", maintenance=False, features={"reviews": True})


@functions.client(context="user", auth=True)
def user_profile(user_id: int) -> UserProfile:
    if user_id not in PROFILES:
        raise NotFound("No such user")
    return PROFILES[user_id]


@functions.client(context="user", auth=True)
def user_orders(user_id: int, status: Optional[OrderStatus] = None) -> List[OrderSummary]:
    return [_summary(o) for o in ORDERS.values() if status is None or o.status == status]


@functions.client(context="user", auth=True, rev=2)
def user_addresses(user_id: int) -> List[Address]:
    return [PROFILES[user_id].address] if user_id in PROFILES else []


@functions.client(context="catalog", cache=3600)
def catalog_products(category: Optional[str] = None) -> List[Product]:
    return [p for p in PRODUCTS if category is None or p.category == category]


@functions.client(context="catalog", cache=3600)
def catalog_categories() -> List[str]:
    return sorted({p.category for p in PRODUCTS})


@functions.client(context="orders", auth=True, cache=False)
def order_detail(order_id: int) -> Order:
    return _order(order_id)


@functions.client(context="orders", auth="staff")
def order_list(page: int = 1) -> List[OrderSummary]:
    return [_summary(o) for o in list(ORDERS.values())[(page - 1) * 20 : page * 20]]


@functions.client(affects=["user"], merge=["user"], auth=True)
def update_profile(user_id: int, name: str, email: Optional[str] = None) -> UserProfile:
    profile = user_profile(user_id).model_copy(update={"name": name, "email": email})
    PROFILES[user_id] = profile
    return profile


@functions.client(affects=[user_profile], auth=True)
def upload_avatar(user_id: int, image: Upload) -> UserProfile:
    return user_profile(user_id)


@functions.client(affects=["orders", user_orders], merge=["orders"], auth=True)
def place_order(user_id: int, lines: List[OrderLineInput], note: Optional[str] = None) -> Order:
    priced = [OrderLine(product_id=line.product_id, quantity=line.quantity, unit_price=PRODUCTS[line.product_id - 1].price) for line in lines]
    order = Order(
        id=len(ORDERS) + 1,
        status="pending",
        lines=priced,
        totals={"total": sum(line.quantity * line.unit_price for line in priced)},
        placed_at="2026-01-01T00:00:00Z",
    )
    ORDERS[order.id] = order
    return order


@functions.client(affects=["orders"], merge=["orders"], auth="staff")
def set_order_status(order_id: int, status: OrderStatus) -> Order:
    order = _order(order_id).model_copy(update={"status": status})
    ORDERS[order_id] = order
    return order


def can_refund(identity: Optional[Identity], request: Any) -> bool:
    return identity is not None and identity.staff


@functions.client(affects=["orders"], auth=can_refund)
def refund_order(order_id: int, amount: float) -> Order:
    order = _order(order_id)
    order.totals["refunded"] = amount
    return order


@functions.client(affects=["catalog"], auth="superuser")
def reindex_catalog(full: bool = False) -> int:
    return len(PRODUCTS)


@functions.client(affects=["orders", user_orders], private=True)
def payment_webhook(payload: Dict[str, Any]) -> None:
    order = ORDERS.get(int(payload.get("order_id", 0)))
    if order is not None and current_user() is None:
        ORDERS[order.id] = order.model_copy(update={"status": "paid"})


app = FastAPI()
app.include_router(mizan_router(functions))
