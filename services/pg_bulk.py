"""PostgreSQL-only fast path for writing one settled batch of a queue (SPEC §4, issue 3).

Writes exactly what ``services.queue_writer._write`` writes — the same rows, ledger keys, outbox
events and counters — in a handful of round trips instead of one statement per touched row:

1. ids for the batch's new entries and extractions, from their sequences, in one query;
2. every existing entry that received money, in one ``UPDATE … FROM unnest(…)`` keyed on
   ``(queue_id, seq)``, returning the entry ids the payouts and ledger lines refer to;
3. entries, extractions, payouts, ledger lines and outbox events by COPY;
4. every wallet touched, in one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE``,
   members in ascending order, as the generic path locks them;
5. the queue's counters, the order lines (settled) and the pending rows (deleted), one statement
   each.

It runs inside the caller's transaction, holding the queue's lock (services.queues.lock_queue),
like the generic path.
"""

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient

from rebate.book import QueueBook
from rebate.settlement import BatchResult

ENTRY_COLUMNS = (
    "id", "queue_id", "seq", "member_id", "order_id", "line_id", "target", "day", "base_fen",
    "ratio_bp", "ratio_source", "entitlement_fen", "paid_fen", "status", "order_completed",
    "points", "lottery", "lottery_drawn", "created_at", "updated_at",
)  # fmt: skip
EXTRACTION_COLUMNS = (
    "id", "queue_id", "line_id", "order_id", "amount_fen", "paid_fen", "withheld_fen",
    "unallocated_fen", "created_at",
)  # fmt: skip
PAYOUT_COLUMNS = ("extraction_id", "entry_id", "member_id", "amount_fen", "created_at")
LEDGER_COLUMNS = (
    "member_id", "asset", "amount", "kind", "key", "order_id", "entry_id", "memo", "created_at",
)  # fmt: skip
OUTBOX_COLUMNS = ("kind", "member_id", "payload", "created_at")
# One encoder for every event: json.dumps with any non-default option builds a new one per call.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


async def pending_rows(conn: BaseDBAsyncClient, queue_id: int, limit: int) -> list[asyncpg.Record]:
    """The queue's next pending rows in id order, as asyncpg records (read by key like dicts,
    without the conversion tortoise does for every row)."""
    async with conn.acquire_connection() as raw:
        rows: list[asyncpg.Record] = await raw.fetch(
            "SELECT * FROM pending_settlement WHERE queue_id = $1 ORDER BY id LIMIT $2",
            queue_id, limit,
        )  # fmt: skip
    return rows


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
            "SELECT seq, order_id, member_id, entitlement_fen, paid_fen, order_completed FROM entry"
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
    book: QueueBook, result: BatchResult, now: datetime,
) -> None:  # fmt: skip
    """Write the outcome of ``settle_batch`` for ``pending`` (the batch's rows, in order)."""
    async with conn.acquire_connection() as raw:
        await _write(raw, queue, pending, book, result, now)


