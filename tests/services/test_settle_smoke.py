from models import Entry, Queue, Wallet
from rebate.settings import OrderSource, RatioSettings, SettleOn
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.lifecycle import Item, complete_order, create_order, mark_paid
from tests.services.helpers import Clock, seeded, use_base


async def buy(member_id, product_id, clock, rng):
    order = await create_order(member_id, OrderSource.MALL, items=[Item(product_id)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng)
    await complete_order(order.id, now=clock.tick(), rng=rng)
    return order


async def test_seed_example_entry_full_after_two_later_orders(db):
    await use_base(
        extract_bp=6500, ratios=RatioSettings(default_bp=13000), settle_on=SettleOn.COMPLETED
    )
    clock, rng = Clock(), seeded()
    product = await new_product("茶叶", 16800)
    members = [await new_member(f"o{i}") for i in range(3)]
    first = await buy(members[0].id, product.id, clock, rng)
    entry = await Entry.get(order_id=first.id)
    assert entry.entitlement_fen == 21840
    await buy(members[1].id, product.id, clock, rng)
    await entry.refresh_from_db()
    assert entry.paid_fen == 10920 and entry.status == "waiting"
    await buy(members[2].id, product.id, clock, rng)
    await entry.refresh_from_db()
    assert entry.paid_fen == 21840 and entry.status == "completed"
    wallet = await Wallet.get(member_id=members[0].id)
    assert wallet.cash_fen == 21840
    queue = await Queue.get(key="mall")
    assert queue.waiting_count == 2
    assert queue.extracted_fen == 3 * 10920 and queue.unallocated_fen == 10920
    assert await check_conservation() == []
