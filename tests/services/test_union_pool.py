"""工会排队 on SQLite and PostgreSQL (issue 22, the pool's storage half): contributions and
quotas written with their postings, acceleration from a direct referral's order within its caps,
the daily close paying in order and in full with its statement and postings, closed once per day,
read in chunks, and conservation proved (and a tampered row caught) by ``queue-rebate check``."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from ledger.accounts import UNION_POOL
from ledger.balances import balance_of, balances_of
from models import (
    Member,
    OrderLine,
    PoolAcceleration,
    PoolDay,
    PoolEntry,
    PoolEntryStatus,
    Posting,
)
from rebate.errors import NotAllowed
from rebate.settings import OrderSource
from rebate.union_pool_settings import PoolSettings
from services.catalog.products import new_product
from services.checks import check_conservation
from services.jobs import run_once
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order
from services.pool import close as pool_close
from services.pool.balance import pool_balance
from services.pool.close import close_day, day_of
from services.pool.contributions import PoolLine, contribute
from services.pool.settings import store_pool
from services.settings.cache import POOL, changing
from tests.services.helpers import T0

YUAN = 100
ALL_PROFIT = PoolSettings(sources=(OrderSource.MALL,), pool_bp=10_000)  # the whole profit pooled
DAY = date(2026, 12, 6)


async def bought(member: Member, price: int, *, cost: int = 0, settings=ALL_PROFIT, now=T0):
    """An order of one line of ``price`` whose contribution is ``price − cost`` (× pool_bp)."""
    product = await new_product(f"P{price}-{member.id}", price)
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id, 1)])
    line = await OrderLine.get(order_id=order.id)
    async with in_transaction() as conn:
        pooled = PoolLine(line.id, order.id, member.id, OrderSource.MALL, price, cost)
        return await contribute(conn, pooled, settings, now)


async def test_the_seed_day_pays_quotas_in_order_in_full_and_carries_the_rest(db: str) -> None:
    members = [await new_member(f"m{i}") for i in range(5)]
    entries = [await bought(m, 1_000 * YUAN, cost=1_000 * YUAN) for m in members]  # no profit
    assert [e.quota_fen for e in entries] == [1_100 * YUAN] * 5  # 1,000 → 1,100
    funder = await new_member("funder")
    await bought(funder, 4_000 * YUAN, cost=600 * YUAN)  # 3,400 into the pool
    statement = await close_day(DAY, T0)
    # 3,400 pays three quotas of 1,100 (3,300): 100 carried; the funder's own 4,400 waits
    assert (statement.paid_count, statement.paid_fen) == (3, 3_300 * YUAN)
    assert (statement.opening_fen, statement.closing_fen) == (0, 100 * YUAN)
    assert statement.contributed == {"mall": 3_400 * YUAN}
    assert (statement.waiting_count, statement.waiting_owed_fen) == (3, (2_200 + 4_400) * YUAN)
    paid = [await PoolEntry.get(id=e.id) for e in entries]
    assert [e.status for e in paid] == [PoolEntryStatus.PAID] * 3 + [PoolEntryStatus.WAITING] * 2
    assert (await balances_of(members[0].id)).cash_fen == 1_100 * YUAN
    assert (await balances_of(members[3].id)).cash_fen == 0
    assert await check_conservation() == []


async def test_days_chain_a_head_in_part_keeps_its_place_and_a_cap_carries_over(db: str) -> None:
    a, b = await new_member("a"), await new_member("b")
    first = await bought(a, 1_000, cost=1_000)  # quota 1,100, contributes nothing
    await bought(b, 1_000, cost=300)  # contributes 700; quota 1,100
    head = PoolSettings(sources=(OrderSource.MALL,), head_in_part=True, daily_cap_fen=500)
    one = await close_day(DAY, T0, head)
    assert (one.paid_fen, one.closing_fen, one.paid_count) == (500, 200, 0)  # capped at 500
    assert (await PoolEntry.get(id=first.id)).paid_fen == 500
    two = await close_day(DAY + timedelta(days=1), T0 + timedelta(days=1), head)
    assert two.opening_fen == 200 and two.contributed == {}
    assert (two.paid_fen, two.closing_fen) == (200, 0)
    assert (await PoolEntry.get(id=first.id)).paid_fen == 700  # still first in the queue
    assert await check_conservation() == []


async def test_a_day_closes_once_and_never_before_a_closed_one(db: str) -> None:
    await close_day(DAY, T0)
    for day in (DAY, DAY - timedelta(days=1)):
        with pytest.raises(NotAllowed):
            await close_day(day, T0)
    assert await PoolDay.all().count() == 1


async def test_the_close_reads_waiting_entries_in_chunks(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_close, "CHUNK", 2)
    members = [await new_member(f"c{i}") for i in range(5)]
    for m in members:
        await bought(m, 100, cost=100)  # quotas of 110, no contribution
    await bought(await new_member("rich"), 1_000, cost=550)  # 450: four quotas, 10 left
    statement = await close_day(DAY, T0)
    assert (statement.paid_count, statement.closing_fen) == (4, 10)
    waiting = await PoolEntry.filter(status=PoolEntryStatus.WAITING).order_by("id")
    assert [e.member_id for e in waiting] == [members[4].id, waiting[-1].member_id]
    assert await check_conservation() == []


async def test_a_direct_referrals_order_pays_down_the_referrers_oldest_entry_within_caps(
    db: str,
) -> None:
    speed = PoolSettings(
        sources=(OrderSource.MALL,), pool_bp=10_000, accel_bp=5_000, accel_per_day_fen=300,
        accel_total_fen=500,
    )  # fmt: skip
    referrer, other = await new_member("ref"), await new_member("other")
    oldest = await bought(referrer, 1_000, cost=1_000, settings=speed)  # quota 1,100
    newer = await bought(referrer, 1_000, cost=1_000, settings=speed)
    ahead = await bought(other, 1_000, cost=1_000, settings=speed)
    friend = await new_member("friend")
    await Member.filter(id=friend.id).update(referrer_id=referrer.id)
    first = await bought(friend, 1_000, cost=0, settings=speed)  # contributes 1,000
    assert first.accelerated_out_fen == 300  # 50% = 500, the day cap is 300
    assert (await PoolEntry.get(id=oldest.id)).paid_fen == 300
    later = T0 + timedelta(days=1)
    second = await bought(friend, 1_000, cost=0, settings=speed, now=later)
    assert second.accelerated_out_fen == 200  # the total cap leaves 200
    third = await bought(friend, 1_000, cost=0, settings=speed, now=later + timedelta(days=1))
    assert third.accelerated_out_fen == 0
    assert (await PoolEntry.get(id=oldest.id)).paid_fen == 500
    assert (await PoolEntry.get(id=newer.id)).paid_fen == 0  # only the oldest, nobody moved
    assert (await PoolEntry.get(id=ahead.id)).paid_fen == 0
    assert await PoolAcceleration.all().count() == 2
    assert (await balances_of(referrer.id)).cash_fen == 500
    statement = await close_day(DAY + timedelta(days=3), later + timedelta(days=2))
    assert statement.accelerated_fen == 500 and statement.contributed == {"mall": 3_000}
    # 2,500 in the balance: the oldest's 600 left, then the newer 1,100; the other's 1,100 waits
    assert statement.paid_fen == 600 + 1_100 and statement.closing_fen == 800
    assert await check_conservation() == []


async def test_acceleration_is_off_by_default_and_never_from_the_buyers_own_order(db: str) -> None:
    referrer = await new_member("r")
    entry = await bought(referrer, 1_000, cost=1_000)
    friend = await new_member("f")
    await Member.filter(id=friend.id).update(referrer_id=referrer.id)
    assert (await bought(friend, 1_000)).accelerated_out_fen == 0  # accel_bp 0: off
    assert (await PoolEntry.get(id=entry.id)).paid_fen == 0


async def test_check_catches_an_entry_paid_more_than_posted(db: str) -> None:
    entry = await bought(await new_member("x"), 1_000, cost=100)
    await close_day(DAY, T0)
    await PoolEntry.filter(id=entry.id).update(paid_fen=5)
    problems = await check_conservation()
    assert any("union pool entry" in p for p in problems), problems


async def test_the_balance_is_the_last_close_plus_the_postings_after_it(db: str) -> None:
    await bought(await new_member("a"), 1_000, cost=1_000)  # quota 1,100, contributes nothing
    await bought(await new_member("b"), 1_000, cost=300)  # 700 in: short of the head's 1,100
    statement = await close_day(DAY, T0)
    last = await Posting.all().order_by("-id").first()
    assert last is not None and statement.postings_through == last.id
    assert statement.closing_fen == 700
    await bought(await new_member("c"), 1_000, cost=600)  # 400 in after the close
    assert await pool_balance() == await balance_of(UNION_POOL) == 1_100
    assert await check_conservation() == []
    # the postings up to the close are not read again: remove one and only the full sum moves
    before = await Posting.filter(credit=UNION_POOL, id__lte=statement.postings_through).first()
    assert before is not None
    await before.delete()
    assert await balance_of(UNION_POOL) == 400 and await pool_balance() == 1_100
    problems = await check_conservation()
    assert any("closing balance not the pool's postings through it" in p for p in problems)


async def test_a_statement_from_before_the_watermark_is_summed_from_the_first_posting(
    db: str,
) -> None:
    await bought(await new_member("b"), 1_000, cost=300)
    statement = await close_day(DAY, T0)
    await PoolDay.filter(id=statement.id).update(postings_through=0)  # as migrated statements
    await bought(await new_member("c"), 1_000, cost=600)
    assert await pool_balance() == await balance_of(UNION_POOL) == 1_100
    assert await check_conservation() == []


def test_a_close_before_noon_closes_the_day_that_ended() -> None:
    midnight = datetime(2026, 12, 7, 0, 0, tzinfo=pool_close.LOCAL_TZ)
    assert day_of(midnight) == date(2026, 12, 6)
    assert day_of(midnight.replace(hour=23, minute=30)) == date(2026, 12, 7)


@pytest.mark.postgres
async def test_two_schedulers_close_the_day_once(pg: str) -> None:
    await bought(await new_member("p"), 1_000, cost=100)
    async with changing(POOL) as conn:
        await store_pool(conn, ALL_PROFIT)
    slot = datetime(2026, 12, 7, 0, 0, tzinfo=pool_close.LOCAL_TZ)
    outcomes = await asyncio.gather(
        *(run_once(pool_close.JOB_NAME, slot, now=slot + timedelta(seconds=5)) for _ in range(2))
    )
    assert sorted(o.ran for o in outcomes) == [False, True]
    assert await PoolDay.all().count() == 1
    assert await check_conservation() == []


async def test_a_line_paid_nothing_is_owed_nothing_and_never_waits(db: str) -> None:
    member = await new_member("zero")
    product = await new_product("P0", 100)
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id, 1)])
    line = await OrderLine.get(order_id=order.id)
    async with in_transaction() as conn:
        pooled = PoolLine(line.id, order.id, member.id, OrderSource.MALL, 0, 0)
        entry = await contribute(conn, pooled, ALL_PROFIT, T0)
    assert (entry.quota_fen, entry.status) == (0, PoolEntryStatus.PAID)
    await bought(await new_member("funds"), 1_000, cost=0)
    assert (await close_day(DAY, T0)).paid_count == 0  # the funder's own 1,100 does not fit
    assert await check_conservation() == []


async def test_a_scheduled_close_of_a_day_already_closed_says_so_and_pays_nothing(db: str) -> None:
    await bought(await new_member("early"), 1_000, cost=0)
    slot = datetime(2026, 12, 7, 0, 0, tzinfo=pool_close.LOCAL_TZ)
    first = await pool_close.run_close(slot, slot)
    assert first["closed"] is True and first["day"] == "2026-12-06"
    again = await pool_close.run_close(slot + timedelta(minutes=1), slot)
    assert again["closed"] is False and "已结算" in again["reason"]
    assert await PoolDay.all().count() == 1
