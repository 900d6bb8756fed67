"""A refunded line of a pool order (SPEC §11): its contribution comes back out of the pool's
balance as far as it is still there (``pool_back:<line>``, pool → sales); the rest of the
contribution — what the daily closes already paid out of the balance, and the share that
accelerated the buyer's referrer, which stays paid — is platform cost
(``pool_refund_cost:<line>``, platform:cost → sales), so the refunded line nets to zero in sales
as a share queue's refund does. Its entry, if still waiting, leaves the queue (``refunded``);
what it already received (closes, accelerations) stays paid. The next daily close counts the
take-back in its statement.

The pool is held exclusively (``lock_pool``): two refunds never take the same balance twice,
and a close never runs half-way through one."""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from ledger import accounts
from ledger.postings import Posting, post
from models import PoolEntryStatus
from rebate.union_pool import take_back
from runtime.sql import execute, fetch, is_pg
from services.outbox import Event, emit
from services.pool.balance import pool_balance
from services.pool.settings import lock_pool


async def take_back_line(
    conn: BaseDBAsyncClient, line_id: int, order_id: int, now: datetime
) -> str | None:
    """The refund's effect on the pool, in the refund's transaction; what happened, or None when
    the line has no pool entry (it settled into a share queue, or not at all)."""
    found = await fetch(
        conn, "SELECT member_id FROM union_pool_entry WHERE line_id = $1", [line_id]
    )
    if not found:
        return None
    await lock_pool(conn, now, exclusive=True)
    lock = " FOR UPDATE" if is_pg(conn) else ""
    # the member row first, as an acceleration of their oldest entry takes it
    await fetch(conn, f"SELECT id FROM member WHERE id = $1{lock}", [found[0]["member_id"]])
    rows = await fetch(
        conn,
        "SELECT id, member_id, status, contribution_fen, accelerated_out_fen, refunded_at"
        f" FROM union_pool_entry WHERE line_id = $1{lock}",
        [line_id],
    )
    entry = rows[0]
    if entry["refunded_at"] is not None:
        return "after_settlement_pool_done"
    sped = int(entry["accelerated_out_fen"])
    pooled = int(entry["contribution_fen"]) - sped
    taken, unpaid = take_back(pooled, max(0, await pool_balance(conn)))
    cost = unpaid + sped
    left = entry["status"] == PoolEntryStatus.WAITING.value
    await execute(
        conn,
        "UPDATE union_pool_entry SET refunded_at = $1, taken_back_fen = $2, refund_cost_fen = $3,"
        " status = $4 WHERE id = $5",
        [
            now,
            taken,
            cost,
            PoolEntryStatus.REFUNDED.value if left else entry["status"],
            entry["id"],
        ],
    )
    postings = []
    if taken:
        postings.append(Posting(
            f"pool_back:{line_id}", "pool_back", accounts.UNION_POOL, accounts.SALES, "cash",
            taken, order_id, memo=f"pool_entry:{entry['id']}",
        ))  # fmt: skip
    if cost:
        postings.append(Posting(
            f"pool_refund_cost:{line_id}", "pool_refund_cost", accounts.COST, accounts.SALES,
            "cash", cost, order_id, memo=f"pool_entry:{entry['id']}",
        ))  # fmt: skip
    await post(conn, postings, now)
    if not left:
        return "after_settlement_pool_done"
    event = Event("pool_entry_refunded", int(entry["member_id"]), {"entry_id": int(entry["id"])})
    await emit(conn, [event], now)
    return "after_settlement_left_pool"
