"""A waiting entry's place in its line: how many waiting entries of the same line come before it
— in a share queue by seq, the order it pays in under 按队列顺序 (SPEC §4); in 工会排队 by id, the
order the daily close pays in — and what they are still owed. 0 ahead: it is paid next.

Counting the waiting entries ahead is a scan of the line's waiting part up to the entry (the
partial index on waiting entries): ~21 ms at 30,000 waiting, ~0.7 s at 1,000,000, for every
member who opens their entries. So each process keeps, per line, **markers**: every
``MARKER_EVERY``-th waiting entry with its place, from one scan at most ``MARKERS_TTL`` old. An
entry's place is its nearest marker's plus a live count from that marker: a scan of at most
``MARKER_EVERY`` entries. Past the last marker, the entries that joined since are counted once:
every ``MARKER_EVERY``-th of them becomes a marker as it is counted. The entries before the
first marker — the head of the line, paid next — are always counted live and exactly; further
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
MARKERS_TTL = 30.0  # seconds a line's markers are reused by this process


@dataclass(frozen=True)
class Place:
    ahead: int  # waiting entries before it
    ahead_fen: int  # what they are still owed (Σ entitlement − paid)


@dataclass(frozen=True)
class Waitline:
    """Waiting entries in the order they are paid: ``table``'s rows matching ``waiting`` (SQL
    with ``$1…`` for ``args``), ordered by the integer column ``key``, each still owed
    ``owed`` (SQL)."""

    table: str
    key: str
    waiting: str
    args: tuple[Any, ...]
    owed: str

    def window(self, upper: bool) -> str:
        """The line's waiting entries from key ``$n+1`` (to ``$n+2`` if ``upper``), each with
        the count and owed sum of those before it in that range; the caller adds a WHERE."""
        n = len(self.args)
        bounds = f"{self.key} >= ${n + 1}" + (f" AND {self.key} <= ${n + 2}" if upper else "")
        return (
            "SELECT k, ahead, ahead_fen FROM ("
            f" SELECT {self.key} AS k, COUNT(*) OVER w - 1 AS ahead,"
            f"  SUM({self.owed}) OVER w - ({self.owed}) AS ahead_fen"
            f" FROM {self.table} WHERE {self.waiting} AND {bounds}"
            f" WINDOW w AS (ORDER BY {self.key} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            ") AS prefix WHERE "
        )


def queue_line(queue_id: int) -> Waitline:
    return Waitline(
        "entry",
        "seq",
        "queue_id = $1 AND status = $2",
        (queue_id, EntryStatus.WAITING.value),
        "entitlement_fen - paid_fen",
    )


@dataclass(frozen=True)
class Marker:
    key: int
    place: Place


HEAD = Marker(0, Place(0, 0))  # before every entry: the places up to the first marker are live

_markers: weakref.WeakKeyDictionary[Any, dict[Waitline, tuple[float, list[Marker]]]] = (
    weakref.WeakKeyDictionary()
)  # per ORM context (as ``services.queues.economics`` keeps rates): line → (read at, markers)


async def places(queue_id: int, seqs: Collection[int]) -> dict[int, Place]:
    """seq → its place, for the given seqs of waiting entries of share queue ``queue_id`` (a seq
    that is not a waiting entry's is left out)."""
    return await standing(queue_line(queue_id), seqs)


async def standing(line: Waitline, keys: Collection[int]) -> dict[int, Place]:
    """key → its place, for the given keys of ``line``'s waiting entries (others are left out):
    one query per marker the keys fall after (a page of entries: usually one)."""
    if not keys:
        return {}
    known = await _line_markers(line)
    groups: dict[int, list[int]] = {}
    for key in sorted(set(keys)):
        at = bisect.bisect_right(known, key, key=lambda m: m.key) - 1
        groups.setdefault(at, []).append(key)
    out: dict[int, Place] = {}
    for at, wanted in groups.items():
        out.update(await _counted_from(line, known, at, wanted))
    return out


async def _counted_from(
    line: Waitline, known: list[Marker], at: int, wanted: Sequence[int]
) -> dict[int, Place]:
    """The places of ``wanted``: marker ``known[at]``'s plus the waiting entries counted from
    it. Every ``MARKER_EVERY``-th entry counted past the last marker (those that joined since
    the markers were read) becomes a marker too, so the next place there counts from it."""
    marker, n = known[at], len(line.args)
    rows = await fetch(
        connections.get("default"),
        line.window(upper=True)
        + f"k IN ({marks(n + 4, len(wanted))}) OR (ahead > 0 AND ahead % ${n + 3} = 0) ORDER BY k",
        [*line.args, marker.key, wanted[-1], MARKER_EVERY, *wanted],
    )
    asked, out = set(wanted), {}
    for r in rows:
        key, ahead = int(r["k"]), int(r["ahead"])
        place = Place(marker.place.ahead + ahead, marker.place.ahead_fen + int(r["ahead_fen"]))
        if key in asked:
            out[key] = place
        if ahead > 0 and ahead % MARKER_EVERY == 0 and key > known[-1].key:
            known.append(Marker(key, place))  # past the last: only the last marker's group
    return out


async def _line_markers(line: Waitline) -> list[Marker]:
    """``HEAD`` and every ``MARKER_EVERY``-th waiting entry after it, read at most
    ``MARKERS_TTL`` ago by this process (in this ORM context)."""
    context = get_current_context()
    cache = _markers.setdefault(context, {}) if context is not None else {}
    clock = time.monotonic()
    cached = cache.get(line)
    if cached is not None and clock - cached[0] < MARKERS_TTL:
        return cached[1]
    n = len(line.args)
    rows = await fetch(
        connections.get("default"),
        line.window(upper=False) + f"ahead > 0 AND ahead % ${n + 2} = 0 ORDER BY k",
        [*line.args, 0, MARKER_EVERY],
    )
    found = [HEAD] + [
        Marker(int(r["k"]), Place(int(r["ahead"]), int(r["ahead_fen"]))) for r in rows
    ]
    cache[line] = (clock, found)
    return found
