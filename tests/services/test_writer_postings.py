"""The postings the queue writer builds for a batch (``settled_rows.money_rows``), without a
database: well formed by construction (the COPY path does not check them again), their wallet
deltas the same as the ledger's own, and they move exactly the money the engine decided."""

import random
from datetime import UTC, datetime

import pytest

from bench.writer_python import pending_batch, window
from ledger.postings import checked, wallet_deltas
from rebate.book import QueueBook
from rebate.random_return import GroupCursor
from rebate.settings import PayoutOrder, RandomReturn
from rebate.settlement import settle_batch
from services.queues import settled_rows as settled
from services.queues.writer import _settling_line

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def batch_money(*, paused: bool, waiting: int, random_return: RandomReturn | None, seed: int):
    rng = random.Random(seed)
    pending = pending_batch(40, rng, first_order=1_000)
    book = QueueBook(
        window(waiting, rng), next_seq=waiting + 1, waiting_count=waiting,
        payout_order=PayoutOrder.QUEUE_ORDER, window_is_complete=True,
    )  # fmt: skip
    lines = [_settling_line(p, True) for p in pending]
    result = settle_batch(
        book, lines, paused=paused, random_return=random_return,
        cursor=GroupCursor(0, frozenset(), 0), rng=rng, exchange_points_bp=10_000,
        counts_today={}, counts_total={},
    )  # fmt: skip
    by_line = {int(p["line_id"]): p for p in pending}
    ids = {seq: 10_000 + seq for seq in range(1, waiting + 41)}
    ext_ids = {o.line_id: 50_000 + o.line_id for o in result.lines}
    return result, settled.money_rows({"id": 7, "key": "mall"}, result, by_line, ids, ext_ids, NOW)


@pytest.mark.parametrize(
    ("paused", "waiting", "random_return"),
    [(False, 60, None), (False, 0, None), (True, 60, None), (False, 10, RandomReturn(1, 1))],
    ids=["payouts", "unallocated", "withheld", "random-return"],
)
def test_the_writers_postings_are_well_formed_and_move_what_the_engine_decided(
    paused, waiting, random_return
):
    result, money = batch_money(paused=paused, waiting=waiting, random_return=random_return, seed=3)
    checked(money.postings)  # raises on a malformed one
    assert money.wallets == wallet_deltas(money.postings)

    def total(kind: str) -> int:
        return sum(p.amount for p in money.postings if p.kind == kind)

    extracted = [o.extracted for o in result.lines]
    assert total("extraction") == sum(x.amount for x in extracted) > 0
    assert total("payout") == sum(x.paid for x in extracted)
    assert total("withheld") == sum(x.withheld for x in extracted)
    assert total("unallocated") == sum(x.unallocated for x in extracted)
    assert total("random_return") == sum(o.joined.points for o in result.lines if o.joined)
    assert len({p.key for p in money.postings}) == len(money.postings)
    assert {p.debit for p in money.postings if p.kind == "payout"} == (
        {"queue:7"} if total("payout") else set()
    )
    if paused:
        assert total("payout") == 0 and total("withheld") == total("extraction")
    if waiting == 0:  # the batch's first extraction finds no one waiting
        assert total("unallocated") > 0
    if random_return:
        assert total("random_return") > 0
