"""积分转让 in the services, on SQLite and PostgreSQL: the limits per transfer, per Beijing day
and the points to keep; the fee floored and paid on top; a replay answers the first transfer;
``queue-rebate check`` catches a transfer that disagrees with its postings. On PostgreSQL, two
transfers racing for the same points: exactly one wins; two members sending to each other at
once: both go through (the wallet locks are taken in one order)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise import connections

from ledger.balances import balances_of
from models import Member, PointsTransfer
from rebate.errors import NotAllowed
from runtime.sql import execute
from services.checks import check_conservation
from services.members.accounts import new_member
from services.settings.changes import change_settings
from services.wallets.adjustments import adjust_balance
from services.wallets.transfers import fee_of, transfer_points
from tests.member.support import orm_on
from tests.services.helpers import T0


async def configure(**doc: object) -> None:
    settings = {"enabled": True, "min_points": 1, "max_points": 1_000, "daily_points": 1_500}
    await change_settings({"points_transfer": {**settings, **doc}}, operator="ops", now=T0)


async def member_with(openid: str, points: int) -> Member:
    m = await new_member(openid)
    if points:
        await adjust_balance(
            m.id, balance="points", amount=points, reason="发放", request_id=f"seed-{openid}-0",
            operator="ops", now=T0,
        )  # fmt: skip
    return m


def test_the_fee_is_floored_to_whole_points() -> None:
    assert [fee_of(p, 150) for p in (1, 66, 67, 333, 1000)] == [0, 0, 1, 4, 15]


async def test_the_daily_limit_is_per_beijing_day(db: str) -> None:
    await configure()
    a, b = await member_with("a", 5_000), await member_with("b", 0)
    late = T0.replace(hour=15, minute=30)  # 23:30 Beijing
    await transfer_points(a.id, to_code=b.referral_code, points=1_000, request_id="day-one-1",
                          now=late)  # fmt: skip
    with pytest.raises(NotAllowed) as refused:
        await transfer_points(a.id, to_code=b.referral_code, points=501, request_id="day-one-2",
                              now=late + timedelta(minutes=20))  # fmt: skip
    assert refused.value.field == "points"
    next_day = late + timedelta(minutes=31)  # 00:01 Beijing, the next day
    await transfer_points(a.id, to_code=b.referral_code, points=1_000, request_id="day-two-1",
                          now=next_day)  # fmt: skip
    assert (await balances_of(a.id)).points == 3_000
    assert (await balances_of(b.id)).points == 2_000
    assert await check_conservation() == []


async def test_the_points_to_keep_count_the_fee_too(db: str) -> None:
    await configure(keep_points=100, fee_bp=1_000)  # 10%
    a, b = await member_with("a", 1_000), await member_with("b", 0)
    with pytest.raises(NotAllowed):  # 820 + 82 = 902 would leave 98
        await transfer_points(a.id, to_code=b.referral_code, points=820, request_id="keep-0001",
                              now=T0)  # fmt: skip
    done = await transfer_points(a.id, to_code=b.referral_code, points=818,
                                 request_id="keep-0002", now=T0)  # fmt: skip
    assert (done.transfer.points, done.transfer.fee) == (818, 81)
    assert (await balances_of(a.id)).points == 101
    assert await check_conservation() == []


async def test_a_replay_answers_the_first_transfer_even_after_the_settings_changed(db: str) -> None:
    await configure()
    a, b = await member_with("a", 1_000), await member_with("b", 0)
    first = await transfer_points(a.id, to_code=b.referral_code, points=300,
                                  request_id="replay-01", now=T0)  # fmt: skip
    await configure(enabled=False)
    again = await transfer_points(a.id, to_code=b.referral_code, points=300,
                                  request_id="replay-01", now=T0 + timedelta(hours=1))  # fmt: skip
    assert again.replayed and again.transfer.id == first.transfer.id
    assert await PointsTransfer.all().count() == 1
    assert (await balances_of(a.id)).points == 700


async def test_check_catches_a_transfer_that_disagrees_with_its_postings(db: str) -> None:
    await configure(fee_bp=500)
    a, b = await member_with("a", 1_000), await member_with("b", 0)
    await transfer_points(a.id, to_code=b.referral_code, points=200, request_id="check-001",
                          now=T0)  # fmt: skip
    assert await check_conservation() == []
    conn = connections.get("default")
    await execute(conn, "UPDATE points_transfer SET fee = 11, points = 201", [])
    problems = await check_conservation()
    assert any("points_transfer posting wrong" in p for p in problems), problems
    assert any("points_transfer_fee posting wrong" in p for p in problems), problems


async def test_two_transfers_racing_for_the_same_points_exactly_one_wins(pg_url: str) -> None:
    async with orm_on(pg_url, maxsize=8):
        await configure(daily_points=100_000)
        a, b, c = (
            await member_with("a", 1_000),
            await member_with("b", 0),
            await member_with("c", 0),
        )
        for round_ in range(5):
            results = await asyncio.gather(
                transfer_points(a.id, to_code=b.referral_code, points=600,
                                request_id=f"race-b-{round_:02d}", now=T0),
                transfer_points(a.id, to_code=c.referral_code, points=600,
                                request_id=f"race-c-{round_:02d}", now=T0),
                return_exceptions=True,
            )  # fmt: skip
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, BaseException)]
            assert len(won) == 1 and len(lost) == 1, results
            assert isinstance(lost[0], NotAllowed) and "积分不足" in lost[0].message
            await adjust_balance(
                a.id, balance="points", amount=600, reason="补回", operator="ops",
                request_id=f"refill-{round_:02d}", now=T0,
            )  # fmt: skip
        assert (await balances_of(a.id)).points == 1_000
        received = (await balances_of(b.id)).points + (await balances_of(c.id)).points
        assert received == 5 * 600
        assert await check_conservation() == []


async def test_two_members_sending_to_each_other_at_once_both_go_through(pg_url: str) -> None:
    async with orm_on(pg_url, maxsize=8):
        await configure(daily_points=100_000)
        a, b = await member_with("a", 1_000), await member_with("b", 1_000)
        moves = []
        for i in range(10):
            moves.append(transfer_points(a.id, to_code=b.referral_code, points=10 + i,
                                         request_id=f"ab-{i:06d}", now=T0))  # fmt: skip
            moves.append(transfer_points(b.id, to_code=a.referral_code, points=20 + i,
                                         request_id=f"ba-{i:06d}", now=T0))  # fmt: skip
        await asyncio.gather(*moves)
        assert (await balances_of(a.id)).points == 1_000 + 100
        assert (await balances_of(b.id)).points == 1_000 - 100
        assert await check_conservation() == []


async def test_the_same_request_sent_twice_at_once_transfers_once(pg_url: str) -> None:
    async with orm_on(pg_url, maxsize=8):
        await configure()
        a, b = await member_with("a", 1_000), await member_with("b", 0)
        results = await asyncio.gather(
            *(transfer_points(a.id, to_code=b.referral_code, points=100,
                              request_id="double-click", now=T0) for _ in range(4))
        )  # fmt: skip
        assert sorted(r.replayed for r in results) == [False, True, True, True]
        assert len({r.transfer.id for r in results}) == 1
        assert (await balances_of(a.id)).points == 900
        assert await check_conservation() == []
