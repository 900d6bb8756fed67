"""A queue's entries as operators read them (队列明细): in queue order (seq), filtered by status
and member, each with its progress (paid of entitlement) and, while waiting, its place — how
many waiting entries are ahead of it (``services.queues.place``, one query per page)."""

from __future__ import annotations

from typing import Any

from models import Entry, EntryStatus, Queue
from services.errors import NotFound
from services.paging import Page, page_by_id
from services.queues.place import places

STATUSES = tuple(s.value for s in EntryStatus)


async def queue_entries(
    queue_id: int,
    *,
    status: str | None,
    member_id: int | None,
    cursor: int | None,
    limit: int,
) -> Page[dict[str, Any]]:
    """The page of the queue's entries after ``cursor`` (an entry id), in seq order."""
    if not await Queue.exists(id=queue_id):
        raise NotFound("队列不存在", field="id")
    query = Entry.filter(queue_id=queue_id).select_related("member")
    if status is not None:
        query = query.filter(status=status)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False, key="seq")
    waiting = [e.seq for e in page.items if e.status == EntryStatus.WAITING]
    ahead = await places(queue_id, waiting)
    return page.map(lambda e: entry_json(e, ahead[e.seq].ahead if e.seq in ahead else None))


def entry_json(e: Entry, ahead: int | None) -> dict[str, Any]:
    return {
        "id": e.id,
        "seq": e.seq,
        "member_id": e.member_id,  # type: ignore[attr-defined]
        "nickname": e.member.nickname,
        "order_id": e.order_id,  # type: ignore[attr-defined]
        "target": e.target,
        "status": e.status.value,
        "base_fen": e.base_fen,
        "ratio_bp": e.ratio_bp,
        "entitlement_fen": e.entitlement_fen,
        "paid_fen": e.paid_fen,
        "points": e.points,
        "ahead": ahead,
        "created_at": e.created_at.isoformat(),
    }
