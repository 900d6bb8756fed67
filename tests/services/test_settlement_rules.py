"""Storage tests of SPEC §3–§6 through the services, on SQLite and on PostgreSQL."""

import pytest

from models import (
    Entry,
    EntryStatus,
    Extraction,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboxEvent,
    PendingSettlement,
    Posting,
    Product,
    ProductKind,
    Queue,
    Wallet,
)
from rebate.deduction import Request
from rebate.errors import AlreadySettled, InvalidAmount, NotAllowed
from rebate.settings import (
    DeductionMode,
    OrderSource,
    PayoutOrder,
    RandomReturn,
    RatioSettings,
    SettleOn,
)
from services.catalog.products import enable_all_products, new_product, new_store, new_supplier
from services.checks import check_conservation
from services.errors import NotFound
from services.members.accounts import new_member
from services.orders.lifecycle import (
    Item,
    complete_order,
    create_order,
    mark_paid,
    refund_line,
    settle_order,
)
from services.settings.cache import changing, product_key
from tests.services.helpers import Clock, funded, seeded, use_base

DEFAULT = {
    "extract_bp": 6500,
    "ratios": RatioSettings(default_bp=13000),
    "deduction_points_per_fen": 1,
}


async def pay(order, clock, rng=None):
    return await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=rng or seeded())


async def buy(member, product, clock, *, complete=True, qty=1, deduction=0, rng=None):
    source = OrderSource.STORE if product.kind == ProductKind.STORE else OrderSource.MALL
    order = await create_order(
        member.id,
        source,
        items=[Item(product.id, qty)],
        deduction=await funded(member.id, points=deduction),
    )
    await pay(order, clock, rng)
    if complete:
        await complete_order(order.id, now=clock.tick(), rng=rng or seeded())
    return order


async def checkout(member, store, amount, clock, *, complete=True):
    order = await create_order(member.id, OrderSource.CASHIER, store_id=store.id, amount_fen=amount)
    await pay(order, clock)
    if complete:
        await complete_order(order.id, now=clock.tick(), rng=seeded())
    return order


async def entry_of(order):
    return await Entry.get(order_id=order.id)


async def conserved():
    assert await check_conservation() == []


# --- queue scopes (SPEC §3) ---------------------------------------------------------------


