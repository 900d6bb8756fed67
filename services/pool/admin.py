"""工会排队 as the operator sees it (控盘): the settings, changed and audited; the pool's state —
balance, what waiting members are owed, the trailing inflow and the projected wait of the tail;
and the daily statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import connections

from models import PoolDay
from rebate.union_pool_settings import PoolSettings
from services import audit
from services.paging import Page, page_by_id
from services.pool.projection import pool_state
from services.pool.settings import load_pool, store_pool, to_doc
from services.settings.cache import POOL, changing


async def save_pool_settings(settings: PoolSettings, *, operator: str, now: datetime) -> None:
    """Save the settings, one line of the operation log (nothing when they are in force)."""
    current = await load_pool()
    if to_doc(settings) == to_doc(current):
        return
    async with changing(POOL) as conn:
        await store_pool(conn, settings)
        await audit.record(
            conn, operator=operator, section="union_pool", old=to_doc(current),
            new=to_doc(settings), now=now,
        )  # fmt: skip


async def pool_overview(now: datetime) -> dict[str, Any]:
    """The liability report: the balance, waiting entries and what they are owed, the pool's
    inflow (contributions less acceleration and take-backs) over the last 7 and 30 days, and the
    projected number of daily closes until the tail is paid at the 30-day average (an estimate;
    None while nothing flows in, or nothing waits)."""
    state = await pool_state(connections.get("default"), now)
    settings = await load_pool()
    last = await PoolDay.all().order_by("-day").first()
    return {
        "balance_fen": state.balance_fen, "waiting_count": state.waiting_count,
        "waiting_owed_fen": state.waiting_owed_fen, "inflow_7d_fen": state.inflow_7d_fen,
        "inflow_30d_fen": state.inflow_30d_fen, "tail_closes": state.tail_closes(settings),
        "last_closed_day": last.day.isoformat() if last else None,
    }  # fmt: skip


def day_json(day: PoolDay) -> dict[str, Any]:
    return {
        "id": day.id, "day": day.day.isoformat(), "closed_at": day.closed_at.isoformat(),
        "opening_fen": day.opening_fen, "contributed": day.contributed,
        "accelerated_fen": day.accelerated_fen, "taken_back_fen": day.taken_back_fen,
        "paid_fen": day.paid_fen, "paid_count": day.paid_count, "closing_fen": day.closing_fen,
        "waiting_count": day.waiting_count, "waiting_owed_fen": day.waiting_owed_fen,
    }  # fmt: skip


async def pool_days(*, cursor: int | None, limit: int) -> Page[dict[str, Any]]:
    """工会返利池日结单, newest first."""
    return (await page_by_id(PoolDay.all(), cursor=cursor, limit=limit)).map(day_json)
