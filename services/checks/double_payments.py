"""Double payments in the books (``services.orders.double_payments``): each has exactly its
received posting (``double_payment:<id>``, its amount from WeChat Pay clearing into
``platform:double_payments``); a refund posting back (``double_payment_refund:<id>``) exactly
when it is refunded; no such posting without its double payment; and
``platform:double_payments`` holds exactly the double payments not yet refunded. Those are
problems.

A double payment not refunded yet is money the platform owes a member, not a broken book: it is
a **warning** (``double_payment_warnings``, printed by ``queue-rebate check`` without failing it)
once it has waited longer than it should — ``STALE_WITH_WECHAT`` (7 days) while WeChat Pay has
accepted its refund (a refund to a bank card takes up to a few working days), ``STALE``
(24 hours) in any other state (its refund request keeps failing, it waits for an operator, or
its refund failed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.accounts import DOUBLE_PAYMENTS, WECHAT_PAY
from ledger.checks import reported
from models import DoublePayment, DoublePaymentStatus
from services.checks.report import Finding, findings, key

STALE = timedelta(hours=24)
STALE_WITH_WECHAT = timedelta(days=7)

STEPS = (  # (posting kind, when it must exist, debit, credit)
    ("double_payment", "TRUE", WECHAT_PAY, DOUBLE_PAYMENTS),
    ("double_payment_refund", "d.status = 'refunded'", DOUBLE_PAYMENTS, WECHAT_PAY),
)

DOUBLE_PAYMENT = (
    *(
        Finding(
            f"{kind} posting wrong or missing",
            "SELECT d.id, d.status, d.amount_fen, p.amount, p.debit, p.credit"
            f" FROM double_payment d LEFT JOIN posting p ON p.key = {key(kind, 'd.id')}"
            f" WHERE ({due} AND (p.id IS NULL OR p.amount <> d.amount_fen"
            f" OR p.debit <> '{debit}' OR p.credit <> '{credit}' OR p.order_id <> d.order_id))"
            f" OR (NOT ({due}) AND p.id IS NOT NULL)",
            lambda r, kind=kind: (
                f"double payment {r['id']} ({r['status']}, {r['amount_fen']} fen): {kind}"
                + (
                    " posting missing"
                    if r["amount"] is None
                    else f" posting {r['amount']} {r['debit']} → {r['credit']}"
                )
            ),
        )
        for kind, due, debit, credit in STEPS
    ),
    *(
        Finding(
            f"{kind} posting without its double payment",
            f"SELECT p.id, p.key FROM posting p LEFT JOIN double_payment d"
            f" ON {key(kind, 'd.id')} = p.key WHERE p.kind = '{kind}' AND d.id IS NULL",
            lambda r: f"posting {r['id']} ({r['key']})",
        )
        for kind, _, _, _ in STEPS
    ),
    Finding(
        f"{DOUBLE_PAYMENTS} ≠ the double payments not yet refunded",
        "SELECT owed, books FROM (SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM double_payment"
        " WHERE status <> 'refunded') AS owed, (SELECT COALESCE(SUM(CASE WHEN credit ="
        f" '{DOUBLE_PAYMENTS}' THEN amount ELSE -amount END), 0) FROM posting WHERE credit ="
        f" '{DOUBLE_PAYMENTS}' OR debit = '{DOUBLE_PAYMENTS}') AS books) AS t WHERE owed <> books",
        lambda r: f"the books hold {r['books']}, double payments not refunded are {r['owed']}",
    ),
)


async def check_double_payments() -> list[str]:
    return await findings(DOUBLE_PAYMENT)


async def double_payment_warnings(now: datetime) -> list[str]:
    """The double payments not refunded that have waited too long."""
    rows = await DoublePayment.exclude(status=DoublePaymentStatus.REFUNDED).order_by("id")
    late = [
        f"double payment {d.id} ({d.transaction_id}, {d.amount_fen} fen) is {d.status} since"
        f" {d.created_at.isoformat(timespec='minutes')}"
        + (f": {d.last_error}" if d.last_error else "")
        for d in rows
        if now - d.created_at
        > (STALE_WITH_WECHAT if d.status == DoublePaymentStatus.REFUNDING else STALE)
    ]
    return reported("double payment not refunded in time", late)
