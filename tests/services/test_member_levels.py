"""会员等级 through the services, on SQLite and PostgreSQL: the operator's ladder, levels given by
hand (audited) and reached by completed orders (never lower), each change recorded and told —
and the level at order time is the one the ratio chain uses (SPEC §5)."""

import asyncio

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import AuditLog, Entry, MemberLevel, MemberLevelChange, Order, OutboxEvent
from rebate.errors import InvalidSetting
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.db import tortoise_config
from services.catalog.products import new_product
from services.errors import Conflict
from services.members.accounts import new_member
from services.members.level_changes import assign_level, level_progress
from services.members.levels import define_level, delete_level, edit_level, list_levels
from services.orders.lifecycle import Item, complete_order, create_order, mark_paid, refund_line
from tests.services.helpers import Clock, seeded, use_base

OPS = "ops@test"
SILVER = {"rank": 1, "name": "银卡", "spend_fen": 200_00, "days": 30}
GOLD = {"rank": 2, "name": "金卡", "spend_fen": 500_00, "orders": 3, "days": 30}
VIP = {"rank": 9, "name": "特邀"}  # by hand only


async def ladder(clock, *levels):
    for doc in levels or (SILVER, GOLD, VIP):
        await define_level(doc, operator=OPS, now=clock.now)


async def order_of(member, product, clock):
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick(), rng=seeded())
    return order


async def buy(member, product, clock):
    order = await order_of(member, product, clock)
    await complete_order(order.id, now=clock.tick(), rng=seeded())
    return order


async def level_of(member):
    return (await type(member).get(id=member.id)).level


async def test_completed_orders_raise_the_level_once_its_conditions_are_met(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000))
    clock = Clock()
    await ladder(clock)
    m, p = await new_member("buyer"), await new_product("茶", 100_00)
    await buy(m, p, clock)
    assert await level_of(m) == 0  # 100 元 of 200
    second = await buy(m, p, clock)
    assert await level_of(m) == 1  # 200 元 in 30 days: 银卡
    change = await MemberLevelChange.get(member_id=m.id)
    assert (change.from_level, change.to_level, change.source, change.operator) == (
        0, 1, "auto", "system",
    )  # fmt: skip
    assert change.detail["order_id"] == second.id
    assert change.detail["measured"]["30"] == {"spend_fen": 200_00, "orders": 2}
    event = await OutboxEvent.get(kind="member_level_changed")
    assert event.member_id == m.id
    assert event.payload == {
        "from_level": 0, "to_level": 1, "from_name": None, "name": "银卡", "source": "auto",
        "reason": "达到升级条件",
    }  # fmt: skip
    for _ in range(3):
        await buy(m, p, clock)
    assert await level_of(m) == 2  # 500 元 and 5 orders (both needed)
    assert await MemberLevelChange.filter(member_id=m.id).count() == 2
    assert not await AuditLog.filter(section="member_level").exists()  # no operator did it


async def test_a_pending_payment_counts_for_nothing_and_only_the_window_counts(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000))
    clock = Clock()
    await ladder(clock, {"rank": 1, "name": "银卡", "spend_fen": 200_00, "days": 7})
    m, p = await new_member("buyer"), await new_product("茶", 100_00)
    await buy(m, p, clock)
    await order_of(m, p, clock)  # paid, never completed: not spend yet
    clock.tick(8 * 86400)  # the first order leaves the 7-day window
    await buy(m, p, clock)
    assert await level_of(m) == 0
    await buy(m, p, clock)
    assert await level_of(m) == 1


async def test_levels_never_fall_by_themselves(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000))
    clock = Clock()
    await ladder(clock)
    m, p = await new_member("buyer"), await new_product("茶", 200_00)
    order = await buy(m, p, clock)
    assert await level_of(m) == 1
    line = (await order.lines.all())[0]
    await refund_line(line.id, now=clock.tick())  # the spend that raised it is refunded
    await edit_level(1, {**SILVER, "spend_fen": 400_00}, operator=OPS, now=clock.tick())
    cheap = await new_product("小样", 1_00)
    await buy(m, cheap, clock)  # completing again re-evaluates: below every condition now
    assert await level_of(m) == 1
    await assign_level(m.id, 9, reason="重要客户", operator=OPS, now=clock.tick())
    for _ in range(5):
        await buy(m, p, clock)  # meets 金卡 (rank 2) — below the 特邀 an operator gave
    assert await level_of(m) == 9
    assert [c.to_level for c in await MemberLevelChange.filter(member_id=m.id).order_by("id")] == [
        1, 9,
    ]  # fmt: skip


