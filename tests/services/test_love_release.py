"""爱心值释放, on SQLite and PostgreSQL: love value credited frozen (an exchange under
爱心值奖励冻结, or an operator's adjustment) becomes available ``release_days`` after it was
credited, by the ``love-release`` job — one posting per member and run, the member told;
nothing is released twice (the same slot again, a later slot); what an operator took back is
counted against the oldest credits; switched off, nothing moves."""

from __future__ import annotations

from datetime import timedelta

from tortoise.transactions import in_transaction

from ledger.balances import balances_of
from ledger.postings import Posting as Move
from ledger.postings import post
from models import JobRun, OutboxEvent, Posting
from services.checks import check_conservation
from services.jobs import JOBS, run_job, slot_key
from services.members.accounts import new_member
from services.queues.exchange import exchange_entry
from services.settings.changes import change_settings
from services.wallets.adjustments import adjust_balance
from services.wallets.love_release import JOB_NAME, release_frozen_love, release_key
from tests.member.support import setup, waiting_entry
from tests.services.helpers import T0, Clock

DAY = timedelta(days=1)


async def frozen(member_id: int, amount: int, when, tag: str) -> None:
    await adjust_balance(
        member_id, balance="love_frozen", amount=amount, reason="测试", operator="ops",
        request_id=f"love-{member_id}-{tag}", now=when,
    )  # fmt: skip


async def love(member_id: int) -> tuple[int, int]:
    b = await balances_of(member_id)
    return b.love_frozen, b.love_available


async def test_exchanged_frozen_love_value_is_released_after_the_set_days(db: str) -> None:
    await setup(exchange_love_bp=5_000, love_frozen=True)
    await change_settings({"love": {"release_days": 7}}, operator="ops", now=T0)
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    credited = clock.tick()
    await exchange_entry(member.id, entry.id, "love", now=credited)
    assert await love(member.id) == (5_000, 0)

    early = await release_frozen_love(credited + 7 * DAY, credited + 7 * DAY - timedelta(minutes=1))
    assert early == {"released": 0, "amount": 0} and await love(member.id) == (5_000, 0)
    slot = credited + 7 * DAY
    assert await release_frozen_love(slot, slot) == {"released": 1, "amount": 5_000}
    assert await love(member.id) == (0, 5_000)
    (posting,) = await Posting.filter(kind="love_release")
    assert (posting.key, posting.debit, posting.credit) == (
        release_key(member.id, slot),
        f"member:{member.id}:love_frozen",
        f"member:{member.id}:love_available",
    )
    event = await OutboxEvent.get(kind="love_released")
    assert event.member_id == member.id  # type: ignore[attr-defined]
    assert event.payload == {"amount": 5_000, "love_available": 5_000}
    assert await release_frozen_love(slot, slot) == {"released": 0, "amount": 0}
    assert await release_frozen_love(slot + DAY, slot + DAY) == {"released": 0, "amount": 0}
    assert await check_conservation() == []


async def test_each_credit_matures_on_its_own_and_deductions_take_the_oldest(db: str) -> None:
    m = await new_member("m")
    await frozen(m.id, 100, T0, "a")
    await frozen(m.id, 50, T0 + 3 * DAY, "b")
    await frozen(m.id, -30, T0 + 4 * DAY, "c")  # an operator takes 30 back: from the first 100
    await release_frozen_love(T0 + 7 * DAY, T0 + 7 * DAY)
    assert await love(m.id) == (50, 70)
    await release_frozen_love(T0 + 9 * DAY, T0 + 9 * DAY)
    assert await love(m.id) == (50, 70)
    await release_frozen_love(T0 + 10 * DAY, T0 + 10 * DAY)
    assert await love(m.id) == (0, 120)
    assert await Posting.filter(kind="love_release").count() == 2
    assert await check_conservation() == []


async def test_switched_off_nothing_is_released(db: str) -> None:
    await change_settings({"love": {"release_enabled": False}}, operator="ops", now=T0)
    m = await new_member("m")
    await frozen(m.id, 100, T0, "a")
    outcome = await release_frozen_love(T0 + 30 * DAY, T0 + 30 * DAY)
    assert outcome["released"] == 0 and await love(m.id) == (100, 0)


async def test_the_job_runs_hourly_and_once_per_slot(db: str) -> None:
    m = await new_member("m")
    await frozen(m.id, 100, T0, "a")
    now = T0 + 7 * DAY + timedelta(minutes=5)
    slot = await JOBS[JOB_NAME].slot_for(now)
    assert slot is not None and slot_key(slot) == slot_key(T0 + 7 * DAY)
    outcome = await run_job(JOB_NAME, now=now, slot=slot)
    assert outcome.ran and outcome.changes == {"released": 1, "amount": 100}
    again = await run_job(JOB_NAME, now=now, slot=slot)
    assert not again.ran and await JobRun.filter(name=JOB_NAME).count() == 1
    assert await love(m.id) == (0, 100)


async def test_check_catches_a_release_into_another_members_love_value(db: str) -> None:
    a, b = await new_member("a"), await new_member("b")
    await frozen(a.id, 100, T0, "a")
    async with in_transaction() as conn:
        wrong = Move(release_key(a.id, T0), "love_release", f"member:{a.id}:love_frozen",
                     f"member:{b.id}:love_available", "love", 40)  # fmt: skip
        await post(conn, [wrong], T0)
    problems = await check_conservation()
    assert any("love_release posting not from" in p for p in problems), problems
