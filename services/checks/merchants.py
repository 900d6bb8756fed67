"""Conservation of distribution and merchant money, for ``queue-rebate check``.

Commissions: each amount is ``floor(base × rate / 10000)`` and never above what was first
earned; each was posted from sales to the frozen commissions when earned
(``commission:<key>``); a released one has exactly one posting with its own key from the frozen
commissions to its member's cash, a frozen or reversed one has none; and the frozen
commissions' balance is exactly what is still frozen. Dividends: a run's pool is
``floor(turnover × bp / 10000)``, its shares add up to what it distributed (the pool, or 0
without shareholders), and each share has its posting from sales to the shareholder's cash.
Merchant settlement: each credit is its paid amount minus the floored commission; an order's
credits add up to the cash still paid on it; a statement's total and count are exactly its
credits'; a paid statement has exactly one successful transfer of its total; and each store's
payable is what its credits owe less what its paid statements paid.
"""

from __future__ import annotations

from ledger.accounts import COMMISSIONS
from services.checks.report import Finding, account, findings, key

COMMISSION = (
    Finding(
        "commission amount ≠ floor(base × rate)",
        "SELECT id, base_fen, rate_bp, amount_fen, initial_fen, status FROM commission"
        " WHERE amount_fen <> base_fen * rate_bp / 10000 OR amount_fen < 0"
        " OR amount_fen > initial_fen OR (status = 'reversed' AND amount_fen <> 0)",
        lambda r: (
            f"commission {r['id']} ({r['status']}) base {r['base_fen']} × {r['rate_bp']} bp"
            f" = {r['amount_fen']} (first {r['initial_fen']})"
        ),
    ),
    Finding(
        "commission earned without its posting",
        "SELECT c.id, c.initial_fen, p.amount FROM commission c LEFT JOIN posting p"
        " ON p.key = 'commission:' || c.key WHERE c.initial_fen > 0 AND (p.id IS NULL"
        f" OR p.amount <> c.initial_fen OR p.credit <> '{COMMISSIONS}')",
        lambda r: f"commission {r['id']} earned {r['initial_fen']}, posted {r['amount']}",
    ),
    Finding(
        "released commission without its posting",
        "SELECT c.id, c.amount_fen, p.amount FROM commission c LEFT JOIN posting p"
        " ON p.key = c.key WHERE c.status = 'released' AND (p.id IS NULL"
        f" OR p.amount <> c.amount_fen OR p.credit <> {account('member', 'c.member_id', 'cash')}"
        f" OR p.debit <> '{COMMISSIONS}' OR p.kind <> 'commission')",
        lambda r: f"commission {r['id']} of {r['amount_fen']} has posting amount {r['amount']}",
    ),
    Finding(
        "unreleased commission with a release posting",
        "SELECT c.id, c.status FROM commission c JOIN posting p ON p.key = c.key"
        " WHERE c.status <> 'released'",
        lambda r: f"commission {r['id']} is {r['status']} but has a release posting",
    ),
    Finding(
        "commission posting without a commission",
        "SELECT p.id, p.key FROM posting p LEFT JOIN commission c ON c.key = p.key"
        " WHERE p.kind = 'commission' AND c.id IS NULL",
        lambda r: f"posting {r['id']} ({r['key']})",
    ),
    Finding(
        f"{COMMISSIONS} ≠ the commissions still frozen",
        "SELECT frozen, books FROM (SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM commission"
        f" WHERE status = 'frozen') AS frozen, (SELECT COALESCE(SUM(CASE WHEN credit ="
        f" '{COMMISSIONS}' THEN amount ELSE -amount END), 0) FROM posting WHERE credit ="
        f" '{COMMISSIONS}' OR debit = '{COMMISSIONS}') AS books) AS t WHERE frozen <> books",
        lambda r: f"the books hold {r['books']}, frozen commissions are {r['frozen']}",
    ),
)

DIVIDEND = (
    Finding(
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
    ),
    Finding(
        "dividend share without its posting",
        "SELECT s.id, s.amount_fen, p.amount FROM dividend_share s"
        " JOIN dividend_run d ON d.id = s.run_id LEFT JOIN posting p"
        " ON p.key = 'dividend:' || d.period || ':' || CAST(s.member_id AS VARCHAR(20))"
        " WHERE p.id IS NULL OR p.amount <> s.amount_fen"
        f" OR p.credit <> {account('member', 's.member_id', 'cash')}",
        lambda r: f"share {r['id']} of {r['amount_fen']} has posting amount {r['amount']}",
    ),
)

STORES = (
    Finding(
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
    ),
    Finding(
        "store credits ≠ what is still paid on the order",
        "SELECT c.order_id, SUM(c.paid_fen) AS credited,"
        " (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l WHERE l.order_id = c.order_id"
        "  AND l.status <> 'refunded') AS paid"
        " FROM store_credit c GROUP BY c.order_id"
        " HAVING SUM(c.paid_fen) <> (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l"
        "  WHERE l.order_id = c.order_id AND l.status <> 'refunded')",
        lambda r: f"order {r['order_id']} credited on {r['credited']}, paid {r['paid']}",
    ),
    Finding(
        "store payable ≠ its credits less its paid statements",
        "SELECT id, owed, books FROM (SELECT s.id, COALESCE((SELECT SUM(amount_fen)"
        " FROM store_credit WHERE store_id = s.id), 0) - COALESCE((SELECT SUM(total_fen)"
        " FROM statement WHERE store_id = s.id AND status = 'paid'), 0) AS owed,"
        " COALESCE((SELECT SUM(amount) FROM posting"
        f" WHERE credit = {account('store', 's.id')}), 0) - COALESCE((SELECT SUM(amount)"
        f" FROM posting WHERE debit = {account('store', 's.id')}), 0) AS books FROM store s)"
        " AS t WHERE owed <> books",
        lambda r: f"store {r['id']} is owed {r['owed']}, its account holds {r['books']}",
    ),
    Finding(
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
    ),
    Finding(
        "statement credit of another store",
        "SELECT c.id, c.store_id, s.store_id AS s_store FROM store_credit c"
        " JOIN statement s ON s.id = c.statement_id WHERE c.store_id <> s.store_id",
        lambda r: f"credit {r['id']} of store {r['store_id']} on store {r['s_store']}'s statement",
    ),
    Finding(
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
    ),
    Finding(
        "paid statement without exactly its posting",
        "SELECT s.id, s.status, s.total_fen, p.amount FROM statement s LEFT JOIN posting p"
        f" ON p.key = {key('statement_paid', 's.id')} WHERE (s.status = 'paid' AND (p.id IS NULL"
        f" OR p.amount <> s.total_fen OR p.debit <> {account('store', 's.store_id')}))"
        " OR (s.status <> 'paid' AND p.id IS NOT NULL)",
        lambda r: f"statement {r['id']} ({r['status']}, {r['total_fen']}) posted {r['amount']}",
    ),
)


async def check_merchants() -> list[str]:
    return await findings((*COMMISSION, *DIVIDEND, *STORES))
