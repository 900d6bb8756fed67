"""Refund requests (退款申请): record the request, then ask WeChat Pay for the money back.

A request changes no order line and no queue. The refund takes effect — SPEC §4's refund
rule, exactly once — only when WeChat Pay's refund notification arrives
(``services.orders.payments.apply_refund``).

One line, one refund number: the ``Refund`` row with its ``out_refund_no`` is committed before
WeChat is called, and while it is ``requested`` every further request for that line calls
WeChat again with the same number. WeChat treats a repeated ``out_refund_no`` as the same
refund, so a timeout, a lost answer or a double tap can never refund twice. A refusal by
WeChat leaves the row ``requested`` too: nothing was refunded, and a retry with the same number
is still the safe move (WeChat Pay's guidance for refund errors).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Protocol

from tortoise.transactions import in_transaction

from models import LineStatus, Order, OrderLine, OrderStatus, Refund, RefundStatus
from rebate.errors import AlreadySettled, NotAllowed
from services import audit
from services.clock import utcnow
from services.errors import NotFound
from wechat.pay_results import RefundReceipt

log = logging.getLogger(__name__)

REFUNDABLE = (OrderStatus.PAID, OrderStatus.COMPLETED, OrderStatus.REFUNDED)
MAX_REASON_CHARS = 80


class RefundGateway(Protocol):
    """What refunds need from WeChat Pay (v2 or v3; ``wechat.gateway.PayGateway``): refund a
    payment, the order's or — by ``transaction_id`` — a second payment of it
    (``services.orders.double_payments``). Errors propagate to the caller."""

    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        total_fen: int,
        refund_fen: int,
        reason: str | None,
        transaction_id: str | None = None,
    ) -> RefundReceipt: ...


def new_out_refund_no(prefix: str = "RF") -> str:
    """商户退款单号: at most 64 letters and digits (``DP…`` for a double payment's refund)."""
    return prefix + secrets.token_hex(15).upper()


async def request_refund(
    order_id: int,
    line_id: int,
    *,
    gateway: RefundGateway,
    member_id: int | None = None,
    requested_by: str = "member",
    reason: str = "",
    operator: str = "",
    now: datetime | None = None,
) -> Refund:
    """Ask for the refund of one paid line's cash amount. ``member_id`` set: only that member's
    own order is found (anyone else's reads as not found). ``operator``: the operator who asks
    (the request is then a line of the operation log, at ``now``)."""
    refund, order = await _record_request(
        order_id, line_id, member_id, requested_by, reason, operator=operator, now=now
    )
    await gateway.refund(
        out_trade_no=order.out_trade_no,
        out_refund_no=refund.out_refund_no,
        total_fen=order.paid_fen,
        refund_fen=refund.amount_fen,
        reason=refund.reason or None,
    )
    log.info(
        "refund %s of line %s (order %s, %s fen) requested by %s",
        refund.out_refund_no,
        line_id,
        order_id,
        refund.amount_fen,
        requested_by,
    )
    return refund


async def _record_request(
    order_id: int,
    line_id: int,
    member_id: int | None,
    requested_by: str,
    reason: str,
    *,
    operator: str = "",
    now: datetime | None = None,
) -> tuple[Refund, Order]:
    async with in_transaction() as conn:
        order = await Order.select_for_update().using_db(conn).get_or_none(id=order_id)
        owner = order.member_id if order is not None else None  # type: ignore[attr-defined]
        if order is None or (member_id is not None and owner != member_id):
            raise NotFound("订单不存在")
        line = await OrderLine.filter(id=line_id, order_id=order_id).using_db(conn).first()
        if line is None:
            raise NotFound("订单中没有该商品", field="line_id")
        if order.status not in REFUNDABLE:
            raise NotAllowed("订单尚未支付，不能申请退款")
        if line.status == LineStatus.REFUNDED:
            raise AlreadySettled("该商品已退款")
        if line.paid_fen <= 0:
            raise NotAllowed("该商品没有可退的现金金额")
        existing = (
            await Refund.filter(
                line_id=line_id, status__in=[RefundStatus.REQUESTED, RefundStatus.SUCCEEDED]
            )
            .using_db(conn)
            .first()
        )
        if existing is not None and existing.status == RefundStatus.SUCCEEDED:
            raise AlreadySettled("该商品已退款")
        if existing is not None:
            return existing, order
        refund = await Refund.create(
            order_id=order_id,
            line_id=line_id,
            out_refund_no=new_out_refund_no(),
            amount_fen=line.paid_fen,
            reason=reason.strip()[:MAX_REASON_CHARS],
            requested_by=requested_by,
            using_db=conn,
        )
        if operator:
            await audit.record(
                conn, operator=operator, section="refund", target=f"order:{order_id}",
                new={"line_id": line_id, "out_refund_no": refund.out_refund_no,
                     "amount_fen": refund.amount_fen, "reason": refund.reason},
                now=now or utcnow(),
            )  # fmt: skip
    return refund, order
