"""工会排队 in the books (SPEC §11): Σ contributions = Σ payouts + Σ acceleration + the pool's
balance + Σ taken back by refunds; every entry holds 0 ≤ paid ≤ quota and its paid amount is
what its payouts and accelerations posted; each line's ``pool_in`` posting is its contribution
less what it accelerated; a refunded entry's take-back and refund cost are posted and add up to
its contribution; every daily statement adds up, its take-backs those it counted; the latest
statement's closing balance is the pool's postings through its ``postings_through`` (what
``services.pool.balance`` adds the later postings to)."""

from __future__ import annotations

from ledger.accounts import UNION_POOL
from services.checks.report import Finding, findings, key

_POOL = f"'{UNION_POOL}'"
_POSTED = "SELECT COALESCE(SUM(amount), 0) FROM posting WHERE kind = '{kind}'"

_BALANCE = (
    f"SELECT COALESCE(SUM(CASE WHEN credit = {_POOL} THEN amount ELSE -amount END), 0)"
    f" FROM posting WHERE credit = {_POOL} OR debit = {_POOL}"
)
_PER_ENTRY = (
    "SELECT memo, SUM(amount) AS posted FROM posting WHERE kind IN ('pool_out', 'pool_accel')"
    " GROUP BY memo"
)

_THROUGH = (  # the latest statement that recorded its postings watermark
    "SELECT day, closing_fen, postings_through FROM union_pool_day WHERE postings_through > 0"
    " ORDER BY day DESC LIMIT 1"
)

POOL = (
    Finding(
        "union pool statement's closing balance not the pool's postings through it",
        "SELECT * FROM (SELECT d.day, d.closing_fen, (SELECT COALESCE(SUM(CASE WHEN"
        f" credit = {_POOL} THEN amount ELSE -amount END), 0) FROM posting WHERE"
        f" (credit = {_POOL} OR debit = {_POOL}) AND id <= d.postings_through) AS posted"
        f" FROM ({_THROUGH}) AS d) AS t WHERE closing_fen <> posted",
        lambda r: f"statement {r['day']}: closing {r['closing_fen']}, posted {r['posted']}",
    ),
    Finding(
        "union pool not conserved (contributions ≠ payouts + acceleration + balance + taken back)",
        "SELECT * FROM (SELECT"
        " (SELECT COALESCE(SUM(contribution_fen), 0) FROM union_pool_entry) AS gave,"
        f" ({_POSTED.format(kind='pool_out')}) AS paid,"
        f" ({_POSTED.format(kind='pool_accel')}) AS sped,"
        f" ({_POSTED.format(kind='pool_back')}) AS back, ({_BALANCE}) AS balance) AS t"
        " WHERE gave <> paid + sped + balance + back",
        lambda r: (
            f"contributed {r['gave']}, paid {r['paid']}, accelerated {r['sped']},"
            f" balance {r['balance']}, taken back {r['back']}"
        ),
    ),
    Finding(
        "union pool balance negative (paid out or taken back more than it held)",
        f"SELECT * FROM (SELECT ({_BALANCE}) AS balance) AS t WHERE balance < 0",
        lambda r: f"balance {r['balance']}",
    ),
    Finding(
        "union pool entry paid outside 0..quota or not as posted",
        "SELECT e.id, e.paid_fen, e.quota_fen, e.status, COALESCE(p.posted, 0) AS posted"
        f" FROM union_pool_entry e LEFT JOIN ({_PER_ENTRY}) AS p"
        " ON p.memo = 'pool_entry:' || CAST(e.id AS VARCHAR(20))"
        " WHERE e.paid_fen < 0 OR e.paid_fen > e.quota_fen"
        " OR (e.status = 'paid')"
        " <> (e.paid_fen = e.quota_fen AND e.status NOT IN ('refunded', 'over_ceiling'))"
        " OR e.paid_fen <> COALESCE(p.posted, 0)",
        lambda r: (
            f"pool entry {r['id']} ({r['status']}): paid {r['paid_fen']} of {r['quota_fen']},"
            f" posted {r['posted']}"
        ),
    ),
    Finding(
        "pool_in posting not the line's contribution less its acceleration",
        "SELECT e.id, e.contribution_fen - e.accelerated_out_fen AS due, p.amount"
        f" FROM union_pool_entry e LEFT JOIN posting p ON p.key = {key('pool_in', 'e.line_id')}"
        " WHERE COALESCE(p.amount, 0) <> e.contribution_fen - e.accelerated_out_fen",
        lambda r: f"pool entry {r['id']}: pool_in {r['amount']}, due {r['due']}",
    ),
    Finding(
        "union pool refund not as posted (take-back + cost = contribution)",
        "SELECT e.id, e.taken_back_fen, e.refund_cost_fen, e.contribution_fen,"
        " COALESCE(b.amount, 0) AS back, COALESCE(c.amount, 0) AS cost FROM union_pool_entry e"
        f" LEFT JOIN posting b ON b.key = {key('pool_back', 'e.line_id')}"
        f" LEFT JOIN posting c ON c.key = {key('pool_refund_cost', 'e.line_id')}"
        " WHERE COALESCE(b.amount, 0) <> e.taken_back_fen"
        " OR COALESCE(c.amount, 0) <> e.refund_cost_fen OR e.taken_back_fen < 0"
        " OR (e.refunded_at IS NULL AND e.taken_back_fen + e.refund_cost_fen <> 0)"
        " OR (e.refunded_at IS NOT NULL"
        "  AND e.taken_back_fen + e.refund_cost_fen <> e.contribution_fen)",
        lambda r: (
            f"pool entry {r['id']}: taken back {r['taken_back_fen']} (posted {r['back']}),"
            f" cost {r['refund_cost_fen']} (posted {r['cost']}), contributed {r['contribution_fen']}"
        ),
    ),
    Finding(
        "union pool statement take-backs not those it counted",
        "SELECT d.id, d.day, d.taken_back_fen, COALESCE(SUM(e.taken_back_fen), 0) AS counted"
        " FROM union_pool_day d LEFT JOIN union_pool_entry e ON e.taken_back_on = d.day"
        " GROUP BY d.id, d.day, d.taken_back_fen"
        " HAVING d.taken_back_fen <> COALESCE(SUM(e.taken_back_fen), 0)",
        lambda r: (
            f"statement {r['id']} ({r['day']}): {r['taken_back_fen']}, counted {r['counted']}"
        ),
    ),
    Finding(
        "union pool statement does not add up",
        "SELECT id, day FROM union_pool_day WHERE closing_fen <> opening_fen - accelerated_fen"
        " - taken_back_fen - paid_fen + (SELECT COALESCE(SUM(contribution_fen), 0)"
        "  FROM union_pool_entry e WHERE e.id <= union_pool_day.last_entry_id AND e.id >"
        "  COALESCE((SELECT MAX(d.last_entry_id) FROM union_pool_day d"
        "   WHERE d.day < union_pool_day.day), 0))",
        lambda r: f"statement {r['id']} ({r['day']})",
    ),
)


async def check_pool() -> list[str]:
    return await findings(POOL)
