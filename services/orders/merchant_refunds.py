"""Refunds this service never requested: WeChat Pay reports a refund whose ``out_refund_no`` is
not one of ours, for an order we know (``services.orders.payments.apply_refund`` sends them
here). Two kinds:

- the refund of a **double payment** (its ``transaction_id`` is the second payment's, or the
  refund number is the one ``services.orders.double_payments`` asked under): settled there;
- a refund an operator made in the **merchant platform** (商户平台) of the order's payment: it
  is applied as an operator refund of the order's lines, SPEC §4's refund rule once per line.

Which lines a merchant-platform refund refunds — the amounts must add up to the fen:

1. the order's **remaining lines**, when the refund is exactly their total (the whole rest of
   the order, the usual case); else
2. the **one** remaining line whose cash amount is exactly the refund.

A remaining line is one not refunded yet, with cash paid (a line paid wholly with points has no
cash to refund), and without a refund of ours in flight (that one's own notification settles
it). Anything else — a partial amount, no line of that amount, or two lines of it (which one's
entry would leave its queue is not ours to guess) — changes nothing: the operators are alerted,
the notification is logged and acknowledged (it is authentic and retrying it cannot make it
add up), and they apply it by hand.

Each refunded line gets a ``Refund`` row (``requested_by = "merchant_platform"``, succeeded,
numbered ``<out_refund_no>/<line id>``, as one WeChat refund may cover several lines), written
in the same transaction as the line's refund; the notification itself is then recorded under
``refund:<refund_id>``, so a redelivery is a duplicate. A redelivery that finds only some of the
lines done (the process stopped between two) refunds the rest: the set of lines is computed the
same way, counting the lines this refund already did.

A refund that did not go through (CLOSED, ABNORMAL) changes nothing and is acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from models import LineStatus, Order, OrderLine, PaymentNotice, Refund, RefundStatus
from rebate.errors import AlreadySettled
from services.alerts import alert_operators
from services.orders.double_payments import (
    RefundReport,
    apply_double_payment_refund,
    double_payment_refunded_by,
)
from services.orders.lifecycle import refund_line

log = logging.getLogger(__name__)

REQUESTED_BY = "merchant_platform"
MAX_REFUND_NO = 64


class UnrequestedRefund(RefundReport, Protocol):
    """What a verified refund notification tells (``services.orders.payments.RefundNotice``)."""

    @property
    def api_version(self) -> str: ...
    @property
    def out_trade_no(self) -> str: ...
    @property
    def raw(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LineCash:
    id: int
    paid_fen: int


def lines_refunded(amount_fen: int, remaining: Sequence[LineCash]) -> list[LineCash] | None:
    """The lines a refund of ``amount_fen`` refunds, by the rule above; None when it does not
    add up."""
    if remaining and sum(line.paid_fen for line in remaining) == amount_fen:
        return list(remaining)
    matching = [line for line in remaining if line.paid_fen == amount_fen]
    return matching if len(matching) == 1 else None


def line_refund_no(out_refund_no: str, line_id: int) -> str:
    """The number of one line's ``Refund`` row: ``<out_refund_no>/<line id>`` ('/' is not in
    WeChat's alphabet, so it never equals a number of ours or WeChat's); a number too long for
    that is replaced by its hash."""
    suffix = f"/{line_id}"
    if len(out_refund_no) + len(suffix) > MAX_REFUND_NO:
        out_refund_no = hashlib.sha256(out_refund_no.encode()).hexdigest()[:40]
    return out_refund_no + suffix


async def apply_unrequested_refund(
    notice: UnrequestedRefund, order: Order, *, now: datetime
) -> str:
    """``merchant_refund``, ``double_payment_refund`` (or that one's other outcomes),
    ``duplicate``, ``result_fail`` (nothing was refunded) or ``unmatched`` (the operators
    are alerted; nothing changed)."""
    double = await double_payment_refunded_by(notice, order.id)
    if double is not None:
        outcome = await apply_double_payment_refund(
            double, notice, out_trade_no=order.out_trade_no, now=now
        )
        return "double_payment_refund" if outcome == "applied" else outcome
    key = f"refund:{notice.refund_id or notice.out_refund_no}"
    if await PaymentNotice.exists(key=key):
        return "duplicate"
    if not notice.success:
        log.info(
            "refund %s of order %s did not go through", notice.out_refund_no, order.out_trade_no
        )
        return "result_fail"
    done, remaining = await _lines_of(order, notice.out_refund_no)
    every = sorted([*done.values(), *remaining], key=lambda line: line.id)
    lines = lines_refunded(notice.refund_fen, every)
    if lines is None:
        await _alert_unmatched(notice, order, remaining, now)
        return "unmatched"
    for line in lines:
        if line.id not in done and not await _refund_one(line, notice, order, now):
            return "unmatched"
    return await _record_notice(key, notice, order, now)


async def _lines_of(order: Order, out_refund_no: str) -> tuple[dict[int, LineCash], list[LineCash]]:
    """The order's lines this refund already refunded (by their Refund rows), and its remaining
    lines."""
    lines = await OrderLine.filter(order_id=order.id).order_by("id")
    numbers = {line_refund_no(out_refund_no, line.id): line for line in lines}
    rows = await Refund.filter(order_id=order.id).values("out_refund_no", "line_id", "status")
    ours = [numbers[r["out_refund_no"]] for r in rows if r["out_refund_no"] in numbers]
    done = {line.id: LineCash(line.id, line.paid_fen) for line in ours}
    in_flight = {r["line_id"] for r in rows if r["status"] == RefundStatus.REQUESTED}
    remaining = [
        LineCash(line.id, line.paid_fen)
        for line in lines
        if line.status != LineStatus.REFUNDED and line.paid_fen > 0 and line.id not in in_flight
    ]
    return done, remaining


async def _refund_one(
    line: LineCash, notice: UnrequestedRefund, order: Order, now: datetime
) -> bool:
    """SPEC §4's refund rule for one line, with its Refund row in the same transaction; False
    (the operators alerted) when the line was refunded otherwise meanwhile."""

    async def record(conn: BaseDBAsyncClient) -> None:
        await Refund.create(
            order_id=order.id,
            line_id=line.id,
            out_refund_no=line_refund_no(notice.out_refund_no, line.id),
            amount_fen=line.paid_fen,
            status=RefundStatus.SUCCEEDED,
            reason=f"商户平台退款 {notice.out_refund_no}"[:80],
            requested_by=REQUESTED_BY,
            completed_at=now,
            using_db=conn,
        )

    try:
        outcome = await refund_line(line.id, now=now, within=record)
    except AlreadySettled:
        if await Refund.exists(out_refund_no=line_refund_no(notice.out_refund_no, line.id)):
            return True  # the same notification, delivered twice at once, did it
        await _alert_unmatched(notice, order, [], now, f"商品行 {line.id} 已被另一笔退款退过")
        return False
    log.info(
        "merchant-platform refund %s applied to line %s of order %s: %s",
        notice.out_refund_no, line.id, order.out_trade_no, outcome,
    )  # fmt: skip
    return True


async def _record_notice(key: str, notice: UnrequestedRefund, order: Order, now: datetime) -> str:
    try:
        await PaymentNotice.create(
            key=key,
            api_version=notice.api_version,
            order_id=order.id,
            amount_fen=notice.refund_fen,
            payload=notice.raw,
            received_at=now,
        )
    except IntegrityError:
        return "duplicate"
    return "merchant_refund"


async def _alert_unmatched(
    notice: UnrequestedRefund,
    order: Order,
    remaining: Sequence[LineCash],
    now: datetime,
    why: str = "",
) -> None:
    lines = "、".join(f"#{line.id} {line.paid_fen} 分" for line in remaining) or "无"
    why = why or f"金额对不上未退款的商品（{lines}）"
    log.warning(
        "refund %s of order %s (%s fen) not applied: %s",
        notice.out_refund_no, order.out_trade_no, notice.refund_fen, why,
    )  # fmt: skip
    await alert_operators(
        f"商户平台退款 {notice.out_refund_no}（订单 {order.out_trade_no}，{notice.refund_fen} 分）"
        f"未入账：{why}。请人工核对并处理",
        now=now,
    )
