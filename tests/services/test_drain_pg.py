"""Payments on a queue whose writer is at work do not wait for it (PostgreSQL, real row locks),
and the settlement backlog — rows stored but never drained — is applied exactly once.

That nothing is left pending when many payments race on one queue, with no backlog run at all,
is shown by tests/services/test_concurrency_pg.py (200 payments, one process and four)."""

import asyncio
from contextlib import asynccontextmanager

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from models import Entry, Order, OrderLine, PendingSettlement, Queue
from rebate.settings import OrderSource, RatioSettings, SettleOn
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid, record_payment
from services.queues.locks import WRITER_LOCK
from services.queues.runner import WriterLoop
from services.queues.writer import apply_backlog, apply_batch, apply_pending
from services.settings.base import load_base
from tests.services.helpers import Clock, seeded, use_base

LIVENESS = 30  # seconds: far beyond any drain here; reached only if a payment waits for the lock


@asynccontextmanager
async def queue_locked(pg_url, key, *, writer=True):
    """Another process holding queue ``key``'s lock until the block ends: its writer at work
    (the row lock and the writer's mark, as ``apply_batch`` takes them), or with
    ``writer=False`` a refund or a lottery draw (the row lock alone)."""
    raw = await asyncpg.connect(pg_url)
    tx = raw.transaction()
    await tx.start()
    try:
        queue_id = await raw.fetchval("SELECT id FROM queue WHERE key = $1 FOR NO KEY UPDATE", key)
        if writer:
            await raw.execute("SELECT pg_advisory_xact_lock($1, $2)", WRITER_LOCK, queue_id)
        yield
    finally:
        await tx.rollback()
        await raw.close()


async def _paid_orders(count, clock, rng):
    """``count`` mall orders of 10.00, paid and settled one by one (the queue then exists)."""
    await use_base(settle_on=SettleOn.PAID, extract_bp=5000, ratios=RatioSettings(default_bp=12000))
    product = await new_product("A", 1000)
    for i in range(count):
        member = await new_member(f"m{i}")
        order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])
        await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
    return product


async def test_a_payment_does_not_wait_for_a_busy_writer_and_the_backlog_settles_it(pg, pg_url):
    clock, rng = Clock(), seeded()
    product = await _paid_orders(2, clock, rng)
    late = await new_member("late")
    order = await create_order(late.id, OrderSource.MALL, items=[Item(product.id)])
    async with queue_locked(pg_url, "mall"):
        await asyncio.wait_for(
            mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng), LIVENESS
        )
        # paid and enqueued, left to the writer holding the queue
        assert await PendingSettlement.filter(order_id=order.id).count() == 1
        assert (await OrderLine.get(order_id=order.id)).status == "settling"
        busy = await apply_backlog(now=clock.tick(), rng=rng)
        assert busy.busy and busy.lines == 0
    applied = await apply_backlog(now=clock.tick(), rng=rng)
    assert (applied.lines, applied.busy) == (1, False)
    assert await PendingSettlement.filter(order_id=order.id).count() == 0
    assert await Entry.filter(order_id=order.id).count() == 1
    assert await check_conservation() == []


async def test_a_payment_waits_for_a_holder_of_the_lock_that_is_not_a_writer(pg, pg_url):
    """A refund or a lottery draw holds the queue's lock for a moment and does not look for
    pending rows afterwards: the payment's drain waits for it and applies its own line."""
    clock, rng = Clock(), seeded()
    product = await _paid_orders(1, clock, rng)
    order = await create_order(
        (await new_member("x")).id, OrderSource.MALL, items=[Item(product.id)]
    )
    async with queue_locked(pg_url, "mall", writer=False):
        paying = asyncio.ensure_future(
            mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
        )
        await asyncio.sleep(0.3)
        assert not paying.done()  # queued behind the refund's lock
    await asyncio.wait_for(paying, LIVENESS)
    assert await Entry.filter(order_id=order.id).count() == 1
    assert await PendingSettlement.all().count() == 0
    assert await check_conservation() == []


async def test_a_waiting_drain_still_queues_behind_the_writer(pg, pg_url):
    """``apply_pending`` (the default, ``wait=True``) is what a dedicated writer loop uses: it
    waits for the lock and applies the row once the other writer is done."""
    clock, rng = Clock(), seeded()
    product = await _paid_orders(1, clock, rng)
    queue = await Queue.get(key="mall")
    order = await create_order(
        (await new_member("x")).id, OrderSource.MALL, items=[Item(product.id)]
    )
    async with queue_locked(pg_url, "mall"):
        await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
        waiting = asyncio.ensure_future(apply_pending(queue.id, now=clock.tick(), rng=rng))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # queued behind the lock
    applied = await asyncio.wait_for(waiting, LIVENESS)
    assert (applied.lines, applied.busy) == (1, False)
    assert await check_conservation() == []


