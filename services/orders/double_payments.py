"""Double payments (重复支付): a second WeChat Pay transaction for an order already paid — or a
payment of an order that was closed unpaid.

A member can pay one order twice (two taps, two devices): WeChat Pay then notifies a second,
different ``transaction_id`` for the same ``out_trade_no``. The order keeps its first payment;
the second one is money the platform owes back to the payer. A payment that arrives after its
order was closed (cancelled by the member, or closed by reconciliation while the payment sheet
was still open) is the same case: the order stays closed — its goods and places were let go —
and the payment is owed back, recorded and refunded the same way, with its own refund reason
(``kind`` ``closed_order`` in the operators' list):

- **Recorded** (``record_double_payment``, in the payment notification's own transaction, with
  the order locked): a ``DoublePayment`` row, unique by ``transaction_id`` — the same
  transaction delivered again is a duplicate and changes nothing — and the posting
  ``double_payment:<id>`` from WeChat Pay clearing into ``platform:double_payments`` (what the
  platform owes back), so the books hold the cash that came in. The notification is
  acknowledged: WeChat stops retrying. Only a transaction that would have paid the order had it
  been unpaid counts (same amount, CNY, same payer); anything else is refused as before.
- **Refunded** (``[wechat_pay] double_payment = "refund"``, the default): after that
  transaction commits, WeChat Pay is asked to refund the full amount of *that* transaction (by
  ``transaction_id``) under the row's one ``out_refund_no``. A request that fails leaves the
  row ``refund_pending``; the ``double-payment-refunds`` job (every 10 minutes) and any
  redelivery of the notification ask again under the same number, which WeChat treats as the
  same refund, so the money can never go back twice. After ``ALERT_AFTER_ATTEMPTS`` failed
  requests the operators are alerted (once).
- **Left to an operator** (``double_payment = "alert"``): the row waits as
  ``awaiting_operator`` and the operators are alerted in the same transaction; they refund it in
  the merchant platform.
- **Refund notification** (``apply_double_payment_refund``, from ``services.orders.payments``
  through ``merchant_refunds``): a REFUND.SUCCESS for the row's ``out_refund_no`` or, for a
  refund made in the merchant platform, its ``transaction_id`` and the full amount marks it
  ``refunded`` and posts ``double_payment_refund:<id>`` back out through WeChat Pay clearing;
  CLOSED or ABNORMAL of our own request marks it ``refund_failed`` and alerts the operators.
  A partial refund is not applied: the operators are alerted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import DoublePayment, DoublePaymentStatus, Member, Order, OrderStatus
from rebate.errors import RebateError
from runtime.sql import fetch
from services.alerts import alert_operators
from services.orders.refunds import RefundGateway, new_out_refund_no
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from wechat.errors import WeChatError

log = logging.getLogger(__name__)

ALERT = "alert"  # [wechat_pay] double_payment: leave it to an operator ("refund": the default)
PAID = (OrderStatus.PAID, OrderStatus.COMPLETED, OrderStatus.REFUNDED)
OWED_BACK = (*PAID, OrderStatus.CLOSED)  # orders whose further payments are owed back
REFUND_REASON = "重复支付，自动退回"
CLOSED_REFUND_REASON = "订单已关闭，付款自动退回"
ALERT_AFTER_ATTEMPTS = 3  # failed refund requests before the operators hear of it
BATCH = 100  # rows the job asks about per run at most (oldest first)
ERROR_CHARS = 200
ASKED = (DoublePaymentStatus.REFUND_PENDING, DoublePaymentStatus.REFUNDING)
AWAITING = DoublePaymentStatus.AWAITING_OPERATOR


class SecondPaymentMismatch(RebateError):
    """A second transaction for an order that cannot take it: refused, nothing changed."""

    code = "notice_mismatch"


class SecondPayment(Protocol):
    """What a verified payment notification tells (``services.orders.payments.PaidNotice``)."""

    @property
    def api_version(self) -> str: ...
    @property
    def transaction_id(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def payer_openid(self) -> str: ...
    @property
    def raw(self) -> dict[str, Any]: ...


# --- recording it (inside the payment notification's transaction) ----------------------------


async def record_double_payment(
    conn: BaseDBAsyncClient,
    order: Order,
    payment: SecondPayment,
    *,
    policy: str,
    now: datetime,
) -> str:
    """``double_payment`` (recorded now) or ``duplicate`` (recorded before) for a transaction
    that is not the one that paid the locked ``order``; SecondPaymentMismatch when the order
    was never paid (e.g. closed) or the transaction would not have paid it."""
    if await DoublePayment.filter(transaction_id=payment.transaction_id).using_db(conn).exists():
        return "duplicate"
    await _check_second_payment(conn, order, payment)
    waits = policy == ALERT
    double = await DoublePayment.create(
        order_id=order.id,
        transaction_id=payment.transaction_id,
        api_version=payment.api_version,
        amount_fen=payment.amount_fen,
        status=AWAITING if waits else DoublePaymentStatus.REFUND_PENDING,
        out_refund_no=new_out_refund_no("DP"),
        payload=payment.raw,
        created_at=now,
        updated_at=now,
        using_db=conn,
    )
    await post(conn, [received_posting(double)], now)
    if waits:
        what = "已关闭的订单" if order.status == OrderStatus.CLOSED else "订单"
        await alert_operators(
            f"重复支付 #{double.id}：{what} {order.out_trade_no} 又收到一笔 {double.amount_fen} 分"
            f"（微信支付单号 {double.transaction_id}），请在商户平台退款",
            conn=conn,
            now=now,
        )
    log.warning(
        "%s %s of order %s recorded (%s fen, %s)",
        kind_of(order).replace("_", " "),
        payment.transaction_id,
        order.out_trade_no,
        payment.amount_fen,
        "left to an operator" if waits else "to be refunded",
    )
    return "double_payment"


async def _check_second_payment(
    conn: BaseDBAsyncClient, order: Order, payment: SecondPayment
) -> None:
    """The transaction would have paid the order had it been unpaid: the order was paid (or
    closed), and the amount, the currency and the payer match."""
    if order.status not in OWED_BACK:
        raise SecondPaymentMismatch(
            f"订单 {order.out_trade_no} 已由另一笔支付 ({order.status}) 处理"
        )
    member = await Member.get(id=order.member_id).using_db(conn)  # type: ignore[attr-defined]
    for ok, problem in (
        (
            payment.amount_fen == order.paid_fen,
            f"金额 {payment.amount_fen} ≠ 订单 {order.paid_fen}",
        ),
        (payment.currency == "CNY", f"币种 {payment.currency} 不是 CNY"),
        (payment.payer_openid == member.openid, "付款人 openid 与下单会员不符"),
    ):
        if not ok:
            raise SecondPaymentMismatch(f"重复支付与订单不符：{problem}")


def kind_of(order: Order) -> str:
    """``closed_order`` (a payment of an order closed unpaid) or ``second_payment``."""
    return "closed_order" if order.status == OrderStatus.CLOSED else "second_payment"


def refund_reason(order: Order) -> str:
    return CLOSED_REFUND_REASON if order.status == OrderStatus.CLOSED else REFUND_REASON


def received_posting(double: DoublePayment) -> Posting:
    """The second payment's cash came in through WeChat Pay and is owed back."""
    order_id: int = double.order_id  # type: ignore[attr-defined]
    return Posting(
        f"double_payment:{double.id}", "double_payment", accounts.WECHAT_PAY,
        accounts.DOUBLE_PAYMENTS, "cash", double.amount_fen, order_id,
    )  # fmt: skip


