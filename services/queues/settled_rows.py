"""The rows one settled batch of a queue writes, built once for both writers (SPEC §4).

``services.queues.writer`` (any database) and ``services.queues.pg_bulk`` (PostgreSQL, by COPY)
differ only in how they get ids and send rows; what the rows say is decided here: new entries
with their paid amount and status after the batch, extractions, the postings that move the money
(each extraction into the queue's pool, the pool's payouts to members and what it withheld or
could not allocate, random-return points), the outbox events for the chat bot and the queue's
counters.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import accounts
from ledger.postings import Posting
from rebate.book import QueueBook
from rebate.settlement import BatchResult, Joined
from services.outbox import to_json

ENTRY_COLUMNS = (
    "queue_id", "seq", "member_id", "order_id", "line_id", "target", "day", "base_fen",
    "ratio_bp", "ratio_source", "entitlement_fen", "paid_fen", "status", "order_completed",
    "points", "lottery", "lottery_drawn", "created_at", "updated_at",
)  # fmt: skip
EXTRACTION_COLUMNS = (
    "queue_id", "line_id", "order_id", "entry_id", "amount_fen", "paid_fen", "withheld_fen",
    "unallocated_fen", "created_at",
)  # fmt: skip
QUEUE_COUNTERS_SQL = (
    "UPDATE queue SET next_seq = $1, waiting_count = $2, extracted_fen = extracted_fen + $3,"
    " paid_fen = paid_fen + $4, withheld_fen = withheld_fen + $5,"
    " unallocated_fen = unallocated_fen + $6, rr_size = $7, rr_slots = $8, rr_index = $9"
    " WHERE id = $10"
)


def joined_entries(result: BatchResult) -> list[Joined]:
    return [o.joined for o in result.lines if o.joined is not None]


def entry_rows(
    queue_id: int,
    joined: Sequence[Joined],
    by_line: Mapping[int, Mapping[str, Any]],
    book: QueueBook,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """New entries (``ENTRY_COLUMNS``), with their paid amount and status after the batch."""
    rows = []
    for j in joined:
        p = by_line[j.line_id]
        if j.points:  # random return converted it to points at once
            paid, status, completed = 0, "completed", True
        else:
            w = book.touched[j.seq]
            paid, status, completed = w.paid, _status(w.remaining), w.order_completed
        rows.append((
            queue_id, j.seq, j.member_id, int(p["order_id"]), j.line_id, p["target"], p["day"],
            int(p["base_fen"]), int(p["ratio_bp"]), p["ratio_source"], j.entitlement, paid,
            status, completed, j.points, p["lottery"], False, now, now,
        ))  # fmt: skip
    return rows


def paid_entries(book: QueueBook, joined: Sequence[Joined]) -> list[tuple[int, int, str]]:
    """(seq, paid, status) of the entries that were already in the queue and received money."""
    new = {j.seq for j in joined}
    return [
        (w.seq, w.paid, _status(w.remaining)) for w in book.touched.values() if w.seq not in new
    ]


def extraction_rows(
    queue_id: int,
    result: BatchResult,
    by_line: Mapping[int, Mapping[str, Any]],
    entry_ids: Mapping[int, int],
    now: datetime,
) -> list[tuple[Any, ...]]:
    """One extraction per line (``EXTRACTION_COLUMNS``), in the batch's order, naming the entry
    its line created (``entry_ids``: seq → id)."""
    return [
        (queue_id, o.line_id, int(by_line[o.line_id]["order_id"]),
         None if o.joined is None else entry_ids[o.joined.seq], o.extracted.amount,
         o.extracted.paid, o.extracted.withheld, o.extracted.unallocated, now)
        for o in result.lines
    ]  # fmt: skip


@dataclass
class MoneyRows:
    postings: list[Posting] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)  # OUTBOX_COLUMNS
    cash: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # member → fen
    points: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # member → points

    @property
    def wallets(self) -> dict[int, list[int]]:
        """The postings' wallet deltas, as ``ledger.postings.wallet_deltas`` gives them."""
        return {m: [self.cash.get(m, 0), self.points.get(m, 0), 0, 0]
                for m in self.cash.keys() | self.points.keys()}  # fmt: skip