async def test_an_operator_raises_and_lowers_a_level_with_a_reason_audited(db):
    clock = Clock()
    await ladder(clock)
    m = await new_member("buyer")
    up = await assign_level(m.id, 2, reason=" 线下活动 ", operator=OPS, now=clock.tick())
    down = await assign_level(m.id, 1, reason="核对消费", operator=OPS, now=clock.tick())
    same = await assign_level(m.id, 1, reason="再次确认", operator=OPS, now=clock.tick())
    assert (up.from_level, up.to_level, down.to_level, same.changed) == (0, 2, 1, False)
    assert await level_of(m) == 1
    rows = await MemberLevelChange.filter(member_id=m.id).order_by("id")
    assert [(r.from_level, r.to_level, r.source, r.operator, r.reason) for r in rows] == [
        (0, 2, "operator", OPS, "线下活动"),
        (2, 1, "operator", OPS, "核对消费"),
    ]
    audits = await AuditLog.filter(section="member_level").order_by("id")
    assert [(a.operator, a.target, a.old, a.new) for a in audits] == [
        (OPS, f"member:{m.id}", {"level": 0, "name": None},
         {"level": 2, "name": "金卡", "reason": "线下活动"}),
        (OPS, f"member:{m.id}", {"level": 2, "name": "金卡"},
         {"level": 1, "name": "银卡", "reason": "核对消费"}),
    ]  # fmt: skip
    events = await OutboxEvent.filter(kind="member_level_changed").order_by("id")
    assert [(e.payload["to_level"], e.payload["source"]) for e in events] == [
        (2, "operator"),
        (1, "operator"),
    ]


@pytest.mark.parametrize(
    ("level", "reason", "field"),
    [
        (5, "没有这个等级", "level"),
        (1, "", "reason"),
        (1, "   ", "reason"),
        (1, "长" * 81, "reason"),
    ],
)
async def test_a_bad_assignment_changes_nothing(db, level, reason, field):
    clock = Clock()
    await ladder(clock)
    m = await new_member("buyer")
    with pytest.raises(InvalidSetting) as refused:
        await assign_level(m.id, level, reason=reason, operator=OPS, now=clock.tick())
    assert refused.value.field == field
    assert await level_of(m) == 0
    assert (
        not await MemberLevelChange.exists()
        and not await AuditLog.filter(section="member_level").exists()
    )


async def test_the_level_at_order_time_gives_the_ratio_not_the_level_at_settlement(db):
    """完成后结算: the order placed at level 0 settles at level 0 even though the member was
    raised before it completed; the next order gets the level's ratio; nothing already in the
    queue is recomputed."""
    await use_base(
        extract_bp=1000,
        settle_on=SettleOn.COMPLETED,
        ratios=RatioSettings(default_bp=10000, level_bp={1: 20000}),
    )
    clock = Clock()
    await ladder(clock)
    m, p = await new_member("buyer"), await new_product("茶", 100_00)
    before = await order_of(m, p, clock)  # placed at level 0, not completed yet
    assert (await Order.get(id=before.id)).member_level == 0
    await assign_level(m.id, 1, reason="活动", operator=OPS, now=clock.tick())
    after = await buy(m, p, clock)  # placed at level 1
    await complete_order(before.id, now=clock.tick(), rng=seeded())
    first = await Entry.get(order_id=before.id)
    second = await Entry.get(order_id=after.id)
    assert (first.ratio_bp, first.ratio_source) == (10000, "base:default")
    assert (second.ratio_bp, second.ratio_source) == (20000, "base:level")


