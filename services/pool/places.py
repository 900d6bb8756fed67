"""工会排队: where a waiting pool entry stands and how long it may wait.

A waiting entry's **place** is how many waiting entries come before it in the pool's queue (id
order, the order the daily close pays in) and what they are still owed (Σ quota − paid), read
as a share queue's places are (``services.queues.place``: a marker's place plus a live count
from it, for a whole page at once — never a count per entry). Position 1 is the next to be paid.

The **projected wait** is ``rebate.union_pool.closes_until_paid`` over what is owed up to and
including the entry, from the pool's balance now, at the pool's trailing daily inflow: the
contributions that reached the balance (less what accelerated referrers and what refunds took
back) over the last ``INFLOW_DAYS`` days, divided by ``INFLOW_DAYS``
(``services.pool.projection.inflow_per_day``), within the daily payout cap. It counts daily
closes (one a day: 1 = the next close) and is an estimate, never a promise: None when nothing
flows in and the balance does not reach the entry. Members read this one estimate everywhere:
their pool page, and the bot when it moves (``services.pool.waits``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import PoolEntryStatus
from rebate.union_pool import closes_until_paid
from rebate.union_pool_settings import PoolSettings
from services.pool.balance import pool_balance
from services.pool.projection import inflow_per_day
from services.queues.place import Place, Waitline, standing

INFLOW_DAYS = 7  # the trailing window of the members' estimate: recent enough to follow the pool


POOL_LINE = Waitline(
    "union_pool_entry",
    "id",
    "status = $1",
    (PoolEntryStatus.WAITING.value,),
    "quota_fen - paid_fen",
)


async def pool_places(entry_ids: Collection[int]) -> dict[int, Place]:
    """entry id → its place, for the given ids of waiting pool entries (others are left out)."""
    return await standing(POOL_LINE, entry_ids)


@dataclass(frozen=True)
class Outlook:
    """What the estimate starts from: the pool's balance now, its average daily inflow over the
    trailing window, and the daily payout cap."""

    balance_fen: int
    inflow_per_day_fen: int
    cap_fen: int | None

    def closes(self, through_fen: int) -> int | None:
        """Daily closes until an entry with ``through_fen`` owed up to and including it (its own
        remaining quota and all before it) is paid in full; None: no estimate."""
        [n] = closes_until_paid(
            [through_fen], self.balance_fen, self.inflow_per_day_fen, cap_fen=self.cap_fen
        )
        return n


async def outlook(
    settings: PoolSettings, now: datetime, conn: BaseDBAsyncClient | None = None
) -> Outlook:
    """The members' estimate as it stands (``conn``: in that transaction)."""
    db = conn or connections.get("default")
    return Outlook(
        await pool_balance(db),
        await inflow_per_day(db, now, INFLOW_DAYS),
        settings.daily_cap_fen,
    )
