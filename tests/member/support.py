"""Builders shared by the member-side storage tests (lottery, exchange, clearing, jobs)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import Entry
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.db import tortoise_config
from runtime.sql import fetch
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid
from tests.services.helpers import Clock, seeded, use_base

# settle when paid: one call puts an entry in the queue; 10% of every later order flows in
BASE = {"settle_on": SettleOn.PAID, "extract_bp": 1000}
TABLES = ("queue", "entry", "posting", "wallet", "outbox_event", "lottery_draw", "job_run")


async def setup(**base: Any) -> None:
    await use_base(**{**BASE, "ratios": RatioSettings(default_bp=10_000), **base})


async def buy(member: Any, product: Any, clock: Clock) -> Entry | None:
    """One paid order of ``product`` (settles at once); its entry, if it got one."""
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id, 1)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=seeded())
    return await Entry.get_or_none(order_id=order.id)


async def waiting_entry(openid: str = "a", price: int = 10_000, clock: Clock | None = None):
    """A member with one waiting entry in the ``mall`` queue; returns (member, entry, product)."""
    clock = clock or Clock()
    member = await new_member(openid)
    product = await new_product(f"P-{openid}", price)
    entry = await buy(member, product, clock)
    assert entry is not None
    return member, entry, product


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a member action may touch, to prove a refusal changed nothing."""
    conn = connections.get("default")
    return {t: await fetch(conn, f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


async def conserved() -> None:
    assert await check_conservation() == []


@asynccontextmanager
async def orm_on(url: str, *, maxsize: int) -> AsyncIterator[None]:
    """The ORM on a PostgreSQL test database, with a pool wide enough for real concurrency."""
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(f"{url}?maxsize={maxsize}"))
    try:
        yield
    finally:
        await ctx.close_connections()
