"""A waiting entry's place in its queue: how many waiting entries of the same queue have a
smaller seq — the order the queue pays in under 按队列顺序 (SPEC §4) — and what they are still
owed. 0 ahead: it is paid next.

Counting the waiting entries ahead is a scan of the queue's waiting part up to the entry (the
partial index on waiting entries): ~21 ms at 30,000 waiting, ~0.7 s at 1,000,000, for every
member who opens their entries. So each process keeps, per queue, **markers**: every
``MARKER_EVERY``-th waiting entry with its place, from one scan at most ``MARKERS_TTL`` old. An
entry's place is its nearest marker's plus a live count from that marker: a scan of at most
``MARKER_EVERY`` entries. Past the last marker, the entries that joined since are counted once:
every ``MARKER_EVERY``-th of them becomes a marker as it is counted. The entries before the
first marker — the head of the queue, paid next — are always counted live and exactly; further
back, a place may still count entries paid off since the markers were read (at most
``MARKERS_TTL`` ago).
"""

from __future__ import annotations

import bisect
import time
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.context import get_current_context

from models import EntryStatus
from runtime.sql import fetch, marks

MARKER_EVERY = 512  # waiting entries between two markers: the most a place scans live
MARKERS_TTL = 30.0  # seconds a queue's markers are reused by this process

_WINDOW = (
    "SELECT seq, ahead, ahead_fen FROM ("
    " SELECT seq, COUNT(*) OVER w - 1 AS ahead,"
    "  SUM(entitlement_fen - paid_fen) OVER w - (entitlement_fen - paid_fen) AS ahead_fen"
    " FROM entry WHERE queue_id = $1 AND status = $2 AND seq >= $3{upper}"
    " WINDOW w AS (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    ") AS prefix WHERE "
)


@dataclass(frozen=True)
class Place:
    ahead: int  # waiting entries before it
    ahead_fen: int  # what they are still owed (Σ entitlement − paid)


@dataclass(frozen=True)
class Marker:
    seq: int
    place: Place


HEAD = Marker(0, Place(0, 0))  # before every entry: the places up to the first marker are live

_markers: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, list[Marker]]]] = (
    weakref.WeakKeyDictionary()
)  # per ORM context (as ``services.queues.economics`` keeps rates): queue → (read at, markers)


async def places(queue_id: int, seqs: Collection[int]) -> dict[int, Place]:
    """seq → its place, for the given seqs of waiting entries of ``queue_id`` (a seq that is not
    a waiting entry's is left out): one query per marker the seqs fall after (a page of
    entries: usually one)."""
    if not seqs:
        return {}
    known = await _queue_markers(queue_id)
    groups: dict[int, list[int]] = {}
    for seq in sorted(set(seqs)):
        at = bisect.bisect_right(known, seq, key=lambda m: m.seq) - 1
        groups.setdefault(at, []).append(seq)
    out: dict[int, Place] = {}
    for at, wanted in groups.items():
        out.update(await _counted_from(queue_id, known, at, wanted))
    return out


async def _counted_from(
    queue_id: int, known: list[Marker], at: int, wanted: Sequence[int]
) -> dict[int, Place]:
    """The places of ``wanted``: marker ``known[at]``'s plus the waiting entries counted from
    it. Every ``MARKER_EVERY``-th entry counted past the last marker (those that joined since
    the markers were read) becomes a marker too, so the next place there counts from it."""
    marker = known[at]
    rows = await fetch(
        connections.get("default"),
        _WINDOW.format(upper=" AND seq <= $4")
        + f"seq IN ({marks(6, len(wanted))}) OR (ahead > 0 AND ahead % $5 = 0) ORDER BY seq",
        [queue_id, EntryStatus.WAITING.value, marker.seq, wanted[-1], MARKER_EVERY, *wanted],
    )
    asked, out = set(wanted), {}
    for r in rows:
        seq, ahead = int(r["seq"]), int(r["ahead"])
        place = Place(marker.place.ahead + ahead, marker.place.ahead_fen + int(r["ahead_fen"]))
        if seq in asked:
            out[seq] = place
        if ahead > 0 and ahead % MARKER_EVERY == 0 and seq > known[-1].seq:
            known.append(Marker(seq, place))  # past the last: only the last marker's group
    return out


async def _queue_markers(queue_id: int) -> list[Marker]:
    """``HEAD`` and every ``MARKER_EVERY``-th waiting entry after it, read at most
    ``MARKERS_TTL`` ago by this process (in this ORM context)."""
    context = get_current_context()
    cache = _markers.setdefault(context, {}) if context is not None else {}
    clock = time.monotonic()
    cached = cache.get(queue_id)
    if cached is not None and clock - cached[0] < MARKERS_TTL:
        return cached[1]
    rows = await fetch(
        connections.get("default"),
        _WINDOW.format(upper="") + "ahead > 0 AND ahead % $4 = 0 ORDER BY seq",
        [queue_id, EntryStatus.WAITING.value, 0, MARKER_EVERY],
    )
    found = [HEAD] + [
        Marker(int(r["seq"]), Place(int(r["ahead"]), int(r["ahead_fen"]))) for r in rows
    ]
    cache[queue_id] = (clock, found)
    return found
