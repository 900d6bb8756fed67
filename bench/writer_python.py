"""The queue writer's own Python per order, without a database: a microbenchmark.

    python -m bench.writer_python [--batch 2000] [--rounds 15]

Builds the pending rows of a batch as the bench producers store them (one mall order of one
line each, 8 products, 65 % extraction, 130 % reward) and a window of waiting entries like the
bench's queue head, then times, per order, what ``apply_batch`` does in Python between its
queries: pending rows → engine lines (``_settling_line``), the engine (``settle_batch``), and
the rows the writer sends (``services.queues.settled_rows``: entries, extractions, payouts and events,
counters). The server's side and asyncpg's encoding are not in it (bench.settlement measures
those). Prints the median of ``--rounds`` rounds per stage, each round on fresh data.
"""

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rebate.book import QueueBook, Waiting
from rebate.money import apply_bp
from rebate.random_return import GroupCursor
from rebate.settings import PayoutOrder
from rebate.settlement import BatchResult, settle_batch
from services.queues import settled_rows as settled
from services.queues.writer import _settling_line

PRICES = (990, 2_990, 5_990, 9_900, 19_900, 39_900, 59_900, 99_900)
EXTRACT_BP, REWARD_BP = 6_500, 13_000


def pending_batch(n: int, rng: random.Random, first_order: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        order = first_order + i
        price = rng.choice(PRICES)
        rows.append({
            "id": order, "queue_id": 1, "line_id": order, "order_id": order,
            "member_id": rng.randint(1, 10_000), "extraction_fen": apply_bp(price, EXTRACT_BP),
            "joins": True, "skip_reason": "", "base_fen": price, "ratio_bp": REWARD_BP,
            "ratio_source": "base:default", "entitlement_fen": apply_bp(price, REWARD_BP),
            "lottery": None, "target": f"product:{PRICES.index(price) + 1}", "day": "2026-12-04",
            "limit_per_day": None, "limit_total": None, "rr_cash": 0, "rr_points": 0,
        })  # fmt: skip
    return rows


def window(n: int, rng: random.Random) -> list[Waiting]:
    out = []
    for seq in range(1, n + 1):
        entitlement = apply_bp(rng.choice(PRICES), REWARD_BP)
        out.append(Waiting(seq, seq, rng.randint(1, 10_000), entitlement, 0, True))
    return out


def one_round(batch: int, rng: random.Random) -> dict[str, float]:
    """Seconds per stage for one batch."""
    pending = pending_batch(batch, rng, first_order=1_000_000)
    book = QueueBook(
        window(batch * 2, rng),
        next_seq=batch * 2 + 1,
        waiting_count=batch * 2,
        payout_order=PayoutOrder.QUEUE_ORDER,
        window_is_complete=False,
    )
    now = datetime.now(UTC)
    queue = {"id": 1, "key": "mall"}
    times: dict[str, float] = {}

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        times[stage] = time.perf_counter() - t0
        return out

    lines = timed("lines", lambda: [_settling_line(p, False) for p in pending])
    result: BatchResult = timed(
        "engine",
        lambda: settle_batch(
            book, lines, paused=False, random_return=None, cursor=GroupCursor(0, frozenset(), 0),
            rng=rng, exchange_points_bp=10_000, counts_today={}, counts_total={},
        ),
    )  # fmt: skip

    def rows() -> None:
        by_line = {int(p["line_id"]): p for p in pending}
        joined = settled.joined_entries(result)
        settled.paid_entries(book, joined)
        entry_ids = {seq: seq for seq in book.touched}
        ext_ids = {o.line_id: o.line_id for o in result.lines}
        settled.entry_rows(1, joined, by_line, book, now)
        settled.extraction_rows(1, result, by_line, entry_ids, now)
        settled.money_rows(queue, result, by_line, entry_ids, ext_ids, now)
        settled.queue_counter_args(1, book, result)

    timed("rows", rows)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batch", type=int, default=2_000)
    p.add_argument("--rounds", type=int, default=15)
    a = p.parse_args()
    rng = random.Random(7)
    rounds = [one_round(a.batch, rng) for _ in range(a.rounds)]
    print(f"writer Python per order, batch {a.batch}, median of {a.rounds} rounds (no database):")
    total = 0.0
    for stage in rounds[0]:
        us = statistics.median(r[stage] for r in rounds) / a.batch * 1e6
        total += us
        print(f"  {stage:8} {us:6.2f} µs")
    print(f"  {'total':8} {total:6.2f} µs")


if __name__ == "__main__":
    main()
