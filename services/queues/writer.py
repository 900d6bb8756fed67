"""The single writer of a queue: applies its pending settlements in batches (SPEC §4).

One transaction per batch: lock the queue row, read up to ``batch_size`` pending lines in
order, load just enough waiting entries from the head to cover their extractions, let the
pure engine decide every payout, then write entries, extractions, the postings that move the
money (``ledger``), outbox events and the queue's counters together. The cost of a batch depends
on the batch, never on the length of the queue.
"""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ledger.postings import post
from rebate.book import QueueBook, Waiting
from rebate.random_return import GroupCursor, RandomSource
from rebate.settings import BaseSettings, Limits, PayoutOrder, RandomReturn
from rebate.settlement import NO_LIMITS, BatchResult, SettlingLine, settle_batch
from runtime import metrics
from runtime.sql import as_datetime, execute, fetch, insert_many, is_pg, marks, sql
from services.outbox import COLUMNS as OUTBOX_COLUMNS
from services.queues import pg_bulk
from services.queues import settled_rows as settled
from services.queues.locks import lock_queue, mark_writer, try_lock_queue, writer_at_work
from services.settings.base import load_base

WINDOW_CHUNK = 256
DEFAULT_BATCH = 500


@dataclass
class Applied:
    lines: int = 0
    batches: int = 0
    busy: bool = False  # another writer held the queue (``wait=False``): it was left to it


async def apply_pending(
    queue_id: int,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    rng: RandomSource | None = None,
    base: BaseSettings | None = None,
    wait: bool = True,
) -> Applied:
    """Apply every pending settlement of the queue, batch by batch, until none is left.

    Before each batch it looks for pending rows without the lock, and stops when there are
    none, so an idle queue is never locked. ``wait=False``: if another *writer* holds the
    queue's lock, return at once (``busy``) instead of queueing behind it. Nothing is left
    behind by that: the writer looks for pending rows again after it commits, so it sees every
    row committed before this call (and so on, for whoever writes next); every settlement
    event commits its pending rows before it drains. Behind any other holder of the lock (a
    refund, a lottery draw, an exchange, clearing: short transactions that do not look for
    pending rows afterwards) it waits, as with ``wait=True``."""
    done = Applied()
    rng = rng or secrets.SystemRandom()
    blocking = wait
    while await has_pending(queue_id):
        async with in_transaction() as conn:
            n = await apply_batch(
                conn, queue_id, now=now, batch_size=batch_size, rng=rng, base=base, wait=blocking
            )
            if n is None and await writer_at_work(conn, queue_id):
                done.busy = True
                return done
        if n is None:
            blocking = True  # not a writer: wait for it, then apply
            continue
        blocking = wait
        done.lines += n
        done.batches += 1 if n else 0
    return done


async def has_pending(queue_id: int) -> bool:
    """Whether the queue has pending settlements (committed ones; no lock taken)."""
    rows = await fetch(
        connections.get("default"),
        "SELECT 1 AS one FROM pending_settlement WHERE queue_id = $1 LIMIT 1",
        [queue_id],
    )
    return bool(rows)


async def queues_with_pending() -> set[int]:
    """The queues with pending settlements (committed ones; no lock taken)."""
    rows = await fetch(
        connections.get("default"), "SELECT DISTINCT queue_id FROM pending_settlement", []
    )
    return {int(r["queue_id"]) for r in rows}


async def apply_backlog(
    *, now: datetime, rng: RandomSource | None = None, batch_size: int = DEFAULT_BATCH
) -> Applied:
    """Apply the pending settlements of every queue that has any, skipping queues whose writer
    is at work (it applies them itself): what the writer loop's poll does continuously
    (``services.queues.runner``), once, for a caller without a loop."""
    done = Applied()
    for queue_id in sorted(await queues_with_pending()):
        applied = await apply_pending(queue_id, now=now, rng=rng, batch_size=batch_size, wait=False)
        done.lines += applied.lines
        done.batches += applied.batches
        done.busy |= applied.busy
    return done


