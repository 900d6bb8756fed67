"""Money in and out through WeChat Pay: every paid order has its payment posting
(``payment:<order>``, WeChat Pay clearing → sales, its paid amount), every refunded line its
refund posting (``refund:<line>``, sales → WeChat Pay clearing), and every refunded settled line
whose extraction paid others its cost (``refund_cost:<line>``, platform cost → sales) — and no
such posting exists without its order or line."""

from __future__ import annotations

from ledger.accounts import COST, SALES, WECHAT_PAY
from services.checks.report import Finding, findings, key

PAYMENTS = (
    Finding(
        "paid order without exactly its payment posting",
        "SELECT o.id, o.paid_fen, p.amount, p.debit, p.credit FROM orders o"
        f" LEFT JOIN posting p ON p.key = {key('payment', 'o.id')}"
        " WHERE (o.paid_at IS NOT NULL AND o.paid_fen > 0 AND (p.id IS NULL"
        f" OR p.amount <> o.paid_fen OR p.debit <> '{WECHAT_PAY}' OR p.credit <> '{SALES}'))"
        " OR ((o.paid_at IS NULL OR o.paid_fen = 0) AND p.id IS NOT NULL)",
        lambda r: (
            f"order {r['id']} paid {r['paid_fen']}: payment posting {r['amount']}"
            f" {r['debit']} → {r['credit']}"
        ),
    ),
    Finding(
        "refunded line without exactly its refund posting",
        "SELECT l.id, l.paid_fen, l.status, p.amount, p.debit, p.credit FROM order_line l"
        f" JOIN orders o ON o.id = l.order_id LEFT JOIN posting p ON p.key = {key('refund', 'l.id')}"
        " WHERE (l.status = 'refunded' AND l.paid_fen > 0 AND o.paid_at IS NOT NULL"
        f" AND (p.id IS NULL OR p.amount <> l.paid_fen OR p.debit <> '{SALES}'"
        f" OR p.credit <> '{WECHAT_PAY}')) OR (l.status <> 'refunded' AND p.id IS NOT NULL)",
        lambda r: (
            f"line {r['id']} ({r['status']}, {r['paid_fen']}): refund posting {r['amount']}"
            f" {r['debit']} → {r['credit']}"
        ),
    ),
    Finding(
        "refunded settled line without exactly its cost posting",
        "SELECT l.id, x.paid_fen, p.amount FROM order_line l JOIN extraction x ON x.line_id = l.id"
        f" LEFT JOIN posting p ON p.key = {key('refund_cost', 'l.id')}"
        " WHERE (l.status = 'refunded' AND x.paid_fen > 0 AND (p.id IS NULL"
        f" OR p.amount <> x.paid_fen OR p.debit <> '{COST}' OR p.credit <> '{SALES}'))"
        " OR ((l.status <> 'refunded' OR x.paid_fen = 0) AND p.id IS NOT NULL)",
        lambda r: f"line {r['id']} paid others {r['paid_fen']}: cost posting {r['amount']}",
    ),
    *(
        Finding(
            f"{kind} posting without its {table}",
            f"SELECT p.id, p.key FROM posting p LEFT JOIN {table} t ON {key(kind, 't.id')} = p.key"
            f" WHERE p.kind = '{kind}' AND t.id IS NULL",
            lambda r: f"posting {r['id']} ({r['key']})",
        )
        for kind, table in (
            ("payment", "orders"),
            ("refund", "order_line"),
            ("refund_cost", "order_line"),
        )
    ),
)


async def check_payments() -> list[str]:
    return await findings(PAYMENTS)
