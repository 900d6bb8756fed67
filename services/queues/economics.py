"""Queue economics: what a queue owes, what flows in, and how long the line is at that pace.

Per queue: waiting entries, outstanding entitlement (Σ entitlement − paid of its waiting
entries), inflow (Σ extraction amounts) over the last 1, 7 and 30 days, and the projected time
until its newest waiting entry is full at the 7-day inflow rate (None when nothing flowed in).
For a member's entry: the outstanding of the entries ahead of it plus its own remaining,
divided by the same rate, with a plain statement that it is an estimate and not a promise.

These are aggregates over the waiting entries (O(waiting)) and over the last 30 days of
extractions: fine for an admin view, never on the settlement path. A member's page reads its
entries' places with one query per queue (``services.queues.place``) and reuses a queue's rate
for a minute (``RATE_TTL``), so members polling their entries never sum the extractions each time. Payouts go in
queue order, so the newest entry is full once the whole outstanding amount has flowed in; under
``completed_first``, while paused, or when many entries of the paying orders wait, reality is
slower — hence "estimate". Times are whole seconds, amounts integer fen.
"""

import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.context import get_current_context

from models import Entry, EntryStatus, Queue
from runtime.sql import fetch, marks
from services.errors import NotFound
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.queues.place import Place, places

WINDOWS_DAYS = (1, 7, 30)
RATE_DAYS = 7
ESTIMATE_NOTE = (
    "预计时间是按该队列最近7天的入队提取金额推算的估计，不是承诺："
    "实际到账取决于之后的订单，可能更早、更晚，也可能因清零、暂停等规则而无法到账。"
)
NO_INFLOW_NOTE = "该队列最近7天没有新的提取金额，暂时无法估计到账时间。"


@dataclass(frozen=True)
class QueueEconomics:
    queue_id: int
    key: str
    waiting_entries: int
    outstanding_fen: int
    inflow_fen: dict[int, int]  # days (1, 7, 30) → Σ extraction amounts in that window
    until_newest_full: timedelta | None  # at the 7-day rate; None when it had no inflow


@dataclass(frozen=True)
class EntryEstimate:
    entry_id: int
    queue_id: int
    status: str
    ahead_fen: int  # still owed to the waiting entries before this one
    remaining_fen: int
    daily_inflow_fen: int  # 7-day inflow ÷ 7, floored (shown to people; the ETA uses the exact sum)
    eta: timedelta | None
    estimated_full_at: datetime | None
    note: str
    ahead: int = 0  # waiting entries before this one


