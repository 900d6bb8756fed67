"""Postings: every movement of value is one row with a debit account, a credit account, a unit
and a positive amount, keyed for idempotency (TigerBeetle's transfer; SPEC §2).

``post()`` is the one way value moves: a payout, an exchange, a commission and its release, a
dividend, a withdrawal's hold, release and payout, a store's credit and statement, a payment and
a refund. The queue writer's PostgreSQL path sends the same rows by COPY (``ledger.bulk``).

A posting's key is its identity: a key already in the books is never written again, so a retry
changes nothing. Members' balances are cached in ``wallet`` in the same transaction as the
postings that change them (members in ascending order, the lock order of every wallet writer);
``queue-rebate check`` proves each cache equals the sum of its account's postings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from tortoise.backends.base.client import BaseDBAsyncClient

from ledger.accounts import member_balance, unit_of
from runtime.sql import fetch, insert_many, sql

COLUMNS = (
    "key", "kind", "debit", "credit", "unit", "amount", "order_id", "entry_id",
    "extraction_id", "memo", "created_at",
)  # fmt: skip
WALLET_ORDER = ("cash", "points", "love_available", "love_frozen")  # a member's deltas, in order
UPSERT_WALLET = (
    "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id) DO UPDATE SET"
    " cash_fen = wallet.cash_fen + excluded.cash_fen, points = wallet.points + excluded.points,"
    " love_available = wallet.love_available + excluded.love_available,"
    " love_frozen = wallet.love_frozen + excluded.love_frozen"
)


class Posting(NamedTuple):
    """One movement of ``amount`` (> 0) of ``unit`` from ``debit`` to ``credit``. A NamedTuple
    is its own row: the writer builds thousands a second."""

    key: str
    kind: str  # payout, extraction, exchange, commission, dividend, withdrawal_hold, …
    debit: str
    credit: str
    unit: str
    amount: int
    order_id: int | None = None
    entry_id: int | None = None
    extraction_id: int | None = None
    memo: str = ""


class MalformedPosting(ValueError):
    """A posting that cannot be in the books (a bug in its caller, never the member's input)."""


def checked(postings: Iterable[Posting]) -> None:
    """Refuse a posting whose amount is not a positive integer, whose accounts are the same or
    are not accounts, or whose accounts do not both hold its unit, and a key given twice (one
    row would be written and the wallets moved twice)."""
    keys: set[str] = set()
    for p in postings:
        if p.key in keys:
            raise MalformedPosting(f"{p.key}: the same key twice in one call")
        keys.add(p.key)
        if not isinstance(p.amount, int) or isinstance(p.amount, bool) or p.amount <= 0:
            raise MalformedPosting(f"{p.key}: amount {p.amount!r} is not a positive integer")
        if p.debit == p.credit:
            raise MalformedPosting(f"{p.key}: debit and credit are both {p.debit}")
        try:
            units = {unit_of(p.debit), unit_of(p.credit)}
        except ValueError as exc:
            raise MalformedPosting(f"{p.key}: {exc}") from None
        if units != {p.unit}:
            raise MalformedPosting(f"{p.key}: {p.debit} → {p.credit} do not both hold {p.unit}")


async def post(
    conn: BaseDBAsyncClient, postings: Sequence[Posting], now: datetime
) -> list[Posting]:
    """Write the postings in the caller's transaction, each at most once (by key), and move the
    members' cached balances by the ones written. Returns those written now: a posting whose key
    is already in the books was posted before, and is skipped — unless the books hold another
    movement under that key, which is refused (``MalformedPosting``: two movements were given
    one key)."""
    checked(postings)
    if not postings:
        return []
    rows = [(*p, now) for p in postings]
    written = await insert_many(
        conn, "posting", COLUMNS, rows, returning="key", on_conflict="(key) DO NOTHING"
    )
    keys = {r["key"] for r in written}
    done = [p for p in postings if p.key in keys]
    for p in postings:
        if p.key not in keys and await posted(conn, p.key) != p:
            raise MalformedPosting(f"{p.key}: the books hold another movement under this key")
    await move_wallets(conn, wallet_deltas(done))
    return done


def wallet_deltas(postings: Iterable[Posting]) -> dict[int, list[int]]:
    """Per member, how much each of their balances (WALLET_ORDER) moves."""
    deltas: dict[int, list[int]] = {}
    for p in postings:
        for account, sign in ((p.credit, 1), (p.debit, -1)):
            owner = member_balance(account)
            if owner is not None:
                row = deltas.setdefault(owner[0], [0, 0, 0, 0])
                row[WALLET_ORDER.index(owner[1])] += sign * p.amount
    return deltas


async def move_wallets(conn: BaseDBAsyncClient, deltas: dict[int, list[int]]) -> None:
    """Add the deltas to the members' cached balances, members in ascending order."""
    if deltas:
        await conn.execute_many(sql(conn, UPSERT_WALLET), [[m, *deltas[m]] for m in sorted(deltas)])


async def posted(conn: BaseDBAsyncClient, key: str) -> Posting | None:
    """The posting with this key, if it is in the books."""
    rows = await fetch(conn, f"SELECT {', '.join(COLUMNS[:-1])} FROM posting WHERE key = $1", [key])
    return Posting(**rows[0]) if rows else None
