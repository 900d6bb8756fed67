"""Queue economics: outstanding entitlement, inflow over 1/7/30 days, and the estimated time to
be paid — an estimate at the 7-day inflow rate, said to be one."""

from datetime import timedelta

import pytest

from services.catalog.products import new_product
from services.errors import NotFound
from services.members.accounts import new_member
from services.queues.economics import (
    ESTIMATE_NOTE,
    NO_INFLOW_NOTE,
    entry_estimate,
    eta_at_rate,
    member_entry_estimates,
    queue_economics,
)
from services.queues.exchange import exchange_entry
from tests.member.support import buy, setup
from tests.services.helpers import Clock

DAY = 86_400


def test_eta_is_owed_over_the_daily_rate_rounded_up_to_the_second():
    assert eta_at_rate(7_000, 7_000) == timedelta(days=7)
    assert eta_at_rate(1, 7 * DAY * 2) == timedelta(seconds=1)  # half a second → one
    assert eta_at_rate(5_000, 0) is None


async def test_queue_figures_over_the_last_1_7_and_30_days(db):
    await setup()
    clock = Clock()
    a, b = await new_member("a"), await new_member("b")
    p = await new_product("P", 10_000)  # every order extracts 1000 and is owed 10000
    await buy(a, p, clock)  # 20 days before the view
    clock.tick(14 * DAY)
    mine = await buy(b, p, clock)  # 6 days before
    clock.tick(5 * DAY)
    await buy(a, p, clock)  # 1 day before (just under)
    now = clock.tick(DAY - 120)
    await buy(b, p, clock)  # now
    exchanged = await buy(a, p, clock)
    await exchange_entry(a.id, exchanged.id, "points", now=clock.now)

    (q,) = (await queue_economics(now=clock.now)).items
    assert (q.key, q.waiting_entries) == ("mall", 4)
    assert q.outstanding_fen == 4 * 10_000 - 4_000  # the head has received 4 of 5 extractions
    assert q.inflow_fen == {1: 3_000, 7: 4_000, 30: 5_000}
    assert q.until_newest_full == timedelta(days=36 * 7 / 4)  # 36000 at 4000 per week

    estimate = await entry_estimate(b.id, mine.id, now=now)
    assert (estimate.ahead_fen, estimate.remaining_fen) == (10_000 - 4_000, 10_000)
    assert estimate.daily_inflow_fen == 4_000 // 7
    assert estimate.eta == timedelta(days=16 * 7 / 4)
    assert estimate.estimated_full_at == now + estimate.eta
    assert (
        "估计" in estimate.note and "不是承诺" in estimate.note and estimate.note == ESTIMATE_NOTE
    )
    assert [e.entry_id for e in await member_entry_estimates(b.id, now=now)] == [
        mine.id,
        mine.id + 2,
    ]


async def test_without_inflow_there_is_no_projection(db):
    await setup()
    clock = Clock()
    member = await new_member("a")
    entry = await buy(member, await new_product("P", 10_000), clock)
    far = clock.tick(40 * DAY)
    (q,) = (await queue_economics(now=far)).items
    assert (q.outstanding_fen, q.inflow_fen[30], q.until_newest_full) == (10_000, 0, None)
    estimate = await entry_estimate(member.id, entry.id, now=far)
    assert (estimate.eta, estimate.note) == (None, NO_INFLOW_NOTE)


async def test_only_the_member_sees_the_estimate_of_their_entry(db):
    await setup()
    clock = Clock()
    entry = await buy(await new_member("a"), await new_product("P", 10_000), clock)
    stranger = await new_member("b")
    with pytest.raises(NotFound) as caught:
        await entry_estimate(stranger.id, entry.id, now=clock.now)
    assert caught.value.field == "entry_id"


async def test_an_estimate_reuses_its_queues_rate_for_a_minute(db):
    await setup()
    clock = Clock()
    a, b = await new_member("a"), await new_member("b")
    p = await new_product("P", 10_000)  # every order extracts 1000
    mine = await buy(a, p, clock)
    await buy(b, p, clock)
    read_at = clock.now
    first = await entry_estimate(a.id, mine.id, now=read_at)
    await buy(b, p, clock)  # another 1000 flows in, and pays the head
    within = await entry_estimate(a.id, mine.id, now=read_at + timedelta(seconds=59))
    assert within.daily_inflow_fen == first.daily_inflow_fen == 2_000 // 7
    assert within.remaining_fen == first.remaining_fen - 1_000  # the entry is read afresh
    after = await entry_estimate(a.id, mine.id, now=read_at + timedelta(seconds=60))
    assert after.daily_inflow_fen == 3_000 // 7
