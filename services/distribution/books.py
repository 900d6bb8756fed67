"""The two writes every distribution payment makes, in the caller's transaction: cash ledger
lines with the wallet balances they change, and outbox events for the chat bot (SPEC §9)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from runtime.sql import execute, insert_many

LEDGER_COLUMNS = ("member_id", "asset", "amount", "kind", "key", "order_id", "memo", "created_at")


@dataclass(frozen=True)
class CashLine:
    """One credit to a member's cash wallet; ``key`` makes it happen at most once."""

    member_id: int
    amount_fen: int
    kind: str  # commission | dividend
    key: str
    memo: str
    order_id: int | None = None


async def pay_cash(conn: BaseDBAsyncClient, lines: Sequence[CashLine], now: datetime) -> None:
    """Write the ledger lines and add them to the wallets (members in id order, the lock order
    of every other wallet writer), so that each balance stays the sum of its lines."""
    if not lines:
        return
    await insert_many(
        conn,
        "ledger_line",
        LEDGER_COLUMNS,
        [
            (x.member_id, "cash", x.amount_fen, x.kind, x.key, x.order_id, x.memo, now)
            for x in lines
        ],
    )
    per_member: dict[int, int] = {}
    for x in lines:
        per_member[x.member_id] = per_member.get(x.member_id, 0) + x.amount_fen
    for member_id, amount in sorted(per_member.items()):
        await execute(
            conn,
            "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
            " VALUES ($1, $2, 0, 0, 0) ON CONFLICT (member_id) DO UPDATE SET"
            " cash_fen = wallet.cash_fen + excluded.cash_fen",
            [member_id, amount],
        )


async def write_events(
    conn: BaseDBAsyncClient,
    events: Sequence[tuple[str, int | None, dict[str, Any]]],
    now: datetime,
) -> None:
    """Outbox events ``(kind, member id, payload)``; delivery never rolls money back."""
    await insert_many(
        conn,
        "outbox_event",
        ("kind", "member_id", "payload", "created_at"),
        [
            (kind, member, json.dumps(payload, ensure_ascii=False), now)
            for kind, member, payload in events
        ],
    )
