"""Concurrent settlement on ONE queue against the real PostgreSQL: the queue row lock makes one
writer at a time, so the queue stays conserved, FIFO, and no entry is overpaid."""

import asyncio
import multiprocessing
import random

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import Entry, OrderLine, Queue
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.db import tortoise_config
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid
from tests.services.helpers import Clock, use_base

ORDERS = 200


async def _assert_fifo_and_conserved(queue_key: str) -> None:
    assert await check_conservation() == []
    queue = await Queue.get(key=queue_key)
    entries = await Entry.filter(queue_id=queue.id).order_by("seq")
    assert len(entries) == ORDERS
    assert all(0 <= e.paid_fen <= e.entitlement_fen for e in entries)
    # FIFO with single-line orders: full entries, then at most one partly paid, then unpaid.
    shape = [
        "full" if e.paid_fen == e.entitlement_fen else "part" if e.paid_fen else "none"
        for e in entries
    ]
    first_not_full = shape.index("part") if "part" in shape else shape.index("none")
    assert all(s == "full" for s in shape[:first_not_full])
    assert all(s == "none" for s in shape[first_not_full + 1 :])
    assert queue.next_seq == ORDERS + 1
    assert sorted(e.seq for e in entries) == list(range(1, ORDERS + 1))


async def _prepare(count: int) -> list[tuple[int, int]]:
    await use_base(settle_on=SettleOn.PAID, extract_bp=5000, ratios=RatioSettings(default_bp=12000))
    product = await new_product("A", 1000)
    out = []
    for i in range(count):
        m = await new_member(f"m{i}")
        order = await create_order(m.id, OrderSource.MALL, items=[Item(product.id, 1 + i % 3)])
        out.append((order.id, order.paid_fen))
    return out


async def test_200_concurrent_settlements_in_one_process(pg_url):
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(f"{pg_url}?maxsize=20"))
    try:
        orders = await _prepare(ORDERS)
        clock = Clock()
        random.Random(3).shuffle(orders)
        await asyncio.gather(
            *(
                mark_paid(oid, paid_fen=fen, now=clock.tick(1), rng=random.Random(oid))
                for oid, fen in orders
            )
        )
        assert await OrderLine.filter(status="settled").count() == ORDERS
        await _assert_fifo_and_conserved("mall")
    finally:
        await ctx.close_connections()


def _settle_in_process(pg_url: str, order_ids: list[tuple[int, int]]) -> None:
    async def run() -> None:
        EXECUTOR_CACHE.clear()
        ctx = await Tortoise.init(config=tortoise_config(pg_url))
        try:
            clock = Clock()
            await asyncio.gather(
                *(
                    mark_paid(oid, paid_fen=fen, now=clock.tick(1), rng=random.Random(oid))
                    for oid, fen in order_ids
                )
            )
        finally:
            await ctx.close_connections()

    asyncio.run(run())


async def test_200_settlements_from_four_processes(pg_url):
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(pg_url))
    try:
        orders = await _prepare(ORDERS)
    finally:
        await ctx.close_connections()
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(target=_settle_in_process, args=(pg_url, orders[i::4])) for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(pg_url))
    try:
        assert await OrderLine.filter(status="settled").count() == ORDERS
        await _assert_fifo_and_conserved("mall")
    finally:
        await ctx.close_connections()
