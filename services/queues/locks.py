"""Queue rows: found or created by key, locked for their single writer."""

import weakref
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import get_current_context

from runtime.sql import execute, fetch, is_pg
from services.errors import NotFound

# Queue ids by key, per ORM context (a queue is never deleted and its key never changes). Only
# ids read by a transaction that created no queue are kept: what such a transaction sees is
# committed, so a rolled-back creation is never remembered.
_ids: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
_creators: weakref.WeakSet[BaseDBAsyncClient] = weakref.WeakSet()


def forget_queue_ids() -> None:
    """Forget every remembered queue id (for whoever deletes queue rows behind the service's
    back, as a test resetting its database does)."""
    _ids.clear()


async def ensure_queue(conn: BaseDBAsyncClient, key: str, now: datetime) -> int:
    """The id of the queue ``key``, creating it if this is its first line (race-safe). From the
    process's memory once the queue is known, else one read."""
    context = get_current_context()
    known = _ids.setdefault(context, {}) if context is not None else {}
    if key in known:
        return known[key]
    rows = await fetch(conn, "SELECT id FROM queue WHERE key = $1", [key])
    if rows:
        if conn not in _creators:
            known[key] = int(rows[0]["id"])
        return int(rows[0]["id"])
    _creators.add(conn)
    await execute(
        conn,
        "INSERT INTO queue (key, next_seq, waiting_count, extracted_fen, paid_fen, withheld_fen,"
        " unallocated_fen, rr_size, rr_slots, rr_index, created_at)"
        " VALUES ($1, 1, 0, 0, 0, 0, 0, 0, '', 0, $2) ON CONFLICT (key) DO NOTHING",
        [key, now],
    )
    rows = await fetch(conn, "SELECT id FROM queue WHERE key = $1", [key])
    return int(rows[0]["id"])


async def lock_queue(conn: BaseDBAsyncClient, queue_id: int) -> dict[str, Any]:
    """Take the queue's writer lock for the rest of the transaction and return its row.

    PostgreSQL: a row lock, so one writer per queue across every process. ``FOR NO KEY
    UPDATE`` excludes every other writer as ``FOR UPDATE`` does, but not a ``FOR KEY SHARE``
    (the queue's key never changes). Foreign-key checks take that lock: until migration 0018
    each new ``pending_settlement`` row's did, and under ``FOR UPDATE`` producers storing paid
    orders and the writer ran in lock step (issue 3); since 0018 no constraint refers to the
    queue. SQLite serialises writers itself (STACK.md: row locks are dropped there)."""
    suffix = " FOR NO KEY UPDATE" if is_pg(conn) else ""
    rows = await fetch(conn, f"SELECT * FROM queue WHERE id = $1{suffix}", [queue_id])
    if not rows:
        raise NotFound(f"队列 {queue_id} 不存在")
    return rows[0]


# pg_advisory_xact_lock(WRITER_LOCK, queue id): held by a queue's writer while it applies a
# batch ("QWRT"; the two-key form, so it never meets services.distribution.referral's one-key lock).
WRITER_LOCK = 0x51_57_52_54


async def mark_writer(conn: BaseDBAsyncClient, queue_id: int) -> None:
    """Tell the queue's other would-be writers, until this transaction ends, that the holder of
    its lock is a writer — which applies every pending row it can see — and not, say, a refund
    (see ``writer_at_work``). Call it holding ``lock_queue``."""
    if is_pg(conn):
        await execute(conn, "SELECT pg_advisory_xact_lock($1, $2)", [WRITER_LOCK, queue_id])


async def writer_at_work(conn: BaseDBAsyncClient, queue_id: int) -> bool:
    """Whether a writer holds (or is about to hold) the queue's lock; takes no lock itself."""
    if not is_pg(conn):
        return False
    rows = await fetch(
        conn,
        "SELECT 1 AS one FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid"
        " FROM pg_database WHERE datname = current_database()) AND classid = $1 AND objid = $2"
        " AND objsubid = 2 AND granted LIMIT 1",
        [WRITER_LOCK, queue_id],
    )
    return bool(rows)


async def try_lock_queue(conn: BaseDBAsyncClient, queue_id: int) -> dict[str, Any] | None:
    """``lock_queue`` without waiting: None while another transaction holds the lock
    (PostgreSQL ``SKIP LOCKED``). On SQLite, where writers are serialised by the database
    itself, the same as ``lock_queue``."""
    if not is_pg(conn):
        return await lock_queue(conn, queue_id)
    rows = await fetch(
        conn, "SELECT * FROM queue WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED", [queue_id]
    )
    if rows:
        return rows[0]
    if not await fetch(conn, "SELECT 1 FROM queue WHERE id = $1", [queue_id]):
        raise NotFound(f"队列 {queue_id} 不存在")
    return None