def refunded_posting(double: DoublePayment) -> Posting:
    """The refund took the owed cash back out through WeChat Pay."""
    order_id: int = double.order_id  # type: ignore[attr-defined]
    return Posting(
        f"double_payment_refund:{double.id}", "double_payment_refund", accounts.DOUBLE_PAYMENTS,
        accounts.WECHAT_PAY, "cash", double.amount_fen, order_id,
    )  # fmt: skip


# --- asking WeChat Pay for the refund (outside any transaction) ------------------------------


async def refund_double_payment(
    transaction_id: str, *, pay: RefundGateway | None, now: datetime
) -> str | None:
    """Ask WeChat Pay to refund the double payment ``transaction_id`` if it waits for that
    (``refund_pending``); what happened, or None when there was nothing to ask."""
    double = await DoublePayment.get_or_none(
        transaction_id=transaction_id, status=DoublePaymentStatus.REFUND_PENDING
    )
    if double is None or pay is None:
        return None
    return await _ask_refund(double, pay, now)


async def retry_double_payment_refunds(
    pay: RefundGateway | None, *, now: datetime
) -> dict[str, Any]:
    """The ``double-payment-refunds`` job: ask again for every refund WeChat has not accepted
    yet, oldest first, under each one's own refund number."""
    if pay is None:
        return {"skipped": "WeChat Pay is not configured"}
    pending = (
        await DoublePayment.filter(status=DoublePaymentStatus.REFUND_PENDING)
        .order_by("id")
        .limit(BATCH)
    )
    outcomes: dict[str, list[int]] = {}
    for double in pending:
        outcomes.setdefault(await _ask_refund(double, pay, now), []).append(double.id)
    return {"asked": len(pending), **outcomes}


