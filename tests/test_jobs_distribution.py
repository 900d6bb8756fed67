"""The distribution jobs (SPEC §8) as ``run_job`` runs them: each one's effect, its cadence in
Beijing time, and a payout job that refuses to run without a 商家转账 client. Exactly once
per slot is ``tests/member/test_member_jobs.py``'s; paying through the fake WeChat, from every
edge, is ``tests/api/test_api_jobs_edges.py``'s."""

from datetime import UTC, datetime

import pytest

from models import (
    Commission,
    DividendRun,
    JobRun,
    Member,
    Statement,
    TeamLevelChange,
    Wallet,
)
from rebate.distribution_settings import DividendPeriod
from services.distribution.referral import bind_referrer
from services.jobs import JOBS, run_job, slot_key
from services.members.accounts import new_member
from tests.distribution.support import (
    LEVELS,
    approved_store,
    base_rules,
    buy,
    chain,
    configure,
    days,
    pay_cashier,
    with_level,
)
from tests.services.helpers import T0, Clock

pytestmark = pytest.mark.parametrize("db", ["postgres"], indirect=True)


async def slot_of(name: str, now: datetime) -> str:
    slot = await JOBS[name].slot_for(now)
    assert slot is not None
    return slot_key(slot)


async def test_each_job_has_its_cadence_in_beijing_time(db):
    now = datetime(2026, 12, 1, 16, 37, tzinfo=UTC)  # Wednesday 2 December, 00:37 Beijing
    assert await slot_of("commission-release", now) == "2026-12-01T16:00Z"  # 00:00 Beijing
    assert await slot_of("merchant-payouts", now) == "2026-12-01T16:30Z"
    assert await slot_of("merchant-statements", now) == "2026-11-30T18:00Z"  # 1 Dec, 02:00
    assert await slot_of("team-levels", now) == "2026-11-30T19:00Z"  # 1 Dec, 03:00
    assert await slot_of("dividends", now) == "2026-11-30T17:00Z"  # 1 Dec, 01:00
    await configure(dividend_period=DividendPeriod.WEEK)
    assert await slot_of("dividends", now) == "2026-11-29T17:00Z"  # Monday 30 Nov, 01:00


async def test_commission_release_pays_what_has_matured(db):
    await base_rules()
    await configure(direct_bp=1000, freeze_days=7)
    promoter, buyer = await chain(2)
    order = await buy(buyer, 10_000, Clock())
    outcome = await run_job("commission-release", now=order.completed_at + days(7))
    assert outcome.status == "succeeded" and outcome.changes["released"] == 1
    assert (await Commission.get(order_id=order.id)).status == "released"
    assert (await Wallet.get(member_id=promoter)).cash_fen == 1000


async def test_statement_closing_writes_a_statement_of_the_due_credits(db):
    await base_rules()
    await configure(statement_days=1)
    store_id = await approved_store((await new_member("owner")).id, commission_bp=3000)
    await pay_cashier((await new_member("buyer")).id, store_id, 10_000, Clock())
    outcome = await run_job("merchant-statements", now=T0 + days(1))
    assert outcome.changes == {
        "period": "2026-11-26",
        "statements": 1,
        "total_fen": 7000,
        "carried_stores": 0,
    }
    statement = await Statement.get(store_id=store_id)
    assert (statement.total_fen, statement.status) == (7000, "unpaid")


async def test_payouts_without_a_transfer_client_fail_recorded_and_pay_nothing(db):
    await base_rules()
    await configure(statement_days=0)
    store_id = await approved_store((await new_member("owner")).id)
    await pay_cashier((await new_member("buyer")).id, store_id, 10_000, Clock())
    await run_job("merchant-statements", now=T0 + days(0.5))
    outcome = await run_job("merchant-payouts", now=T0 + days(0.6))
    assert outcome.status == "failed" and "商家转账未配置" in outcome.error
    assert (await JobRun.get(id=outcome.run_id)).status == "failed"
    assert (await Statement.get(store_id=store_id)).status == "unpaid"


async def test_dividends_pay_last_month_to_the_shareholders(db):
    await base_rules()
    await configure(levels=LEVELS, shareholder_level=3, dividend_pool_bp=100)
    holder = await new_member("holder")
    await with_level(holder.id, 3)
    await buy((await new_member("buyer")).id, 50_000, Clock())  # completed in November
    outcome = await run_job("dividends", now=datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert outcome.changes["period"] == "2026-11" and outcome.changes["distributed_fen"] == 500
    assert (await DividendRun.get(period="2026-11")).shareholders == 1
    assert (await Wallet.get(member_id=holder.id)).cash_fen == 500


async def test_team_levels_rise_for_new_direct_referrals_without_any_order(db):
    await configure(levels=LEVELS)  # 经理: two direct referrals
    leader = await new_member("leader")
    code = (await Member.get(id=leader.id)).referral_code
    for name in ("a", "b"):
        await bind_referrer((await new_member(name)).id, code)
    outcome = await run_job("team-levels", now=T0)
    assert outcome.changes == {"evaluated": 1, "risen": 1}
    (change,) = await TeamLevelChange.filter(member_id=leader.id)
    assert (change.from_level, change.to_level, change.reason) == (0, 1, "auto")
