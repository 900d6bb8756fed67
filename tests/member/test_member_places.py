"""A waiting entry's place — entries and amounts ahead of it — read for a whole page of entries
at once (``services.queues.place.places``), and the member's page of entries at a fixed number
of statements however many of its entries wait."""

from __future__ import annotations

from typing import Any

import pytest

from models import Entry, EntryStatus
from services.catalog.products import new_product
from services.clock import utcnow
from services.members.accounts import new_member
from services.members.views import my_entries
from services.queues import place as place_module
from services.queues.exchange import exchange_entry
from services.queues.place import Place, places
from tests.member.support import buy, setup
from tests.services.helpers import Clock
from tests.sql_count import counting


async def brute_force(queue_id: int) -> dict[int, Place]:
    waiting = await Entry.filter(queue_id=queue_id, status=EntryStatus.WAITING).order_by("seq")
    out, owed = {}, 0
    for n, e in enumerate(waiting):
        out[e.seq] = Place(ahead=n, ahead_fen=owed)
        owed += e.entitlement_fen - e.paid_fen
    return out


async def test_places_count_only_waiting_entries_ahead_and_what_they_are_owed(db):
    await setup()
    clock = Clock()
    product = await new_product("P", 10_000)
    entries = [await buy(await new_member(f"m{i}"), product, clock) for i in range(7)]
    gone = entries[3]
    assert gone is not None
    await exchange_entry(int(gone.member_id), gone.id, "points", now=clock.now)  # type: ignore[attr-defined]
    queue_id = int(gone.queue_id)  # type: ignore[attr-defined]
    expected = await brute_force(queue_id)
    assert expected[entries[0].seq].ahead == 0 and entries[0].seq in expected  # type: ignore[union-attr]
    assert gone.seq not in expected and len(expected) == 6  # the head is part paid, still waits
    assert await places(queue_id, [e.seq for e in entries if e is not None]) == expected
    some = [entries[1].seq, entries[6].seq]  # type: ignore[union-attr]
    assert await places(queue_id, some) == {s: expected[s] for s in some}
    assert expected[entries[6].seq].ahead_fen > 0  # type: ignore[union-attr]
    assert await places(queue_id, []) == {}


async def marked_queue(
    count: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[Any], Any, Clock]:
    """A marker every 3 waiting entries, and ``count`` members' entries waiting, nothing paid
    yet: the queue's id, the entries, their product and the clock."""
    monkeypatch.setattr(place_module, "MARKER_EVERY", 3)
    await setup(extract_bp=0)
    clock = Clock()
    product = await new_product("P", 10_000)
    entries = [await buy(await new_member(f"m{i}"), product, clock) for i in range(count)]
    return int(entries[0].queue_id), entries, product, clock


async def test_places_past_the_first_marker_add_a_live_count_to_the_marker_read_before(
    db, monkeypatch: pytest.MonkeyPatch
):
    """Markers every 3 waiting entries. Read, then two head entries are paid off: the head's
    places are live and exact; past the first marker a place still counts the two (and what
    they were owed) until the markers are read again."""
    queue_id, entries, product, clock = await marked_queue(12, monkeypatch)
    seqs = [e.seq for e in entries if e is not None]
    assert await places(queue_id, seqs) == await brute_force(queue_id)  # markers read now
    first_marker = seqs[3]
    await setup(extract_bp=10_000)  # each order now pays one whole entry off the head
    for i in range(2):
        await buy(await new_member(f"late{i}"), product, clock)
    truth = await brute_force(queue_id)
    assert seqs[0] not in truth and seqs[1] not in truth and truth[seqs[2]].ahead == 0
    got = await places(queue_id, truth)
    assert got.keys() == truth.keys()
    for seq, place in truth.items():
        stale = seq >= first_marker
        assert got[seq] == Place(place.ahead + 2 * stale, place.ahead_fen + 20_000 * stale), seq
    monkeypatch.setattr(place_module, "MARKERS_TTL", 0.0)
    assert await places(queue_id, truth) == truth


async def test_entries_that_join_after_the_markers_become_markers_as_they_are_counted(
    db, monkeypatch: pytest.MonkeyPatch
):
    queue_id, first, product, clock = await marked_queue(8, monkeypatch)
    await places(queue_id, [first[0].seq])  # type: ignore[union-attr]
    read = [m.key for m in await place_module._line_markers(place_module.queue_line(queue_id))]
    assert read == [0, first[3].seq, first[6].seq]  # type: ignore[union-attr]
    later = [await buy(await new_member(f"n{i}"), product, clock) for i in range(7)]
    truth = await brute_force(queue_id)
    newest = later[-1].seq  # type: ignore[union-attr]
    assert await places(queue_id, [newest]) == {newest: truth[newest]}
    grown = [m.key for m in await place_module._line_markers(place_module.queue_line(queue_id))]
    assert grown == [*read, later[1].seq, later[4].seq]  # type: ignore[union-attr]
    assert await places(queue_id, truth) == truth


@pytest.mark.postgres
async def test_a_page_of_entries_costs_the_same_statements_for_one_or_many_waiting(
    pg: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup()
    clock = Clock()
    product = await new_product("P", 10_000)
    one, many = await new_member("one"), await new_member("many")
    await buy(one, product, clock)
    for _ in range(6):
        await buy(many, product, clock)
    for member in (one, many):  # the queue's inflow rate is read once a minute: read it now
        await my_entries(member.id, status=None, now=utcnow())
    counts = []
    for member in (one, many):
        with counting(monkeypatch) as statements:
            page = await my_entries(member.id, status=None, now=utcnow())
        counts.append(len(statements))
        assert all(e["position"] is not None for e in page.entries.items)
    assert counts[0] == counts[1], counts
