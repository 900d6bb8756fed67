"""工会排队's queue as operators read it: the pool's entries in queue order (id, the order the
daily close pays in), filtered by status and member, each with its quota, what it has been paid
and, while waiting, its position (1 = next to be paid) and what the entries before it are still
owed — one windowed query per page (``services.pool.places``)."""

from __future__ import annotations

from typing import Any

from models import PoolEntry, PoolEntryStatus
from services.paging import Page, page_by_id
from services.pool.places import pool_places
from services.queues.place import Place

STATUSES = tuple(s.value for s in PoolEntryStatus)


async def pool_entries(
    *, status: str | None, member_id: int | None, cursor: int | None, limit: int
) -> Page[dict[str, Any]]:
    """The page of pool entries after ``cursor`` (an entry id), oldest first."""
    query = PoolEntry.all().select_related("member")
    if status is not None:
        query = query.filter(status=status)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    places = await pool_places([e.id for e in page.items if e.status == PoolEntryStatus.WAITING])
    return page.map(lambda e: entry_json(e, places.get(e.id)))


def entry_json(e: PoolEntry, place: Place | None) -> dict[str, Any]:
    return {
        "id": e.id,
        "member_id": e.member_id,  # type: ignore[attr-defined]
        "nickname": e.member.nickname,
        "order_id": e.order_id,  # type: ignore[attr-defined]
        "source": e.source,
        "status": e.status.value,
        "contribution_fen": e.contribution_fen,
        "quota_fen": e.quota_fen,
        "paid_fen": e.paid_fen,
        "accelerated_in_fen": e.accelerated_in_fen,
        "position": None if place is None else place.ahead + 1,
        "ahead_fen": None if place is None else place.ahead_fen,
        "created_at": e.created_at.isoformat(),
        "completed_at": e.completed_at.isoformat() if e.completed_at else None,
    }
