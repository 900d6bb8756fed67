"""The union pool's balance: the latest close's ``closing_fen`` plus the pool account's postings
after the close's ``postings_through``, never a sum over every posting the pool ever had (at a
million entries that is millions of postings, read by every refund of a pool order while it
holds the pool, and by every member's pool page)."""

from __future__ import annotations

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from ledger.accounts import UNION_POOL
from ledger.balances import balance_of
from runtime.sql import fetch


async def pool_balance(conn: BaseDBAsyncClient | None = None) -> int:
    """The pool's balance now (``conn``: in that transaction)."""
    db = conn or connections.get("default")
    rows = await fetch(
        db,
        "SELECT closing_fen, postings_through FROM union_pool_day WHERE postings_through > 0"
        " ORDER BY day DESC LIMIT 1",
    )
    if not rows:
        return await balance_of(UNION_POOL, db)
    after = int(rows[0]["postings_through"])
    return int(rows[0]["closing_fen"]) + await balance_of(UNION_POOL, db, after_id=after)
