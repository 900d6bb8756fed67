"""PostgreSQL-only fast path for writing one settled batch of a queue (SPEC §4, issue 3).

Writes the rows ``services.queues.settled_rows`` builds — the same as ``services.queues.writer._write``,
by COPY and unnest — in a handful of round trips instead of one statement per touched row:

1. ids for the batch's new entries and extractions, from their sequences, in one query;
2. every existing entry that received money, in one ``UPDATE … FROM unnest(…)`` by id;
3. entries, extractions, postings (``ledger.bulk``: with every wallet touched, in one
   ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE``, members in ascending order, as the
   generic path locks them) and outbox events by COPY;
4. the queue's counters, the order lines (settled) and the pending rows (deleted), one statement
   each.

It runs inside the caller's transaction, holding the queue's lock (services.queues.locks.lock_queue),
like the generic path.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient

from ledger.bulk import post_by_copy
from rebate.book import QueueBook
from rebate.settlement import BatchResult
from services.outbox import COLUMNS as OUTBOX_COLUMNS
from services.queues import settled_rows as settled


async def pending_rows(conn: BaseDBAsyncClient, queue_id: int, limit: int) -> list[asyncpg.Record]:
    """The queue's next pending rows in id order, as asyncpg records (read by key like dicts,
    without the conversion tortoise does for every row)."""
    async with conn.acquire_connection() as raw:
        rows: list[asyncpg.Record] = await raw.fetch(
            "SELECT * FROM pending_settlement WHERE queue_id = $1 ORDER BY id LIMIT $2",
            queue_id, limit,
        )  # fmt: skip
    return rows


async def completed_orders(conn: BaseDBAsyncClient, order_ids: set[int]) -> set[int]:
    """Which of the batch's orders are completed. Their rows are share-locked, so an order
    cannot complete between this read and the commit of its new entries (its completion marks
    its entries payable, SPEC §4 ``completed_first``)."""
    async with conn.acquire_connection() as raw:
        rows = await raw.fetch(
            "SELECT id, status = 'completed' FROM orders WHERE id = ANY($1::bigint[]) FOR SHARE",
            sorted(order_ids),
        )  # fmt: skip
    return {r[0] for r in rows if r[1]}


_HEADS: dict[tuple[str, int, Any], int] = {}  # (database, queue id, created) → head hint


async def window_chunk(
    conn: BaseDBAsyncClient, queue: dict[str, Any], after_seq: int, limit: int,
    completed_only: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """The next ``limit`` waiting entries of ``queue`` after ``after_seq``, in queue order.

    It reads the partial index of waiting entries ``(queue_id, seq) WHERE status = 'waiting'``,
    which an entry leaves when it stops waiting. Completed entries still leave dead index
    entries behind until vacuum, so the scan starts at the head last seen by this process, not
    at seq 0. The hint is always safe: a queue's smallest waiting seq never goes down (new
    entries join at the tail, and no entry ever returns to ``waiting``), and it is learnt only
    from a ``queue_order`` window, whose first row *is* the smallest waiting seq. It is keyed by
    database, queue id and the queue's creation time, so a process that meets several
    databases (tests) never applies one queue's hint to another."""
    async with conn.acquire_connection() as raw:
        key, start = None, after_seq
        if after_seq == 0:  # the batch's first chunk: start at the head last seen
            db = await raw.fetchval("SELECT current_database()")
            key = (db, int(queue["id"]), queue["created_at"])
            start = _HEADS.get(key, 0)
        rows = await raw.fetch(
            "SELECT id, seq, order_id, member_id, entitlement_fen, paid_fen, order_completed FROM entry"
            " WHERE queue_id = $1 AND status = 'waiting' AND seq > $2"
            + (" AND order_completed" if completed_only else "")
            + " ORDER BY seq LIMIT $3",
            int(queue["id"]), start, limit,
        )  # fmt: skip
    if key is not None and rows and not completed_only:
        _HEADS[key] = int(rows[0]["seq"]) - 1
    return [dict(r) for r in rows]


