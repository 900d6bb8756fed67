"""A waiting entry's place in its queue: how many waiting entries of the same queue have a
smaller seq — the order the queue pays in under 按队列顺序 (SPEC §4) — and what they are still
owed. 0 ahead: it is paid next.

``places`` answers for several entries of one queue with one scan of the queue's waiting part up
to the last of them (the partial index on waiting entries): a member's page of entries costs one
query per queue, not two per entry.
"""

from collections.abc import Collection
from dataclasses import dataclass

from tortoise import connections

from models import EntryStatus
from runtime.sql import fetch, marks


@dataclass(frozen=True)
class Place:
    ahead: int  # waiting entries before it
    ahead_fen: int  # what they are still owed (Σ entitlement − paid)


async def places(queue_id: int, seqs: Collection[int]) -> dict[int, Place]:
    """seq → its place, for the given seqs of waiting entries of ``queue_id`` (a seq that is not
    a waiting entry's is left out)."""
    if not seqs:
        return {}
    wanted = sorted(set(seqs))
    rows = await fetch(
        connections.get("default"),
        "SELECT seq, ahead, ahead_fen FROM ("
        " SELECT seq, COUNT(*) OVER w - 1 AS ahead,"
        "  SUM(entitlement_fen - paid_fen) OVER w - (entitlement_fen - paid_fen) AS ahead_fen"
        " FROM entry WHERE queue_id = $1 AND status = $2 AND seq <= $3"
        " WINDOW w AS (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        f") AS prefix WHERE seq IN ({marks(4, len(wanted))})",
        [queue_id, EntryStatus.WAITING.value, wanted[-1], *wanted],
    )
    return {int(r["seq"]): Place(int(r["ahead"]), int(r["ahead_fen"])) for r in rows}
