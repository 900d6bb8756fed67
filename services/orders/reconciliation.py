"""Reconciliation (对账): a lost payment notification is never a lost payment.

Every run looks at orders still ``created`` (unpaid) for longer than ``query_after`` (default
10 minutes) and asks WeChat Pay about each (order query, by out_trade_no):

- paid (``SUCCESS``, or ``REFUND``: paid, then refunded at WeChat) — the payment is applied
  through ``services.orders.payments.apply_payment`` exactly as its notification would have been: same
  checks (appid, mchid, amount, currency, payer) and the same idempotency key (the transaction
  id), so a notification that arrives later, or a second run, finds it applied (``duplicate``);
- not paid (``NOTPAY``, ``CLOSED``, ``REVOKED``, ``PAYERROR``) or unknown to WeChat (never
  prepaid) and older than ``close_after`` (default 24 hours, WeChat's whole retry window) —
  the order is closed (``closed``), in a conditional update that loses to a concurrent payment;
- ``USERPAYING`` (the member is paying right now), younger orders, or a query that fails —
  left for the next run.

WeChat is queried through the pay client the caller passes (``run_reconciliation(now,
pay=…)``): ``services.jobs`` hands it the ``JobClients.pay`` that the scheduler, the CLI or the
admin API built; ``None`` when WeChat Pay is not configured, and the run then does nothing and
says so. Not closed at WeChat: closing there needs the closeorder call, which the pay clients
do not have yet — a member paying a closed order is refused by ``apply_payment`` (the order is
no longer ``created``) and shows in the callback metrics as ``mismatch``.

Its settings are a ``job_setting`` row ``reconciliation``:
``{"enabled": true, "query_after_minutes": 10, "close_after_minutes": 1440}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.transactions import in_transaction

from models import JobSetting, Order, OrderStatus
from rebate.errors import InvalidSetting, RebateError
from services.orders.lifecycle import close_unpaid
from services.orders.payments import PaidNotice, apply_payment
from services.settings.codec import _bool, _int, _known
from wechat.errors import PayV2Error, PayV3Error, WeChatError
from wechat.pay_results import OrderStatus as PayStatus

log = logging.getLogger(__name__)

JOB_NAME = "reconciliation"
INTERVAL_MINUTES = 10
BATCH = 200  # orders queried per run at most (the oldest first)
CLOSABLE = frozenset({"NOTPAY", "CLOSED", "REVOKED", "PAYERROR"})


class PaymentQueries(Protocol):
    """What reconciliation needs from WeChat Pay (``wechat.gateway`` V2Pay/V3Pay)."""

    @property
    def api_version(self) -> str: ...

    @property
    def appid(self) -> str: ...

    @property
    def mchid(self) -> str: ...

    async def query(self, out_trade_no: str) -> PayStatus: ...


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconciliationPolicy:
    enabled: bool = True
    query_after: timedelta = timedelta(minutes=10)
    close_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.query_after < timedelta(0):
            raise InvalidSetting("查询等待时间不能为负", field="reconciliation.query_after_minutes")
        if self.close_after < self.query_after:
            raise InvalidSetting(
                "关闭未支付订单的时间不能早于查询时间", field="reconciliation.close_after_minutes"
            )


def policy_from_doc(doc: Mapping[str, Any] | None) -> ReconciliationPolicy:
    doc = doc or {}
    where = "reconciliation."
    _known(doc, {"enabled", "query_after_minutes", "close_after_minutes"}, where)
    kwargs: dict[str, Any] = {}
    if "enabled" in doc:
        kwargs["enabled"] = _bool(doc["enabled"], f"{where}enabled")
    for key, name in (
        ("query_after_minutes", "query_after"),
        ("close_after_minutes", "close_after"),
    ):
        if key in doc:
            kwargs[name] = timedelta(minutes=_int(doc[key], f"{where}{key}"))
    return ReconciliationPolicy(**kwargs)


async def load_policy() -> ReconciliationPolicy:
    row = await JobSetting.get_or_none(name=JOB_NAME)
    return policy_from_doc(row.config if row else None)


def interval_slot(now: datetime, minutes: int) -> datetime:
    """The start of the ``minutes``-long UTC interval ``now`` falls in: one run per interval."""
    at = now.astimezone(UTC)
    minute_of_day = at.hour * 60 + at.minute
    start = minute_of_day - minute_of_day % minutes
    return at.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)


def every(
    minutes: int, enabled: Callable[[], Awaitable[bool]]
) -> Callable[[datetime], Awaitable[datetime | None]]:
    """A ``Job.slot_for``: one slot per ``minutes`` (a divisor of a day) while ``enabled``."""

    async def slot_for(now: datetime) -> datetime | None:
        return interval_slot(now, minutes) if await enabled() else None

    return slot_for


# --- the work -------------------------------------------------------------------------------


def currency_of(raw: Mapping[str, Any]) -> str:
    """The currency of a WeChat Pay order: v2 ``fee_type``, v3 ``amount.currency``; WeChat's
    documented default is CNY."""
    amount = raw.get("amount")
    v3 = amount.get("currency") if isinstance(amount, Mapping) else None
    return str(raw.get("fee_type") or v3 or "CNY")


def notice_from_query(status: PayStatus, pay: PaymentQueries) -> PaidNotice:
    """A paid order query as the payment notice it stands for. v2 answers carry no appid /
    mch_id of the order itself beyond the signed envelope, which names ours."""
    raw = status.raw
    return PaidNotice(
        api_version=pay.api_version,
        appid=str(raw.get("appid") or pay.appid),
        mchid=str(raw.get("mchid") or raw.get("mch_id") or pay.mchid),
        out_trade_no=status.out_trade_no,
        transaction_id=status.transaction_id,
        amount_fen=status.total_fen if status.total_fen is not None else -1,
        currency=currency_of(raw),
        payer_openid=status.openid,
        success=status.is_paid,
        raw={"source": "order_query", **raw},
    )


@dataclass
class ReconciliationReport:
    queried: int = 0
    recovered: list[str] = field(default_factory=list)  # out_trade_no paid by this run
    already_applied: int = 0  # paid, and the notification had been applied meanwhile
    closed: list[str] = field(default_factory=list)
    still_unpaid: int = 0
    mismatched: list[str] = field(default_factory=list)  # paid at WeChat but refused: see logs
    query_failures: int = 0

    def as_changes(self) -> dict[str, Any]:
        return {
            "queried": self.queried,
            "recovered": self.recovered,
            "already_applied": self.already_applied,
            "closed": self.closed,
            "still_unpaid": self.still_unpaid,
            "mismatched": self.mismatched,
            "query_failures": self.query_failures,
        }


def _never_opened(exc: WeChatError) -> bool:
    """WeChat Pay does not know the order (it was never prepaid)."""
    if isinstance(exc, PayV2Error):
        return exc.err_code == "ORDERNOTEXIST"
    return isinstance(exc, PayV3Error) and exc.code == "ORDER_NOT_EXIST"


async def reconcile_unpaid(
    pay: PaymentQueries,
    *,
    now: datetime,
    policy: ReconciliationPolicy | None = None,
    batch: int = BATCH,
) -> ReconciliationReport:
    """Query WeChat Pay for the oldest unpaid orders due and settle what it says (module doc)."""
    policy = policy or ReconciliationPolicy()
    report = ReconciliationReport()
    due = (
        await Order.filter(status=OrderStatus.CREATED, created_at__lte=now - policy.query_after)
        .order_by("created_at", "id")
        .limit(batch)
    )
    for order in due:
        report.queried += 1
        try:
            status: PayStatus | None = await pay.query(order.out_trade_no)
        except WeChatError as exc:
            if not _never_opened(exc):
                log.warning("reconciliation: query of %s failed: %r", order.out_trade_no, exc)
                report.query_failures += 1
                continue
            status = None
        if status is not None and status.is_paid:
            await _apply(pay, status, report, now)
        elif order.created_at <= now - policy.close_after and (
            status is None or status.trade_state in CLOSABLE
        ):
            if await _close(order, now):
                report.closed.append(order.out_trade_no)
        else:
            report.still_unpaid += 1
    return report


async def _apply(
    pay: PaymentQueries, status: PayStatus, report: ReconciliationReport, now: datetime
) -> None:
    notice = notice_from_query(status, pay)
    try:
        outcome = await apply_payment(notice, appid=pay.appid, mchid=pay.mchid, now=now)
    except RebateError as exc:  # UnknownOrder / NoticeMismatch: nothing changed
        log.error("reconciliation: %s paid at WeChat but refused: %s", status.out_trade_no, exc)
        report.mismatched.append(status.out_trade_no)
        return
    if outcome == "applied":
        log.warning(
            "reconciliation: payment %s of order %s recovered (its notification never arrived)",
            status.transaction_id,
            status.out_trade_no,
        )
        report.recovered.append(status.out_trade_no)
    else:
        report.already_applied += 1


async def _close(order: Order, now: datetime) -> bool:
    """Close an unpaid order unless something paid it meanwhile; the stock it took and the
    points / love value it deducted go back."""
    async with in_transaction() as conn:
        changed = await close_unpaid(conn, order, now)
    if changed:
        log.info("reconciliation: order %s closed unpaid at %s", order.out_trade_no, now)
    return bool(changed)


# --- the job --------------------------------------------------------------------------------


async def _enabled() -> bool:
    return (await load_policy()).enabled


scheduled_slot = every(INTERVAL_MINUTES, _enabled)


async def run_reconciliation(now: datetime, *, pay: PaymentQueries | None) -> dict[str, Any]:
    """The job's work: one run with ``pay`` (None: WeChat Pay is not configured, nothing to
    query)."""
    if pay is None:
        return {"skipped": "WeChat Pay is not configured"}
    report = await reconcile_unpaid(pay, now=now, policy=await load_policy())
    return report.as_changes()