async def write_batch(
    conn: BaseDBAsyncClient, queue: dict[str, Any], pending: Sequence[Mapping[str, Any]],
    book: QueueBook, window_ids: Mapping[int, int], result: BatchResult, now: datetime,
) -> None:  # fmt: skip
    """Write the outcome of ``settle_batch`` for ``pending`` (the batch's rows, in order);
    ``window_ids`` are the ids of the book's entries (seq → id)."""
    async with conn.acquire_connection() as raw:
        await _write(raw, queue, pending, book, window_ids, result, now)


async def _write(
    raw: asyncpg.Connection, queue: dict[str, Any], pending: Sequence[Mapping[str, Any]],
    book: QueueBook, window_ids: Mapping[int, int], result: BatchResult, now: datetime,
) -> None:  # fmt: skip
    queue_id = int(queue["id"])
    by_line = {int(p["line_id"]): p for p in pending}
    joined = settled.joined_entries(result)
    old = settled.paid_entries(book, joined)

    # 1. Ids for the new entries and extractions.
    ids = await raw.fetchrow(
        "SELECT ARRAY(SELECT nextval($1::regclass) FROM generate_series(1, $2)) AS entries,"
        " ARRAY(SELECT nextval($3::regclass) FROM generate_series(1, $4)) AS extractions",
        await _sequence(raw, "entry"), len(joined),
        await _sequence(raw, "extraction"), len(result.lines),
    )  # fmt: skip
    entry_ids = {
        **window_ids,
        **{j.seq: eid for j, eid in zip(joined, ids["entries"], strict=True)},
    }
    ext_ids = {o.line_id: xid for o, xid in zip(result.lines, ids["extractions"], strict=True)}

    # 2. Existing entries that received money.
    if old:
        seqs, paid, status = zip(*old, strict=True)
        done = await raw.execute(
            "UPDATE entry AS e SET paid_fen = u.paid, status = u.status, updated_at = $1"
            " FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS u(id, paid, status)"
            " WHERE e.id = u.id",
            now, [entry_ids[s] for s in seqs], paid, status,
        )  # fmt: skip
        if done != f"UPDATE {len(old)}":
            raise RuntimeError(f"queue {queue_id}: paid entries not all found ({done})")

    # 3. The rows, by COPY (no foreign keys on these tables: see models.queues.Entry).
    new_entries = settled.entry_rows(queue_id, joined, by_line, book, now)
    await _copy(raw, "entry", ("id", *settled.ENTRY_COLUMNS),
                [(entry_ids[r[1]], *r) for r in new_entries])  # fmt: skip
    await _copy(raw, "extraction", ("id", *settled.EXTRACTION_COLUMNS),
                [(ext_ids[r[1]], *r) for r in settled.extraction_rows(queue_id, result, by_line, entry_ids, now)])  # fmt: skip
    money = settled.money_rows(queue, result, by_line, entry_ids, ext_ids, now)
    await post_by_copy(raw, money.postings, now, wallets=money.wallets)  # and the wallets
    await _copy(raw, "outbox_event", OUTBOX_COLUMNS, money.events)

    # 4. Queue counters, pending rows and lines.
    await raw.execute(
        settled.QUEUE_COUNTERS_SQL, *settled.queue_counter_args(queue_id, book, result)
    )
    await raw.execute(
        "DELETE FROM pending_settlement WHERE id = ANY($1::bigint[])",
        [int(p["id"]) for p in pending],
    )  # fmt: skip
    await raw.execute(
        "UPDATE order_line SET status = 'settled' WHERE status = 'settling' AND id = ANY($1::bigint[])",
        [int(p["line_id"]) for p in pending],
    )  # fmt: skip


_SEQUENCES: dict[str, str] = {}


async def _sequence(raw: asyncpg.Connection, table: str) -> str:
    """The sequence behind ``table.id`` (looked up once per process)."""
    if table not in _SEQUENCES:
        _SEQUENCES[table] = await raw.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
    return _SEQUENCES[table]


async def _copy(
    raw: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: list[Any]
) -> None:
    if rows:
        await raw.copy_records_to_table(table, columns=columns, records=rows)
