"""抽奖 through storage (SPEC §5): one draw on one's own waiting, unpaid entry; the new
entitlement takes effect at once. Every refusal changes nothing."""

import secrets

import pytest

from models import Entry, EntryStatus, LotteryDraw, OutboxEvent, Queue
from rebate.errors import NotAllowed
from rebate.settings import Lottery, LotteryMode, RatioSettings
from services.catalog.products import new_product
from services.errors import NotFound
from services.members.accounts import new_member
from services.queues.exchange import exchange_entry
from services.queues.lottery import draw_lottery
from tests.member.support import buy, conserved, setup, snapshot, waiting_entry
from tests.services.helpers import Clock, seeded

FIXED = Lottery(LotteryMode.FIXED, (5_000, 20_000, 30_000))


async def lottery_base(lottery: Lottery = FIXED) -> None:
    await setup(ratios=RatioSettings(default_bp=10_000, lottery=lottery))


async def test_draw_replaces_the_default_ratio_and_is_recorded(db):
    await lottery_base()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    assert (entry.ratio_bp, entry.entitlement_fen) == (10_000, 10_000)
    result = await draw_lottery(member.id, entry.id, now=clock.tick(), rng=seeded(1))
    assert result.ratio_bp in FIXED.ratios_bp
    assert result.entitlement_fen == result.ratio_bp  # base 10000 fen × ratio / 10000
    after = await Entry.get(id=entry.id)
    assert (after.ratio_bp, after.entitlement_fen, after.lottery_drawn) == (
        result.ratio_bp,
        result.entitlement_fen,
        True,
    )
    assert after.ratio_source == "base:lottery" and after.status == EntryStatus.WAITING
    draw = await LotteryDraw.get(entry_id=entry.id)
    assert (draw.member_id, draw.mode, draw.old_ratio_bp, draw.old_entitlement_fen) == (
        member.id,
        "fixed",
        10_000,
        10_000,
    )
    assert (draw.new_ratio_bp, draw.new_entitlement_fen) == (
        result.ratio_bp,
        result.entitlement_fen,
    )
    event = await OutboxEvent.get(kind="lottery_drawn")
    assert event.member_id == member.id and event.payload["ratio_bp"] == result.ratio_bp
    await conserved()


async def test_drawn_entitlement_is_what_later_payouts_fill(db):
    await lottery_base(Lottery(LotteryMode.FIXED, (5_000,)))
    clock = Clock()
    member, entry, product = await waiting_entry(clock=clock)
    await draw_lottery(member.id, entry.id, now=clock.tick())  # 5000 fen owed now, not 10000
    other = await new_member("b")
    for _ in range(6):  # 1000 fen flow in per order
        await buy(other, product, clock)
    after = await Entry.get(id=entry.id)
    assert (after.paid_fen, after.entitlement_fen, after.status) == (5_000, 5_000, "completed")
    await conserved()


async def test_range_draws_a_whole_percent_within_bounds_from_secrets_by_default(db):
    await lottery_base(Lottery(LotteryMode.RANGE, low_bp=11_000, high_bp=15_000))
    clock = Clock()
    for i in range(5):
        member, entry, _ = await waiting_entry(f"m{i}", clock=clock)
        result = await draw_lottery(member.id, entry.id, now=clock.tick())
        assert 11_000 <= result.ratio_bp <= 15_000 and result.ratio_bp % 100 == 0
    await conserved()


async def test_a_prize_leaving_nothing_owed_completes_the_entry(db):
    await lottery_base(Lottery(LotteryMode.FIXED, (0,)))
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    result = await draw_lottery(member.id, entry.id, now=clock.tick(), rng=secrets.SystemRandom())
    assert (result.entitlement_fen, result.status) == (0, "completed")
    after = await Entry.get(id=entry.id)
    assert (after.status, after.entitlement_fen, after.paid_fen) == ("completed", 0, 0)
    assert (await Queue.get(id=entry.queue_id)).waiting_count == 0
    await conserved()


# --- refusals: each changes nothing --------------------------------------------------------


async def refused(error: type[Exception], member_id: int, entry_id: int, clock: Clock) -> None:
    before = await snapshot()
    with pytest.raises(error) as caught:
        await draw_lottery(member_id, entry_id, now=clock.tick(), rng=seeded())
    assert caught.value.field == "entry_id"
    assert await snapshot() == before


async def test_someone_elses_entry_reads_as_not_found(db):
    await lottery_base()
    clock = Clock()
    _, entry, _ = await waiting_entry("owner", clock=clock)
    stranger = await new_member("stranger")
    await refused(NotFound, stranger.id, entry.id, clock)


async def test_a_missing_entry_is_not_found(db):
    await lottery_base()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await refused(NotFound, member.id, entry.id + 1000, clock)


async def test_drawing_twice_is_refused(db):
    await lottery_base()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await draw_lottery(member.id, entry.id, now=clock.tick(), rng=seeded())
    await refused(NotAllowed, member.id, entry.id, clock)


async def test_an_entry_that_no_longer_waits_cannot_draw(db):
    await lottery_base()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await exchange_entry(member.id, entry.id, "points", now=clock.tick())
    await refused(NotAllowed, member.id, entry.id, clock)


async def test_an_entry_already_paid_into_cannot_draw(db):
    await lottery_base()
    clock = Clock()
    member, entry, product = await waiting_entry(clock=clock)
    await buy(await new_member("b"), product, clock)
    assert (await Entry.get(id=entry.id)).paid_fen == 1_000
    await refused(NotAllowed, member.id, entry.id, clock)


async def test_an_entry_without_a_lottery_cannot_draw(db):
    await setup()
    clock = Clock()
    member = await new_member("a")
    entry = await buy(member, await new_product("A", 10_000), clock)
    assert entry is not None and entry.lottery is None
    await refused(NotAllowed, member.id, entry.id, clock)