async def test_a_backlog_left_by_a_stopped_process_is_applied_once_on_every_queue(pg, pg_url):
    """Pending rows committed by a settlement event whose drain never ran (the process stopped
    right after the commit): the backlog run applies each exactly once, skipping busy queues."""
    clock, rng = Clock(), seeded()
    await use_base(
        settle_on=SettleOn.PAID,
        extract_bp=5000,
        ratios=RatioSettings(default_bp=12000),
        mall_queue_unified=False,  # one queue per product
    )
    products = [await new_product(name, 1000) for name in ("A", "B")]
    base = await load_base()
    for i in range(6):
        member = await new_member(f"m{i}")
        order = await create_order(member.id, OrderSource.MALL, items=[Item(products[i % 2].id)])
        await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
    stopped = await create_order(
        (await new_member("s")).id, OrderSource.MALL, items=[Item(products[0].id)]
    )
    other = await create_order(
        (await new_member("t")).id, OrderSource.MALL, items=[Item(products[1].id)]
    )
    for order in (stopped, other):  # what mark_paid commits before it drains
        async with in_transaction() as conn:
            await record_payment(conn, order, paid_fen=order.paid_fen, now=clock.tick(), base=base)
    assert await PendingSettlement.all().count() == 2
    busy_key = f"product:{products[1].id}"
    async with queue_locked(pg_url, busy_key):
        first = await apply_backlog(now=clock.tick(), rng=rng)
    assert (first.lines, first.busy) == (1, True)
    second = await apply_backlog(now=clock.tick(), rng=rng)
    assert (second.lines, second.busy) == (1, False)
    again = await apply_backlog(now=clock.tick(), rng=rng)
    assert (again.lines, again.batches, again.busy) == (0, 0, False)
    assert await Entry.filter(order_id__in=[stopped.id, other.id]).count() == 2
    assert await PendingSettlement.all().count() == 0
    assert await check_conservation() == []


async def test_a_writer_loop_takes_over_what_a_stopped_process_left_within_its_poll(pg, pg_url):
    """Nobody hands these queues over (the process that enqueued them stopped): the loop finds
    them by its poll, leaves the one whose writer is at work in another process, and applies it
    once that writer is gone."""
    await use_base(settle_on=SettleOn.PAID, extract_bp=5000, mall_queue_unified=False)
    products = [await new_product(name, 1000) for name in ("A", "B")]
    base, clock = await load_base(), Clock()
    orders = []
    for i in range(2):
        member = await new_member(f"m{i}")
        order = await create_order(member.id, OrderSource.MALL, items=[Item(products[i].id)])
        async with in_transaction() as conn:
            await record_payment(conn, order, paid_fen=order.paid_fen, now=clock.tick(), base=base)
        orders.append(order)
    loop = WriterLoop(poll_seconds=0.2, rng=seeded())
    async with queue_locked(pg_url, f"product:{products[1].id}"):
        loop.start()
        try:
            for _ in range(100):
                if await Entry.filter(order_id=orders[0].id).exists():
                    break
                await asyncio.sleep(0.05)
            assert await Entry.filter(order_id=orders[0].id).count() == 1
            assert await PendingSettlement.all().count() == 1  # the busy queue's, left to it
        except BaseException:
            await loop.stop()
            raise
    try:
        for _ in range(100):  # the other process let go without applying: the poll finds it
            if not await PendingSettlement.all().exists():
                break
            await asyncio.sleep(0.05)
        assert await Entry.filter(order_id=orders[1].id).count() == 1
        assert loop.applied == 2
    finally:
        await loop.stop()
    assert await check_conservation() == []


async def test_a_batch_share_locks_each_of_its_orders_until_it_commits(pg, pg_url):
    """A new entry records whether its order is completed (``completed_first`` pays only those),
    and completing an order marks its entries: so the writer share-locks every order of its
    batch, completed or not, and a completion waits for the batch's entries to commit."""
    clock, rng = Clock(), seeded()
    product = await _paid_orders(1, clock, rng)
    ids = []
    for name in ("a", "b"):
        member = await new_member(name)
        order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])
        async with in_transaction() as conn:  # paid and enqueued, not drained
            locked = await Order.select_for_update().using_db(conn).get(id=order.id)
            await record_payment(
                conn, locked, paid_fen=order.paid_fen, now=clock.tick(), base=await load_base()
            )
        ids.append(order.id)
    queue = await Queue.get(key="mall")
    other = await asyncpg.connect(pg_url)
    try:
        async with in_transaction() as conn:
            assert await apply_batch(conn, queue.id, now=clock.tick(), batch_size=10, rng=rng) == 2
            for order_id in ids:
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await other.execute(
                        "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE NOWAIT", order_id
                    )
        assert await other.execute("SELECT 1 FROM orders WHERE id = ANY($1) FOR UPDATE NOWAIT", ids)
    finally:
        await other.close()
