"""What a member asks the bot about their own standing: waiting entries and their places,
wallet balances, the entry they may draw the lottery on. Read-only queries.

Place rule: an entry's place is 1 + the waiting entries ahead of it
(``services.queues.place``, one query per queue); balances are ``ledger.balances.balances_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import Entry, EntryStatus, Queue
from services.queues.place import places

MAX_LISTED = 10  # entries one reply lists


@dataclass(frozen=True)
class EntryProgress:
    entry_id: int
    queue_key: str
    ahead: int  # waiting entries before it
    paid_fen: int
    entitlement_fen: int


async def waiting_entries(
    member_id: int, *, limit: int = MAX_LISTED
) -> tuple[list[EntryProgress], int]:
    """The member's oldest waiting entries (at most ``limit``) and how many wait in all."""
    waiting = Entry.filter(member_id=member_id, status=EntryStatus.WAITING)
    total = await waiting.count()
    entries = await waiting.order_by("id").limit(limit)
    queue_ids = {int(e.queue_id) for e in entries}  # type: ignore[attr-defined]
    keys: dict[int, str] = dict(await Queue.filter(id__in=queue_ids).values_list("id", "key"))
    found = {q: await places(q, [e.seq for e in entries if e.queue_id == q]) for q in queue_ids}  # type: ignore[attr-defined]
    out = []
    for e in entries:
        queue_id = int(e.queue_id)  # type: ignore[attr-defined]
        place = found[queue_id].get(e.seq)
        ahead = place.ahead if place is not None else 0
        out.append(
            EntryProgress(e.id, keys.get(queue_id, ""), ahead, e.paid_fen, e.entitlement_fen)
        )
    return out, total


async def lottery_entry(member_id: int) -> Entry | None:
    """The member's oldest entry that may still draw: waiting, offered a lottery, not drawn,
    nothing received yet (SPEC §5)."""
    return (
        await Entry.filter(
            member_id=member_id,
            status=EntryStatus.WAITING,
            lottery__isnull=False,
            lottery_drawn=False,
            paid_fen=0,
        )
        .order_by("id")
        .first()
    )