async def apply_batch(
    conn: BaseDBAsyncClient,
    queue_id: int,
    *,
    now: datetime,
    batch_size: int,
    rng: RandomSource,
    base: BaseSettings | None = None,
    wait: bool = True,
) -> int | None:
    """One batch inside the caller's transaction, as the queue's writer; returns how many lines
    it applied, or None when ``wait`` is False and another transaction holds the queue's
    lock."""
    queue = await (lock_queue if wait else try_lock_queue)(conn, queue_id)
    if queue is None:
        return None
    await mark_writer(conn, queue_id)
    pending = await (pg_bulk.pending_rows if is_pg(conn) else _pending_rows)(
        conn, queue_id, batch_size
    )
    if not pending:
        return 0
    base = base or await load_base()
    completed = await (pg_bulk.completed_orders if is_pg(conn) else _completed_orders)(
        conn, {p["order_id"] for p in pending}
    )
    lines = [_settling_line(p, p["order_id"] in completed) for p in pending]
    book, entry_ids = await _open_book(conn, queue, lines, base.payout_order)
    today, total = await _limit_counts(conn, lines)
    cursor = GroupCursor(
        int(queue["rr_size"]),
        frozenset(int(x) for x in str(queue["rr_slots"]).split(",") if x),
        int(queue["rr_index"]),
    )
    result = settle_batch(
        book,
        lines,
        paused=base.paused,
        random_return=None,
        cursor=cursor,
        rng=rng,
        exchange_points_bp=base.exchange_points_bp,
        counts_today=today,
        counts_total=total,
    )
    await _write(conn, queue, pending, book, entry_ids, result, now)
    metrics.observe_batch(len(pending), [_seconds_since(p["created_at"], now) for p in pending])
    return len(pending)


def _seconds_since(enqueued: Any, now: datetime) -> float:
    """How long a pending row waited for its writer (its commit follows at once)."""
    return (now - as_datetime(enqueued)).total_seconds()


async def _pending_rows(
    conn: BaseDBAsyncClient, queue_id: int, limit: int
) -> Sequence[Mapping[str, Any]]:
    return await fetch(
        conn,
        "SELECT * FROM pending_settlement WHERE queue_id = $1 ORDER BY id LIMIT $2",
        [queue_id, limit],
    )


async def _completed_orders(conn: BaseDBAsyncClient, order_ids: set[int]) -> set[int]:
    """Which of the batch's orders are completed (SQLite, which serialises writers itself;
    pg_bulk.completed_orders share-locks them)."""
    ids = sorted(order_ids)
    rows = await fetch(
        conn, f"SELECT id, status FROM orders WHERE id IN ({marks(1, len(ids))})", ids
    )
    return {int(r["id"]) for r in rows if r["status"] == "completed"}


def _settling_line(p: Mapping[str, Any], order_completed: bool) -> SettlingLine:
    """A pending row as the engine takes it (its integers are integers on both backends)."""
    per_day, total, rr_cash, rr_points = (
        p["limit_per_day"], p["limit_total"], p["rr_cash"], p["rr_points"],
    )  # fmt: skip
    return SettlingLine(
        p["line_id"], p["order_id"], p["member_id"], p["extraction_fen"], bool(p["joins"]),
        p["entitlement_fen"], order_completed, p["target"], p["day"],
        NO_LIMITS if per_day is None and total is None else Limits(per_day, total),
        RandomReturn(rr_cash, rr_points) if rr_cash + rr_points > 0 else None,
    )  # fmt: skip


async def _open_book(
    conn: BaseDBAsyncClient,
    queue: dict[str, Any],
    lines: Sequence[SettlingLine],
    payout_order: PayoutOrder,
) -> tuple[QueueBook, dict[int, int]]:
    """Load waiting entries from the head until they can absorb every extraction of the batch
    (entries of the batch's own orders, and under ``completed_first`` entries whose order is not
    completed, absorb nothing), or until the queue has no more. Returns the book and the ids of
    its entries (seq → id)."""
    need = sum(line.extraction_fen for line in lines)
    batch_orders = {line.order_id for line in lines}
    completed_only = payout_order == PayoutOrder.COMPLETED_FIRST
    window: list[Waiting] = []
    ids: dict[int, int] = {}
    covered, after_seq, complete = 0, 0, False
    while covered < need:
        load = pg_bulk.window_chunk if is_pg(conn) else _window_chunk
        rows = await load(conn, queue, after_seq, WINDOW_CHUNK, completed_only)
        for r in rows:
            w = Waiting(
                int(r["seq"]),
                int(r["order_id"]),
                int(r["member_id"]),
                int(r["entitlement_fen"]),
                int(r["paid_fen"]),
                bool(r["order_completed"]),
            )
            window.append(w)
            ids[w.seq] = int(r["id"])
            if w.order_id not in batch_orders:
                covered += w.remaining
        if len(rows) < WINDOW_CHUNK:
            complete = True
            break
        after_seq = window[-1].seq
    book = QueueBook(
        window,
        next_seq=int(queue["next_seq"]),
        waiting_count=int(queue["waiting_count"]),
        payout_order=payout_order,
        window_is_complete=complete or need == 0,
    )
    return book, ids


