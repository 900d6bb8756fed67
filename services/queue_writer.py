"""The single writer of a queue: applies its pending settlements in batches (SPEC §4).

One transaction per batch: lock the queue row, read up to ``batch_size`` pending lines in
order, load just enough waiting entries from the head to cover their extractions, let the
pure engine decide every payout, then write entries, extractions, payouts, ledger lines,
wallet balances, outbox events and the queue's counters together. The cost of a batch depends
on the batch, never on the length of the queue.
"""

import json
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from rebate.book import QueueBook, Waiting
from rebate.random_return import GroupCursor, RandomSource
from rebate.settings import BaseSettings, Limits, PayoutOrder, RandomReturn
from rebate.settlement import BatchResult, SettlingLine, settle_batch
from services import pg_bulk
from services.config_store import load_base
from services.queues import lock_queue
from services.sql import execute, fetch, insert_many, is_pg, loads, sql

WINDOW_CHUNK = 256
DEFAULT_BATCH = 500


@dataclass
class Applied:
    lines: int = 0
    batches: int = 0


async def apply_pending(
    queue_id: int,
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    rng: RandomSource | None = None,
    base: BaseSettings | None = None,
) -> Applied:
    """Apply every pending settlement of the queue, batch by batch, until none is left."""
    done = Applied()
    rng = rng or secrets.SystemRandom()
    while True:
        async with in_transaction() as conn:
            n = await apply_batch(
                conn, queue_id, now=now, batch_size=batch_size, rng=rng, base=base
            )
        if n == 0:
            return done
        done.lines += n
        done.batches += 1


async def apply_batch(
    conn: BaseDBAsyncClient,
    queue_id: int,
    *,
    now: datetime,
    batch_size: int,
    rng: RandomSource,
    base: BaseSettings | None = None,
) -> int:
    """One batch inside the caller's transaction; returns how many lines it applied."""
    queue = await lock_queue(conn, queue_id)
    pending = await (pg_bulk.pending_rows if is_pg(conn) else _pending_rows)(
        conn, queue_id, batch_size
    )
    if not pending:
        return 0
    base = base or await load_base()
    completed = await _completed_orders(conn, {int(p["order_id"]) for p in pending})
    lines = [_settling_line(p, int(p["order_id"]) in completed) for p in pending]
    book = await _open_book(conn, queue, lines, base.payout_order)
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
    await _write(conn, queue, pending, book, result, now)
    return len(pending)


async def _pending_rows(
    conn: BaseDBAsyncClient, queue_id: int, limit: int
) -> Sequence[Mapping[str, Any]]:
    return await fetch(
        conn,
        "SELECT * FROM pending_settlement WHERE queue_id = $1 ORDER BY id LIMIT $2",
        [queue_id, limit],
    )


async def _completed_orders(conn: BaseDBAsyncClient, order_ids: set[int]) -> set[int]:
    """Which of the batch's orders are completed. On PostgreSQL the rows are share-locked, so an
    order cannot complete between this read and the commit of its new entries (its completion
    marks its entries payable, SPEC §4 ``completed_first``)."""
    ids = sorted(order_ids)
    lock = " FOR SHARE" if is_pg(conn) else ""
    rows = await fetch(
        conn,
        f"SELECT id, status FROM orders WHERE id IN ({_in_list(conn, len(ids), 1)}){lock}",
        ids,
    )
    return {int(r["id"]) for r in rows if r["status"] == "completed"}


def _settling_line(p: dict[str, Any], order_completed: bool) -> SettlingLine:
    rr = None
    if int(p["rr_cash"]) + int(p["rr_points"]) > 0:
        rr = RandomReturn(int(p["rr_cash"]), int(p["rr_points"]))
    return SettlingLine(
        line_id=int(p["line_id"]),
        order_id=int(p["order_id"]),
        member_id=int(p["member_id"]),
        extraction_fen=int(p["extraction_fen"]),
        joins=bool(p["joins"]),
        entitlement_fen=int(p["entitlement_fen"]),
        order_completed=order_completed,
        target=str(p["target"]),
        day=str(p["day"]),
        limits=_limits(p["limit_per_day"], p["limit_total"]),
        random_return=rr,
    )


_NO_LIMITS = Limits()


def _limits(per_day: int | None, total: int | None) -> Limits:
    return _NO_LIMITS if per_day is None and total is None else Limits(per_day, total)


