"""Applying a batch of settling lines to one queue (SPEC §4, §6).

For each line, in order: its extraction is paid to the waiting entries (or withheld, or left
unallocated), then the line's own entry joins the tail — unless limits say no, or random
return turns it into points at once.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from rebate.book import Extracted, QueueBook
from rebate.eligibility import within_limits
from rebate.money import apply_bp
from rebate.random_return import GroupCursor, RandomSource, next_place
from rebate.settings import Limits, RandomReturn

NO_LIMITS = Limits()


class SettlingLine(NamedTuple):
    """One order line ready to settle into a queue; ratios were chosen when it was enqueued."""

    line_id: int
    order_id: int
    member_id: int
    extraction_fen: int
    joins: bool  # eligible for an entry before limits (window, deduction, enable switches)
    entitlement_fen: int
    order_completed: bool
    target: str  # "product:<id>", "store:<id>", "cashier:<id>": what limits count against
    day: str  # the local date of payment, for per-day limits
    limits: Limits = NO_LIMITS
    random_return: RandomReturn | None = None  # this line's 随机返 group; else the batch's


class Joined(NamedTuple):
    line_id: int
    seq: int
    member_id: int
    entitlement: int
    position: int  # waiting entries ahead of it when it joined
    points: int  # > 0: random return converted it to points at once (status completed)


class LineOutcome(NamedTuple):
    line_id: int
    extracted: Extracted
    joined: Joined | None
    skipped: str  # why no entry ("" when one joined)


@dataclass
class BatchResult:
    lines: list[LineOutcome]
    cursor: GroupCursor
    counts_today: dict[tuple[int, str, str], int]
    counts_total: dict[tuple[int, str], int]


def settle_batch(
    book: QueueBook,
    lines: Sequence[SettlingLine],
    *,
    paused: bool,
    random_return: RandomReturn | None,
    cursor: GroupCursor,
    rng: RandomSource,
    exchange_points_bp: int,
    counts_today: dict[tuple[int, str, str], int],
    counts_total: dict[tuple[int, str], int],
) -> BatchResult:
    """Apply ``lines`` to ``book`` in order. Counts are (member, target[, day]) → entries so far,
    preloaded by the caller for the members and targets in the batch; they are updated here."""
    today = dict(counts_today)
    total = dict(counts_total)
    out: list[LineOutcome] = []
    for line in lines:
        extracted = book.extract(line.extraction_fen, order_id=line.order_id, paused=paused)
        joined: Joined | None = None
        skipped = _skip_reason(line, today, total)
        if not skipped:
            today_key = (line.member_id, line.target, line.day)
            today[today_key] = today.get(today_key, 0) + 1
            total_key = (line.member_id, line.target)
            total[total_key] = total.get(total_key, 0) + 1
            to_points = False
            group = line.random_return or random_return
            if group is not None:
                to_points, cursor = next_place(cursor, group, rng)
            if to_points:
                points = apply_bp(line.entitlement_fen, exchange_points_bp)
                joined = Joined(
                    line.line_id,
                    book.take_seq(),
                    line.member_id,
                    line.entitlement_fen,
                    book.waiting_count,
                    points,
                )
            else:
                position = book.waiting_count
                seq = book.join(
                    order_id=line.order_id,
                    member_id=line.member_id,
                    entitlement=line.entitlement_fen,
                    order_completed=line.order_completed,
                )
                joined = Joined(
                    line.line_id, seq, line.member_id, line.entitlement_fen, position, 0
                )
        out.append(LineOutcome(line.line_id, extracted, joined, skipped))
    return BatchResult(out, cursor, today, total)


def _skip_reason(
    line: SettlingLine, today: dict[tuple[int, str, str], int], total: dict[tuple[int, str], int]
) -> str:
    if not line.joins:
        return "not_eligible"
    if line.entitlement_fen <= 0:
        return "zero_entitlement"
    if not within_limits(
        line.limits,
        today=today.get((line.member_id, line.target, line.day), 0),
        total=total.get((line.member_id, line.target), 0),
    ):
        return "limit_reached"
    return ""


def describe(result: BatchResult) -> dict[str, Any]:
    """Totals of a batch, for logs and progress output."""
    return {
        "lines": len(result.lines),
        "extracted": sum(o.extracted.amount for o in result.lines),
        "paid": sum(o.extracted.paid for o in result.lines),
        "withheld": sum(o.extracted.withheld for o in result.lines),
        "unallocated": sum(o.extracted.unallocated for o in result.lines),
        "joined": sum(1 for o in result.lines if o.joined is not None),
    }
