"""Conservation of distribution and merchant money, for ``queue-rebate check``.

Commissions: each amount is ``floor(base × rate / 10000)`` and never above what was first
earned; a released commission has exactly one ledger line (same key, member and amount, cash,
kind ``commission``), a frozen or reversed one has none, and no commission ledger line lacks
its commission. Dividends: a run's pool is ``floor(turnover × bp / 10000)``, its shares add up
to what it distributed (the pool, or 0 without shareholders), and each share has its ledger
line. Merchant settlement: each credit is its paid amount minus the floored commission; an
order's credits add up to the cash still paid on it; a statement's total and count are exactly
its credits'; a paid statement has exactly one successful transfer of its total, and no
statement has two transfers in flight.
"""

from typing import Any

from tortoise import connections

from runtime.sql import fetch

LIMIT = 20


async def check_merchant_conservation() -> list[str]:
    conn = connections.get("default")
    problems: list[str] = []

    async def report(title: str, query: str, fmt: Any) -> None:
        rows = await fetch(conn, query)
        problems.extend(f"{title}: {fmt(r)}" for r in rows[:LIMIT])
        if len(rows) > LIMIT:
            problems.append(f"{title}: … and {len(rows) - LIMIT} more")

    await report(
        "commission amount ≠ floor(base × rate)",
        "SELECT id, base_fen, rate_bp, amount_fen, initial_fen, status FROM commission"
        " WHERE amount_fen <> base_fen * rate_bp / 10000 OR amount_fen < 0"
        " OR amount_fen > initial_fen OR (status = 'reversed' AND amount_fen <> 0)",
        lambda r: (
            f"commission {r['id']} ({r['status']}) base {r['base_fen']} × {r['rate_bp']} bp"
            f" = {r['amount_fen']} (first {r['initial_fen']})"
        ),
    )
    await report(
        "released commission without its ledger line",
        "SELECT c.id, c.amount_fen, l.amount FROM commission c LEFT JOIN ledger_line l"
        " ON l.key = c.key WHERE c.status = 'released' AND (l.id IS NULL"
        " OR l.amount <> c.amount_fen OR l.member_id <> c.member_id OR l.asset <> 'cash'"
        " OR l.kind <> 'commission')",
        lambda r: f"commission {r['id']} of {r['amount_fen']} has ledger amount {r['amount']}",
    )
    await report(
        "unreleased commission with a ledger line",
        "SELECT c.id, c.status FROM commission c JOIN ledger_line l ON l.key = c.key"
        " WHERE c.status <> 'released'",
        lambda r: f"commission {r['id']} is {r['status']} but has a ledger line",
    )
    await report(
        "commission ledger line without a commission",
        "SELECT l.id, l.key FROM ledger_line l LEFT JOIN commission c ON c.key = l.key"
        " WHERE l.kind = 'commission' AND c.id IS NULL",
        lambda r: f"ledger line {r['id']} ({r['key']})",
    )
    await report(
        "dividend run does not add up",
        "SELECT d.id, d.period, d.pool_fen, d.distributed_fen, d.turnover_fen, d.pool_bp,"
        " COALESCE(SUM(s.amount_fen), 0) AS shares FROM dividend_run d"
        " LEFT JOIN dividend_share s ON s.run_id = d.id"
        " GROUP BY d.id, d.period, d.pool_fen, d.distributed_fen, d.turnover_fen, d.pool_bp"
        " HAVING d.distributed_fen <> COALESCE(SUM(s.amount_fen), 0)"
        " OR (d.distributed_fen <> d.pool_fen AND d.distributed_fen <> 0)"
        " OR d.pool_fen > d.turnover_fen * d.pool_bp / 10000",
        lambda r: (
            f"run {r['period']} pool {r['pool_fen']} distributed {r['distributed_fen']},"
            f" shares sum to {r['shares']}"
        ),
    )
    await report(
        "dividend share without its ledger line",
        "SELECT s.id, s.amount_fen, l.amount FROM dividend_share s"
        " JOIN dividend_run d ON d.id = s.run_id LEFT JOIN ledger_line l"
        " ON l.key = 'dividend:' || d.period || ':' || CAST(s.member_id AS VARCHAR(20))"
        " WHERE l.id IS NULL OR l.amount <> s.amount_fen OR l.member_id <> s.member_id",
        lambda r: f"share {r['id']} of {r['amount_fen']} has ledger amount {r['amount']}",
    )
    await report(
        "store credit ≠ paid − floor(paid × commission)",
        "SELECT id, kind, paid_fen, commission_bp, commission_fen, amount_fen, status"
        " FROM store_credit WHERE (kind = 'credit'"
        " AND (commission_fen <> paid_fen * commission_bp / 10000 OR paid_fen < 0))"
        " OR amount_fen <> paid_fen - commission_fen"
        " OR (status = 'reversed' AND paid_fen <> 0)"
        " OR ((status = 'stated') <> (statement_id IS NOT NULL))",
        lambda r: (
            f"credit {r['id']} ({r['kind']}, {r['status']}) paid {r['paid_fen']}"
            f" commission {r['commission_fen']} amount {r['amount_fen']}"
        ),
    )
    await report(
        "store credits ≠ what is still paid on the order",
        "SELECT c.order_id, SUM(c.paid_fen) AS credited,"
        " (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l WHERE l.order_id = c.order_id"
        "  AND l.status <> 'refunded') AS paid"
        " FROM store_credit c GROUP BY c.order_id"
        " HAVING SUM(c.paid_fen) <> (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l"
        "  WHERE l.order_id = c.order_id AND l.status <> 'refunded')",
        lambda r: f"order {r['order_id']} credited on {r['credited']}, paid {r['paid']}",
    )
    await report(
        "statement ≠ its credits",
        "SELECT s.id, s.total_fen, s.credit_count, COALESCE(SUM(c.amount_fen), 0) AS t,"
        " COUNT(c.id) AS n FROM statement s LEFT JOIN store_credit c ON c.statement_id = s.id"
        " GROUP BY s.id, s.total_fen, s.credit_count"
        " HAVING s.total_fen <> COALESCE(SUM(c.amount_fen), 0) OR s.credit_count <> COUNT(c.id)"
        " OR s.total_fen <= 0",
        lambda r: (
            f"statement {r['id']} says {r['total_fen']} over {r['credit_count']} credits,"
            f" credits say {r['t']} over {r['n']}"
        ),
    )
    await report(
        "statement credit of another store",
        "SELECT c.id, c.store_id, s.store_id AS s_store FROM store_credit c"
        " JOIN statement s ON s.id = c.statement_id WHERE c.store_id <> s.store_id",
        lambda r: f"credit {r['id']} of store {r['store_id']} on store {r['s_store']}'s statement",
    )
    await report(
        "statement payout is not exactly once",
        "SELECT s.id, s.status, s.total_fen,"
        " SUM(CASE WHEN t.state = 'SUCCESS' THEN 1 ELSE 0 END) AS ok,"
        " SUM(CASE WHEN t.state = 'SUCCESS' THEN t.amount_fen ELSE 0 END) AS ok_fen,"
        " SUM(CASE WHEN t.state NOT IN ('FAIL', 'CANCELLED', 'SUCCESS') THEN 1 ELSE 0 END)"
        " AS open FROM statement s LEFT JOIN merchant_transfer t ON t.statement_id = s.id"
        " GROUP BY s.id, s.status, s.total_fen"
        " HAVING SUM(CASE WHEN t.state = 'SUCCESS' THEN 1 ELSE 0 END) > 1"
        " OR SUM(CASE WHEN t.state NOT IN ('FAIL', 'CANCELLED', 'SUCCESS') THEN 1 ELSE 0 END) > 1"
        " OR (s.status = 'paid') <> (SUM(CASE WHEN t.state = 'SUCCESS' THEN 1 ELSE 0 END) = 1)"
        " OR SUM(CASE WHEN t.state = 'SUCCESS' THEN t.amount_fen ELSE 0 END)"
        "  NOT IN (0, s.total_fen)",
        lambda r: (
            f"statement {r['id']} ({r['status']}, {r['total_fen']}) has {r['ok']} successful"
            f" transfers of {r['ok_fen']} and {r['open']} in flight"
        ),
    )
    return problems
