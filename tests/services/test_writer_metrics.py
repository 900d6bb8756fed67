"""The writer's metrics: how long a settled line waited for its queue's writer (from the commit
that enqueued it) and how many lines each batch settled."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY

from models import Queue
from rebate.settings import OrderSource, RatioSettings, SettleOn
from services.catalog.products import new_product
from services.members.accounts import new_member
from services.orders.lifecycle import Item, complete_order, create_order, mark_paid
from services.queues import runner
from services.queues.runner import WriterLoop
from services.queues.writer import apply_pending
from tests.services.helpers import Clock, seeded, use_base


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_lag_from_enqueue_to_settlement_and_batch_sizes_are_observed(db):
    await use_base(ratios=RatioSettings(default_bp=13000), settle_on=SettleOn.COMPLETED)
    clock, rng = Clock(), seeded()
    product = await new_product("茶叶", 16800)
    loop = WriterLoop()  # installed, never started: completions only hand their queues over
    runner.install(loop)
    try:
        for i in range(3):
            member = await new_member(f"o{i}")
            order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])
            await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.now, rng=rng)
            await complete_order(order.id, now=clock.now, rng=rng)  # enqueued at clock.now
    finally:
        runner.uninstall(loop)
    queue = await Queue.get(key="mall")
    lag = "queue_rebate_writer_lag_seconds"
    batch = "queue_rebate_writer_batch_lines"
    before = {
        "lag_count": sample(f"{lag}_count"),
        "lag_sum": sample(f"{lag}_sum"),
        "lag_le_5": sample(f"{lag}_bucket", le="5.0"),
        "lag_le_2.5": sample(f"{lag}_bucket", le="2.5"),
        "batches": sample(f"{batch}_count"),
        "lines": sample(f"{batch}_sum"),
    }
    done = await apply_pending(queue.id, now=clock.now + timedelta(seconds=5), rng=rng)
    assert (done.lines, done.batches) == (3, 1)
    assert sample(f"{lag}_count") - before["lag_count"] == 3
    assert sample(f"{lag}_sum") - before["lag_sum"] == 15  # each waited 5 s
    assert sample(f"{lag}_bucket", le="5.0") - before["lag_le_5"] == 3
    assert sample(f"{lag}_bucket", le="2.5") - before["lag_le_2.5"] == 0
    assert sample(f"{batch}_count") - before["batches"] == 1
    assert sample(f"{batch}_sum") - before["lines"] == 3