@pytest.mark.parametrize("unified", [True, False])
async def test_mall_goods_share_one_queue_or_one_per_product(db, unified):
    await use_base(mall_queue_unified=unified, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    supplier = await new_supplier("S")
    p1 = await new_product("A", 1000)
    p2 = await new_product("B", 1000, kind=ProductKind.SUPPLIER, supplier_id=supplier.id)
    o1, o2 = await buy(m, p1, clock), await buy(m, p2, clock)
    keys = {(await Queue.get(id=(await entry_of(o)).queue_id)).key for o in (o1, o2)}
    assert keys == ({"mall"} if unified else {f"product:{p1.id}", f"product:{p2.id}"})
    await conserved()


@pytest.mark.parametrize("unified", [True, False])
async def test_store_goods_share_one_queue_or_one_per_store(db, unified):
    await use_base(stores_queue_unified=unified, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    s1, s2 = await new_store("一店"), await new_store("二店")
    g1 = await new_product("面", 1500, kind=ProductKind.STORE, store_id=s1.id)
    g2 = await new_product("饭", 1500, kind=ProductKind.STORE, store_id=s2.id)
    o1, o2 = await buy(m, g1, clock), await buy(m, g2, clock)
    keys = {(await Queue.get(id=(await entry_of(o)).queue_id)).key for o in (o1, o2)}
    assert keys == ({"stores"} if unified else {f"store:{s1.id}", f"store:{s2.id}"})


@pytest.mark.parametrize("unified", [True, False])
async def test_cashier_orders_share_one_queue_or_one_per_store(db, unified):
    await use_base(cashiers_queue_unified=unified, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    s1, s2 = await new_store("一店"), await new_store("二店")
    o1, o2 = await checkout(m, s1, 5000, clock), await checkout(m, s2, 5000, clock)
    keys = {(await Queue.get(id=(await entry_of(o)).queue_id)).key for o in (o1, o2)}
    assert keys == ({"cashiers"} if unified else {f"cashier:{s1.id}", f"cashier:{s2.id}"})


async def test_switch_change_affects_only_later_settlements(db):
    await use_base(mall_queue_unified=True, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 1000)
    first = await buy(m, p, clock)
    await use_base(mall_queue_unified=False, **DEFAULT)
    second = await buy(m, p, clock)
    assert (await Queue.get(id=(await entry_of(first)).queue_id)).key == "mall"
    assert (await Queue.get(id=(await entry_of(second)).queue_id)).key == f"product:{p.id}"
    assert (await entry_of(first)).paid_fen == 0  # the new queue's extraction stays there
    await conserved()


# --- settlement events and payout order (SPEC §4) ---------------------------------------


async def test_completed_settlement_waits_for_completion(db):
    await use_base(settle_on=SettleOn.COMPLETED, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 16800)
    order = await buy(m, p, clock, complete=False)
    assert not await Entry.exists(order_id=order.id)
    await complete_order(order.id, now=clock.tick(), rng=seeded())
    assert (await entry_of(order)).entitlement_fen == 21840


async def test_paid_settlement_with_queue_order_pays_uncompleted_entries(db):
    await use_base(settle_on=SettleOn.PAID, payout_order=PayoutOrder.QUEUE_ORDER, **DEFAULT)
    clock = Clock()
    a, b = await new_member("a"), await new_member("b")
    p = await new_product("A", 16800)
    first = await buy(a, p, clock, complete=False)
    await buy(b, p, clock, complete=False)
    assert (await entry_of(first)).paid_fen == 10920
    await conserved()


async def test_completed_first_pays_completed_entries_before_earlier_uncompleted(db):
    await use_base(settle_on=SettleOn.PAID, payout_order=PayoutOrder.COMPLETED_FIRST, **DEFAULT)
    clock = Clock()
    a, b, c = await new_member("a"), await new_member("b"), await new_member("c")
    p = await new_product("A", 16800)
    first = await buy(a, p, clock, complete=False)  # waits, order not completed
    second = await buy(b, p, clock, complete=True)  # completed later, but completed
    await buy(c, p, clock, complete=False)
    assert (await entry_of(first)).paid_fen == 0
    assert (await entry_of(second)).paid_fen == 10920
    await complete_order(first.id, now=clock.tick(), rng=seeded())
    await buy(c, p, clock, complete=False)
    assert (await entry_of(first)).paid_fen == 10920  # now first in line again
    await conserved()


async def test_extraction_never_pays_own_order_entries(db):
    await use_base(**DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 10000)
    order = await buy(m, p, clock, qty=1)
    two = await create_order(m.id, OrderSource.MALL, items=[Item(p.id), Item(p.id)])
    await pay(two, clock)
    await complete_order(two.id, now=clock.tick(), rng=seeded())
    entries = await Entry.filter(order_id=two.id).order_by("seq")
    assert [e.paid_fen for e in entries] == [0, 0]
    assert (await entry_of(order)).paid_fen == 13000  # 6500 + 6500 from the two lines
    await conserved()


# --- deduction, pause, master switch, enable switches (SPEC §4, §6) ----------------------


async def test_deduction_orders_participate_or_only_extract(db):
    await use_base(deduction=DeductionMode.EXCLUDE, **DEFAULT)
    clock, a, b = Clock(), await new_member("a"), await new_member("b")
    p = await new_product("A", 10000)
    first = await buy(a, p, clock)
    deducted = await buy(b, p, clock, deduction=2000)
    assert not await Entry.exists(order_id=deducted.id)
    assert (await entry_of(first)).paid_fen == 8000 * 6500 // 10000
    await use_base(deduction=DeductionMode.PARTICIPATE, **DEFAULT)
    third = await buy(b, p, clock, deduction=2000)
    assert (await entry_of(third)).entitlement_fen == 8000 * 13000 // 10000
    await conserved()


async def test_pause_withholds_extractions_and_entries_still_join(db):
    await use_base(paused=True, **DEFAULT)
    clock, a, b = Clock(), await new_member("a"), await new_member("b")
    p = await new_product("A", 10000)
    first, second = await buy(a, p, clock), await buy(b, p, clock)
    assert (await entry_of(first)).paid_fen == 0 and await Entry.exists(order_id=second.id)
    queue = await Queue.get(key="mall")
    assert queue.withheld_fen == 2 * 6500 and queue.paid_fen == 0
    await conserved()


async def test_master_switch_off_nothing_joins_nothing_extracted(db):
    await use_base(enabled=False, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 10000)
    order = await buy(m, p, clock)
    assert not await Entry.exists() and not await Extraction.exists()
    assert await OrderLine.filter(order_id=order.id, status=LineStatus.SETTLED).count() == 1


async def test_disabled_product_neither_extracts_nor_joins_and_one_click_enables(db):
    await use_base(new_products_enabled=False, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 10000)
    assert p.rebate_enabled is False
    await buy(m, p, clock)
    assert not await Extraction.exists()
    assert await enable_all_products() == 1
    await buy(m, await Product.get(id=p.id), clock)
    assert await Entry.exists()


async def test_reward_window_limits_entries_not_extraction(db):
    await use_base(**DEFAULT)
    clock, a, b = Clock(), await new_member("a"), await new_member("b")  # 10:00 Beijing
    p = await new_product("A", 10000)
    first = await buy(a, p, clock)
    p.rebate = {"windows": [{"start": "20:00", "end": "22:00"}]}
    async with changing(product_key(p.id)):  # what every writer of a cached row does
        await p.save()
    outside = await buy(b, p, clock)
    assert not await Entry.exists(order_id=outside.id)
    assert (await entry_of(first)).paid_fen == 6500
    await conserved()


async def test_limits_per_day_and_total(db):
    await use_base(**DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 1000, rebate={"limits": {"per_day": 2, "total": 3}})
    orders = [await buy(m, p, clock) for _ in range(3)]
    assert [await Entry.exists(order_id=o.id) for o in orders] == [True, True, False]
    clock.tick(86400)
    late = [await buy(m, p, clock) for _ in range(2)]
    assert [await Entry.exists(order_id=o.id) for o in late] == [True, False]
    await conserved()


async def test_random_return_converts_exact_count_per_group(db):
    await use_base(
        random_return=RandomReturn(cash_places=1, points_places=2),
        exchange_points_bp=10000,
        **DEFAULT,
    )
    clock = Clock()
    p = await new_product("A", 1000)
    members = [await new_member(f"m{i}") for i in range(9)]
    for m in members:
        await buy(m, p, clock)
    entries = await Entry.all().order_by("seq")
    groups = [entries[i : i + 3] for i in range(0, 9, 3)]
    for group in groups:
        assert sum(1 for e in group if e.points > 0) == 2
        assert all(e.status == EntryStatus.COMPLETED and e.paid_fen == 0 for e in group if e.points)
    converted = [e for e in entries if e.points]
    assert all(e.points == 1300 for e in converted)
    wallet_points = sum(w.points for w in await Wallet.all())
    assert wallet_points == 6 * 1300
    await conserved()


async def test_store_settings_override_base_for_store_random_return(db):
    await use_base(**DEFAULT)
    clock = Clock()
    store = await new_store(
        "店", cashier_rebate={"random_return": {"cash_places": 0, "points_places": 1}}
    )
    m = await new_member("a")
    order = await checkout(m, store, 5000, clock)
    entry = await entry_of(order)
    assert entry.points == 6500 and entry.status == EntryStatus.COMPLETED


# --- ratio chain through storage (SPEC §5) ------------------------------------------------


async def test_level_ratio_and_tiers_and_lottery_reach_entries(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000, level_bp={2: 15000}))
    clock = Clock()
    vip, plain = await new_member("vip", level=2), await new_member("plain")
    p = await new_product(
        "A",
        10000,
        rebate={
            "ratios": {
                "tiers": [{"days": 30, "min_amount_fen": 10000, "ratio_bp": 20000}],
                "lottery": {"mode": "fixed", "ratios_bp": [1000, 5000]},
            }
        },
    )
    assert (await entry_of(await buy(vip, p, clock))).ratio_bp == 15000
    first = await entry_of(await buy(plain, p, clock))
    assert (first.ratio_bp, first.ratio_source) == (10000, "base:default")
    assert first.lottery["mode"] == "fixed" and first.lottery["source"] == "product:lottery"
    second = await entry_of(await buy(plain, p, clock))  # 10000 completed in 30 days → tier
    assert (second.ratio_bp, second.lottery) == (20000, None)
    assert await OutboxEvent.filter(kind="lottery_available").count() == 1


# --- refunds (SPEC §4) --------------------------------------------------------------------


async def test_refund_before_settlement_has_no_queue_effect(db):
    await use_base(**DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 10000)
    order = await buy(m, p, clock, complete=False)
    line = await OrderLine.get(order_id=order.id)
    assert await refund_line(line.id, now=clock.tick()) == "before_settlement"
    assert (await Order.get(id=order.id)).status == OrderStatus.REFUNDED
    assert not await Extraction.exists() and not await PendingSettlement.exists()


async def test_refund_after_settlement_forfeits_remainder_keeps_what_was_paid(db):
    await use_base(**DEFAULT)
    clock, a, b, c = Clock(), await new_member("a"), await new_member("b"), await new_member("c")
    p = await new_product("A", 16800)
    first = await buy(a, p, clock)
    await buy(b, p, clock)
    line = await OrderLine.get(order_id=first.id)
    assert await refund_line(line.id, now=clock.tick()) == "after_settlement_left_queue"
    entry = await entry_of(first)
    assert (entry.status, entry.paid_fen) == (EntryStatus.REFUNDED, 10920)
    third = await buy(c, p, clock)  # pays b's entry, not the refunded one
    assert (await entry_of(first)).paid_fen == 10920
    assert (await Wallet.get(member_id=a.id)).cash_fen == 10920
    assert third
    await conserved()
    with pytest.raises(AlreadySettled):
        await refund_line(line.id, now=clock.tick())


# --- bad input changes nothing ----------------------------------------------------------


async def _snapshot():
    return (
        await Order.all().count(),
        await OrderLine.all().count(),
        await Entry.all().count(),
        await Posting.all().count(),
    )


async def test_bad_orders_are_refused_and_change_nothing(db):
    await use_base(**DEFAULT)
    m = await new_member("a")
    p = await new_product("A", 1000)
    store = await new_store("店")
    before = await _snapshot()
    bad = [
        (InvalidAmount, dict(source=OrderSource.MALL, items=[])),
        (InvalidAmount, dict(source=OrderSource.MALL, items=[Item(p.id, 0)])),
        (InvalidAmount, dict(source=OrderSource.MALL, items=[Item(p.id, -1)])),
        (NotFound, dict(source=OrderSource.MALL, items=[Item(999)])),
        (InvalidAmount, dict(source=OrderSource.CASHIER, store_id=store.id, amount_fen=0)),
        (InvalidAmount, dict(source=OrderSource.CASHIER, store_id=store.id, amount_fen=-5)),
        (NotFound, dict(source=OrderSource.CASHIER, store_id=999, amount_fen=100)),
        (NotAllowed, dict(source=OrderSource.MALL, items=[Item(p.id)], deduction=Request(1000))),
        (InvalidAmount, dict(source=OrderSource.MALL, items=[Item(p.id)], deduction=Request(-1))),
        (NotAllowed, dict(source=OrderSource.STORE, items=[Item(p.id)], store_id=store.id)),
    ]
    for error, kwargs in bad:
        source = kwargs.pop("source")
        with pytest.raises(error):
            await create_order(m.id, source, **kwargs)
    with pytest.raises(InvalidAmount):
        await new_product("负", -1)
    assert await _snapshot() == before


async def test_wrong_amount_and_double_payment_and_double_settlement_refused(db):
    await use_base(settle_on=SettleOn.PAID, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 1000)
    order = await create_order(m.id, OrderSource.MALL, items=[Item(p.id)])
    with pytest.raises(InvalidAmount):
        await mark_paid(order.id, paid_fen=999, now=clock.tick())
    assert (await Order.get(id=order.id)).status == OrderStatus.CREATED
    await pay(order, clock)
    before = await _snapshot()
    with pytest.raises(AlreadySettled):
        await pay(order, clock)
    with pytest.raises(AlreadySettled):
        await settle_order(order.id, now=clock.tick())
    assert await _snapshot() == before
    await conserved()


async def test_exclude_refuses_entries_to_every_line_of_a_deduction_order(db):
    """A 1-fen deduction split over two lines rounds to 0 on one of them: still no entry."""
    await use_base(settle_on=SettleOn.PAID, deduction=DeductionMode.EXCLUDE, **DEFAULT)
    a, b = await new_product("A", 100), await new_product("B", 100)
    m = await new_member("a")
    order = await create_order(
        m.id,
        OrderSource.MALL,
        items=[Item(a.id), Item(b.id)],
        deduction=await funded(m.id, points=1),
    )
    await pay(order, Clock())
    assert await Entry.filter(order_id=order.id).count() == 0
    assert await Extraction.filter(order_id=order.id).count() == 2  # the paid cash still flows


async def test_an_order_paid_before_a_switch_to_paid_settlement_settles_at_completion(db):
    await use_base(settle_on=SettleOn.COMPLETED, **DEFAULT)
    clock, m = Clock(), await new_member("a")
    p = await new_product("A", 16800)
    order = await buy(m, p, clock, complete=False)  # paid under 完成后结算: not settled yet
    await use_base(settle_on=SettleOn.PAID, **DEFAULT)
    await complete_order(order.id, now=clock.tick(), rng=seeded())
    assert (await entry_of(order)).entitlement_fen == 21840  # settled once, at completion
    await conserved()


async def test_refunding_a_line_of_an_unpaid_order_is_refused_and_changes_nothing(db):
    await use_base(**DEFAULT)
    m = await new_member("a")
    p = await new_product("A", 1000)
    order = await create_order(m.id, OrderSource.MALL, items=[Item(p.id)])
    line = await OrderLine.get(order_id=order.id)
    with pytest.raises(NotAllowed):
        await refund_line(line.id, now=Clock().tick())
    assert (await OrderLine.get(id=line.id)).status == LineStatus.OPEN
    assert (await Order.get(id=order.id)).status == OrderStatus.CREATED
