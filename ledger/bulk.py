"""The queue writer's PostgreSQL path for postings: the same rows as ``ledger.postings.post``,
sent by COPY, and every member's cached balances moved in one statement.

Only for postings whose keys are new by construction (the writer's keys name the extraction it
has just numbered): COPY has no ON CONFLICT, so a key already in the books fails the batch's
transaction instead of being skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from ledger.postings import COLUMNS, Posting, checked, wallet_deltas


async def post_by_copy(
    raw: asyncpg.Connection,
    postings: Sequence[Posting],
    now: datetime,
    *,
    wallets: dict[int, list[int]] | None = None,
) -> None:
    """Write the postings and move the wallets, inside the caller's transaction.

    ``wallets``: the members' deltas (as ``ledger.postings.wallet_deltas`` gives them), when the
    caller built them together with the postings. The queue writer does, from the engine's
    result, thousands a second, and its postings are well formed by construction
    (tests/services/test_writer_postings.py checks them): they are neither checked nor parsed
    again here."""
    if not postings:
        return
    if wallets is None:
        checked(postings)
        wallets = wallet_deltas(postings)
    await raw.copy_records_to_table(
        "posting", columns=COLUMNS, records=[(*p, now) for p in postings]
    )
    deltas = wallets
    members = sorted(deltas)
    await raw.execute(
        "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
        " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])"
        " ON CONFLICT (member_id) DO UPDATE SET cash_fen = wallet.cash_fen + excluded.cash_fen,"
        " points = wallet.points + excluded.points,"
        " love_available = wallet.love_available + excluded.love_available,"
        " love_frozen = wallet.love_frozen + excluded.love_frozen",
        members,
        *([deltas[m][i] for m in members] for i in range(4)),
    )