async def _write(
    raw: asyncpg.Connection, queue: dict[str, Any], pending: Sequence[Mapping[str, Any]],
    book: QueueBook, result: BatchResult, now: datetime,
) -> None:  # fmt: skip
    queue_id = int(queue["id"])
    by_line = {int(p["line_id"]): p for p in pending}
    joined = [o.joined for o in result.lines if o.joined is not None]
    new_seqs = {j.seq for j in joined}
    old = [w for seq, w in book.touched.items() if seq not in new_seqs]

    # 1. Ids for new rows.
    ids = await raw.fetchrow(
        "SELECT ARRAY(SELECT nextval($1::regclass) FROM generate_series(1, $2)) AS entries,"
        " ARRAY(SELECT nextval($3::regclass) FROM generate_series(1, $4)) AS extractions",
        await _sequence(raw, "entry"), len(joined),
        await _sequence(raw, "extraction"), len(result.lines),
    )  # fmt: skip
    entry_ids = {j.seq: eid for j, eid in zip(joined, ids["entries"], strict=True)}
    ext_ids = {o.line_id: xid for o, xid in zip(result.lines, ids["extractions"], strict=True)}

    # 2. Existing entries that received money.
    if old:
        rows = await raw.fetch(
            "UPDATE entry AS e SET paid_fen = u.paid, status = u.status, updated_at = $1"
            " FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS u(seq, paid, status)"
            " WHERE e.queue_id = $5 AND e.seq = u.seq RETURNING e.id, e.seq",
            now, [w.seq for w in old], [w.paid for w in old],
            ["completed" if w.remaining == 0 else "waiting" for w in old], queue_id,
        )  # fmt: skip
        if len(rows) != len(old):
            raise RuntimeError(f"queue {queue_id}: {len(old) - len(rows)} paid entries not found")
        entry_ids.update({int(r["seq"]): int(r["id"]) for r in rows})

    # 3. New entries, with their final paid amount and status after this batch.
    entry_rows = []
    for j in joined:
        p = by_line[j.line_id]
        if j.points:
            paid, status, completed = 0, "completed", True
        else:
            w = book.touched[j.seq]
            paid = w.paid
            status = "completed" if w.remaining == 0 else "waiting"
            completed = w.order_completed
        entry_rows.append((
            entry_ids[j.seq], queue_id, j.seq, j.member_id, int(p["order_id"]), j.line_id,
            p["target"], p["day"], int(p["base_fen"]), int(p["ratio_bp"]), p["ratio_source"],
            j.entitlement, paid, status, completed, j.points, p["lottery"], False, now, now,
        ))  # fmt: skip
    ext_rows = [
        (ext_ids[o.line_id], queue_id, o.line_id, int(by_line[o.line_id]["order_id"]),
         o.extracted.amount, o.extracted.paid, o.extracted.withheld, o.extracted.unallocated, now)
        for o in result.lines
    ]  # fmt: skip

    # Event payloads are written as JSON text directly: every value is an int, a bool, the queue
    # key (encoded once) or the line's lottery document (JSON already); the same objects as the
    # generic path's json.dumps (tests/services/test_writer_events.py), at a fraction of its cost.
    queue_key = _to_json(queue["key"])
    payout_rows, ledger_rows, events = [], [], []
    cash: dict[int, int] = defaultdict(int)
    points: dict[int, int] = defaultdict(int)
    received: dict[int, list[Any]] = {}
    for o in result.lines:
        order_id = int(by_line[o.line_id]["order_id"])
        xid = ext_ids[o.line_id]
        for pay in o.extracted.payouts:
            eid = entry_ids[pay.seq]
            payout_rows.append((xid, eid, pay.member_id, pay.amount, now))
            ledger_rows.append((pay.member_id, "cash", pay.amount, "payout", f"payout:{xid}:{eid}",
                                order_id, eid, "", now))  # fmt: skip
            cash[pay.member_id] += pay.amount
            agg = received.setdefault(eid, [pay.member_id, 0, 0, pay.entitlement])
            agg[1] += pay.amount
            agg[2] = pay.paid_after
        j = o.joined
        if j is None:
            continue
        eid = entry_ids[j.seq]
        if j.points:
            ledger_rows.append((j.member_id, "points", j.points, "random_return",
                                f"random_return:{eid}", order_id, eid, "", now))  # fmt: skip
            points[j.member_id] += j.points
            events.append(("entry_converted", j.member_id,
                           f'{{"entry_id":{eid},"points":{j.points}}}'))  # fmt: skip
        else:
            lottery = by_line[o.line_id]["lottery"]
            events.append(("entry_joined", j.member_id,
                           f'{{"entry_id":{eid},"queue":{queue_key},"position":{j.position},'
                           f'"entitlement_fen":{j.entitlement},'
                           f'"lottery":{"false" if lottery is None else "true"}}}'))  # fmt: skip
            if lottery is not None:
                doc = lottery if isinstance(lottery, str) else _to_json(lottery)  # JSON already
                events.append(("lottery_available", j.member_id,
                               f'{{"entry_id":{eid},"lottery":{doc}}}'))  # fmt: skip
    for eid, (member_id, amount, paid_after, entitlement) in received.items():
        events.append(("payout_received", member_id,
                       f'{{"entry_id":{eid},"amount_fen":{amount},"paid_fen":{paid_after},'
                       f'"entitlement_fen":{entitlement},'
                       f'"progress_bp":{paid_after * 10_000 // entitlement}}}'))  # fmt: skip
        if paid_after == entitlement:
            events.append(("entry_completed", member_id,
                           f'{{"entry_id":{eid},"entitlement_fen":{entitlement}}}'))  # fmt: skip

    # The rows, by COPY (no foreign keys on these tables: see models.queues.Entry).
    await _copy(raw, "entry", ENTRY_COLUMNS, entry_rows)
    await _copy(raw, "extraction", EXTRACTION_COLUMNS, ext_rows)
    await _copy(raw, "payout", PAYOUT_COLUMNS, payout_rows)
    await _copy(raw, "ledger_line", LEDGER_COLUMNS, ledger_rows)
    await _copy(raw, "outbox_event", OUTBOX_COLUMNS,
                [(kind, member, payload, now) for kind, member, payload in events])  # fmt: skip

    # 4. Wallet balances (cached sums of the ledger lines just written).
    members = sorted(set(cash) | set(points))
    if members:
        await raw.execute(
            "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
            " SELECT m, c, p, 0, 0 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(m, c, p)"
            " ON CONFLICT (member_id) DO UPDATE SET cash_fen = wallet.cash_fen + excluded.cash_fen,"
            " points = wallet.points + excluded.points",
            members, [cash.get(m, 0) for m in members], [points.get(m, 0) for m in members],
        )  # fmt: skip

    # 5. Queue counters, pending rows and lines.
    c = result.cursor
    await raw.execute(
        "UPDATE queue SET next_seq = $1, waiting_count = $2, extracted_fen = extracted_fen + $3,"
        " paid_fen = paid_fen + $4, withheld_fen = withheld_fen + $5,"
        " unallocated_fen = unallocated_fen + $6, rr_size = $7, rr_slots = $8, rr_index = $9"
        " WHERE id = $10",
        book.next_seq, book.waiting_count, sum(r[4] for r in ext_rows), sum(r[5] for r in ext_rows),
        sum(r[6] for r in ext_rows), sum(r[7] for r in ext_rows), c.size,
        ",".join(str(s) for s in sorted(c.points_slots)), c.index, queue_id,
    )  # fmt: skip
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
