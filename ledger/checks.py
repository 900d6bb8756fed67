"""The books balance (SPEC §2): checks of the ledger alone, for ``queue-rebate check``.

- Every posting moves a positive amount between two different accounts that both hold its unit.
- For each unit, the balances of all accounts sum to zero: value only ever moves, it is never
  made or lost (the platform's issuing accounts carry what it has issued).
- Every member's cached balances equal their accounts' balances, and none is negative.

What each business area's postings must say (a queue's pool against its extractions, a store's
payable against its credits …) is checked by ``services.checks``.
"""

from __future__ import annotations

from tortoise import connections

from ledger.accounts import member_balance, unit_of
from ledger.balances import account_balances
from ledger.postings import WALLET_ORDER
from runtime.sql import fetch

LIMIT = 20  # problems reported per check; the count says how many there were


def reported(title: str, items: list[str]) -> list[str]:
    """At most LIMIT problems under ``title``, and how many more there were."""
    out = [f"{title}: {item}" for item in items[:LIMIT]]
    if len(items) > LIMIT:
        out.append(f"{title}: … and {len(items) - LIMIT} more")
    return out


async def check_books() -> list[str]:
    conn = connections.get("default")
    malformed = await fetch(
        conn,
        "SELECT id, key, amount, debit, credit FROM posting WHERE amount <= 0 OR debit = credit",
    )
    problems = reported(
        "posting malformed",
        [f"{r['key']} moves {r['amount']} from {r['debit']} to {r['credit']}" for r in malformed],
    )
    problems += await _units_match()
    balances = await account_balances(conn)
    problems += _sums_to_zero(balances)
    problems += await _wallets_match(balances)
    return problems


async def _units_match() -> list[str]:
    rows = await fetch(
        connections.get("default"),
        "SELECT DISTINCT debit AS account, unit FROM posting"
        " UNION SELECT DISTINCT credit AS account, unit FROM posting",
    )
    wrong = []
    for r in rows:
        try:
            holds = unit_of(r["account"])
        except ValueError:
            wrong.append(f"{r['account']} is not an account")
            continue
        if holds != r["unit"]:
            wrong.append(f"{r['account']} holds {holds}, a posting moves {r['unit']} through it")
    return reported("posting between accounts of another unit", wrong)


def _sums_to_zero(balances: dict[str, int]) -> list[str]:
    totals: dict[str, int] = {}
    for account, balance in balances.items():
        try:
            unit = unit_of(account)
        except ValueError:
            continue  # reported by _units_match
        totals[unit] = totals.get(unit, 0) + balance
    return [f"the books do not sum to zero: {unit} accounts sum to {total}"
            for unit, total in sorted(totals.items()) if total != 0]  # fmt: skip


async def _wallets_match(balances: dict[str, int]) -> list[str]:
    derived: dict[int, list[int]] = {}
    for account, balance in balances.items():
        try:
            unit_of(account)
        except ValueError:
            continue  # reported by _units_match
        owner = member_balance(account)
        if owner is not None:
            derived.setdefault(owner[0], [0, 0, 0, 0])[WALLET_ORDER.index(owner[1])] = balance
    rows = await fetch(
        connections.get("default"),
        "SELECT member_id, cash_fen, points, love_available, love_frozen FROM wallet",
    )
    cached = {int(r["member_id"]): [int(r[c]) for c in _COLUMNS] for r in rows}
    wrong: list[str] = []
    for member_id in sorted(set(derived) | set(cached)):
        want, have = derived.get(member_id, [0, 0, 0, 0]), cached.get(member_id)
        if have is None:
            wrong.append(f"member {member_id} has postings but no wallet")
            continue
        wrong += _differences(member_id, want, have)
    return reported("wallet ≠ its accounts in the ledger", wrong)


_COLUMNS = ("cash_fen", "points", "love_available", "love_frozen")


def _differences(member_id: int, want: list[int], have: list[int]) -> list[str]:
    return [
        f"member {member_id} {name} balance {h}, postings sum to {w}"
        + (" (negative)" if h < 0 else "")
        for name, w, h in zip(WALLET_ORDER, want, have, strict=True)
        if w != h or h < 0
    ]
