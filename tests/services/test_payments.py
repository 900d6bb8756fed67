"""Payment and refund notices take effect exactly once, and only when they match the order."""

import asyncio
import dataclasses
import random

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import (
    DoublePayment,
    Entry,
    Order,
    OrderLine,
    OrderStatus,
    PaymentNotice,
    Refund,
    RefundStatus,
)
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.db import tortoise_config
from services.catalog.products import new_product
from services.checks import check_conservation
from services.members.accounts import new_member
from services.orders.double_payments import SecondPaymentMismatch
from services.orders.lifecycle import Item, create_order
from services.orders.payments import (
    NoticeMismatch,
    PaidNotice,
    RefundNotice,
    UnknownOrder,
    apply_payment,
    apply_refund,
)
from tests.services.helpers import Clock, use_base

APPID, MCHID = "wx-app", "1900000001"


async def _order(openid: str = "o-buyer"):
    await use_base(settle_on=SettleOn.PAID, extract_bp=5000, ratios=RatioSettings(default_bp=10000))
    member = await new_member(openid)
    product = await new_product("A", 1234)
    return await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])


def _notice(order, **changes) -> PaidNotice:
    n = PaidNotice(
        "v3",
        APPID,
        MCHID,
        order.out_trade_no,
        f"tx-{order.id}",
        order.paid_fen,
        "CNY",
        "o-buyer",
        True,
        {"trade_state": "SUCCESS"},
    )
    return dataclasses.replace(n, **changes)


async def _state():
    return (
        await Order.filter(status=OrderStatus.PAID).count(),
        await PaymentNotice.all().count(),
        await Entry.all().count(),
    )


async def test_payment_applies_once_and_duplicates_are_success(db):
    order, clock = await _order(), Clock()
    assert (
        await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick()) == "applied"
    )
    assert (
        await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
        == "duplicate"
    )
    assert await _state() == (1, 1, 1)
    assert await check_conservation() == []


@pytest.mark.parametrize(
    "change, error",
    [
        ({"amount_fen": 1233}, NoticeMismatch),
        ({"amount_fen": 1235}, NoticeMismatch),
        ({"appid": "wx-other"}, NoticeMismatch),
        ({"mchid": "1900000002"}, NoticeMismatch),
        ({"currency": "USD"}, NoticeMismatch),
        ({"payer_openid": "o-someone-else"}, NoticeMismatch),
        ({"success": False}, NoticeMismatch),
        ({"out_trade_no": "QRNOSUCHORDER"}, UnknownOrder),
    ],
)
async def test_mismatching_notice_changes_nothing(db, change, error):
    order, clock = await _order(), Clock()
    with pytest.raises(error):
        await apply_payment(_notice(order, **change), appid=APPID, mchid=MCHID, now=clock.tick())
    assert await _state() == (0, 0, 0)


async def test_a_second_transaction_for_a_paid_order_is_a_double_payment_not_a_payment(db):
    order, clock = await _order(), Clock()
    await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
    for outcome in ("double_payment", "duplicate"):
        second = _notice(order, transaction_id="tx-other")
        assert await apply_payment(second, appid=APPID, mchid=MCHID, now=clock.tick()) == outcome
    # the order keeps its one payment and entry; each transaction's notice is kept under its own
    # key, so a redelivery of either is a duplicate
    assert await _state() == (1, 2, 1)
    double = await DoublePayment.get(transaction_id="tx-other")
    assert (double.order_id, double.amount_fen, double.status) == (
        order.id,
        order.paid_fen,
        "refund_pending",  # asked for by the notification's edge, once this committed
    )
    assert await check_conservation() == []


async def test_a_second_transaction_that_would_not_have_paid_the_order_is_refused(db):
    order, clock = await _order(), Clock()
    await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
    for change in ({"amount_fen": 1}, {"currency": "USD"}, {"payer_openid": "o-else"}):
        second = _notice(order, transaction_id="tx-other", **change)
        with pytest.raises(SecondPaymentMismatch):
            await apply_payment(second, appid=APPID, mchid=MCHID, now=clock.tick())
    assert await _state() == (1, 1, 1)
    assert await DoublePayment.all().count() == 0


async def test_same_notice_50_times_in_parallel_settles_once(pg_url):
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(pg_url))
    try:
        order, clock = await _order(), Clock()
        results = await asyncio.gather(
            *(
                apply_payment(
                    _notice(order), appid=APPID, mchid=MCHID, now=clock.tick(), rng=random.Random(i)
                )
                for i in range(50)
            )
        )
        assert sorted(set(results)) == ["applied", "duplicate"] and results.count("applied") == 1
        assert await _state() == (1, 1, 1)
        assert await check_conservation() == []
    finally:
        await ctx.close_connections()


async def _refund_requested(order) -> Refund:
    line = await OrderLine.get(order_id=order.id)
    return await Refund.create(
        order_id=order.id, line_id=line.id, out_refund_no=f"RF{order.id}", amount_fen=line.paid_fen
    )


def _refund_notice(order, refund, **changes) -> RefundNotice:
    n = RefundNotice(
        "v2",
        MCHID,
        order.out_trade_no,
        refund.out_refund_no,
        f"wx-rf-{refund.id}",
        refund.amount_fen,
        True,
        {},
    )
    return dataclasses.replace(n, **changes)


async def test_refund_notice_applies_spec_refund_rule_once(db):
    order, clock = await _order(), Clock()
    await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
    refund = await _refund_requested(order)
    assert (
        await apply_refund(_refund_notice(order, refund), mchid=MCHID, now=clock.tick())
        == "applied"
    )
    assert (
        await apply_refund(_refund_notice(order, refund), mchid=MCHID, now=clock.tick())
        == "duplicate"
    )
    assert (await Entry.get(order_id=order.id)).status == "refunded"
    assert (await Refund.get(id=refund.id)).status == RefundStatus.SUCCEEDED
    assert (await Order.get(id=order.id)).status == OrderStatus.REFUNDED
    assert await check_conservation() == []


async def test_refund_notice_that_does_not_match_changes_nothing(db):
    order, clock = await _order(), Clock()
    await apply_payment(_notice(order), appid=APPID, mchid=MCHID, now=clock.tick())
    refund = await _refund_requested(order)
    with pytest.raises(NoticeMismatch):
        await apply_refund(
            _refund_notice(order, refund, refund_fen=1), mchid=MCHID, now=clock.tick()
        )
    with pytest.raises(UnknownOrder):
        await apply_refund(
            _refund_notice(order, refund, out_refund_no="nope", out_trade_no="QRNOSUCHORDER"),
            mchid=MCHID,
            now=clock.tick(),
        )
    # a refund number we never asked for, of a known order: its only line has our refund in
    # flight, so it cannot be the merchant platform's refund of it — nothing changes
    unknown = _refund_notice(order, refund, out_refund_no="nope")
    assert await apply_refund(unknown, mchid=MCHID, now=clock.tick()) == "unmatched"
    assert (await Entry.get(order_id=order.id)).status == "waiting"
    failed = await apply_refund(
        _refund_notice(order, refund, success=False), mchid=MCHID, now=clock.tick()
    )
    assert failed == "failed"
    assert (await Entry.get(order_id=order.id)).status == "waiting"
    assert (await Refund.get(id=refund.id)).status == RefundStatus.FAILED
