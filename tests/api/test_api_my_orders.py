"""My orders (我的订单) over HTTP: the list pages newest first and filters by status, each
order with its lines; the detail adds the entries its lines created. Someone else's order is
not found; a bad status is a 400 naming it."""

from __future__ import annotations

from typing import Any

from models import Entry, Order, OrderLine
from rebate.settings import OrderSource
from services.catalog.products import new_product
from services.orders.lifecycle import Item, create_order
from tests.api.conftest import Api, bearer
from tests.api.test_api_member_entries import buy, get, lottery_base, member, recent_clock
from tests.api.test_api_paging import walk


async def unpaid(member_id: int) -> Order:
    product = await new_product("茶杯", 2_500)
    return await create_order(member_id, OrderSource.MALL, items=[Item(product.id, 2)])


async def test_my_orders_page_newest_first_and_filter_by_status(api: Api) -> None:
    await lottery_base()
    clock = recent_clock()
    (a, a_token), (b, b_token) = await member(api), await member(api)
    for n in range(3):
        await buy(a, 10_000 + n, clock)
        await unpaid(a)
    await buy(b, 7_000, clock)
    mine = [o.id for o in await Order.filter(member_id=a).order_by("-id")]
    assert len(mine) == 6

    for limit in (1, 2, 4, 6, 50):
        items, _ = await walk(api, "/api/orders", bearer(a_token), limit=limit)
        assert [i["id"] for i in items] == mine
    items, _ = await walk(api, "/api/orders", bearer(a_token), limit=20)
    first = items[-1]
    line = await OrderLine.get(order_id=first["id"])
    assert first["status"] == "paid" and first["paid_fen"] == 10_000
    assert first["lines"] == [
        {
            "id": line.id,
            "product_id": line.product_id,  # type: ignore[attr-defined]
            "quantity": 1,
            "paid_fen": 10_000,
            "deduction_fen": 0,
            "status": "settled",
        }
    ]
    assert first["refunds"] == []
    paid, _ = await walk(api, "/api/orders?status=paid", bearer(a_token), limit=2)
    assert [i["id"] for i in paid] == mine[1::2]
    created, _ = await walk(api, "/api/orders?status=created", bearer(a_token), limit=2)
    assert [i["id"] for i in created] == mine[0::2]
    assert all(i["lines"][0]["quantity"] == 2 for i in created)
    none, _ = await walk(api, "/api/orders?status=completed", bearer(a_token), limit=2)
    assert none == []
    theirs, _ = await walk(api, "/api/orders", bearer(b_token), limit=2)
    assert [i["id"] for i in theirs] == [o.id for o in await Order.filter(member_id=b)]


async def refused(api: Api, path: str, token: str) -> dict[str, Any]:
    response = await api.client.get(path, headers=bearer(token))
    body: dict[str, Any] = await response.json()
    assert response.status == 400, body
    return body


async def test_a_bad_query_is_a_400_naming_it(api: Api) -> None:
    _, token = await member(api)
    assert (await refused(api, "/api/orders?status=shipped", token))["field"] == "status"
    assert (await refused(api, "/api/orders?limit=0", token))["field"] == "limit"
    assert (await refused(api, "/api/orders?cursor=-1", token))["field"] == "cursor"
    assert (await api.client.get("/api/orders")).status == 401


async def test_the_detail_has_the_entries_its_lines_created(api: Api) -> None:
    await lottery_base()
    clock = recent_clock()
    (a, a_token), (b, b_token) = await member(api), await member(api)
    entry = await buy(a, 10_000, clock)
    assert entry is not None
    later = await buy(b, 10_000, clock)  # pays A's entry 1000
    assert later is not None
    order_id = int(entry.order_id)  # type: ignore[attr-defined]

    status, body = await get(api, f"/api/orders/{order_id}", a_token)
    assert status == 200, body
    assert set(body) == {"order", "names"}
    order = body["order"]
    assert order["id"] == order_id and order["status"] == "paid"
    [line] = order["lines"]
    [shown] = order["entries"]
    assert shown["id"] == entry.id
    assert shown["line_id"] == line["id"] == entry.line_id  # type: ignore[attr-defined]
    assert shown["order_id"] == order_id
    assert shown["received_fen"] == 1_000
    assert shown["entitlement_fen"] == (await Entry.get(id=entry.id)).entitlement_fen
    assert shown["status"] == "waiting" and shown["estimate"]["is_estimate"] is True
    # the same entry as the entries list shows it
    _, listed = await get(api, f"/api/entries/{entry.id}", a_token)
    moment = "estimated_full_at"  # from the request's own clock
    assert {**listed["entry"], "estimate": None} == {**shown, "estimate": None}
    assert {**listed["entry"]["estimate"], moment: 0} == {**shown["estimate"], moment: 0}
    assert body["names"] == listed["names"]

    waiting = await unpaid(a)
    status, body = await get(api, f"/api/orders/{waiting.id}", a_token)
    assert status == 200 and body["order"]["entries"] == []

    # someone else's order, and one that does not exist, are not found
    for path, token in (
        (f"/api/orders/{order_id}", b_token),
        (f"/api/orders/{later.order_id}", a_token),  # type: ignore[attr-defined]
        ("/api/orders/999999", a_token),
        ("/api/orders/abc", a_token),
    ):
        status, body = await get(api, path, token)
        assert status == 404, (path, body)