async def _window_chunk(
    conn: BaseDBAsyncClient, queue: dict[str, Any], after_seq: int, limit: int, completed_only: bool
) -> list[dict[str, Any]]:
    return await fetch(
        conn,
        "SELECT id, seq, order_id, member_id, entitlement_fen, paid_fen, order_completed"
        " FROM entry WHERE queue_id = $1 AND status = 'waiting' AND seq > $2"
        + (" AND order_completed = $4" if completed_only else "")
        + " ORDER BY seq LIMIT $3",
        [queue["id"], after_seq, limit] + ([True] if completed_only else []),
    )


async def _limit_counts(
    conn: BaseDBAsyncClient, lines: Sequence[SettlingLine]
) -> tuple[dict[tuple[int, str, str], int], dict[tuple[int, str], int]]:
    """Entries so far per (member, target, day) and (member, target), for lines with limits."""
    limited = [ln for ln in lines if ln.limits.per_day is not None or ln.limits.total is not None]
    today: dict[tuple[int, str, str], int] = {}
    total: dict[tuple[int, str], int] = {}
    for member_id, target in {(ln.member_id, ln.target) for ln in limited}:
        rows = await fetch(
            conn,
            "SELECT day, COUNT(*) AS n FROM entry WHERE member_id = $1 AND target = $2 GROUP BY day",
            [member_id, target],
        )
        for r in rows:
            today[(member_id, target, str(r["day"]))] = int(r["n"])
        total[(member_id, target)] = sum(int(r["n"]) for r in rows)
    return today, total


async def _write(
    conn: BaseDBAsyncClient,
    queue: dict[str, Any],
    pending: Sequence[Mapping[str, Any]],
    book: QueueBook,
    window_ids: Mapping[int, int],
    result: BatchResult,
    now: datetime,
) -> None:
    """Write the batch's rows (services.queues.settled_rows) one statement per table; on PostgreSQL
    by COPY and unnest instead (services.queues.pg_bulk). ``window_ids``: the book's entries, seq →
    id."""
    if is_pg(conn):
        return await pg_bulk.write_batch(conn, queue, pending, book, window_ids, result, now)
    queue_id = int(queue["id"])
    by_line = {int(p["line_id"]): p for p in pending}
    joined = settled.joined_entries(result)
    old = settled.paid_entries(book, joined)

    # 1. New entries, then the existing ones that received money.
    inserted = await insert_many(
        conn,
        "entry",
        settled.ENTRY_COLUMNS,
        settled.entry_rows(queue_id, joined, by_line, book, now),
        returning="id, seq",
    )
    entry_ids = {**window_ids, **{int(r["seq"]): int(r["id"]) for r in inserted}}
    if old:
        await conn.execute_many(
            sql(conn, "UPDATE entry SET paid_fen = $1, status = $2, updated_at = $3 WHERE id = $4"),
            [[paid, status, now, entry_ids[seq]] for seq, paid, status in old],
        )

    # 2. Extractions, then the postings that move their money, and the events.
    ext = await insert_many(
        conn,
        "extraction",
        settled.EXTRACTION_COLUMNS,
        settled.extraction_rows(queue_id, result, by_line, entry_ids, now),
        returning="id, line_id",
    )
    ext_ids = {int(r["line_id"]): int(r["id"]) for r in ext}
    money = settled.money_rows(queue, result, by_line, entry_ids, ext_ids, now)
    await post(conn, money.postings, now)
    await insert_many(conn, "outbox_event", OUTBOX_COLUMNS, money.events)

    # 3. Queue counters, pending rows and lines.
    await _close_batch(conn, queue_id, pending, book, result)


async def _close_batch(
    conn: BaseDBAsyncClient,
    queue_id: int,
    pending: Sequence[Mapping[str, Any]],
    book: QueueBook,
    result: BatchResult,
) -> None:
    """The queue's counters after the batch; its pending rows go, its lines are settled."""
    await execute(
        conn, settled.QUEUE_COUNTERS_SQL, settled.queue_counter_args(queue_id, book, result)
    )
    ids = [int(p["id"]) for p in pending]
    await execute(
        conn,
        f"DELETE FROM pending_settlement WHERE id IN ({marks(1, len(ids))})",
        ids,
    )
    line_ids = [int(p["line_id"]) for p in pending]
    await execute(
        conn,
        f"UPDATE order_line SET status = 'settled' WHERE status = 'settling' AND id IN ({marks(1, len(line_ids))})",
        line_ids,
    )
