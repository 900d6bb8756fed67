"""Withdrawals in the books: each has exactly its hold posting (``withdrawal_hold:<id>``, its
amount from the member's cash to the withdrawals held); a release posting back exactly when it
was rejected or its transfer definitely failed; a paid posting (from the withdrawals held out
through WeChat Pay) exactly when it succeeded; no such posting without its withdrawal; the
withdrawals held are exactly those still open; a succeeded one's bill is SUCCESS and a failed
one's FAIL or CANCELLED."""

from __future__ import annotations

from ledger.accounts import WECHAT_PAY, WITHDRAWALS
from services.checks.report import Finding, account, findings, key

MEMBER_CASH = account("member", "w.member_id", "cash")
STEPS = (  # (step, when it must exist, debit, credit)
    ("hold", "TRUE", MEMBER_CASH, f"'{WITHDRAWALS}'"),
    ("release", "w.status IN ('rejected', 'failed')", f"'{WITHDRAWALS}'", MEMBER_CASH),
    ("paid", "w.status = 'succeeded'", f"'{WITHDRAWALS}'", f"'{WECHAT_PAY}'"),
)

WITHDRAWAL = (
    *(
        Finding(
            f"withdrawal_{step} posting wrong or missing",
            "SELECT w.id, w.status, w.amount_fen, p.amount, p.debit, p.credit FROM withdrawal w"
            f" LEFT JOIN posting p ON p.key = {key('withdrawal_' + step, 'w.id')}"
            f" WHERE ({due} AND (p.id IS NULL OR p.amount <> w.amount_fen OR p.debit <> {debit}"
            f" OR p.credit <> {credit})) OR (NOT ({due}) AND p.id IS NOT NULL)",
            lambda r, step=step: (
                f"withdrawal {r['id']} ({r['status']}, {r['amount_fen']} fen): {step} posting"
                + (
                    " missing"
                    if r["amount"] is None
                    else f" {r['amount']} {r['debit']} → {r['credit']}"
                )
            ),
        )
        for step, due, debit, credit in STEPS
    ),
    *(
        Finding(
            f"withdrawal_{step} posting without its withdrawal",
            f"SELECT p.id, p.key FROM posting p LEFT JOIN withdrawal w"
            f" ON {key('withdrawal_' + step, 'w.id')} = p.key"
            f" WHERE p.kind = 'withdrawal_{step}' AND w.id IS NULL",
            lambda r: f"posting {r['id']} ({r['key']})",
        )
        for step, _, _, _ in STEPS
    ),
    Finding(
        f"{WITHDRAWALS} ≠ the withdrawals still open",
        "SELECT open, books FROM (SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM withdrawal"
        " WHERE status IN ('requested', 'paying')) AS open, (SELECT COALESCE(SUM(CASE WHEN"
        f" credit = '{WITHDRAWALS}' THEN amount ELSE -amount END), 0) FROM posting WHERE"
        f" credit = '{WITHDRAWALS}' OR debit = '{WITHDRAWALS}') AS books) AS t WHERE open <> books",
        lambda r: f"the books hold {r['books']}, open withdrawals are {r['open']}",
    ),
    Finding(
        "withdrawal state disagrees with its bill",
        "SELECT id, status, transfer_state FROM withdrawal WHERE (status = 'succeeded'"
        " AND transfer_state <> 'SUCCESS') OR (status = 'failed'"
        " AND transfer_state NOT IN ('FAIL', 'CANCELLED'))",
        lambda r: (
            f"withdrawal {r['id']} is {r['status']} but its bill is"
            f" {r['transfer_state'] or 'unknown'}"
        ),
    ),
)


async def check_withdrawals() -> list[str]:
    return await findings(WITHDRAWAL)
