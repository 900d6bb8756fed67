"""工会排队's 控盘 over HTTP: the operator reads and changes the pool's settings (audited, bad
values refused naming the field, nothing saved), sees the pool's balance, what waiting members
are owed, its inflow and the projected wait of the tail, and reads the daily statements."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from models import AuditLog, OrderLine
from rebate.settings import OrderSource
from services.catalog.products import new_product
from services.clock import utcnow
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order
from services.pool.close import close_day
from services.pool.contributions import PoolLine, contribute
from services.pool.settings import load_pool
from tests.api.conftest import Api, bearer

SETTINGS = "/api/admin/union-pool/settings"


async def admin(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = await api.client.request(method, path, json=body, headers=bearer(api.admin_token()))
    return response.status, await response.json()


async def pooled(openid: str, price: int, cost: int) -> None:
    member = await new_member(openid)
    product = await new_product(openid, price)
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id, 1)])
    line = await OrderLine.get(order_id=order.id)
    async with in_transaction() as conn:
        entry = PoolLine(line.id, order.id, member.id, OrderSource.MALL, price, cost)
        await contribute(conn, entry, await load_pool(), utcnow())


async def test_the_operator_changes_the_pool_settings_audited(api: Api) -> None:
    status, body = await admin(api, "GET", SETTINGS)
    assert status == 200 and body["settings"]["sources"] == []  # off: the share mode only
    change = {"sources": ["store", "cashier"], "pool_bp": 5000, "daily_cap_fen": 100_000_00}
    status, body = await admin(api, "PATCH", SETTINGS, change)
    assert status == 200, body
    assert body["settings"]["sources"] == ["store", "cashier"]
    assert (body["settings"]["pool_bp"], body["settings"]["quota_bp"]) == (5000, 11000)
    (row,) = await AuditLog.filter(section="union_pool")
    assert row.old["pool_bp"] == 6000 and row.new["pool_bp"] == 5000
    assert (await load_pool()).pool_bp == 5000


async def test_a_bad_setting_is_refused_naming_it_and_nothing_is_saved(api: Api) -> None:
    for change, field in (
        ({"pool_bp": 10_001}, "pool_bp"),
        ({"sources": ["shop"]}, "sources[0]"),  # the schema names the item
        ({"close_at": "25:00"}, "close_at"),
        ({"ceiling_days": 0}, "ceiling_days"),
        ({"nonsense": 1}, "nonsense"),
    ):
        status, body = await admin(api, "PATCH", SETTINGS, change)
        assert status == 400 and body["field"] == field, (change, body)
    assert not await AuditLog.filter(section="union_pool").exists()
    assert (await load_pool()).pool_bp == 6000


async def test_the_liability_report_and_the_daily_statements(api: Api) -> None:
    status, body = await admin(api, "PATCH", SETTINGS, {"sources": ["mall"], "pool_bp": 10000})
    assert status == 200, body
    status, empty = await admin(api, "GET", "/api/admin/union-pool")
    assert status == 200 and empty["waiting_count"] == 0 and empty["tail_closes"] is None
    await pooled("oA", 100, 100)  # quota 110, gives nothing
    await pooled("oB", 1_000, 700)  # quota 1,100, gives 300
    status, report = await admin(api, "GET", "/api/admin/union-pool")
    assert status == 200, report
    assert (report["balance_fen"], report["waiting_count"]) == (300, 2)
    assert report["waiting_owed_fen"] == 1_210 and report["inflow_30d_fen"] == 300
    assert report["tail_closes"] == 1 + -(-(1_210 - 300) // (300 // 30))  # an estimate
    statement = await close_day(utcnow().date(), utcnow())
    status, page = await admin(api, "GET", "/api/admin/union-pool/days")
    assert status == 200 and page["next_cursor"] is None
    (day,) = page["items"]
    assert day["id"] == statement.id and day["contributed"] == {"mall": 300}
    assert (day["paid_fen"], day["paid_count"], day["closing_fen"]) == (110, 1, 190)
    status, after = await admin(api, "GET", "/api/admin/union-pool")
    assert after["last_closed_day"] == day["day"] and after["balance_fen"] == 190