def eta_at_rate(owed_fen: int, inflow_fen: int, days: int = RATE_DAYS) -> timedelta | None:
    """How long until ``owed_fen`` has flowed in at ``inflow_fen`` per ``days``; rounded up to
    the second. None when nothing flows in."""
    if inflow_fen <= 0:
        return None
    seconds = -(-owed_fen * days * 86_400 // inflow_fen)
    return timedelta(seconds=seconds)


async def _inflows(now: datetime, queue_ids: list[int]) -> dict[int, dict[int, int]]:
    since = {d: now - timedelta(days=d) for d in WINDOWS_DAYS}
    rows = await fetch(
        connections.get("default"),
        "SELECT queue_id,"
        " COALESCE(SUM(CASE WHEN created_at >= $1 THEN amount_fen ELSE 0 END), 0) AS d1,"
        " COALESCE(SUM(CASE WHEN created_at >= $2 THEN amount_fen ELSE 0 END), 0) AS d7,"
        " COALESCE(SUM(amount_fen), 0) AS d30"
        f" FROM extraction WHERE created_at >= $3 AND queue_id IN ({marks(4, len(queue_ids))})"
        " GROUP BY queue_id",
        [since[1], since[7], since[30], *queue_ids],
    )
    return {int(r["queue_id"]): {1: int(r["d1"]), 7: int(r["d7"]), 30: int(r["d30"])} for r in rows}


async def _waiting(queue_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Queue → (waiting entries, what they are still owed)."""
    rows = await fetch(
        connections.get("default"),
        "SELECT queue_id, COUNT(*) AS n, COALESCE(SUM(entitlement_fen - paid_fen), 0) AS owed"
        f" FROM entry WHERE status = $1 AND queue_id IN ({marks(2, len(queue_ids))}) GROUP BY queue_id",
        [EntryStatus.WAITING.value, *queue_ids],
    )
    return {int(r["queue_id"]): (int(r["n"]), int(r["owed"])) for r in rows}


async def queue_economics(
    *,
    now: datetime,
    queue_id: int | None = None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[QueueEconomics]:
    """Every queue (or the one given) in the order they were made: a report operators read
    again and again keeps its rows in place, and a new queue comes last."""
    query = Queue.all() if queue_id is None else Queue.filter(id=queue_id)
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    if queue_id is not None and not page.items:
        raise NotFound("队列不存在", field="queue_id")
    ids = [q.id for q in page.items]
    if not ids:
        return Page([], None)
    waiting, inflows = await _waiting(ids), await _inflows(_utc(now), ids)

    def economics(queue: Queue) -> QueueEconomics:
        count, owed = waiting.get(queue.id, (0, 0))
        inflow = inflows.get(queue.id, dict.fromkeys(WINDOWS_DAYS, 0))
        return QueueEconomics(
            queue_id=queue.id,
            key=queue.key,
            waiting_entries=count,
            outstanding_fen=owed,
            inflow_fen=inflow,
            until_newest_full=eta_at_rate(owed, inflow[RATE_DAYS]) if owed else None,
        )

    return page.map(economics)


def estimate_of(
    entry_id: int, queue_id: int, place: Place, remaining_fen: int, inflow_fen: int, now: datetime
) -> EntryEstimate:
    """A waiting entry's estimate from its place and its queue's inflow over ``RATE_DAYS``."""
    eta = eta_at_rate(place.ahead_fen + remaining_fen, inflow_fen)
    return EntryEstimate(
        entry_id=entry_id,
        queue_id=queue_id,
        status=EntryStatus.WAITING.value,
        ahead_fen=place.ahead_fen,
        remaining_fen=remaining_fen,
        daily_inflow_fen=inflow_fen // RATE_DAYS,
        eta=eta,
        estimated_full_at=None if eta is None else now + eta,
        note=ESTIMATE_NOTE if eta is not None else NO_INFLOW_NOTE,
        ahead=place.ahead,
    )


RATE_TTL = timedelta(seconds=60)  # how long a queue's rate is reused for members' estimates
_rates: weakref.WeakKeyDictionary[Any, dict[int, tuple[datetime, int]]] = (
    weakref.WeakKeyDictionary()
)  # per ORM context (as the queue ids of ``locks``): queue → (read at, 7-day inflow)


async def rate_inflows(queue_ids: Collection[int], now: datetime) -> dict[int, int]:
    """Queue → its inflow over the last ``RATE_DAYS`` (0 when none). Members' estimates reuse a
    queue's figure for ``RATE_TTL``: it is a sum over days of extractions, and an estimate a
    minute old is as good an estimate."""
    context = get_current_context()
    known = _rates.setdefault(context, {}) if context is not None else {}
    fresh = {
        q for q in set(queue_ids) if q in known and timedelta(0) <= now - known[q][0] < RATE_TTL
    }
    missing = sorted(set(queue_ids) - fresh)
    if missing:
        inflows = await _inflows(_utc(now), missing)
        for q in missing:
            known[q] = (now, inflows.get(q, {}).get(RATE_DAYS, 0))
    return {q: known[q][1] for q in queue_ids}


async def estimates(entries: Sequence[Entry], *, now: datetime) -> dict[int, EntryEstimate]:
    """Entry id → estimate, for the waiting ones of ``entries``: one query for their places per
    queue and one for the queues' inflows, however many entries."""
    waiting = [e for e in entries if e.status == EntryStatus.WAITING]
    by_queue: dict[int, list[Entry]] = {}
    for e in waiting:
        by_queue.setdefault(int(e.queue_id), []).append(e)  # type: ignore[attr-defined]
    inflows = await rate_inflows(by_queue, now)
    out: dict[int, EntryEstimate] = {}
    for queue_id, group in by_queue.items():
        found = await places(queue_id, [e.seq for e in group])
        for e in group:
            if e.seq in found:
                remaining = e.entitlement_fen - e.paid_fen
                out[e.id] = estimate_of(
                    e.id, queue_id, found[e.seq], remaining, inflows[queue_id], now
                )
    return out


@dataclass(frozen=True)
class NewEntryEstimate:
    """How long a new entry of ``entitlement_fen`` joining the queue ``key`` now would wait:
    everything its queue's waiting entries are still owed comes first."""

    queue_key: str
    ahead: int  # waiting entries it would queue behind
    ahead_fen: int
    entitlement_fen: int
    daily_inflow_fen: int
    eta: timedelta | None
    estimated_full_at: datetime | None
    note: str


async def new_entry_estimates(
    wanted: Sequence[tuple[str, int]], *, now: datetime
) -> list[NewEntryEstimate]:
    """For each (queue key, entitlement) of ``wanted``, the estimate of a new entry: two
    queries whatever the count (a queue not made yet has nothing waiting and no inflow)."""
    keys = sorted({key for key, _ in wanted})
    ids: dict[str, int] = dict(await Queue.filter(key__in=keys).values_list("key", "id"))
    found = list(ids.values())
    waiting = await _waiting(found) if found else {}
    inflows = await rate_inflows(found, now) if found else {}

    def estimate(key: str, entitlement_fen: int) -> NewEntryEstimate:
        queue_id = ids.get(key)
        count, owed = waiting.get(queue_id, (0, 0)) if queue_id else (0, 0)
        inflow = inflows.get(queue_id, 0) if queue_id else 0
        eta = eta_at_rate(owed + entitlement_fen, inflow)
        return NewEntryEstimate(
            queue_key=key,
            ahead=count,
            ahead_fen=owed,
            entitlement_fen=entitlement_fen,
            daily_inflow_fen=inflow // RATE_DAYS,
            eta=eta,
            estimated_full_at=None if eta is None else now + eta,
            note=ESTIMATE_NOTE if eta is not None else NO_INFLOW_NOTE,
        )

    return [estimate(key, fen) for key, fen in wanted]


async def entry_estimate(member_id: int, entry_id: int, *, now: datetime) -> EntryEstimate:
    """The estimate for ``member_id``'s own entry (someone else's reads as not found). An entry
    that no longer waits has nothing left to estimate."""
    entry = await Entry.get_or_none(id=entry_id, member_id=member_id)
    if entry is None:
        raise NotFound("排队权益不存在", field="entry_id")
    estimate = (await estimates([entry], now=now)).get(entry_id)
    if estimate is None:
        return EntryEstimate(
            entry_id, int(entry.queue_id), entry.status.value, 0, 0, 0, None, None,  # type: ignore[attr-defined]
            "该排队权益已不在队列中，无需估计。",
        )  # fmt: skip
    return estimate


async def member_entry_estimates(member_id: int, *, now: datetime) -> list[EntryEstimate]:
    """Estimates for each of the member's waiting entries, oldest first."""
    entries = await Entry.filter(member_id=member_id, status=EntryStatus.WAITING).order_by("id")
    found = await estimates(entries, now=now)
    return [found[e.id] for e in entries if e.id in found]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


SCOPES = ("mall", "stores", "cashiers", "product", "store", "cashier")


def queue_scope(key: str) -> tuple[str, int | None]:
    """A queue key (SPEC §3) → (scope, the product's / store's id or None): ``mall`` →
    ("mall", None), ``store:3`` → ("store", 3)."""
    scope, _, ident = key.partition(":")
    return scope, int(ident) if ident.isdigit() else None


async def list_queues(
    *,
    scope: str | None = None,
    key: str | None = None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[dict[str, Any]]:
    """Every queue (or those of one ``scope``, or the one with ``key``) in the order they were
    made: id, key, scope and target, its counters, and what its waiting entries are owed."""
    query = Queue.all()
    if key is not None:
        query = query.filter(key=key)
    if scope in ("mall", "stores", "cashiers"):
        query = query.filter(key=scope)
    elif scope is not None:
        query = query.filter(key__startswith=f"{scope}:")
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    waiting = await _waiting([q.id for q in page.items]) if page.items else {}

    def summary(queue: Queue) -> dict[str, Any]:
        count, owed = waiting.get(queue.id, (0, 0))
        scope_of, target_id = queue_scope(queue.key)
        return {
            "id": queue.id,
            "key": queue.key,
            "scope": scope_of,
            "target_id": target_id,
            "waiting_entries": count,
            "outstanding_fen": owed,
            "extracted_fen": queue.extracted_fen,
            "paid_fen": queue.paid_fen,
            "withheld_fen": queue.withheld_fen,
            "unallocated_fen": queue.unallocated_fen,
            "created_at": queue.created_at.isoformat(),
        }

    return page.map(summary)
