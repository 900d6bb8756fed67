"""Deduction (抵扣) over HTTP: an order pays part of its price with points / love value and the
rest through WeChat Pay; cancelling gives it back; every refusal names its field and changes
nothing; two orders racing for the same points on PostgreSQL — exactly one gets them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from tortoise import connections

from ledger.balances import balances_of
from rebate.settings import RatioSettings
from runtime.sql import fetch
from services.catalog.products import new_product
from services.checks import check_conservation
from tests.api.conftest import Api, bearer
from tests.services.helpers import funded, use_base

TABLES = ("orders", "order_line", "posting", "wallet", "product")


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


async def setup(api: Api, *, points: int = 0, love: int = 0) -> tuple[int, str, int]:
    """Deduction on (10 points or 1 love value a fen, at most half a price); a member holding
    ``points`` and ``love``; a 100.00 product. (member id, token, product id)."""
    await use_base(
        ratios=RatioSettings(default_bp=10_000),
        deduction_points_per_fen=10,
        deduction_love_per_fen=1,
        deduction_max_bp=5000,
    )
    login = await api.login()
    member_id = int(login["member"]["id"])
    await funded(member_id, points=points, love=love)
    product = await new_product("好物", 10_000)
    return member_id, str(login["token"]), product.id


async def place(api: Api, token: str, product_id: int, **deduction: Any) -> tuple[int, Any]:
    body = {"source": "mall", "items": [{"product_id": product_id, "quantity": 1}], **deduction}
    response = await api.client.post("/api/orders", json=body, headers=bearer(token))
    return response.status, await response.json()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
async def test_the_rest_goes_to_wechat_pay_and_cancelling_gives_it_back(
    make_api: Callable[..., Any], backend: str
) -> None:
    api: Api = await make_api(backend, redis=backend == "postgres")
    member_id, token, product_id = await setup(api, points=30_000, love=500)
    status, body = await place(
        api, token, product_id, deduction_points=30_000, deduction_love=500, deduction_fen=3500
    )
    assert status == 201, body
    order = body["order"]
    assert (order["total_fen"], order["deduction_fen"], order["paid_fen"]) == (10_000, 3500, 6500)
    assert (order["deduction_points"], order["deduction_love"]) == (30_000, 500)
    assert api.wx.orders[order["out_trade_no"]].total == 6500  # only the cash is prepaid
    held = await balances_of(member_id)
    assert (held.points, held.love_available) == (0, 0)
    response = await api.client.post(f"/api/orders/{order['id']}/cancel", headers=bearer(token))
    assert response.status == 200
    assert (await response.json())["order"]["status"] == "closed"
    held = await balances_of(member_id)
    assert (held.points, held.love_available) == (30_000, 500)
    response = await api.client.post(f"/api/orders/{order['id']}/cancel", headers=bearer(token))
    assert response.status == 409
    assert await check_conservation() == []


@pytest.mark.parametrize(
    ("deduction", "status", "code", "field"),
    [
        ({"deduction_points": 20_010}, 409, "not_allowed", "deduction_points"),  # holds 20000
        ({"deduction_love": 1}, 409, "not_allowed", "deduction_love"),  # holds none
        (
            {"deduction_points": 20_000, "deduction_fen": 2001},
            400,
            "invalid_amount",
            "deduction_fen",
        ),
        ({"deduction_fen": 100}, 400, "invalid_amount", "deduction_fen"),  # fen without units
        ({"deduction_points": 15}, 400, "invalid_amount", "deduction_points"),  # 1.5 fen
        ({"deduction_points": -10}, 400, "invalid_field", "deduction_points"),
        ({"deduction_points": 10.5}, 400, "invalid_field", "deduction_points"),
        ({"deduction_points": 60_000}, 409, "not_allowed", "deduction_fen"),  # over half
    ],
)
async def test_refusals_name_the_field_and_change_nothing(
    api: Api, deduction: dict[str, Any], status: int, code: str, field: str
) -> None:
    _, token, product_id = await setup(api, points=20_000)
    before = await snapshot()
    got, body = await place(api, token, product_id, **deduction)
    assert (got, body["code"], body["field"]) == (status, code, field), body
    assert body["message"]
    assert await snapshot() == before
    assert not api.wx.orders


async def test_deduction_switched_off_is_refused(api: Api) -> None:
    _, token, product_id = await setup(api, points=20_000)
    await use_base(ratios=RatioSettings(default_bp=10_000))  # rates 0: deduction off
    before = await snapshot()
    got, body = await place(api, token, product_id, deduction_points=1000)
    assert (got, body["code"], body["field"]) == (409, "not_allowed", "deduction_points")
    assert "未开启" in body["message"]
    assert await snapshot() == before


async def test_two_orders_racing_for_the_same_points_exactly_one_gets_them(api: Api) -> None:
    """Both requests at once, each in its own connection of the pool, both past their reads
    before either can commit: a third connection holds the wallet row until both are waiting
    on it. The wallet row lock then makes the second see the balance the first left."""
    member_id, token, product_id = await setup(api, points=20_000)
    holder = await asyncpg.connect(api.db_url.replace("postgres://", "postgresql://", 1))
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM wallet WHERE member_id = $1 FOR UPDATE", member_id)
        racing = [
            asyncio.ensure_future(place(api, token, product_id, deduction_points=20_000))
            for _ in range(2)
        ]
        for _ in range(200):  # until both orders' transactions wait on the held row
            await holder.execute("SELECT pg_stat_clear_snapshot()")  # fresh inside a transaction
            waiting = await holder.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if waiting >= 2:
                break
            await asyncio.sleep(0.05)
        assert waiting >= 2
        await hold.commit()
        answers = await asyncio.gather(*racing)
    finally:
        await holder.close()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201, 409], answers
    refused = next(body for status, body in answers if status == 409)
    assert refused["field"] == "deduction_points"
    assert (await balances_of(member_id)).points == 0
    rows = await fetch(
        connections.get("default"), "SELECT COUNT(*) AS n FROM posting WHERE kind = 'deduction'"
    )
    assert int(rows[0]["n"]) == 1
    assert len(api.wx.orders) == 1
    assert await check_conservation() == []
