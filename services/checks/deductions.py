"""Deduction (抵扣, SPEC §10): every order that used points or love value has exactly its
``deduction:<order>:<unit>`` posting (the member's balance → its issuer, the units the order
records), a closed one exactly its ``deduction_return:<order>:<unit>`` back, and its refunded
lines' ``deduction_refund:<line>:<unit>`` postings give back no more than it used — exactly
that once every line is refunded; a line's deductions add up to its order's, and an order's
deduction and cash to its price. No such posting exists without its order or line."""

from __future__ import annotations

from ledger.accounts import LOVE_ISSUED, POINTS_ISSUED
from services.checks.report import Finding, account, findings

# unit → (the order's column, the member's balance, the issuer)
UNITS = {
    "points": ("deduction_points", "points", POINTS_ISSUED),
    "love": ("deduction_love", "love_available", LOVE_ISSUED),
}


def _unit_key(prefix: str, column: str, unit: str) -> str:
    return f"'{prefix}:' || CAST({column} AS VARCHAR(20)) || ':{unit}'"


def _order_postings(unit: str) -> tuple[Finding, Finding]:
    column, balance, issuer = UNITS[unit]
    member = account("member", "o.member_id", balance)
    taken = Finding(
        f"order without exactly its {unit} deduction posting",
        f"SELECT o.id, o.{column} AS units, p.amount, p.debit, p.credit FROM orders o"
        f" LEFT JOIN posting p ON p.key = {_unit_key('deduction', 'o.id', unit)}"
        f" WHERE (o.{column} > 0 AND (p.id IS NULL OR p.amount <> o.{column}"
        f" OR p.debit <> {member} OR p.credit <> '{issuer}'))"
        f" OR (o.{column} = 0 AND p.id IS NOT NULL)",
        lambda r: (
            f"order {r['id']} used {r['units']}: posting {r['amount']} {r['debit']} → {r['credit']}"
        ),
    )
    returned = Finding(
        f"closed order without exactly its {unit} deduction returned",
        f"SELECT o.id, o.status, o.{column} AS units, p.amount, p.debit, p.credit FROM orders o"
        f" LEFT JOIN posting p ON p.key = {_unit_key('deduction_return', 'o.id', unit)}"
        f" WHERE (o.status = 'closed' AND o.{column} > 0 AND (p.id IS NULL"
        f" OR p.amount <> o.{column} OR p.debit <> '{issuer}' OR p.credit <> {member}))"
        f" OR ((o.status <> 'closed' OR o.{column} = 0) AND p.id IS NOT NULL)",
        lambda r: (
            f"order {r['id']} ({r['status']}) used {r['units']}: returned {r['amount']}"
            f" {r['debit']} → {r['credit']}"
        ),
    )
    return taken, returned


def _refunds(unit: str) -> Finding:
    column, _, _ = UNITS[unit]
    return Finding(
        f"refunded lines give back other than the order's {unit} deduction",
        f"SELECT o.id, o.{column} AS units, COALESCE(SUM(p.amount), 0) AS back,"
        " MIN(CASE WHEN l.status = 'refunded' THEN 1 ELSE 0 END) AS all_refunded FROM orders o"
        " JOIN order_line l ON l.order_id = o.id"
        f" LEFT JOIN posting p ON p.key = {_unit_key('deduction_refund', 'l.id', unit)}"
        f" GROUP BY o.id, o.{column}, o.deduction_fen"
        f" HAVING COALESCE(SUM(p.amount), 0) > o.{column} OR (o.{column} > 0 AND o.deduction_fen > 0"
        " AND MIN(CASE WHEN l.status = 'refunded' THEN 1 ELSE 0 END) = 1"
        f" AND COALESCE(SUM(p.amount), 0) <> o.{column})",
        lambda r: f"order {r['id']} used {r['units']}: its lines gave back {r['back']}",
    )


DEDUCTIONS = (
    *_order_postings("points"),
    *_order_postings("love"),
    _refunds("points"),
    _refunds("love"),
    Finding(
        "line not refunded with a deduction refund posting",
        "SELECT l.id, p.key FROM order_line l JOIN posting p ON p.key IN"
        f" ({_unit_key('deduction_refund', 'l.id', 'points')},"
        f" {_unit_key('deduction_refund', 'l.id', 'love')}) WHERE l.status <> 'refunded'",
        lambda r: f"line {r['id']}: {r['key']}",
    ),
    Finding(
        "order whose deduction and cash do not add up",
        "SELECT o.id, o.total_fen, o.deduction_fen, o.paid_fen, SUM(l.deduction_fen) AS lines"
        " FROM orders o JOIN order_line l ON l.order_id = o.id"
        " GROUP BY o.id, o.total_fen, o.deduction_fen, o.paid_fen, o.deduction_points,"
        " o.deduction_love"
        " HAVING o.deduction_fen + o.paid_fen <> o.total_fen OR SUM(l.deduction_fen) <> o.deduction_fen"
        " OR (o.deduction_fen > 0 AND o.deduction_points = 0 AND o.deduction_love = 0)",
        lambda r: (
            f"order {r['id']}: price {r['total_fen']} = deduction {r['deduction_fen']}"
            f" (lines {r['lines']}) + cash {r['paid_fen']}?"
        ),
    ),
    Finding(
        "deduction posting without its order or line",
        "SELECT p.id, p.key FROM posting p WHERE p.kind IN"
        " ('deduction', 'deduction_return', 'deduction_refund') AND NOT EXISTS"
        " (SELECT 1 FROM orders o WHERE o.id = p.order_id AND p.key IN"
        f" ({_unit_key('deduction', 'o.id', 'points')}, {_unit_key('deduction', 'o.id', 'love')},"
        f" {_unit_key('deduction_return', 'o.id', 'points')},"
        f" {_unit_key('deduction_return', 'o.id', 'love')}))"
        " AND NOT EXISTS (SELECT 1 FROM order_line l WHERE l.order_id = p.order_id AND p.key IN"
        f" ({_unit_key('deduction_refund', 'l.id', 'points')},"
        f" {_unit_key('deduction_refund', 'l.id', 'love')}))",
        lambda r: f"posting {r['id']} ({r['key']})",
    ),
)


async def check_deductions() -> list[str]:
    return await findings(DEDUCTIONS)
