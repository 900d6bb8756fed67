"""An exchange racing the payouts that reach the same entry, on the real PostgreSQL: the queue
lock serialises them, so every fen of the entitlement is either paid or exchanged, never both.
Two exchanges of the same entry race too: exactly one wins."""

import asyncio
import random
from collections.abc import Awaitable

from models import Entry, Posting
from rebate.errors import NotAllowed
from rebate.settings import OrderSource, RatioSettings
from services.catalog.products import new_product
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, mark_paid
from services.queues.exchange import exchange_entry
from tests.member.support import buy, conserved, orm_on, setup
from tests.services.helpers import Clock

ENTITLEMENT = 4_000  # 10000 fen at 40%; every later order pays 1000 into it
PAYERS = 6
DELAYS = (0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.5)  # when the exchanges start, per round (s)


async def _later(delay: float, move: Awaitable[object]) -> object:
    await asyncio.sleep(delay)
    return await move


async def _round(i: int, delay: float, clock: Clock) -> str:
    product = await new_product(f"P{i}", 10_000)  # its own queue (product:<id>)
    owner = await new_member(f"owner{i}")
    entry = await buy(owner, product, clock)
    assert entry is not None and entry.entitlement_fen == ENTITLEMENT
    for j in range(i % 3):  # some rounds start from a partly paid entry
        await buy(await new_member(f"early{i}-{j}"), product, clock)
    orders = []
    for j in range(PAYERS):
        buyer = await new_member(f"b{i}-{j}")
        orders.append(await create_order(buyer.id, OrderSource.MALL, items=[Item(product.id)]))
    moves: list[Awaitable[object]] = [
        mark_paid(o.id, paid_fen=o.paid_fen, now=clock.tick(1), rng=random.Random(o.id))
        for o in orders
    ]
    for to in ("points", "love"):
        moves.append(_later(delay, exchange_entry(owner.id, entry.id, to, now=clock.tick(1))))
    results = await asyncio.gather(*moves, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, NotAllowed) for f in failures), failures  # only a late exchange

    after = await Entry.get(id=entry.id)
    paid = sum(p.amount for p in await Posting.filter(kind="payout", entry_id=entry.id))
    exchanged = await Posting.filter(kind="exchange", entry_id=entry.id)
    assert paid == after.paid_fen <= ENTITLEMENT
    if not exchanged:  # the payouts filled it before either exchange
        assert len(failures) == 2 and after.status == "completed" and paid == ENTITLEMENT
        return "paid"
    assert len(exchanged) == 1 and len(failures) == 1 and after.status == "exchanged"
    assert paid + exchanged[0].amount == after.entitlement_fen  # both ratios are 100%
    return f"exchanged after {paid}"


async def test_exchange_and_payouts_of_one_entry_never_both_take_a_fen(pg_url):
    async with orm_on(pg_url, maxsize=12):
        await setup(mall_queue_unified=False, ratios=RatioSettings(default_bp=4_000))
        clock = Clock()
        outcomes = [await _round(i, d, clock) for i, d in enumerate(DELAYS)]
        print("outcomes:", outcomes)  # with -s: which rounds the exchange won, after how much
        await conserved()
