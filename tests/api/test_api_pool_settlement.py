"""工会排队 end to end (issue 22): the operator turns the union pool on for mall orders over the
operators' API; a member's order paid through WeChat Pay's real notification endpoint lands in
the pool — its contribution and quota, no share queue entry — the member is told, and the
order's detail shows its place in the pool."""

from __future__ import annotations

from typing import Any

from models import Entry, OrderLine, OutboxEvent, PendingSettlement, PoolEntry, PoolEntryStatus
from rebate.settings import BaseSettings, SettleOn
from services.catalog.products import new_product
from services.checks import check_conservation
from services.settings.base import save_base
from tests.api.conftest import Api, bearer
from tests.api.test_api_notify import BUYER, Unpaid, post_v3, v3_payment

SETTINGS = "/api/admin/union-pool/settings"


async def test_an_order_paid_through_the_notification_lands_in_the_pool(api: Api) -> None:
    await save_base(BaseSettings(settle_on=SettleOn.PAID))
    change = {"sources": ["mall"], "pool_bp": 5_000}
    response = await api.client.request(
        "PATCH", SETTINGS, json=change, headers=bearer(api.admin_token())
    )
    assert response.status == 200, await response.text()
    product = await new_product("联盟好物", 16_800, cost_price_fen=10_800)
    token = await api.member_token(BUYER)
    response = await api.client.post(
        "/api/orders",
        json={"source": "mall", "items": [{"product_id": product.id, "quantity": 1}]},
        headers=bearer(token),
    )
    assert response.status == 201, await response.text()
    body: Any = (await response.json())["order"]
    order = Unpaid(body["id"], body["out_trade_no"], body["paid_fen"], BUYER, token)
    assert (await post_v3(api, *v3_payment(api, order))).status == 204
    await api.settled()
    (entry,) = await PoolEntry.filter(order_id=order.id)
    # profit 16,800 − 10,800 = 6,000; 50% into the pool; quota 16,800 × 110%
    assert (entry.profit_fen, entry.contribution_fen, entry.quota_fen) == (6_000, 3_000, 18_480)
    assert entry.status == PoolEntryStatus.WAITING
    assert not await Entry.exists() and not await PendingSettlement.exists()
    assert (await OrderLine.get(order_id=order.id)).status == "settled"
    (joined,) = await OutboxEvent.filter(kind="pool_entry_joined")
    assert joined.payload["entry_id"] == entry.id
    # the member's order detail shows the line's place in the pool (never its profit)
    response = await api.client.get(f"/api/orders/{order.id}", headers=bearer(token))
    assert response.status == 200, await response.text()
    detail = (await response.json())["order"]
    (shown,) = detail["pool_entries"]
    assert (shown["id"], shown["status"], shown["quota_fen"], shown["ahead"]) == (
        entry.id, "waiting", 18_480, 0,
    )  # fmt: skip
    assert shown["status_text"] == "工会排队中" and "contribution_fen" not in shown
    assert detail["entries"] == []
    assert await check_conservation() == []
