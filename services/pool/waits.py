"""Telling members when their projected wait moves (SPEC §9 for the union pool): after each
daily close, every waiting entry's wait — the members' estimate (``services.pool.places``):
daily closes until it is paid in full, at the pool's 7-day average inflow, from what the close
carried — is compared with the wait its member last heard of (``told_wait_days``). A move of
``notify_wait_days`` or more, either way, is told (``pool_wait_changed``) and remembered; an
entry's first estimate is remembered without a message (it just joined, and was told so).
No estimate (nothing flows in) tells nothing. Read in chunks, in queue order, in the close's
transaction."""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from rebate.union_pool import closes_until_paid
from rebate.union_pool_settings import PoolSettings
from runtime.sql import execute, fetch, marks
from services.outbox import Event, emit
from services.pool.places import outlook

CHUNK = 1_000


async def tell_wait_changes(conn: BaseDBAsyncClient, settings: PoolSettings, now: datetime) -> int:
    """After a close: remember each waiting entry's wait, tell the moved ones; how many told."""
    basis = await outlook(settings, now, conn)
    after, ahead, told = 0, 0, 0
    while True:
        rows = await fetch(
            conn,
            "SELECT id, member_id, quota_fen - paid_fen AS owed, told_wait_days"
            " FROM union_pool_entry WHERE status = 'waiting' AND id > $1 ORDER BY id LIMIT $2",
            [after, CHUNK],
        )
        if not rows:
            return told
        owed = [int(r["owed"]) for r in rows]
        waits = closes_until_paid(
            [ahead, *owed], basis.balance_fen, basis.inflow_per_day_fen, cap_fen=basis.cap_fen
        )[1:]
        changed: dict[int, int] = {}
        events = []
        for row, wait in zip(rows, waits, strict=True):
            was = row["told_wait_days"]
            if wait is None or wait == was:
                continue
            if was is None or abs(wait - int(was)) >= settings.notify_wait_days:
                changed[int(row["id"])] = wait
            if was is not None and abs(wait - int(was)) >= settings.notify_wait_days:
                payload = {"entry_id": int(row["id"]), "wait_days": wait, "was_days": int(was)}
                events.append(Event("pool_wait_changed", int(row["member_id"]), payload))
        await _remember(conn, changed)
        await emit(conn, events, now)
        told += len(events)
        ahead += sum(owed)
        after = int(rows[-1]["id"])


async def _remember(conn: BaseDBAsyncClient, waits: dict[int, int]) -> None:
    """One statement for the chunk's changed entries."""
    if not waits:
        return
    ids = list(waits)
    cases = " ".join(f"WHEN {i} THEN {waits[i]}" for i in ids)  # ints only: no injection
    await execute(
        conn,
        f"UPDATE union_pool_entry SET told_wait_days = CASE id {cases} END"
        f" WHERE id IN ({marks(1, len(ids))})",
        ids,
    )
