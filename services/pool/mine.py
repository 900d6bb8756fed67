"""工会排队 as a member sees it: their pool entries, newest first, each with its quota, what it
has been paid (closes and accelerations), the acceleration it received, its status and — while
it waits — its position in the pool's queue, what the entries before it are still owed and the
projected wait (an estimate: ``services.pool.places``). One page costs one windowed query for
the places, one for the trailing inflow and one for the pool's balance, whatever its size."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models import PoolEntry, PoolEntryStatus
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.pool.places import INFLOW_DAYS, Outlook, outlook, pool_places
from services.pool.settings import load_pool
from services.queues.place import Place

STATUSES = tuple(s.value for s in PoolEntryStatus)
NOTE = f"预计等待天数按工会返利池当前余额与近{INFLOW_DAYS}天日均流入推算，是估计而非承诺"


async def my_pool_entries(
    member_id: int,
    *,
    status: str | None,
    now: datetime,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[dict[str, Any], Page[dict[str, Any]]]:
    """What the page reports beside it (the estimate's basis), and the member's entries."""
    query = PoolEntry.filter(member_id=member_id)
    if status is not None:
        query = query.filter(status=status)
    page = await page_by_id(query, cursor=cursor, limit=limit)
    waiting = [e.id for e in page.items if e.status == PoolEntryStatus.WAITING]
    places = await pool_places(waiting)
    basis = await outlook(await load_pool(), now)
    beside = {"inflow_per_day_fen": basis.inflow_per_day_fen, "note": NOTE}
    return beside, page.map(lambda e: mine_json(e, places.get(e.id), basis))


def mine_json(e: PoolEntry, place: Place | None, basis: Outlook) -> dict[str, Any]:
    owed = e.quota_fen - e.paid_fen
    return {
        "id": e.id,
        "order_id": e.order_id,  # type: ignore[attr-defined]
        "source": e.source,
        "status": e.status.value,
        "quota_fen": e.quota_fen,
        "paid_fen": e.paid_fen,
        "owed_fen": owed,
        "accelerated_in_fen": e.accelerated_in_fen,
        "position": None if place is None else place.ahead + 1,
        "ahead_fen": None if place is None else place.ahead_fen,
        "projected_wait_days": None if place is None else basis.closes(place.ahead_fen + owed),
        "created_at": e.created_at.isoformat(),
        "completed_at": e.completed_at.isoformat() if e.completed_at else None,
    }
