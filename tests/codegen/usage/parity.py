"""Uses of the Python client generated for tests/fixtures/ir/parity.kdl, checked like
usage/shop.py: the string enum is a ``Literal`` of its values."""

from typing import List, Optional

from mizan_kernel import Client

from mizan_client import MizanApi, Order, OrderStatus


def use(client: Client) -> None:
    api = MizanApi(client)
    order: Order = api.call_set_order_status(order_id=1, status="shipped")
    status: OrderStatus = order["status"]
    api.call_set_order_status(order_id=1, status="lost")  # type: ignore[arg-type]
    mine = api.fetch_user(user_id=5, status="paid")
    statuses: List[OrderStatus] = [o["status"] for o in mine["user_orders"]]
    postcode: Optional[str] = mine["user_profile"]["address"].get("postcode")
    api.call_place_order(user_id=5, lines=[{"product_id": 1, "quantity": 2}])
    api.call_place_order(user_id=5, lines=[{"product_id": 1}])  # type: ignore[typeddict-item]
    count: int = api.call_reindex_catalog(full=True)
    print(status, statuses, postcode, count)
