"""Uses of the Python client generated for tests/fixtures/ir/shop.kdl, checked with
``mypy --strict`` beside the golden file. Strict mode reports unused ``# type: ignore``s, so
every ignore below must be needed: the generated types are proven to refuse what the server
would."""

from typing import List, Optional

from mizan_kernel import AsyncClient, Client

from mizan_client import AsyncMizanApi, ItemOutput, MizanApi, UserShape


def sync_use(client: Client) -> None:
    api = MizanApi(client)
    bundle = api.fetch_user(user_id=5)
    name: str = bundle["user_profile"]["name"]
    totals: List[float] = [o["total"] for o in bundle["user_orders"]]
    api.fetch_user(user_id=5, page=2, timeout=1.0)
    api.fetch_user()  # type: ignore[call-arg]
    api.fetch_user(user_id="5")  # type: ignore[arg-type]
    updated: UserShape = api.call_update_profile(user_id=5, name="R")
    api.call_update_profile(user_id=5)  # type: ignore[call-arg]
    bundle["user_profile"]["nickname"]  # type: ignore[typeddict-item]
    api.call_stripe_webhook()  # type: ignore[attr-defined]
    print(name, totals, updated)


async def async_use(client: AsyncClient) -> None:
    api = AsyncMizanApi(client)
    items: List[ItemOutput] = (await api.fetch_items(page=1, category="books"))["items_list"]
    price: Optional[float] = items[0].get("price")
    categories: List[str] = (await api.fetch_catalog())["catalog_categories"]
    renamed = await api.call_set_item_name(id=1, name="x", optimistic=[{"context": "items", "slot": "items_list", "value": []}])
    sent = await api.call_contact_submit(message="hi", attachment=None)
    await api.fetch_items(page="one")  # type: ignore[arg-type]
    print(price, categories, renamed["name"], sent.get("ok"))
