"""Deduction (抵扣, SPEC §10, §4): points and love value pay part of an order, in its
transaction; closing or cancelling gives them back, refunds pro rata; the switch decides the
entries; ``check`` proves the postings agree with the orders. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from tortoise import connections

from ledger.balances import Balances, balances_of
from models import Entry, Extraction, Order, OrderLine, OrderStatus, ProductKind
from rebate.deduction import Request
from rebate.errors import InvalidAmount, NotAllowed
from rebate.settings import DeductionMode, OrderSource, RatioSettings, SettleOn
from runtime.sql import execute, fetch
from services.catalog.products import new_product, new_store
from services.checks import check_conservation
from services.errors import NotFound
from services.members.accounts import new_member
from services.orders.lifecycle import Item, cancel_order, create_order, mark_paid, refund_line
from services.orders.reconciliation import _close
from services.settings.codec import target_from_doc
from tests.services.helpers import Clock, funded, seeded, use_base

BASE: dict[str, Any] = {
    "settle_on": SettleOn.PAID,
    "extract_bp": 1000,
    "ratios": RatioSettings(default_bp=10_000),
    "deduction_points_per_fen": 10,  # 1000 points = 1.00 yuan
    "deduction_love_per_fen": 1,
    "deduction_max_bp": 5000,
}
TABLES = ("orders", "order_line", "posting", "wallet", "entry", "extraction", "product")


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


async def keys() -> list[str]:
    rows = await fetch(connections.get("default"), "SELECT key FROM posting ORDER BY id")
    return [r["key"] for r in rows if r["key"].startswith("deduction")]


async def test_points_and_love_pay_part_of_the_price_in_the_orders_transaction(db):
    await use_base(**BASE)
    m = await new_member("a")
    a, b = await new_product("A", 6000), await new_product("B", 4000)
    ask = await funded(m.id, points=20_000, love=700)  # 2000 + 700 fen of 5000 allowed
    order = await create_order(
        m.id, OrderSource.MALL, items=[Item(a.id), Item(b.id)], deduction=ask
    )
    assert (order.total_fen, order.deduction_fen, order.paid_fen) == (10_000, 2700, 7300)
    assert (order.deduction_points, order.deduction_love) == (20_000, 700)
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    assert [ln.deduction_fen for ln in lines] == [1620, 1080]  # caps 3000 : 2000
    assert [ln.paid_fen for ln in lines] == [4380, 2920]
    held = await balances_of(m.id)
    assert (held.points, held.love_available) == (0, 0)
    assert await keys() == [f"deduction:{order.id}:points", f"deduction:{order.id}:love"]
    assert await check_conservation() == []


async def test_an_order_without_deduction_reads_and_writes_nothing_of_it(db):
    await use_base(**BASE)
    m = await new_member("a")
    order = await create_order(
        m.id, OrderSource.MALL, items=[Item((await new_product("A", 100)).id)]
    )
    assert order.deduction_fen == 0 and await keys() == []
    assert await balances_of(m.id) == Balances()


async def test_refusals_name_the_field_and_change_nothing(db):
    await use_base(**BASE)
    m = await new_member("a")
    p = await new_product("A", 2000)  # up to 1000 fen deducted
    await funded(m.id, points=5000, love=100)
    before = await snapshot()
    cases = [
        (NotAllowed, "deduction_points", Request(points=6000)),  # more than held (and the cap)
        (NotAllowed, "deduction_love", Request(love=200)),  # more love value than held
        (NotAllowed, "deduction_fen", Request(points=5000, love=600)),  # 1100 > 1000 cap
        (InvalidAmount, "deduction_fen", Request(points=1000, deduction_fen=99)),  # not 100
        (InvalidAmount, "deduction_points", Request(points=15)),  # not a multiple of 10
        (InvalidAmount, "deduction_points", Request(points=-10)),
        (InvalidAmount, "deduction_love", Request(love=1.5)),  # type: ignore[arg-type]
    ]
    for error, field, ask in cases:
        with pytest.raises(error) as exc:
            await create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=ask)
        assert exc.value.field == field, ask
    await use_base(**{**BASE, "deduction_love_per_fen": 0})  # love value switched off
    with pytest.raises(NotAllowed) as exc:
        await create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=Request(love=1))
    assert exc.value.field == "deduction_love"
    assert await snapshot() == before


async def test_product_and_store_limits_and_the_minimum_cash_part(db):
    await use_base(**{**BASE, "deduction_min_cash_fen": 900})
    m = await new_member("a")
    store = await new_store("店", rebate={"deduction_max_bp": 2000})
    goods = await new_product("店品", 10_000, kind=ProductKind.STORE, store_id=store.id)
    await funded(m.id, points=100_000)
    with pytest.raises(NotAllowed):  # the store allows 20%: 2000 fen
        await create_order(
            m.id, OrderSource.STORE, items=[Item(goods.id)], deduction=Request(20_010)
        )
    order = await create_order(
        m.id, OrderSource.STORE, items=[Item(goods.id)], deduction=Request(20_000)
    )
    assert order.paid_fen == 8000
    cheap = await new_product("A", 1000, rebate={"deduction_max_bp": 10_000})
    assert target_from_doc(cheap.rebate).deduction_max_bp == 10_000
    with pytest.raises(NotAllowed):  # 100% of the product, but 900 fen must stay cash
        await create_order(m.id, OrderSource.MALL, items=[Item(cheap.id)], deduction=Request(1010))
    order = await create_order(
        m.id, OrderSource.MALL, items=[Item(cheap.id)], deduction=Request(1000)
    )
    assert order.paid_fen == 900


async def test_closing_or_cancelling_an_unpaid_order_gives_it_back_once(db):
    await use_base(**BASE)
    m, other = await new_member("a"), await new_member("b")
    p = await new_product("A", 1000)
    ask = await funded(m.id, points=3000, love=50)
    order = await create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=ask)
    with pytest.raises(NotFound):
        await cancel_order(order.id, member_id=other.id, now=Clock().tick())
    closed = await cancel_order(order.id, member_id=m.id, now=Clock().tick())
    assert closed.status == OrderStatus.CLOSED
    with pytest.raises(NotAllowed):
        await cancel_order(order.id, member_id=m.id, now=Clock().tick())
    held = await balances_of(m.id)
    assert (held.points, held.love_available) == (3000, 50)
    again = await create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=ask)
    assert await _close(again, Clock().tick() + timedelta(days=1))  # reconciliation
    assert not await _close(again, Clock().tick() + timedelta(days=1))
    held = await balances_of(m.id)
    assert (held.points, held.love_available) == (3000, 50)
    assert sorted(await keys()) == sorted(
        f"{kind}:{o.id}:{unit}"
        for o in (order, again)
        for kind in ("deduction", "deduction_return")
        for unit in ("points", "love")
    )
    assert await check_conservation() == []


async def test_refunds_give_back_the_deducted_part_pro_rata_rounding_to_the_member(db):
    await use_base(**BASE)
    clock, m = Clock(), await new_member("a")
    products = [await new_product(n, 1000) for n in "ABC"]
    ask = await funded(m.id, points=10, love=2)  # 1 + 2 fen over three lines: 1 fen each
    order = await create_order(
        m.id, OrderSource.MALL, items=[Item(p.id) for p in products], deduction=ask
    )
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=seeded())
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    assert [ln.deduction_fen for ln in lines] == [1, 1, 1]
    back = []
    for ln in lines:
        await refund_line(ln.id, now=clock.tick())
        held = await balances_of(m.id)
        back.append((held.points, held.love_available))
        assert await check_conservation() == []
    assert back == [(4, 1), (7, 2), (10, 2)]  # ceil(10/3)=4, then 7, then all; love 1, 2, 2


async def test_the_switch_decides_entries_and_the_cash_part_counts(db):
    clock = Clock()
    for mode, entries in ((DeductionMode.PARTICIPATE, 1), (DeductionMode.EXCLUDE, 0)):
        await use_base(**{**BASE, "deduction": mode})
        m = await new_member(f"m-{mode}")
        p = await new_product(f"P-{mode}", 10_000)
        ask = await funded(m.id, points=30_000)  # 3000 fen of points: 7000 cash
        order = await create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=ask)
        await mark_paid(order.id, paid_fen=7000, now=clock.tick(), rng=seeded())
        found = await Entry.filter(order_id=order.id)
        assert len(found) == entries
        if found:
            assert found[0].entitlement_fen == 7000  # 100% of the cash, not of the price
        x = await Extraction.get(order_id=order.id)
        assert x.amount_fen == 700  # 10% of the cash actually paid
    assert await check_conservation() == []


async def test_check_finds_a_deduction_that_disagrees_with_its_order(db):
    await use_base(**BASE)
    m = await new_member("a")
    p = await new_product("A", 1000)
    order = await create_order(
        m.id, OrderSource.MALL, items=[Item(p.id)], deduction=await funded(m.id, points=1000)
    )
    conn = connections.get("default")
    await execute(conn, "UPDATE orders SET deduction_points = 2000 WHERE id = $1", [order.id])
    problems = await check_conservation()
    assert any("points deduction posting" in p for p in problems), problems
    await Order.filter(id=order.id).update(deduction_points=1000, paid_fen=1)
    problems = await check_conservation()
    assert any("do not add up" in p for p in problems), problems


@pytest.mark.postgres
async def test_two_orders_racing_for_the_same_points_exactly_one_gets_them(pg: None) -> None:
    """PostgreSQL (SQLite serialises writers itself), two orders at once, each in its own
    connection of the pool, both started while a third connection holds the member's wallet row:
    when it lets go, the wallet lock makes the second order see the balance the first left."""
    await use_base(**BASE)
    m = await new_member("a")
    p = await new_product("A", 10_000)
    ask = await funded(m.id, points=50_000)
    conn = connections.get("default")
    holder = await asyncpg.connect(
        user=conn.user, host=conn.host, port=conn.port, database=conn.database
    )
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM wallet WHERE member_id = $1 FOR UPDATE", m.id)
        racing = [
            asyncio.ensure_future(
                create_order(m.id, OrderSource.MALL, items=[Item(p.id)], deduction=ask)
            )
            for _ in range(2)
        ]
        waiting = 0
        for _ in range(200):  # until both orders' transactions wait on the held row
            await holder.execute("SELECT pg_stat_clear_snapshot()")  # fresh inside a transaction
            waiting = await holder.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if waiting >= 2:
                break
            await asyncio.sleep(0.05)
        await hold.commit()
        results = await asyncio.gather(*racing, return_exceptions=True)
    finally:
        await holder.close()
    assert waiting >= 2  # both had started before either could take the points
    placed = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, NotAllowed)]
    assert (len(placed), len(refused)) == (1, 1), results
    assert refused[0].field == "deduction_points"
    assert (await balances_of(m.id)).points == 0
    assert len(await keys()) == 1
    assert await check_conservation() == []
