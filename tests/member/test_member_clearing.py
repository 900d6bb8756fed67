"""队列奖励清零 (SPEC §7): the schedule document, the slot a moment belongs to, and the clearing
of every entry that waited at that slot — in chunks, under the queue lock, conserved."""

from datetime import UTC, datetime, time

import pytest

from models import Entry, EntryStatus, OutboxEvent, Queue
from rebate.errors import InvalidSetting
from services.catalog.products import new_product
from services.clock import LOCAL_TZ
from services.members.accounts import new_member
from services.queues.clearing import (
    ClearingKind,
    ClearingSchedule,
    clear_waiting_entries,
    latest_slot,
    load_schedule,
    save_schedule,
    schedule_from_doc,
    schedule_to_doc,
)
from services.queues.exchange import exchange_entry
from tests.member.support import buy, conserved, setup
from tests.services.helpers import Clock


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


NOW = bj(2026, 11, 25, 10, 0)  # a Wednesday, 10:00 Beijing time


def test_clearing_is_off_by_default_and_daily_at_midnight():
    schedule = schedule_from_doc(None)
    assert (schedule.enabled, schedule.kind, schedule.at) == (False, ClearingKind.DAILY, time(0, 0))


def test_the_schedule_document_round_trips():
    schedule = ClearingSchedule(True, ClearingKind.ONCE, once_at=datetime(2026, 12, 31, 23, 30))
    doc = schedule_to_doc(schedule)
    assert doc["once_at"] == "2026-12-31T23:30"
    assert schedule_from_doc(doc).once_local() == bj(2026, 12, 31, 23, 30)
    weekly = ClearingSchedule(True, ClearingKind.WEEKLY, at=time(3, 30), weekday=7)
    assert schedule_from_doc(schedule_to_doc(weekly)) == weekly


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"kind": "hourly"}, "clearing.kind"),
        ({"at": "25:00"}, "clearing.at"),
        ({"at": "00:00:30"}, "clearing.at"),
        ({"weekday": 0}, "clearing.weekday"),
        ({"day": 29}, "clearing.day"),
        ({"kind": "once"}, "clearing.once_at"),
        ({"once_at": "tomorrow"}, "clearing.once_at"),
        ({"enabled": "yes"}, "clearing.enabled"),
        ({"hour": 3}, "clearing.hour"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(doc, field):
    with pytest.raises(InvalidSetting) as caught:
        schedule_from_doc(doc)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        (ClearingSchedule(), NOW, bj(2026, 11, 25, 0, 0)),
        (ClearingSchedule(), bj(2026, 11, 25, 0, 0), bj(2026, 11, 25, 0, 0)),
        (ClearingSchedule(at=time(23, 0)), NOW, bj(2026, 11, 24, 23, 0)),
        (
            ClearingSchedule(kind=ClearingKind.WEEKLY, weekday=3, at=time(9, 0)),
            NOW,
            bj(2026, 11, 25, 9, 0),
        ),
        (
            ClearingSchedule(kind=ClearingKind.WEEKLY, weekday=3, at=time(11, 0)),
            NOW,
            bj(2026, 11, 18, 11, 0),
        ),
        (ClearingSchedule(kind=ClearingKind.WEEKLY, weekday=5), NOW, bj(2026, 11, 20, 0, 0)),
        (ClearingSchedule(kind=ClearingKind.MONTHLY, day=1), NOW, bj(2026, 11, 1, 0, 0)),
        (ClearingSchedule(kind=ClearingKind.MONTHLY, day=28), bj(2026, 1, 5), bj(2025, 12, 28)),
        (
            ClearingSchedule(kind=ClearingKind.ONCE, once_at=datetime(2026, 11, 25, 9, 0)),
            NOW,
            bj(2026, 11, 25, 9, 0),
        ),
        (
            ClearingSchedule(kind=ClearingKind.ONCE, once_at=datetime(2026, 11, 25, 11, 0)),
            NOW,
            None,
        ),
    ],
)
def test_a_moment_belongs_to_the_latest_scheduled_time_at_or_before_it(schedule, now, slot):
    assert latest_slot(schedule, now.astimezone(UTC)) == slot


async def test_the_schedule_is_stored_in_its_own_row(db):
    assert await load_schedule() == ClearingSchedule()
    schedule = ClearingSchedule(True, ClearingKind.MONTHLY, at=time(4, 15), day=10)
    await save_schedule(schedule)
    assert await load_schedule() == schedule


async def test_clearing_forfeits_what_every_waiting_entry_is_still_owed(db):
    await setup(mall_queue_unified=False)
    clock = Clock()
    a, b = await new_member("a"), await new_member("b")
    p1, p2 = await new_product("P1", 10_000), await new_product("P2", 20_000)
    entries = [await buy(a, p1, clock) for _ in range(3)]
    entries += [await buy(b, p2, clock) for _ in range(2)]
    done = await buy(b, p2, clock)
    await exchange_entry(b.id, done.id, "points", now=clock.tick())  # not waiting: left alone
    slot = clock.tick()
    late = await buy(a, p1, clock)  # joined after the slot: left waiting (and pays entries[0])
    seen = []
    report = await clear_waiting_entries(
        now=clock.tick(), slot=slot, chunk=2, progress=lambda p: seen.append(p)
    )

    assert report.entries == 5 and set(report.queues.values()) == {3, 2}
    owed = {e.id: e.entitlement_fen - (await Entry.get(id=e.id)).paid_fen for e in entries}
    assert list(owed.values()) == [7_000, 10_000, 10_000, 16_000, 20_000]
    assert report.forfeited_fen == 63_000
    assert [(p.queue_key, p.cleared_in_queue, p.cleared_total) for p in seen] == [
        (f"product:{p1.id}", 2, 2),
        (f"product:{p1.id}", 3, 3),
        (f"product:{p2.id}", 2, 5),
    ]
    for e in entries:
        assert (await Entry.get(id=e.id)).status == EntryStatus.CLEARED
    assert (await Entry.get(id=done.id)).status == EntryStatus.EXCHANGED
    assert (await Entry.get(id=late.id)).status == EntryStatus.WAITING
    events = await OutboxEvent.filter(kind="entry_cleared").order_by("id")
    assert sorted(ev.payload["entry_id"] for ev in events) == sorted(owed)
    assert {ev.payload["entry_id"]: ev.payload["forfeited_fen"] for ev in events} == owed
    waiting = {q.key: q.waiting_count for q in await Queue.all()}
    assert waiting == {f"product:{p1.id}": 1, f"product:{p2.id}": 0}
    await conserved()

    again = await clear_waiting_entries(now=clock.tick(), slot=slot)  # same slot: nothing left
    assert again.entries == 0
    assert await OutboxEvent.filter(kind="entry_cleared").count() == 5


async def test_after_clearing_extractions_flow_to_entries_that_joined_later(db):
    await setup()
    clock = Clock()
    a, b = await new_member("a"), await new_member("b")
    p = await new_product("P", 10_000)
    old = await buy(a, p, clock)
    await clear_waiting_entries(now=clock.tick(), slot=clock.now)
    first = await buy(b, p, clock)  # nothing waits: its extraction is unallocated
    await buy(b, p, clock)  # pays first, not the cleared entry
    assert (await Entry.get(id=old.id)).paid_fen == 0
    assert (await Entry.get(id=first.id)).paid_fen == 1_000
    assert (await Queue.get(id=old.queue_id)).unallocated_fen == 2_000  # old's own and first's
    await conserved()
