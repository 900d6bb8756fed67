"""Applying verified WeChat Pay notifications (payment and refund), each exactly once.

The HTTP layer verifies signatures and decrypts; this module checks that what WeChat says
matches the order to the fen and to the payer, then records the notice under a unique key in the
same transaction as its effect. A retried or duplicated notice finds its key taken and is
answered with success without changing anything; a notice that does not match changes nothing.
A second transaction for an order already paid is a double payment, recorded and owed back
(``services.orders.double_payments``); a refund notification for a refund we never requested —
a double payment's, or one made in the merchant platform — goes to
``services.orders.merchant_refunds``.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Order, OrderStatus, Refund, RefundStatus
from rebate.errors import RebateError
from rebate.random_return import RandomSource
from runtime.sql import insert_many
from services.orders.double_payments import record_double_payment
from services.orders.lifecycle import lock_order_to_pay, record_payment, refund_line
from services.orders.merchant_refunds import apply_unrequested_refund
from services.queues.runner import hand_over
from services.settings.base import load_base

log = logging.getLogger(__name__)


NOTICE_COLUMNS = ("key", "api_version", "order_id", "amount_fen", "payload", "received_at")


class NoticeMismatch(RebateError):
    """The notice names an order we have, but something in it does not match that order."""

    code = "notice_mismatch"


class UnknownOrder(RebateError):
    code = "unknown_order"


@dataclass(frozen=True)
class PaidNotice:
    """The fields of a verified payment notification we act on (both API versions)."""

    api_version: str
    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    currency: str
    payer_openid: str
    success: bool
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundNotice:
    api_version: str
    mchid: str
    out_trade_no: str
    out_refund_no: str
    refund_id: str
    refund_fen: int
    success: bool
    raw: dict[str, Any] = field(default_factory=dict)
    transaction_id: str = ""  # the refunded payment's (a double payment's, perhaps)


async def apply_payment(
    notice: PaidNotice,
    *,
    appid: str,
    mchid: str,
    now: datetime,
    rng: RandomSource | None = None,
    double_payment: str = "refund",
) -> str:
    """``applied`` or ``duplicate``. Raises UnknownOrder / NoticeMismatch (nothing changed).

    One short transaction: lock the order and read its buyer and lines (one statement), claim the notice's key
    (a retry finds it taken), mark the order paid and, under 支付后结算, leave its lines pending
    for the queue's writer — which this hands them over to once the transaction commits."""
    if notice.appid != appid or notice.mchid != mchid:
        raise NoticeMismatch(f"appid/mchid 不符: {notice.appid}/{notice.mchid}")
    if not notice.success:
        raise NoticeMismatch("支付未成功 (result not SUCCESS)")
    base = await load_base()
    async with in_transaction() as conn:
        locked = await lock_order_to_pay(conn, notice.out_trade_no)
        if locked is None:
            raise UnknownOrder(f"未知的商户订单号 {notice.out_trade_no}")
        order, read = locked
        key = f"pay:{notice.transaction_id}"
        if not await _claim(
            conn, key, notice.api_version, order.id, notice.amount_fen, notice.raw, now
        ):
            return "duplicate"
        if order.status != OrderStatus.CREATED:  # paid by another transaction: a double payment
            return await record_double_payment(conn, order, notice, policy=double_payment, now=now)
        _match(
            notice.amount_fen == order.paid_fen, f"金额 {notice.amount_fen} ≠ 订单 {order.paid_fen}"
        )
        _match(notice.currency == "CNY", f"币种 {notice.currency} 不是 CNY")
        _match(notice.payer_openid == read[0].openid, "付款人 openid 与下单会员不符")
        queues = await record_payment(
            conn, order, paid_fen=notice.amount_fen, now=now, base=base, read=read
        )
    await hand_over(queues, now, rng)
    log.info("payment %s applied to order %s", notice.transaction_id, notice.out_trade_no)
    return "applied"


async def apply_refund(notice: RefundNotice, *, mchid: str, now: datetime) -> str:
    """``applied``, ``duplicate`` or ``failed`` (WeChat says the refund did not go through: the
    refund is marked failed and the line keeps its place). SPEC §4's refund rule runs once."""
    if notice.mchid != mchid:
        raise NoticeMismatch(f"mchid 不符: {notice.mchid}")
    refund = await Refund.get_or_none(out_refund_no=notice.out_refund_no).prefetch_related("order")
    order = await Order.get_or_none(out_trade_no=notice.out_trade_no) if refund is None else None
    if order is not None:  # not requested here: a double payment's, or the merchant platform's
        return await apply_unrequested_refund(notice, order, now=now)
    if refund is None or refund.order.out_trade_no != notice.out_trade_no:
        raise UnknownOrder(f"未知的退款单号 {notice.out_refund_no}")
    _match(
        notice.refund_fen == refund.amount_fen,
        f"退款金额 {notice.refund_fen} ≠ {refund.amount_fen}",
    )
    key = f"refund:{notice.refund_id or notice.out_refund_no}"
    if refund.status != RefundStatus.REQUESTED:
        return "duplicate"
    if not notice.success:
        changed = await Refund.filter(id=refund.id, status=RefundStatus.REQUESTED).update(
            status=RefundStatus.FAILED, completed_at=now
        )
        return "failed" if changed else "duplicate"

    async def settle_refund(conn: BaseDBAsyncClient) -> None:
        changed = (
            await Refund.filter(id=refund.id, status=RefundStatus.REQUESTED)
            .using_db(conn)
            .update(status=RefundStatus.SUCCEEDED, completed_at=now)
        )
        claimed = changed and await _claim(
            conn, key, notice.api_version, refund.order_id, notice.refund_fen, notice.raw, now
        )
        if not claimed:
            raise _Duplicate

    try:
        outcome = await refund_line(refund.line_id, now=now, within=settle_refund)
    except _Duplicate:
        return "duplicate"
    log.info("refund %s applied to line %s: %s", refund.out_refund_no, refund.line_id, outcome)
    return "applied"


class _Duplicate(Exception):
    pass


def _match(ok: bool, problem: str) -> None:
    if not ok:
        raise NoticeMismatch(problem)


async def _claim(
    conn: BaseDBAsyncClient,
    key: str,
    version: str,
    order_id: int,
    amount: int,
    raw: dict[str, Any],
    now: datetime,
) -> bool:
    """Record the notice under its key; False if the key is taken (a retry, or the same
    notice delivered twice: after the transaction that took it commits)."""
    rows = await insert_many(
        conn,
        "payment_notice",
        NOTICE_COLUMNS,
        [(key, version, order_id, amount, json.dumps(raw, ensure_ascii=False), now)],
        returning="id",
        on_conflict="(key) DO NOTHING",
    )
    return bool(rows)