def money_rows(
    queue: Mapping[str, Any],
    result: BatchResult,
    by_line: Mapping[int, Mapping[str, Any]],
    entry_ids: Mapping[int, int],
    ext_ids: Mapping[int, int],
    now: datetime,
) -> MoneyRows:
    """The batch's postings and outbox events. ``entry_ids`` maps every touched or new seq to
    its entry id, ``ext_ids`` every line id to its extraction id.

    Event payloads are written as JSON text directly: every value is an int, a bool, the queue
    key (encoded once) or the line's lottery document (JSON already) — a fraction of the cost of
    json.dumps per event (tests/services/test_writer_events.py pins them to ``to_json``)."""
    out = MoneyRows()
    pool = accounts.queue(int(queue["id"]))
    queue_key = to_json(queue["key"])
    received: dict[int, list[Any]] = {}  # entry id → [member, amount, paid after, entitlement]
    for o in result.lines:
        order_id = int(by_line[o.line_id]["order_id"])
        xid = ext_ids[o.line_id]
        for pay in o.extracted.payouts:
            eid = entry_ids[pay.seq]
            out.postings.append(Posting(
                f"payout:{xid}:{eid}", "payout", pool, f"member:{pay.member_id}:cash", "cash",
                pay.amount, order_id, eid, xid,
            ))  # fmt: skip
            out.cash[pay.member_id] += pay.amount
            agg = received.setdefault(eid, [pay.member_id, 0, 0, pay.entitlement])
            agg[1] += pay.amount
            agg[2] = pay.paid_after
        if o.joined is not None:
            joined = o.joined
            eid = entry_ids[joined.seq]
            lottery = by_line[o.line_id]["lottery"]
            _joined_rows(out, joined, eid, order_id, queue_key, lottery, now)
    out.postings += pool_postings(pool, result, min(ext_ids.values(), default=0))
    for eid, (member_id, amount, paid_after, entitlement) in received.items():
        out.events.append(("payout_received", member_id,
                           f'{{"entry_id":{eid},"amount_fen":{amount},"paid_fen":{paid_after},'
                           f'"entitlement_fen":{entitlement},'
                           f'"progress_bp":{paid_after * 10_000 // entitlement}}}', now))  # fmt: skip
        if paid_after == entitlement:
            out.events.append(("entry_completed", member_id,
                               f'{{"entry_id":{eid},"entitlement_fen":{entitlement}}}', now))  # fmt: skip
    return out


def pool_postings(pool: str, result: BatchResult, first_xid: int) -> list[Posting]:
    """The batch's extractions into the queue's pool, and what the pool withheld (rewards
    paused) or could not allocate (no waiting entry): one posting each for the whole batch,
    keyed by its first extraction (``extraction:<id>``, ``withheld:<id>``,
    ``unallocated:<id>``). The batch's extraction rows are their detail line by line, and
    ``queue-rebate check`` proves the sums; payouts are members' money and are posted one by
    one. A posting per line would cost the writer a fifth more per settled order (bench/RESULTS.md)."""
    sums = {"extraction": 0, "withheld": 0, "unallocated": 0}
    for o in result.lines:
        sums["extraction"] += o.extracted.amount
        sums["withheld"] += o.extracted.withheld
        sums["unallocated"] += o.extracted.unallocated
    moves = (
        ("extraction", accounts.SALES, pool),
        ("withheld", pool, accounts.WITHHELD),
        ("unallocated", pool, accounts.UNALLOCATED),
    )
    memo = f"{len(result.lines)} lines"
    return [
        Posting(
            f"{kind}:{first_xid}",
            kind,
            debit,
            credit,
            "cash",
            sums[kind],
            None,
            None,
            first_xid,
            memo,
        )
        for kind, debit, credit in moves
        if sums[kind]
    ]


def _joined_rows(
    out: MoneyRows, j: Joined, eid: int, order_id: int, queue_key: str, lottery: Any,
    now: datetime,
) -> None:  # fmt: skip
    """A new entry's events; random return converts it to points at once (one posting)."""
    if j.points:
        out.postings.append(Posting(
            f"random_return:{eid}", "random_return", accounts.POINTS_ISSUED,
            f"member:{j.member_id}:points", "points", j.points, order_id, eid,
        ))  # fmt: skip
        out.points[j.member_id] += j.points
        out.events.append(("entry_converted", j.member_id,
                           f'{{"entry_id":{eid},"points":{j.points}}}', now))  # fmt: skip
        return
    out.events.append(("entry_joined", j.member_id,
                       f'{{"entry_id":{eid},"queue":{queue_key},"position":{j.position},'
                       f'"entitlement_fen":{j.entitlement},'
                       f'"lottery":{"false" if lottery is None else "true"}}}', now))  # fmt: skip
    if lottery is not None:
        doc = lottery if isinstance(lottery, str) else to_json(lottery)  # JSON already
        out.events.append(("lottery_available", j.member_id,
                           f'{{"entry_id":{eid},"lottery":{doc}}}', now))  # fmt: skip


def queue_counter_args(queue_id: int, book: QueueBook, result: BatchResult) -> list[Any]:
    """Arguments of ``QUEUE_COUNTERS_SQL``: the queue's tail, waiting count, money counters and
    random-return cursor after the batch."""
    c = result.cursor
    return [
        book.next_seq,
        book.waiting_count,
        sum(o.extracted.amount for o in result.lines),
        sum(o.extracted.paid for o in result.lines),
        sum(o.extracted.withheld for o in result.lines),
        sum(o.extracted.unallocated for o in result.lines),
        c.size,
        ",".join(str(s) for s in sorted(c.points_slots)),
        c.index,
        queue_id,
    ]


def _status(remaining: int) -> str:
    return "completed" if remaining == 0 else "waiting"
