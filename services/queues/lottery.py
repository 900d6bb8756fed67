"""抽奖 (SPEC §5): a member draws once on their own waiting entry that has received nothing.

The drawn ratio replaces the default at once: the entitlement is recomputed under the queue's
lock (the lock the queue's writer takes), so no payout can fall between the "received nothing"
check and the new entitlement.

A draw whose entitlement comes out 0 (a 0% prize, or a base too small for the prize) leaves
nothing owed: the entry is ``completed`` at once and leaves the queue, because a waiting entry
is by definition one that is still owed money.
"""

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import EntryStatus, LotteryDraw
from rebate.errors import NotAllowed
from rebate.lottery import redraw_entitlement
from rebate.random_return import RandomSource
from rebate.settings import Lottery, LotteryMode
from runtime.sql import execute, fetch, is_pg, loads
from services.errors import NotFound
from services.outbox import Event, emit
from services.queues.locks import lock_queue


@dataclass(frozen=True)
class DrawResult:
    entry_id: int
    old_ratio_bp: int
    old_entitlement_fen: int
    ratio_bp: int
    entitlement_fen: int
    status: str  # waiting; completed when the prize leaves nothing owed


async def lock_member_entry(
    conn: BaseDBAsyncClient, member_id: int, entry_id: int
) -> dict[str, Any]:
    """``member_id``'s own entry, locked in the writer's order: its queue, then the entry.
    Someone else's entry reads exactly like a missing one (its existence is not revealed)."""
    rows = await fetch(conn, "SELECT queue_id, member_id FROM entry WHERE id = $1", [entry_id])
    if not rows or int(rows[0]["member_id"]) != member_id:
        raise NotFound("排队权益不存在", field="entry_id")
    await lock_queue(conn, int(rows[0]["queue_id"]))  # an entry never changes queue
    suffix = " FOR UPDATE" if is_pg(conn) else ""
    rows = await fetch(conn, f"SELECT * FROM entry WHERE id = $1{suffix}", [entry_id])
    return rows[0]


def lottery_of(doc: Any) -> tuple[Lottery | None, str]:
    """The lottery stored on an entry and the settings layer that offered it, or (None, "")."""
    doc = loads(doc)
    if not doc:
        return None, ""
    lottery = Lottery(
        LotteryMode(doc["mode"]),
        tuple(int(r) for r in doc.get("ratios_bp") or ()),
        int(doc.get("low_bp", 0)),
        int(doc.get("high_bp", 0)),
    )
    return lottery, str(doc.get("source") or "lottery")


async def draw_lottery(
    member_id: int, entry_id: int, *, now: datetime, rng: RandomSource | None = None
) -> DrawResult:
    """Draw once on ``member_id``'s entry ``entry_id`` (default source ``secrets``).

    Refused, with nothing changed: not their entry or no such entry (``NotFound``, the same
    answer either way); no lottery, already drawn, not waiting, already paid into
    (``NotAllowed``). Records a ``LotteryDraw`` and a ``lottery_drawn`` outbox event."""
    rng = rng or secrets.SystemRandom()
    async with in_transaction() as conn:
        entry = await lock_member_entry(conn, member_id, entry_id)
        lottery, source = lottery_of(entry["lottery"])
        try:
            ratio, entitlement = redraw_entitlement(
                base_fen=int(entry["base_fen"]),
                status=str(entry["status"]),
                paid_fen=int(entry["paid_fen"]),
                drawn=bool(entry["lottery_drawn"]),
                lottery=lottery,
                rng=rng,
            )
        except NotAllowed as refused:
            raise NotAllowed(refused.message, field="entry_id") from None
        assert lottery is not None  # redraw_entitlement refuses an entry without one
        status = EntryStatus.WAITING if entitlement > 0 else EntryStatus.COMPLETED
        await execute(
            conn,
            "UPDATE entry SET ratio_bp = $1, ratio_source = $2, entitlement_fen = $3,"
            " lottery_drawn = $4, status = $5, updated_at = $6 WHERE id = $7",
            [ratio, source, entitlement, True, status.value, now, entry_id],
        )
        if status == EntryStatus.COMPLETED:
            await execute(
                conn,
                "UPDATE queue SET waiting_count = waiting_count - 1 WHERE id = $1",
                [entry["queue_id"]],
            )
        result = DrawResult(
            entry_id=entry_id,
            old_ratio_bp=int(entry["ratio_bp"]),
            old_entitlement_fen=int(entry["entitlement_fen"]),
            ratio_bp=ratio,
            entitlement_fen=entitlement,
            status=status.value,
        )
        await LotteryDraw.create(
            entry_id=entry_id,
            member_id=member_id,
            mode=lottery.mode.value,
            source=source,
            old_ratio_bp=result.old_ratio_bp,
            old_entitlement_fen=result.old_entitlement_fen,
            new_ratio_bp=ratio,
            new_entitlement_fen=entitlement,
            drawn_at=now,
            using_db=conn,
        )
        await emit(conn, [Event("lottery_drawn", member_id, asdict(result))], now)
    return result