async def _ask_refund(double: DoublePayment, pay: RefundGateway, now: datetime) -> str:
    """``refund_requested`` (accepted: now ``refunding``, or ``refunded`` when WeChat answers
    SUCCESS at once) or ``refund_failed_will_retry``."""
    order = await Order.get(id=double.order_id)  # type: ignore[attr-defined]
    try:
        receipt = await pay.refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=double.out_refund_no,
            total_fen=double.amount_fen,
            refund_fen=double.amount_fen,
            reason=refund_reason(order),
            transaction_id=double.transaction_id,
        )
    except WeChatError as exc:
        await _refund_request_failed(double, order, exc, now)
        return "refund_failed_will_retry"
    await DoublePayment.filter(id=double.id, status=DoublePaymentStatus.REFUND_PENDING).update(
        status=DoublePaymentStatus.REFUNDING,
        refund_id=receipt.refund_id,
        attempts=F("attempts") + 1,
        last_error="",
        updated_at=now,
    )
    log.info("double payment %s: refund %s accepted", double.transaction_id, double.out_refund_no)
    if receipt.status == "SUCCESS":
        await settle_double_payment_refund(double.id, refund_id=receipt.refund_id, now=now)
    return "refund_requested"


async def _refund_request_failed(
    double: DoublePayment, order: Order, exc: WeChatError, now: datetime
) -> None:
    """Nothing was refunded (or WeChat's answer was lost): the row stays ``refund_pending`` for
    the next request under the same number; the operators hear of it once."""
    log.warning("double payment %s: refund request failed: %r", double.transaction_id, exc)
    async with in_transaction() as conn:
        changed = (
            await DoublePayment.filter(id=double.id, status=DoublePaymentStatus.REFUND_PENDING)
            .using_db(conn)
            .update(attempts=F("attempts") + 1, last_error=str(exc)[:ERROR_CHARS], updated_at=now)
        )
        if changed and double.attempts + 1 == ALERT_AFTER_ATTEMPTS:
            await alert_operators(
                f"重复支付 #{double.id}（订单 {order.out_trade_no}，{double.amount_fen} 分）"
                f"已 {ALERT_AFTER_ATTEMPTS} 次申请退款失败：{str(exc)[:ERROR_CHARS]}；系统会继续重试",
                conn=conn,
                now=now,
            )


# --- WeChat's refund notification ------------------------------------------------------------


class RefundReport(Protocol):
    """What a verified refund notification tells (``services.orders.payments.RefundNotice``)."""

    @property
    def out_refund_no(self) -> str: ...
    @property
    def refund_id(self) -> str: ...
    @property
    def transaction_id(self) -> str: ...
    @property
    def refund_fen(self) -> int: ...
    @property
    def success(self) -> bool: ...


async def double_payment_refunded_by(notice: RefundReport, order_id: int) -> DoublePayment | None:
    """The double payment of order ``order_id`` that a refund notification is about: ours (by
    its refund number) or one refunded in the merchant platform (by its transaction)."""
    which = Q(out_refund_no=notice.out_refund_no)
    if notice.transaction_id:
        which |= Q(transaction_id=notice.transaction_id)
    return await DoublePayment.filter(which, order_id=order_id).first()


