"""Builders for the distribution and merchant tests.

``settle`` and ``refund`` call the rewards hooks themselves, in the settling / refunding
transaction, exactly as ``services.queues.plan`` / ``services.orders.lifecycle`` do once wired; the
hooks are idempotent, so calling them again after the wiring changes nothing.
"""

from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models import Member, Order, OrderLine
from rebate.distribution_settings import DistributionSettings, TeamLevel
from rebate.settings import OrderSource, RatioSettings
from services.catalog.products import new_product
from services.distribution.referral import bind_referrer
from services.distribution.rewards import on_line_refunded, on_order_settled
from services.distribution.settings import store_distribution
from services.distribution.team import set_team_level
from services.members.accounts import new_member
from services.merchants.onboarding import (
    ApplicationForm,
    apply_for_merchant,
    approve_application,
    create_invite,
)
from services.orders.lifecycle import Item, complete_order, create_order, mark_paid, refund_line
from services.settings.cache import DISTRIBUTION, changing
from tests.services.helpers import T0, Clock, use_base

LEVELS = (
    TeamLevel(1, "经理", 300, min_direct_referrals=2),
    TeamLevel(2, "总监", 500, min_team_turnover_fen=100_000),
    TeamLevel(3, "股东", 800),
)


async def configure(**changes: object) -> DistributionSettings:
    settings = DistributionSettings(**changes)  # type: ignore[arg-type]
    async with changing(DISTRIBUTION) as conn:
        await store_distribution(conn, settings, "test")
    return settings


async def base_rules(extract_bp: int = 1000) -> None:
    await use_base(extract_bp=extract_bp, ratios=RatioSettings(default_bp=13000))


async def chain(length: int, *, prefix: str = "m") -> list[int]:
    """Members m0 ← m1 ← … : each one's referrer is the one before (m0 at the top)."""
    ids: list[int] = []
    for i in range(length):
        member = await new_member(f"{prefix}{i}", nickname=f"{prefix}{i}")
        if ids:
            referrer = await Member.get(id=ids[-1])
            assert await bind_referrer(member.id, referrer.referral_code) == "bound"
        ids.append(member.id)
    return ids


async def with_level(member_id: int, level: int, now: datetime = T0) -> None:
    await set_team_level(member_id, level, operator="test", now=now)


async def settle(order: Order, now: datetime) -> None:
    """Completion settles the order; the hook runs in a settlement transaction."""
    await complete_order(order.id, now=now)
    async with in_transaction() as conn:
        fresh = await Order.get(id=order.id).using_db(conn)
        await on_order_settled(conn, fresh, now)


async def buy(
    member_id: int,
    price_fen: int,
    clock: Clock,
    *,
    lines: int = 1,
    settle_it: bool = True,
) -> Order:
    """A mall order of ``lines`` products at ``price_fen`` each, paid and settled."""
    products = [await new_product(f"p{price_fen}-{i}", price_fen) for i in range(lines)]
    order = await create_order(member_id, OrderSource.MALL, items=[Item(p.id) for p in products])
    await mark_paid(order.id, paid_fen=order.paid_fen, now=clock.tick())
    if settle_it:
        await settle(order, clock.tick())
    return await Order.get(id=order.id)


async def pay_cashier(member_id: int, store_id: int, amount_fen: int, clock: Clock) -> Order:
    order = await create_order(
        member_id, OrderSource.CASHIER, store_id=store_id, amount_fen=amount_fen
    )
    await mark_paid(order.id, paid_fen=amount_fen, now=clock.tick())
    await settle(order, clock.tick())
    return await Order.get(id=order.id)


async def refund(line_id: int, now: datetime) -> str:
    line = await OrderLine.get(id=line_id)

    async def hook(conn) -> None:  # type: ignore[no-untyped-def]
        await on_line_refunded(conn, line, now)

    return await refund_line(line_id, now=now, within=hook)


def days(n: float) -> timedelta:
    return timedelta(days=n)


MERCHANT_FORM = ApplicationForm(
    name="老王茶叶店",
    contact="王老板",
    phone="13800138000",
    licence_no="91350100M000100Y43",
    address="福州市鼓楼区五一路 1 号",
    category="茶叶",
)


async def approved_store(
    owner_id: int,
    *,
    inviter_id: int | None = None,
    commission_bp: int = 3000,
    acknowledge: bool = False,
    now: datetime = T0,
) -> int:
    """A store through the real path: invite (if any) → application → approval."""
    scene = await create_invite(now=now, inviter_id=inviter_id) if inviter_id else None
    application = await apply_for_merchant(owner_id, MERCHANT_FORM, now=now, scene=scene)
    store = await approve_application(
        application.id,
        commission_bp=commission_bp,
        operator="op",
        now=now,
        acknowledge=acknowledge,
    )
    return store.id
