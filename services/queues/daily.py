"""The operators' dashboard series: per Beijing day over the last ``days`` days, the orders paid
(count and cash), what settlement extracted into the queues and where it went (paid to waiting
entries, withheld while 队列奖励暂停, unallocated when no entry could take it), the entries that
joined and left the queues, and the queue depth at the end of each day.

The depth is walked back from the waiting entries now: the end of day d-1 is the end of day d
minus the entries that joined on d plus those that left on d. An entry "left" on the day its row
last changed into a final status (completed, refunded, exchanged, cleared) — its ``updated_at``,
so an entry touched again after it left (none is today) would count on that later day. An admin
view: it reads the window's rows (O(rows in the window)), never on the settlement path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from models import Entry, EntryStatus, Extraction, Order, Queue
from services.clock import LOCAL_TZ, local

MAX_DAYS = 90


@dataclass
class Day:
    day: date
    orders: int = 0
    orders_paid_fen: int = 0
    extracted_fen: int = 0
    paid_fen: int = 0
    withheld_fen: int = 0
    unallocated_fen: int = 0
    joined: int = 0
    left: int = 0
    depth: int = 0  # waiting entries at the end of the day


@dataclass
class Series:
    days: list[Day] = field(default_factory=list)

    def at(self, moment: datetime) -> Day | None:
        """The day ``moment`` falls on (Beijing), if it is in the window."""
        offset = (local(moment).date() - self.days[0].day).days
        return self.days[offset] if 0 <= offset < len(self.days) else None


async def daily_series(*, now: datetime, days: int) -> list[Day]:
    """``days`` Beijing days ending today, oldest first."""
    today = local(now).date()
    series = Series([Day(today - timedelta(days=n)) for n in range(days - 1, -1, -1)])
    since = datetime.combine(series.days[0].day, time.min, LOCAL_TZ)
    await _orders(series, since)
    await _extractions(series, since)
    await _entries(series, since)
    return series.days


async def _orders(series: Series, since: datetime) -> None:
    rows = await Order.filter(paid_at__gte=since).values_list("paid_at", "paid_fen")
    for paid_at, paid_fen in rows:
        if (day := series.at(paid_at)) is not None:
            day.orders += 1
            day.orders_paid_fen += paid_fen


async def _extractions(series: Series, since: datetime) -> None:
    rows = await Extraction.filter(created_at__gte=since).values_list(
        "created_at", "amount_fen", "paid_fen", "withheld_fen", "unallocated_fen"
    )
    for created_at, amount, paid, withheld, unallocated in rows:
        if (day := series.at(created_at)) is not None:
            day.extracted_fen += amount
            day.paid_fen += paid
            day.withheld_fen += withheld
            day.unallocated_fen += unallocated


async def _entries(series: Series, since: datetime) -> None:
    joined = await Entry.filter(created_at__gte=since).values_list("created_at", flat=True)
    left = await Entry.filter(updated_at__gte=since, status__not=EntryStatus.WAITING).values_list(
        "updated_at", flat=True
    )
    _count(series, joined, "joined")
    _count(series, left, "left")
    depth = sum(await Queue.all().values_list("waiting_count", flat=True))
    for day in reversed(series.days):
        day.depth = depth
        depth = depth - day.joined + day.left


def _count(series: Series, moments: Iterable[datetime], name: str) -> None:
    for moment in moments:
        if (day := series.at(moment)) is not None:
            setattr(day, name, getattr(day, name) + 1)