async def _open_book(
    conn: BaseDBAsyncClient,
    queue: dict[str, Any],
    lines: Sequence[SettlingLine],
    payout_order: PayoutOrder,
) -> QueueBook:
    """Load waiting entries from the head until they can absorb every extraction of the batch
    (entries of the batch's own orders, and under ``completed_first`` entries whose order is not
    completed, absorb nothing), or until the queue has no more."""
    need = sum(line.extraction_fen for line in lines)
    batch_orders = {line.order_id for line in lines}
    completed_only = payout_order == PayoutOrder.COMPLETED_FIRST
    window: list[Waiting] = []
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
            if w.order_id not in batch_orders:
                covered += w.remaining
        if len(rows) < WINDOW_CHUNK:
            complete = True
            break
        after_seq = window[-1].seq
    return QueueBook(
        window,
        next_seq=int(queue["next_seq"]),
        waiting_count=int(queue["waiting_count"]),
        payout_order=payout_order,
        window_is_complete=complete or need == 0,
    )


async def _window_chunk(
    conn: BaseDBAsyncClient, queue: dict[str, Any], after_seq: int, limit: int, completed_only: bool
) -> list[dict[str, Any]]:
    return await fetch(
        conn,
        "SELECT seq, order_id, member_id, entitlement_fen, paid_fen, order_completed"
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


ENTRY_COLUMNS = (
    "queue_id",
    "seq",
    "member_id",
    "order_id",
    "line_id",
    "target",
    "day",
    "base_fen",
    "ratio_bp",
    "ratio_source",
    "entitlement_fen",
    "paid_fen",
    "status",
    "order_completed",
    "points",
    "lottery",
    "lottery_drawn",
    "created_at",
    "updated_at",
)
LEDGER_COLUMNS = (
    "member_id",
    "asset",
    "amount",
    "kind",
    "key",
    "order_id",
    "entry_id",
    "memo",
    "created_at",
)


async def _write(
    conn: BaseDBAsyncClient,
    queue: dict[str, Any],
    pending: Sequence[Mapping[str, Any]],
    book: QueueBook,
    result: BatchResult,
    now: datetime,
) -> None:
    if is_pg(conn):  # same rows, written with COPY and unnest (issue 3)
        return await pg_bulk.write_batch(conn, queue, pending, book, result, now)
    queue_id = int(queue["id"])
    by_line = {int(p["line_id"]): p for p in pending}
    new_seqs = {o.joined.seq for o in result.lines if o.joined is not None}

    # 1. New entries, with their final paid amount and status after this batch.
    entry_rows = []
    for o in result.lines:
        j = o.joined
        if j is None:
            continue
        p = by_line[o.line_id]
        if j.points:
            paid, status = 0, "completed"
        else:
            w = book.touched[j.seq]
            paid, status = w.paid, ("completed" if w.remaining == 0 else "waiting")
        entry_rows.append(
            (
                queue_id,
                j.seq,
                j.member_id,
                int(p["order_id"]),
                o.line_id,
                p["target"],
                p["day"],
                int(p["base_fen"]),
                int(p["ratio_bp"]),
                p["ratio_source"],
                j.entitlement,
                paid,
                status,
                book.touched[j.seq].order_completed if j.seq in book.touched else True,
                j.points,
                p["lottery"],
                False,
                now,
                now,
            )
        )
    inserted = await insert_many(conn, "entry", ENTRY_COLUMNS, entry_rows, returning="id, seq")
    entry_ids = {int(r["seq"]): int(r["id"]) for r in inserted}

    # 2. Existing entries that received money.
    old = [w for seq, w in book.touched.items() if seq not in new_seqs]
    if old:
        rows = await fetch(
            conn,
            f"SELECT id, seq FROM entry WHERE queue_id = $1 AND seq IN ({_in_list(conn, len(old), 2)})",
            [queue_id, *[w.seq for w in old]],
        )
        entry_ids.update({int(r["seq"]): int(r["id"]) for r in rows})
        await conn.execute_many(
            sql(conn, "UPDATE entry SET paid_fen = $1, status = $2, updated_at = $3 WHERE id = $4"),
            [
                [w.paid, "completed" if w.remaining == 0 else "waiting", now, entry_ids[w.seq]]
                for w in old
            ],
        )

    # 3. Extractions, then their payouts.
    ext_rows = [
        (
            queue_id,
            o.line_id,
            int(by_line[o.line_id]["order_id"]),
            o.extracted.amount,
            o.extracted.paid,
            o.extracted.withheld,
            o.extracted.unallocated,
            now,
        )
        for o in result.lines
    ]
    ext = await insert_many(
        conn,
        "extraction",
        (
            "queue_id",
            "line_id",
            "order_id",
            "amount_fen",
            "paid_fen",
            "withheld_fen",
            "unallocated_fen",
            "created_at",
        ),
        ext_rows,
        returning="id, line_id",
    )
    ext_ids = {int(r["line_id"]): int(r["id"]) for r in ext}
    payout_rows, ledger_rows = [], []
    cash: dict[int, int] = defaultdict(int)
    points: dict[int, int] = defaultdict(int)
    events: list[tuple[str, int, dict[str, Any]]] = []
    received: dict[int, list[Any]] = {}
    for o in result.lines:
        order_id = int(by_line[o.line_id]["order_id"])
        for p in o.extracted.payouts:
            eid = entry_ids[p.seq]
            payout_rows.append((ext_ids[o.line_id], eid, p.member_id, p.amount, now))
            ledger_rows.append(
                (
                    p.member_id,
                    "cash",
                    p.amount,
                    "payout",
                    f"payout:{ext_ids[o.line_id]}:{eid}",
                    order_id,
                    eid,
                    "",
                    now,
                )
            )
            cash[p.member_id] += p.amount
            agg = received.setdefault(eid, [p.member_id, 0, 0, p.entitlement])
            agg[1] += p.amount
            agg[2] = p.paid_after
        j = o.joined
        if j is not None:
            eid = entry_ids[j.seq]
            if j.points:
                ledger_rows.append(
                    (
                        j.member_id,
                        "points",
                        j.points,
                        "random_return",
                        f"random_return:{eid}",
                        order_id,
                        eid,
                        "",
                        now,
                    )
                )
                points[j.member_id] += j.points
                events.append(
                    ("entry_converted", j.member_id, {"entry_id": eid, "points": j.points})
                )
            else:
                lottery = by_line[o.line_id]["lottery"]
                events.append(
                    (
                        "entry_joined",
                        j.member_id,
                        {
                            "entry_id": eid,
                            "queue": queue["key"],
                            "position": j.position,
                            "entitlement_fen": j.entitlement,
                            "lottery": lottery is not None,
                        },
                    )
                )
                if lottery is not None:
                    events.append(
                        (
                            "lottery_available",
                            j.member_id,
                            {"entry_id": eid, "lottery": loads(lottery)},
                        )
                    )
    for eid, (member_id, amount, paid_after, entitlement) in received.items():
        events.append(
            (
                "payout_received",
                member_id,
                {
                    "entry_id": eid,
                    "amount_fen": amount,
                    "paid_fen": paid_after,
                    "entitlement_fen": entitlement,
                    "progress_bp": paid_after * 10_000 // entitlement,
                },
            )
        )
        if paid_after == entitlement:
            events.append(
                ("entry_completed", member_id, {"entry_id": eid, "entitlement_fen": entitlement})
            )
    await insert_many(
        conn,
        "payout",
        ("extraction_id", "entry_id", "member_id", "amount_fen", "created_at"),
        payout_rows,
    )
    await insert_many(conn, "ledger_line", LEDGER_COLUMNS, ledger_rows)

    # 4. Wallet balances (cached sums of the ledger lines just written).
    members = sorted(set(cash) | set(points))
    if members:
        await conn.execute_many(
            sql(
                conn,
                "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
                " VALUES ($1, $2, $3, 0, 0) ON CONFLICT (member_id) DO UPDATE SET"
                " cash_fen = wallet.cash_fen + excluded.cash_fen, points = wallet.points + excluded.points",
            ),
            [[m, cash.get(m, 0), points.get(m, 0)] for m in members],
        )

    # 5. Outbox, queue counters, pending rows and lines.
    await insert_many(
        conn,
        "outbox_event",
        ("kind", "member_id", "payload", "created_at"),
        [(k, m, json.dumps(d, ensure_ascii=False), now) for k, m, d in events],
    )
    sums = {
        "extracted": sum(o.extracted.amount for o in result.lines),
        "paid": sum(o.extracted.paid for o in result.lines),
        "withheld": sum(o.extracted.withheld for o in result.lines),
        "unallocated": sum(o.extracted.unallocated for o in result.lines),
    }
    c = result.cursor
    await execute(
        conn,
        "UPDATE queue SET next_seq = $1, waiting_count = $2, extracted_fen = extracted_fen + $3,"
        " paid_fen = paid_fen + $4, withheld_fen = withheld_fen + $5,"
        " unallocated_fen = unallocated_fen + $6, rr_size = $7, rr_slots = $8, rr_index = $9"
        " WHERE id = $10",
        [
            book.next_seq,
            book.waiting_count,
            sums["extracted"],
            sums["paid"],
            sums["withheld"],
            sums["unallocated"],
            c.size,
            ",".join(str(s) for s in sorted(c.points_slots)),
            c.index,
            queue_id,
        ],
    )
    ids = [int(p["id"]) for p in pending]
    await execute(
        conn,
        f"DELETE FROM pending_settlement WHERE id IN ({_in_list(conn, len(ids), 1)})",
        ids,
    )
    line_ids = [int(p["line_id"]) for p in pending]
    await execute(
        conn,
        f"UPDATE order_line SET status = 'settled' WHERE status = 'settling' AND id IN ({_in_list(conn, len(line_ids), 1)})",
        line_ids,
    )


def _in_list(conn: BaseDBAsyncClient, n: int, start: int) -> str:
    """``$start, …`` for an IN list of ``n`` values (``bind`` adapts it to SQLite)."""
    return ", ".join(f"${i}" for i in range(start, start + n))
