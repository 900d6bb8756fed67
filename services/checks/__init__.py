"""``queue-rebate check``: the books balance and every business area's money agrees with them
(SPEC §2). Each module checks one area; ``check_conservation`` runs them all and returns every
problem found (none: the books balance). ``check_warnings`` returns what is not wrong in the
books but waits on someone (a double payment not refunded in time): reported, never a failure."""

from __future__ import annotations

from datetime import datetime

from tortoise import connections

from ledger.checks import check_books
from runtime.sql import fetch
from services.checks.deductions import check_deductions
from services.checks.double_payments import check_double_payments, double_payment_warnings
from services.checks.keys import check_keys
from services.checks.merchants import check_merchants
from services.checks.payments import check_payments
from services.checks.pool import check_pool
from services.checks.queues import check_queues
from services.checks.transfers import check_transfers
from services.checks.withdrawals import check_withdrawals

CHECKS = (
    check_books,
    check_queues,
    check_payments,
    check_deductions,
    check_double_payments,
    check_merchants,
    check_withdrawals,
    check_transfers,
    check_pool,
    check_keys,
)


async def check_conservation() -> list[str]:
    problems: list[str] = []
    for check in CHECKS:
        problems += await check()
    return problems


async def check_warnings(now: datetime) -> list[str]:
    return await double_payment_warnings(now)


async def totals() -> dict[str, int]:
    """Headline figures for the check's OK line."""
    rows = await fetch(
        connections.get("default"),
        "SELECT (SELECT COUNT(*) FROM queue) AS queues, (SELECT COUNT(*) FROM entry) AS entries,"
        " (SELECT COALESCE(SUM(amount_fen), 0) FROM extraction) AS extracted,"
        " (SELECT COALESCE(SUM(amount), 0) FROM posting WHERE kind = 'payout') AS paid,"
        " (SELECT COUNT(*) FROM posting) AS postings,"
        " (SELECT COUNT(*) FROM double_payment WHERE status <> 'refunded') AS owed_back,"
        " (SELECT COALESCE(SUM(amount_fen), 0) FROM double_payment WHERE status <> 'refunded')"
        " AS owed_back_fen,"
        " (SELECT COUNT(*) FROM (SELECT debit FROM posting UNION SELECT credit FROM posting)"
        " AS a) AS accounts",
    )
    return {k: int(v) for k, v in rows[0].items()}
