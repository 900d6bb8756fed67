"""Reading the books: a member's balances (the one wallet read), an account's postings, and
every account's balance derived from the postings alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from ledger.accounts import member
from runtime.sql import fetch, is_pg, marks


@dataclass(frozen=True)
class Balances:
    """A member's balances: cash in fen, points, love value available and frozen."""

    cash_fen: int = 0
    points: int = 0
    love_available: int = 0
    love_frozen: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "cash_fen": self.cash_fen,
            "points": self.points,
            "love_available": self.love_available,
            "love_frozen": self.love_frozen,
        }


async def balances_of(
    member_id: int, conn: BaseDBAsyncClient | None = None, *, lock: bool = False
) -> Balances:
    """A member's cached balances (all zero for a member with no wallet yet). ``lock``: hold
    the wallet row until the caller's transaction ends (PostgreSQL; SQLite serialises writers),
    so that a debit checked against these balances cannot race another."""
    conn = conn or connections.get("default")
    suffix = " FOR UPDATE" if lock and is_pg(conn) else ""
    rows = await fetch(
        conn,
        "SELECT cash_fen, points, love_available, love_frozen FROM wallet"
        f" WHERE member_id = $1{suffix}",
        [member_id],
    )
    return Balances(**{k: int(v) for k, v in rows[0].items()}) if rows else Balances()


async def member_postings(
    member_id: int, balances: Sequence[str], *, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """The postings that move the member's ``balances`` (e.g. ``("cash",)``), newest first,
    each with ``balance`` (which one it moves) and ``signed`` (+ in, − out)."""
    accounts = [member(member_id, b) for b in balances]
    n = len(accounts)
    rows = await fetch(
        connections.get("default"),
        "SELECT id, key, kind, debit, credit, unit, amount, order_id, entry_id, memo, created_at"
        f" FROM posting WHERE (debit IN ({marks(1, n)}) OR credit IN ({marks(n + 1, n)}))"
        f" AND id < ${2 * n + 1} ORDER BY id DESC LIMIT ${2 * n + 2}",
        [*accounts, *accounts, before_id if before_id is not None else 2**62, limit],
    )
    mine = set(accounts)
    for r in rows:
        incoming = r["credit"] in mine
        r["balance"] = (r["credit"] if incoming else r["debit"]).rsplit(":", 1)[1]
        r["signed"] = int(r["amount"]) if incoming else -int(r["amount"])
    return rows


async def account_balances(conn: BaseDBAsyncClient | None = None) -> dict[str, int]:
    """Every account's balance from the postings alone: Σ credited − Σ debited."""
    rows = await fetch(
        conn or connections.get("default"),
        "SELECT account, SUM(amount) AS balance FROM (SELECT credit AS account, amount FROM posting"
        " UNION ALL SELECT debit AS account, -amount AS amount FROM posting) AS moves"
        " GROUP BY account",
    )
    return {r["account"]: int(r["balance"]) for r in rows}


async def balance_of(
    account: str, conn: BaseDBAsyncClient | None = None, *, after_id: int = 0
) -> int:
    """One account's balance from its postings (``after_id``: only those with a higher id,
    through the indexes that lead with the account)."""
    rows = await fetch(
        conn or connections.get("default"),
        "SELECT COALESCE(SUM(CASE WHEN credit = $1 THEN amount ELSE -amount END), 0) AS b"
        " FROM posting WHERE (credit = $1 OR debit = $1) AND id > $2",
        [account, after_id],
    )
    return int(rows[0]["b"])