async def apply_double_payment_refund(
    double: DoublePayment, notice: RefundReport, *, out_trade_no: str, now: datetime
) -> str:
    """``applied``, ``duplicate``, ``failed`` (our refund was closed or abnormal: by hand now),
    ``result_fail`` (someone else's refund that did not go through: nothing to do) or
    ``unmatched`` (not the full amount: the operators are told, nothing changes)."""
    if double.status == DoublePaymentStatus.REFUNDED:
        return "duplicate"
    if not notice.success:
        return await _refund_did_not_go_through(double, notice, out_trade_no, now)
    if notice.refund_fen != double.amount_fen:
        await alert_operators(
            f"重复支付 #{double.id}（订单 {out_trade_no}，{double.amount_fen} 分）收到退款"
            f" {notice.refund_fen} 分（退款单号 {notice.out_refund_no}），金额不符，未入账，请人工核对",
            now=now,
        )
        log.warning("double payment %s: refund of %s fen not applied", double.id, notice.refund_fen)
        return "unmatched"
    settled = await settle_double_payment_refund(double.id, refund_id=notice.refund_id, now=now)
    return "applied" if settled else "duplicate"


async def _refund_did_not_go_through(
    double: DoublePayment, notice: RefundReport, out_trade_no: str, now: datetime
) -> str:
    if notice.out_refund_no != double.out_refund_no:
        return "result_fail"
    async with in_transaction() as conn:
        changed = (  # REFUND_PENDING too: WeChat took the request but its answer was lost
            await DoublePayment.filter(id=double.id, status__in=ASKED)
            .using_db(conn)
            .update(status=DoublePaymentStatus.REFUND_FAILED, updated_at=now)
        )
        if changed:
            await alert_operators(
                f"重复支付 #{double.id}（订单 {out_trade_no}，{double.amount_fen} 分）的退款"
                f" {double.out_refund_no} 未成功，请在商户平台处理",
                conn=conn,
                now=now,
            )
    return "failed" if changed else "duplicate"


async def settle_double_payment_refund(double_id: int, *, refund_id: str, now: datetime) -> bool:
    """Mark it refunded and post the cash back out, once; False if it already was."""
    async with in_transaction() as conn:
        changed = (
            await DoublePayment.filter(id=double_id)
            .exclude(status=DoublePaymentStatus.REFUNDED)
            .using_db(conn)
            .update(
                status=DoublePaymentStatus.REFUNDED, refund_id=refund_id, refunded_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        if changed:
            double = await DoublePayment.filter(id=double_id).using_db(conn).get()
            await post(conn, [refunded_posting(double)], now)
    if changed:
        log.info("double payment %s refunded", double_id)
    return bool(changed)


# --- the operators' view ---------------------------------------------------------------------


async def list_double_payments(
    *, status: str | None = None, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[DoublePayment]:
    """Double payments newest first, of one status or all."""
    query = DoublePayment.all().select_related("order")
    if status is not None:
        query = query.filter(status=status)
    return await page_by_id(query, cursor=cursor, limit=limit)


async def owed_back() -> dict[str, int]:
    """How many double payments are not refunded yet, and their total: what the platform owes."""
    rows = await fetch(
        connections.get("default"),
        "SELECT COUNT(*) AS n, COALESCE(SUM(amount_fen), 0) AS fen FROM double_payment"
        " WHERE status <> $1",
        [DoublePaymentStatus.REFUNDED.value],
    )
    return {"owed_count": int(rows[0]["n"]), "owed_fen": int(rows[0]["fen"])}


def double_payment_json(double: DoublePayment) -> dict[str, Any]:
    return {
        "id": double.id,
        "order_id": double.order_id,  # type: ignore[attr-defined]
        "out_trade_no": double.order.out_trade_no,
        "kind": kind_of(double.order),
        "transaction_id": double.transaction_id,
        "amount_fen": double.amount_fen,
        "status": double.status.value,
        "out_refund_no": double.out_refund_no,
        "refund_id": double.refund_id,
        "attempts": double.attempts,
        "last_error": double.last_error,
        "created_at": double.created_at.isoformat(),
        "refunded_at": double.refunded_at.isoformat() if double.refunded_at else None,
    }