async def test_the_order_that_raises_the_level_keeps_the_ratio_it_was_placed_with(db):
    await use_base(
        extract_bp=1000,
        settle_on=SettleOn.COMPLETED,
        ratios=RatioSettings(default_bp=10000, level_bp={1: 20000}),
    )
    clock = Clock()
    await ladder(clock, {"rank": 1, "name": "银卡", "orders": 1})
    m, p = await new_member("buyer"), await new_product("茶", 100_00)
    raising = await buy(m, p, clock)
    assert await level_of(m) == 1
    following = await buy(m, p, clock)
    assert (await Entry.get(order_id=raising.id)).ratio_bp == 10000
    assert (await Entry.get(order_id=following.id)).ratio_bp == 20000


async def test_an_order_placed_before_levels_were_recorded_uses_the_members_level(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000, level_bp={1: 20000}))
    clock = Clock()
    await ladder(clock)
    m, p = await new_member("buyer", level=1), await new_product("茶", 100_00)
    order = await order_of(m, p, clock)
    await Order.filter(id=order.id).update(member_level=None)  # as migration 0022 left it
    await complete_order(order.id, now=clock.tick(), rng=seeded())
    assert (await Entry.get(order_id=order.id)).ratio_bp == 20000


async def test_progress_toward_the_next_level(db):
    await use_base(extract_bp=1000, ratios=RatioSettings(default_bp=10000))
    clock = Clock()
    await ladder(clock)
    m, p = await new_member("buyer"), await new_product("茶", 150_00)
    await buy(m, p, clock)
    progress = await level_progress(m.id, clock.tick())
    assert progress["level"] == {"rank": 0, "name": None}
    assert progress["next"]["rank"] == 1
    assert progress["progress"] == {
        "days": 30, "spend_fen": 150_00, "orders": 1, "spend_fen_needed": 50_00,
        "orders_needed": None, "reached": False,
    }  # fmt: skip
    await assign_level(m.id, 2, reason="活动", operator=OPS, now=clock.tick())
    top = await level_progress(m.id, clock.tick())
    assert top["level"] == {"rank": 2, "name": "金卡"} and top["next"] is None


async def test_a_level_some_member_holds_cannot_be_deleted(db):
    clock = Clock()
    await ladder(clock)
    m = await new_member("buyer")
    await assign_level(m.id, 9, reason="活动", operator=OPS, now=clock.tick())
    with pytest.raises(Conflict):
        await delete_level(9, operator=OPS, now=clock.tick())
    assert [(lv["rank"], lv["members"]) for lv in (await list_levels()).items] == [
        (1, 0),
        (2, 0),
        (9, 1),
    ]
    await delete_level(2, operator=OPS, now=clock.tick())
    assert sorted(await MemberLevel.all().values_list("rank", flat=True)) == [1, 9]
    sections = await AuditLog.filter(section="member_levels").values_list("target", flat=True)
    assert sorted(sections) == sorted(
        ["member_level:1", "member_level:2", "member_level:9", "member_level:2"]
    )


async def test_two_completions_at_once_raise_the_level_once(pg_url):
    """Concurrent changes: each completion measures the member and updates only from the level
    it saw, so the one that gets there second writes nothing."""
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(f"{pg_url}?maxsize=10"))
    try:
        # settled on payment: completing takes no queue lock that would serialise the two
        await use_base(
            extract_bp=1000, settle_on=SettleOn.PAID, ratios=RatioSettings(default_bp=10000)
        )
        clock = Clock()
        await ladder(clock, {"rank": 1, "name": "银卡", "orders": 1})
        m, p = await new_member("buyer"), await new_product("茶", 100_00)
        orders = [await order_of(m, p, clock) for _ in range(20)]
        now = clock.tick()
        await asyncio.gather(*(complete_order(o.id, now=now, rng=seeded()) for o in orders))
        assert await level_of(m) == 1
        assert await MemberLevelChange.filter(member_id=m.id).count() == 1
        assert await OutboxEvent.filter(kind="member_level_changed").count() == 1
    finally:
        await ctx.close_connections()
