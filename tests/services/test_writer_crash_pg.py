"""A writer killed in the middle of a batch (SIGKILL, PostgreSQL for real): nothing of the batch
is visible, its lock is released, and after a restart every stored settlement is applied
exactly once (issue 3: crash-safe, one writer per queue across processes).

The writer runs in its own OS process and stops itself half-way through writing the batch —
after its entries, extractions and postings were sent, before its outbox events — so the
kill lands inside the batch's transaction with most of its rows already on the server."""

import asyncio
import multiprocessing
import time
from datetime import UTC, datetime

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.transactions import in_transaction

from models import Entry, Extraction, OrderLine, PendingSettlement, Posting, Queue
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.db import tortoise_config
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid, record_payment
from services.queues.locks import writer_at_work
from services.queues.writer import apply_backlog, apply_pending
from services.settings.base import load_base
from tests.services.helpers import Clock, seeded, use_base

STORED = 40  # paid orders whose settlements are stored, then left to the writer
LIVENESS = 60  # seconds: far beyond anything here; reached only on a hang


def _writer_that_stops_mid_batch(pg_url: str, queue_id: int, stopped) -> None:
    """The queue's writer, which freezes (holding its transaction open) just before it sends
    the batch's outbox events, after telling the parent."""
    from services.queues import pg_bulk

    copy = pg_bulk._copy

    async def copy_then_freeze(raw, table, columns, rows):
        if table == "outbox_event":
            stopped.set()
            time.sleep(3600)  # the parent kills this process here
        await copy(raw, table, columns, rows)

    pg_bulk._copy = copy_then_freeze

    async def run() -> None:
        EXECUTOR_CACHE.clear()
        await Tortoise.init(config=tortoise_config(pg_url))
        await apply_pending(queue_id, now=datetime.now(UTC), batch_size=1000)

    asyncio.run(run())


async def _store_unsettled(count: int, clock: Clock) -> list[int]:
    """``count`` paid orders with their pending settlements committed, as ``mark_paid`` leaves
    them before its drain."""
    base = await load_base()
    product = await new_product("B", 2500)
    ids = []
    for i in range(count):
        order = await create_order(
            (await new_member(f"s{i}")).id, OrderSource.MALL, items=[Item(product.id, 1 + i % 2)]
        )
        async with in_transaction() as conn:
            await record_payment(conn, order, paid_fen=order.paid_fen, now=clock.tick(1), base=base)
        ids.append(order.id)
    return ids


async def test_a_writer_killed_mid_batch_leaves_nothing_and_its_batch_is_applied_once(pg, pg_url):
    clock, rng = Clock(), seeded()
    await use_base(settle_on=SettleOn.PAID, extract_bp=6500, ratios=RatioSettings(default_bp=13000))
    product = await new_product("A", 1000)
    for i in range(5):  # entries waiting at the head, so the batch pays out
        order = await create_order(
            (await new_member(f"m{i}")).id, OrderSource.MALL, items=[Item(product.id)]
        )
        await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
    queue = await Queue.get(key="mall")
    before = (
        await Entry.all().count(),
        await Extraction.all().count(),
        await Posting.all().count(),
    )
    stored = await _store_unsettled(STORED, clock)
    assert await PendingSettlement.all().count() == STORED

    spawn = multiprocessing.get_context("spawn")
    stopped = spawn.Event()
    writer = spawn.Process(target=_writer_that_stops_mid_batch, args=(pg_url, queue.id, stopped))
    writer.start()
    try:
        assert await asyncio.to_thread(stopped.wait, LIVENESS), "the writer never reached its batch"
        assert await writer_at_work(connections.get("default"), queue.id)
        # Half a batch is on the server, inside the writer's open transaction: none of it shows.
        assert await Entry.all().count() == before[0]
        assert await PendingSettlement.all().count() == STORED

        writer.kill()
        writer.join(LIVENESS)
        assert writer.exitcode is not None and writer.exitcode < 0  # killed, not finished

        # The restart: a waiting drain queues until the server has rolled the batch back and
        # released the dead writer's locks, then applies every stored settlement.
        applied = await asyncio.wait_for(
            apply_pending(queue.id, now=clock.tick(), rng=rng), LIVENESS
        )
        assert not await writer_at_work(connections.get("default"), queue.id)
    finally:
        if writer.is_alive():
            writer.kill()

    assert applied.lines == STORED
    assert (await apply_backlog(now=clock.tick(), rng=rng)).lines == 0  # nothing left over
    assert await PendingSettlement.all().count() == 0
    assert await Entry.filter(order_id__in=stored).count() == STORED  # one each, not two
    assert await Extraction.all().count() == before[1] + STORED
    assert await Posting.all().count() > before[2]  # the batch paid the head
    lines = await OrderLine.filter(order_id__in=stored).values_list("status", flat=True)
    assert sorted(set(lines)) == ["settled"]
    entries = await Entry.filter(queue_id=queue.id).order_by("seq")
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(0 <= e.paid_fen <= e.entitlement_fen for e in entries)
    assert await check_conservation() == []
