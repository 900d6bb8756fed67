"""兑换 through storage (SPEC §7): a waiting entry's remaining entitlement becomes points or love
value at the configured ratio, in one posting; the entry leaves the queue."""

import pytest

from models import Entry, EntryStatus, OutboxEvent, Posting, Queue, Wallet
from rebate.errors import NotAllowed
from services.errors import NotFound
from services.members.accounts import new_member
from services.queues.exchange import exchange_entry
from tests.member.support import buy, conserved, setup, snapshot, waiting_entry
from tests.services.helpers import Clock


async def test_remaining_entitlement_becomes_points_at_the_ratio(db):
    await setup(exchange_points_bp=15_000)
    clock = Clock()
    member, entry, product = await waiting_entry(clock=clock)
    await buy(await new_member("b"), product, clock)  # pays 1000 of the 10000
    result = await exchange_entry(member.id, entry.id, "points", now=clock.tick())
    assert (result.remaining_fen, result.amount, result.asset) == (9_000, 13_500, "points")
    after = await Entry.get(id=entry.id)
    assert (after.status, after.paid_fen, after.points) == (EntryStatus.EXCHANGED, 1_000, 13_500)
    line = await Posting.get(key=f"exchange:{entry.id}")
    assert (line.debit, line.credit, line.unit, line.amount, line.kind) == (
        "platform:points", f"member:{member.id}:points", "points", 13_500, "exchange",
    )  # fmt: skip
    wallet = await Wallet.get(member_id=member.id)
    assert (wallet.cash_fen, wallet.points) == (1_000, 13_500)
    assert (await Queue.get(id=entry.queue_id)).waiting_count == 1  # only b's entry waits
    event = await OutboxEvent.get(kind="entry_exchanged")
    assert event.member_id == member.id and event.payload["amount"] == 13_500
    await conserved()


@pytest.mark.parametrize(("frozen", "asset"), [(False, "love_available"), (True, "love_frozen")])
async def test_love_value_is_credited_available_or_frozen_as_configured(db, frozen, asset):
    await setup(exchange_love_bp=5_000, love_frozen=frozen)
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    result = await exchange_entry(member.id, entry.id, "love", now=clock.tick())
    assert (result.asset, result.amount) == (asset, 5_000)
    wallet = await Wallet.get(member_id=member.id)
    assert getattr(wallet, asset) == 5_000 and wallet.points == 0
    assert (await Entry.get(id=entry.id)).points == 0
    await conserved()


async def test_an_exchanged_entry_is_skipped_by_later_payouts(db):
    await setup()
    clock = Clock()
    member, entry, product = await waiting_entry(clock=clock)
    await exchange_entry(member.id, entry.id, "points", now=clock.tick())
    other = await new_member("b")
    first = await buy(other, product, clock)
    second = await buy(other, product, clock)
    assert (await Entry.get(id=entry.id)).paid_fen == 0
    assert (await Entry.get(id=first.id)).paid_fen == 1_000  # the extraction went past it
    assert second is not None
    await conserved()


# --- refusals: each changes nothing --------------------------------------------------------


async def refused(error, member_id, entry_id, to, field, clock):
    before = await snapshot()
    with pytest.raises(error) as caught:
        await exchange_entry(member_id, entry_id, to, now=clock.tick())
    assert caught.value.field == field
    assert await snapshot() == before


async def test_an_unknown_target_is_refused(db):
    await setup()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await refused(NotAllowed, member.id, entry.id, "cash", "to", clock)


async def test_someone_elses_entry_reads_as_not_found(db):
    await setup()
    clock = Clock()
    _, entry, _ = await waiting_entry("owner", clock=clock)
    stranger = await new_member("stranger")
    await refused(NotFound, stranger.id, entry.id, "points", "entry_id", clock)


async def test_exchanging_twice_is_refused(db):
    await setup()
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await exchange_entry(member.id, entry.id, "points", now=clock.tick())
    await refused(NotAllowed, member.id, entry.id, "love", "entry_id", clock)


async def test_a_full_entry_cannot_be_exchanged(db):
    await setup()
    clock = Clock()
    member, entry, product = await waiting_entry(clock=clock)
    other = await new_member("b")
    for _ in range(10):
        await buy(other, product, clock)
    assert (await Entry.get(id=entry.id)).status == EntryStatus.COMPLETED
    await refused(NotAllowed, member.id, entry.id, "points", "entry_id", clock)


async def test_an_exchange_worth_nothing_is_refused(db):
    await setup(exchange_points_bp=0)
    clock = Clock()
    member, entry, _ = await waiting_entry(clock=clock)
    await refused(NotAllowed, member.id, entry.id, "points", "to", clock)
