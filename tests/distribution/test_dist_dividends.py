"""股东分红: the split adds up to exactly the pool, and each period runs exactly once."""

import asyncio
from datetime import UTC, datetime

import pytest

from models import DividendRun, DividendShare, OrderLine, Posting, Wallet
from rebate.distribution_settings import DividendPeriod
from services.checks import check_conservation
from services.distribution.dividends import previous_period, run_dividend
from services.members.accounts import new_member
from tests.distribution.support import LEVELS, base_rules, buy, configure, refund, with_level
from tests.services.helpers import T0, Clock

NEXT_MONTH = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 Beijing, 1 December


def test_periods_are_beijing_calendar_months_and_iso_weeks():
    # 2026-12-01 07:30 Beijing is still 2026-11-30 in UTC
    month = previous_period(DividendPeriod.MONTH, datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert month.key == "2026-11"
    assert month.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert month.end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    week = previous_period(DividendPeriod.WEEK, T0)  # Wednesday 25 November 2026
    assert week.key == "2026-W47"
    assert week.start == datetime(2026, 11, 15, 16, 0, tzinfo=UTC)


async def shareholders(count: int) -> list[int]:
    ids = [(await new_member(f"s{i}")).id for i in range(count)]
    for member_id in ids:
        await with_level(member_id, 3)
    return ids


async def test_dividend_pays_the_pool_of_completed_turnover_once(db):
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=100)
    holders = await shareholders(3)
    under = await new_member("manager")
    await with_level(under.id, 2)
    buyer = await new_member("buyer")
    clock = Clock()
    order = await buy(buyer.id, 33_350, clock, lines=2)  # 66700 completed in November
    await refund((await OrderLine.filter(order_id=order.id).first()).id, clock.tick())
    outcome = await run_dividend(NEXT_MONTH)
    run = outcome.run
    assert outcome.ran and (run.period, run.turnover_fen, run.pool_fen) == ("2026-11", 33_350, 333)
    shares = {s.member_id: s.amount_fen for s in await DividendShare.filter(run_id=run.id)}
    assert shares == {holders[0]: 111, holders[1]: 111, holders[2]: 111}
    assert sum(shares.values()) == run.pool_fen == run.distributed_fen
    assert (await Wallet.get(member_id=holders[0])).cash_fen == 111
    line = await Posting.get(key=f"dividend:2026-11:{holders[0]}")
    assert (line.kind, line.amount, line.debit, line.credit) == (
        "dividend", 111, "platform:sales", f"member:{holders[0]}:cash",
    )  # fmt: skip
    again = await run_dividend(NEXT_MONTH)
    assert not again.ran and again.run.id == run.id
    assert await Posting.filter(kind="dividend").count() == 3
    assert await check_conservation() == []


async def test_without_shareholders_the_run_is_recorded_and_nothing_is_paid(db):
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=100)
    await buy((await new_member("buyer")).id, 10_000, Clock())
    run = (await run_dividend(NEXT_MONTH)).run
    assert (run.pool_fen, run.shareholders, run.distributed_fen) == (100, 0, 0)
    assert not await Posting.filter(kind="dividend").exists()


async def test_a_period_without_turnover_is_recorded_with_nothing_paid_to_its_shareholders(db):
    """A pool of 0 fen (nothing completed in the period) split among shareholders pays nobody
    and the run is still recorded, once."""
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=100)
    holder = (await new_member("holder")).id
    await with_level(holder, 3)
    outcome = await run_dividend(NEXT_MONTH)
    run = outcome.run
    assert outcome.ran and (run.pool_fen, run.shareholders, run.distributed_fen) == (0, 1, 0)
    assert not await DividendShare.filter(run_id=run.id).exists()
    assert not await Posting.filter(kind="dividend").exists()
    assert not (await run_dividend(NEXT_MONTH)).ran
    assert await check_conservation() == []


@pytest.mark.postgres
async def test_concurrent_runs_of_a_period_pay_once(pg):
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=1000)
    holders = await shareholders(7)
    await buy((await new_member("buyer")).id, 100_003, Clock())
    outcomes = await asyncio.gather(*(run_dividend(NEXT_MONTH) for _ in range(4)))
    assert sum(o.ran for o in outcomes) == 1
    assert await DividendRun.all().count() == 1
    paid = [(await Wallet.get(member_id=m)).cash_fen for m in holders]
    assert sum(paid) == 10_000 and paid == [1429, 1429, 1429, 1429, 1428, 1428, 1428]
    assert await check_conservation() == []
