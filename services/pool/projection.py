"""The union pool's projected wait (SPEC §11): how many daily closes until the tail of the queue
is paid, at the pool's 30-day average inflow — the liability report's estimate, and what the
ceiling (排队上限, ``ceiling_days``) holds new lines out by. One close a day: closes are days."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import get_current_context

from rebate.union_pool import closes_until_paid
from rebate.union_pool_settings import PoolSettings
from runtime.sql import fetch
from services.pool.balance import pool_balance

_INFLOW = "SUM(contribution_fen - accelerated_out_fen - taken_back_fen)"


@dataclass(frozen=True)
class PoolState:
    balance_fen: int
    waiting_count: int
    waiting_owed_fen: int
    inflow_7d_fen: int  # contributions less acceleration and take-backs, of entries this recent
    inflow_30d_fen: int

    def tail_closes(self, settings: PoolSettings) -> int | None:
        """Daily closes until the last waiting entry is paid in full (None: nothing waits, or
        nothing flows in to pay it)."""
        if not self.waiting_owed_fen:
            return None
        return closes_until_paid(
            [self.waiting_owed_fen], self.balance_fen, self.inflow_30d_fen // 30,
            cap_fen=settings.daily_cap_fen,
        )[0]  # fmt: skip

    def over_ceiling(self, settings: PoolSettings) -> bool:
        """Whether the ceiling holds new lines out: the tail waits longer than ``ceiling_days``
        (or forever: something waits and nothing flows in)."""
        if settings.ceiling_days is None or not self.waiting_owed_fen:
            return False
        closes = self.tail_closes(settings)
        return closes is None or closes > settings.ceiling_days


async def inflow_per_day(conn: BaseDBAsyncClient, now: datetime, days: int) -> int:
    """The pool's average daily inflow over the last ``days`` days: contributions less what
    accelerated referrers and what refunds took back, of entries created then, floored."""
    rows = await fetch(
        conn,
        f"SELECT COALESCE({_INFLOW}, 0) AS inflow FROM union_pool_entry WHERE created_at >= $1",
        [now - timedelta(days=days)],
    )
    return int(rows[0]["inflow"]) // days


STATE_TTL = timedelta(seconds=60)  # how long the ceiling reuses the pool's state
_states: weakref.WeakKeyDictionary[Any, tuple[datetime, PoolState]] = (
    weakref.WeakKeyDictionary()
)  # per ORM context (as ``services.queues.economics`` keeps queues' rates): (read at, state)


async def recent_pool_state(conn: BaseDBAsyncClient, now: datetime) -> PoolState:
    """The pool's state as the ceiling judges new lines by: read at most ``STATE_TTL`` ago by
    this process. Reading it scans the pool's entries (~0.4 s at 1,000,000), too much for every
    payment's transaction; the ceiling is a control on weeks of waiting, and a state a minute
    old judges it as well."""
    context = get_current_context()
    known = _states.get(context) if context is not None else None
    if known is not None and timedelta(0) <= now - known[0] < STATE_TTL:
        return known[1]
    state = await pool_state(conn, now)
    if context is not None:
        _states[context] = (now, state)
    return state


async def pool_state(conn: BaseDBAsyncClient, now: datetime) -> PoolState:
    rows = await fetch(
        conn,
        "SELECT (SELECT COUNT(*) FROM union_pool_entry WHERE status = 'waiting') AS waiting,"
        " (SELECT COALESCE(SUM(quota_fen - paid_fen), 0) FROM union_pool_entry"
        "  WHERE status = 'waiting') AS owed,"
        f" (SELECT COALESCE({_INFLOW}, 0) FROM union_pool_entry WHERE created_at >= $1) AS inflow_7,"
        f" (SELECT COALESCE({_INFLOW}, 0) FROM union_pool_entry WHERE created_at >= $2) AS inflow_30",
        [now - timedelta(days=7), now - timedelta(days=30)],
    )
    row = rows[0]
    return PoolState(
        await pool_balance(conn), int(row["waiting"]), int(row["owed"]),
        int(row["inflow_7"]), int(row["inflow_30"]),
    )  # fmt: skip
