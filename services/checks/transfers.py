"""积分转让 and 爱心值释放 in the books. Each transfer has exactly its postings:
``points_transfer:<id>`` (its points, from the sender's points to the receiver's) and
``points_transfer_fee:<id>`` (its fee, from the sender's points to ``platform:points``) exactly
when its fee is not zero; no such posting without its transfer; no transfer to its own sender.
Each love-value release moves a positive amount from one member's frozen love value to the same
member's available love value, keyed ``love_release:<that member>:…``."""

from __future__ import annotations

from ledger.accounts import POINTS_ISSUED
from services.checks.report import Finding, account, findings, key

SENDER = account("member", "t.sender_id", "points")
RECEIVER = account("member", "t.receiver_id", "points")
STEPS = (  # (kind, amount column, when it must exist, credit)
    ("points_transfer", "t.points", "TRUE", RECEIVER),
    ("points_transfer_fee", "t.fee", "t.fee > 0", f"'{POINTS_ISSUED}'"),
)

TRANSFER = (
    *(
        Finding(
            f"{kind} posting wrong or missing",
            f"SELECT t.id, {amount} AS due, p.amount, p.debit, p.credit FROM points_transfer t"
            f" LEFT JOIN posting p ON p.key = {key(kind, 't.id')}"
            f" WHERE ({due} AND (p.id IS NULL OR p.amount <> {amount} OR p.debit <> {SENDER}"
            f" OR p.credit <> {credit} OR p.unit <> 'points')) OR (NOT ({due})"
            " AND p.id IS NOT NULL)",
            lambda r, kind=kind: (
                f"points transfer {r['id']} ({r['due']}): {kind} posting "
                + (
                    "missing"
                    if r["amount"] is None
                    else f"{r['amount']} {r['debit']} → {r['credit']}"
                )
            ),
        )
        for kind, amount, due, credit in STEPS
    ),
    *(
        Finding(
            f"{kind} posting without its transfer",
            f"SELECT p.id, p.key FROM posting p LEFT JOIN points_transfer t"
            f" ON {key(kind, 't.id')} = p.key WHERE p.kind = '{kind}' AND t.id IS NULL",
            lambda r: f"posting {r['id']} ({r['key']})",
        )
        for kind, _, _, _ in STEPS
    ),
    Finding(
        "points transfer to its own sender",
        "SELECT id FROM points_transfer WHERE sender_id = receiver_id",
        lambda r: f"points transfer {r['id']}",
    ),
    Finding(
        "love_release posting not from a member's frozen to their available love value",
        "SELECT id, key, debit, credit FROM posting WHERE kind = 'love_release' AND NOT"
        " (unit = 'love' AND debit LIKE 'member:%:love_frozen'"
        " AND credit = REPLACE(debit, ':love_frozen', ':love_available')"
        " AND key LIKE 'love_release:' || SUBSTR(debit, 8, LENGTH(debit) - 19) || ':%')",
        lambda r: f"posting {r['id']} ({r['key']}): {r['debit']} → {r['credit']}",
    ),
)


async def check_transfers() -> list[str]:
    return await findings(TRANSFER)
