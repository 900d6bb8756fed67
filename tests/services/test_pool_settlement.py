"""工会排队 settlement (issue 22): an order whose source the pool takes settles into the union
pool — each line's contribution (profit less rewards and subsidies, × pool_bp) and quota — and
never into a share queue; refunds take the contribution back (or record it as platform cost);
the ceiling holds new lines out of the queue; the members are told. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from bot.messages import render
from ledger import accounts
from ledger.balances import balance_of, balances_of
from models import (
    Entry,
    LineStatus,
    Member,
    OrderLine,
    OutboxEvent,
    PendingSettlement,
    PoolEntry,
    PoolEntryStatus,
    ProductKind,
)
from rebate.settings import OrderSource, SettleOn
from rebate.union_pool_settings import PoolSettings
from runtime.bot_settings import Names
from runtime.sql import fetch
from services.catalog.products import new_product, new_store, new_supplier
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid, refund_line
from services.pool.close import close_day
from services.pool.mine import my_pool_entries
from services.pool.projection import STATE_TTL
from services.pool.refunds import take_back_line
from services.pool.settings import store_pool
from services.pool.views import order_pool_entries
from services.settings.cache import POOL, changing
from tests.distribution.support import configure
from tests.services.helpers import T0, funded, use_base

ALL = (OrderSource.MALL, OrderSource.STORE, OrderSource.CASHIER)
DAY = date(2026, 11, 25)


async def pool_mode(**changes: Any) -> PoolSettings:
    settings = PoolSettings(**{"sources": ALL, **changes}).check()
    async with changing(POOL) as conn:
        await store_pool(conn, settings)
    return settings


async def paid(
    member: Member, source: OrderSource = OrderSource.MALL, at: datetime = T0, **kw: Any
) -> int:
    """An order placed and paid at ``at`` (支付后结算: it settles at once); its id."""
    order = await create_order(member.id, source, **kw)
    await mark_paid(order.id, paid_fen=order.paid_fen, now=at)
    return order.id


async def entries_of(order_id: int) -> list[PoolEntry]:
    return await PoolEntry.filter(order_id=order_id).order_by("id")


async def told(kind: str) -> list[OutboxEvent]:
    return await OutboxEvent.filter(kind=kind).order_by("id")


def text_of(event: OutboxEvent) -> str:
    message = render(event.kind, event.payload, names=Names(), at=T0).member
    assert message is not None
    return message.text


async def test_an_order_from_each_source_reaches_the_pool_with_its_contribution(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode()
    await configure(direct_bp=1000)  # 直推 10% of the cash: charged to the lines pro rata
    referrer = await new_member("referrer")
    buyer = await new_member("buyer")
    await Member.filter(id=buyer.id).update(referrer_id=referrer.id)
    own = await new_product("自营", 10_000, cost_price_fen=6_000)
    supplier = await new_supplier("供应商")
    bought_in = await new_product(
        "供应商商品", 5_000, kind=ProductKind.SUPPLIER, supplier_id=supplier.id,
        supply_price_fen=3_000, cost_price_fen=100,  # the supply price counts, not the cost
    )  # fmt: skip
    mall = await paid(buyer, items=[Item(own.id, 2), Item(bought_in.id, 1)])
    # cash 25,000: the 2,500 direct reward splits 2,000 : 500 over the lines
    # self-operated: 20,000 − 12,000 = 8,000 profit → (8,000 − 2,000) × 60% = 3,600
    # supplier goods: 5,000 − 3,000 = 2,000 profit → (2,000 − 500) × 60% = 900
    first, second = await entries_of(mall)
    assert (first.profit_fen, first.contribution_fen, first.quota_fen) == (8_000, 3_600, 22_000)
    assert (second.profit_fen, second.contribution_fen, second.quota_fen) == (2_000, 900, 5_500)
    store = await new_store("门店", commission_bp=2_000)
    goods = await new_product("门店商品", 10_000, kind=ProductKind.STORE, store_id=store.id)
    loner = await new_member("loner")  # no referrer: no reward
    online = await paid(loner, OrderSource.STORE, items=[Item(goods.id)], store_id=store.id)
    (store_entry,) = await entries_of(online)  # the store's 20% commission: 2,000 → 1,200
    assert (store_entry.profit_fen, store_entry.contribution_fen) == (2_000, 1_200)
    at_till = await paid(loner, OrderSource.CASHIER, store_id=store.id, amount_fen=5_000)
    (till,) = await entries_of(at_till)
    assert (till.source, till.profit_fen, till.contribution_fen, till.quota_fen) == (
        "cashier", 1_000, 600, 5_500,
    )  # fmt: skip
    # settled into the pool only: no pending settlement, no share queue entry
    assert not await PendingSettlement.exists() and not await Entry.exists()
    assert {ln.status for ln in await OrderLine.all()} == {LineStatus.SETTLED}
    assert await balance_of(accounts.UNION_POOL) == 3_600 + 900 + 1_200 + 600
    assert await check_conservation() == []


async def test_a_product_without_a_cost_gives_no_profit_and_points_are_a_subsidy(db: str) -> None:
    await use_base(
        settle_on=SettleOn.PAID, deduction_points_per_fen=1, deduction_max_bp=5_000
    )  # fmt: skip
    await pool_mode(pool_bp=10_000)
    member = await new_member("m")
    unknown = await new_product("无成本价", 1_000)
    (entry,) = await entries_of(await paid(member, items=[Item(unknown.id)]))
    assert (entry.profit_fen, entry.contribution_fen, entry.quota_fen) == (0, 0, 1_100)
    costed = await new_product("有成本价", 10_000, cost_price_fen=4_000)
    ask = await funded(member.id, points=2_000)  # 2,000 of the price paid with points
    order = await paid(member, items=[Item(costed.id)], deduction=ask)
    (entry,) = await entries_of(order)
    # profit on the price (10,000 − 4,000); the 2,000 of points is the platform's subsidy;
    # the quota is on the cash paid (8,000 × 110%)
    assert (entry.profit_fen, entry.contribution_fen, entry.quota_fen) == (6_000, 4_000, 8_800)
    assert await check_conservation() == []


async def test_a_source_the_pool_does_not_take_settles_into_its_share_queue(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(sources=(OrderSource.STORE,))
    member = await new_member("m")
    await paid(member, items=[Item((await new_product("P", 1_000, cost_price_fen=0)).id)])
    assert await Entry.all().count() == 1 and not await PoolEntry.exists()
    assert await check_conservation() == []


async def test_joining_is_told_with_the_number_and_quota(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode()
    a, b = await new_member("a"), await new_member("b")
    await paid(a, items=[Item((await new_product("A", 1_000, cost_price_fen=0)).id)])
    await paid(b, items=[Item((await new_product("B", 2_000, cost_price_fen=0)).id)])
    first, second = await told("pool_entry_joined")
    assert first.member_id == a.id
    assert (second.member_id, second.payload["quota_fen"]) == (b.id, 2_200)
    assert "position" not in second.payload  # a count over the whole queue: not while paying
    text = text_of(second)
    assert f"排队号{second.payload['entry_id']}" in text and "分红额度22.00元" in text
    assert "小程序「工会排队」查看" in text


async def test_a_refund_before_the_close_takes_the_whole_contribution_back(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000)
    a, c = await new_member("a"), await new_member("c")
    await paid(a, items=[Item((await new_product("A", 1_000, cost_price_fen=0)).id)])
    refunded = await paid(c, items=[Item((await new_product("C", 500, cost_price_fen=0)).id)])
    line = await OrderLine.get(order_id=refunded)
    assert await refund_line(line.id, now=T0) == "after_settlement_left_pool"
    (entry,) = await entries_of(refunded)
    assert entry.status == PoolEntryStatus.REFUNDED
    assert (entry.taken_back_fen, entry.refund_cost_fen) == (500, 0)
    assert await balance_of(accounts.UNION_POOL) == 1_000
    assert await balance_of(accounts.COST) == 0
    (event,) = await told("pool_entry_refunded")
    assert event.member_id == c.id and "已失效" in text_of(event)
    statement = await close_day(DAY, T0)
    assert (statement.taken_back_fen, statement.contributed) == (500, {"mall": 1_500})
    assert (statement.paid_fen, statement.closing_fen) == (0, 1_000)  # a's 1,100 does not fit
    assert await check_conservation() == []


async def test_a_refund_after_the_close_takes_back_what_is_left_and_the_rest_is_cost(
    db: str,
) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000)
    a, b = await new_member("a"), await new_member("b")
    first = await paid(a, items=[Item((await new_product("A", 1_000, cost_price_fen=0)).id)])
    late = await paid(b, items=[Item((await new_product("B", 2_000, cost_price_fen=0)).id)])
    one = await close_day(DAY, T0)  # 3,000: a's 1,100 paid, b's 2,200 does not fit
    assert (one.paid_fen, one.closing_fen) == (1_100, 1_900)
    (paid_event,) = await told("pool_paid")
    assert paid_event.member_id == a.id and "已分红11.00/11.00元" in text_of(paid_event)
    later = T0 + timedelta(days=1)
    assert await refund_line((await OrderLine.get(order_id=late)).id, now=later) == (
        "after_settlement_left_pool"
    )
    (entry,) = await entries_of(late)
    assert (entry.status, entry.taken_back_fen, entry.refund_cost_fen) == (
        PoolEntryStatus.REFUNDED, 1_900, 100,
    )  # fmt: skip
    assert await balance_of(accounts.UNION_POOL) == 0
    assert await balance_of(accounts.COST) == -100  # the platform's cost of the refund
    # a line paid in full and then refunded: its contribution is cost, its payout stays paid
    assert await refund_line((await OrderLine.get(order_id=first)).id, now=later) == (
        "after_settlement_pool_done"
    )
    (done,) = await entries_of(first)
    assert (done.status, done.taken_back_fen, done.refund_cost_fen) == (
        PoolEntryStatus.PAID, 0, 1_000,
    )  # fmt: skip
    assert (await balances_of(a.id)).cash_fen == 1_100
    two = await close_day(DAY + timedelta(days=1), later)
    assert (two.opening_fen, two.taken_back_fen, two.closing_fen) == (1_900, 1_900, 0)
    assert await check_conservation() == []


async def test_an_accelerated_share_stays_paid_and_is_cost_when_its_line_is_refunded(
    db: str,
) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000, accel_bp=5_000)
    referrer, friend = await new_member("r"), await new_member("f")
    await paid(referrer, items=[Item((await new_product("R", 1_000, cost_price_fen=1_000)).id)])
    await Member.filter(id=friend.id).update(referrer_id=referrer.id)
    order = await paid(friend, items=[Item((await new_product("F", 800, cost_price_fen=0)).id)])
    (entry,) = await entries_of(order)
    assert entry.accelerated_out_fen == 400
    (sped,) = await told("pool_accelerated")
    assert sped.member_id == referrer.id and "加速到账4.00元" in text_of(sped)
    await refund_line((await OrderLine.get(order_id=order)).id, now=T0)
    entry = await PoolEntry.get(id=entry.id)
    assert (entry.taken_back_fen, entry.refund_cost_fen) == (400, 400)
    assert (await balances_of(referrer.id)).cash_fen == 400  # stays paid
    assert await check_conservation() == []


async def test_the_ceiling_holds_new_lines_out_and_tells_the_buyer_why(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000, ceiling_days=5)
    a, b, c = await new_member("a"), await new_member("b"), await new_member("c")
    await paid(a, items=[Item((await new_product("A", 10_000, cost_price_fen=10_000)).id)])
    # a's 11,000 waits and nothing flows in: the wait has no end, so b's order does not queue
    # (a minute later: the ceiling reads the pool's state at most once a minute)
    later = T0 + STATE_TTL
    b_product = Item((await new_product("B", 20_000, cost_price_fen=0)).id)
    held = await paid(b, at=later, items=[b_product])
    (out,) = await entries_of(held)
    assert (out.status, out.quota_fen, out.contribution_fen) == (
        PoolEntryStatus.OVER_CEILING, 0, 20_000,
    )  # fmt: skip
    (event,) = await told("pool_not_queued")
    assert event.member_id == b.id and event.payload["ceiling_days"] == 5
    assert "工会排队预计等待超过5天" in text_of(event) and "不进入排队" in text_of(event)
    assert (await close_day(DAY, later)).paid_count == 1  # b's contribution pays a in full
    c_product = Item((await new_product("C", 100, cost_price_fen=0)).id)
    joined = await paid(c, at=later + STATE_TTL, items=[c_product])
    assert [e.status for e in await entries_of(joined)] == [PoolEntryStatus.WAITING]
    assert await check_conservation() == []


async def test_the_ceiling_reads_the_pools_state_at_most_once_a_minute(db: str) -> None:
    """The state scans every entry of the pool: within a minute a payment reuses it, so the
    line joins though the queue has grown past the ceiling since; a minute later it is held."""
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000, ceiling_days=5)
    a, b, c = await new_member("a"), await new_member("b"), await new_member("c")
    await paid(a, items=[Item((await new_product("A", 10_000, cost_price_fen=10_000)).id)])
    soon = await paid(b, at=T0 + STATE_TTL - timedelta(seconds=1), items=[
        Item((await new_product("B", 100, cost_price_fen=100)).id)
    ])  # fmt: skip
    assert [e.status for e in await entries_of(soon)] == [PoolEntryStatus.WAITING]
    later = await paid(c, at=T0 + STATE_TTL, items=[
        Item((await new_product("C", 100, cost_price_fen=100)).id)
    ])  # fmt: skip
    assert [e.status for e in await entries_of(later)] == [PoolEntryStatus.OVER_CEILING]
    assert await check_conservation() == []


async def test_check_catches_a_take_back_not_as_posted(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000)
    order = await paid(await new_member("x"), items=[Item((await new_product("X", 900)).id)])
    await refund_line((await OrderLine.get(order_id=order)).id, now=T0)
    await PoolEntry.filter(order_id=order).update(taken_back_fen=1)
    problems = await check_conservation()
    assert any("union pool refund" in p for p in problems), problems


async def test_the_order_detail_says_why_a_line_is_not_in_the_pool(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(ceiling_days=1)
    a, b = await new_member("a"), await new_member("b")
    await paid(a, items=[Item((await new_product("A", 1_000, cost_price_fen=1_000)).id)])
    b_product = Item((await new_product("B", 1_000, cost_price_fen=0)).id)
    held = await paid(b, at=T0 + STATE_TTL, items=[b_product])
    (shown,) = await order_pool_entries(b.id, held)
    assert (shown["status"], shown["quota_fen"], shown["ahead"]) == ("over_ceiling", 0, None)
    assert "未进入排队" in shown["status_text"]
    assert await order_pool_entries(a.id, held) == []  # only the member's own


async def _someone_waits_for_a_lock(conn: BaseDBAsyncClient) -> bool:
    rows = await fetch(conn, "SELECT COUNT(*) AS n FROM pg_locks WHERE NOT granted")
    return int(rows[0]["n"]) > 0


@pytest.mark.postgres
async def test_a_refund_waits_for_another_and_never_takes_the_same_balance_twice(pg: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000)
    a, b = await new_member("a"), await new_member("b")
    orders = [
        await paid(m, items=[Item((await new_product(f"P{m.id}", 1_000, cost_price_fen=0)).id)])
        for m in (a, b)
    ]
    assert (await close_day(DAY, T0)).closing_fen == 900  # a's 1,100 paid out of 2,000
    first, second = [await OrderLine.get(order_id=o) for o in orders]
    later = T0 + timedelta(hours=1)
    outside = contextvars.copy_context()  # a's refund: not in b's transaction
    async with in_transaction() as conn:  # b's refund takes the balance, not committed yet
        await take_back_line(conn, second.id, orders[1], later)
        other = asyncio.create_task(refund_line(first.id, now=later), context=outside)
        while not other.done() and not await _someone_waits_for_a_lock(conn):
            await asyncio.sleep(0)  # until a's refund waits for the pool (or ran through it)
    await other
    await refund_line(second.id, now=later)  # the rest of b's refund
    assert [e.taken_back_fen for e in await PoolEntry.all().order_by("id")] == [0, 900]
    assert await balance_of(accounts.UNION_POOL) == 0
    assert await check_conservation() == []


async def test_a_projected_wait_that_moves_by_notify_wait_days_is_told(db: str) -> None:
    await use_base(settle_on=SettleOn.PAID)
    await pool_mode(pool_bp=10_000, notify_wait_days=7)
    a, b, c = await new_member("a"), await new_member("b"), await new_member("c")
    first = await paid(a, items=[Item((await new_product("A", 10_000, cost_price_fen=10_000)).id)])
    await paid(b, items=[Item((await new_product("B", 1_000, cost_price_fen=0)).id)])
    # 1,000 in, carried (a's 11,000 does not fit); the members' estimate, 1,000 over 7 days =
    # 142 a day: a is 10,000 short, 1 + ⌈10,000 / 142⌉ = 72 closes; b 11,100 short, 80
    await close_day(DAY, T0)
    assert (await entries_of(first))[0].told_wait_days == 72
    assert await told("pool_wait_changed") == []  # remembered, not told
    await paid(c, items=[Item((await new_product("C", 9_000, cost_price_fen=0)).id)])
    # 10,000 carried, 10,000 over 7 days = 1,428 a day: a 1,000 short → 2 closes, b 2,100 → 3
    await close_day(DAY + timedelta(days=1), T0 + timedelta(days=1))
    moved = await told("pool_wait_changed")
    assert [(e.member_id, e.payload["wait_days"], e.payload["was_days"]) for e in moved] == [
        (a.id, 2, 72), (b.id, 3, 80),
    ]  # fmt: skip
    assert "提前" in text_of(moved[0]) and "还需约2天" in text_of(moved[0])
    assert "按近7天返利池收入估算" in text_of(moved[0])  # the estimate the member's page shows
    _, page = await my_pool_entries(a.id, status=None, now=T0 + timedelta(days=1))
    assert [e["projected_wait_days"] for e in page.items] == [2]
    assert await check_conservation() == []
