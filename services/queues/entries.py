"""A queue's entries as operators read them (队列明细): in queue order (seq), filtered by status,
member and when they joined, each with its progress (paid of entitlement) and, while waiting,
its place — how many waiting entries are ahead of it (``services.queues.place``, one query per
page); and an entry's payouts (its postings, found through the member's cash account)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import accounts
from models import Entry, EntryStatus, Posting, Queue
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
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[dict[str, Any]]:
    """The page of the queue's entries after ``cursor`` (an entry id), in seq order; ``since``
    (included) and ``until`` (excluded) bound when they joined."""
    if not await Queue.exists(id=queue_id):
        raise NotFound("队列不存在", field="id")
    query = Entry.filter(queue_id=queue_id).select_related("member")
    if status is not None:
        query = query.filter(status=status)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    if since is not None:
        query = query.filter(created_at__gte=since)
    if until is not None:
        query = query.filter(created_at__lt=until)
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


async def entry_payouts(entry_id: int, *, cursor: int | None, limit: int) -> Page[dict[str, Any]]:
    """The entry's payouts, oldest first: each the posting that paid it from its queue's pool
    (read through the member's cash account, whose postings are indexed)."""
    entry = await Entry.get_or_none(id=entry_id)
    if entry is None:
        raise NotFound("排队权益不存在", field="id")
    query = Posting.filter(
        credit=accounts.member(entry.member_id),  # type: ignore[attr-defined]
        kind="payout",
        entry_id=entry_id,
    )
    page = await page_by_id(query, cursor=cursor, limit=limit, newest_first=False)
    return page.map(
        lambda p: {
            "id": p.id,
            "amount_fen": p.amount,
            "extraction_id": p.extraction_id,  # type: ignore[attr-defined]
            "order_id": p.order_id,  # type: ignore[attr-defined]
            "created_at": p.created_at.isoformat(),
        }
    )
