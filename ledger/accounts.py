"""The accounts of the platform's books (SPEC §2): every holder of value has one per unit.

An account is named by text, so a posting needs no account row to refer to:

| account | unit | holds |
|---|---|---|
| ``member:<id>:cash`` | cash (fen) | the member's rebate wallet (返现钱包) |
| ``member:<id>:points`` | points | the member's points (积分) |
| ``member:<id>:love_available`` / ``member:<id>:love_frozen`` | love | love value (爱心值), available or frozen |
| ``queue:<id>`` | cash | a queue's pool: its extractions in, its payouts, withheld and unallocated amounts out |
| ``store:<id>`` | cash | what the platform owes a store (门店应付): credits in, statements paid out |
| ``platform:sales`` | cash | what members paid for orders, less what the platform passed on |
| ``platform:wechat_pay`` | cash | WeChat Pay clearing: money collected through WeChat Pay, not yet paid out |
| ``platform:withheld`` | cash | extractions kept while rewards were paused (队列奖励暂停) |
| ``platform:unallocated`` | cash | extractions no waiting entry could take |
| ``platform:cost`` | cash | what refunds of settled lines cost the platform (their extractions stay paid) |
| ``platform:commissions`` | cash | commissions earned and still frozen |
| ``platform:withdrawals`` | cash | withdrawals held, neither paid nor released yet |
| ``platform:adjustments`` | cash | cash an operator gave members or took back by hand (with a reason) |
| ``platform:double_payments`` | cash | second payments of an already paid order, owed back to their payers until refunded |
| ``platform:points`` / ``platform:love`` | points / love | the issuer of points and love value |
| ``platform:union_pool`` | cash | 工会返利池: the union pool's balance — contributions in, daily payouts and refunds' take-backs out |

Value moves from the debit account to the credit account of a posting. An account's balance is
Σ what its postings credit minus Σ what they debit: what the platform owes is positive (a member's
wallet, a store's payable), what it holds is negative (money at WeChat Pay, points issued). Every
posting adds as much to one account as it takes from another, so the balances of all accounts of
one unit sum to zero, and ``queue-rebate check`` proves it.
"""

from enum import StrEnum

from models import Asset


class Unit(StrEnum):
    """What an amount counts: fen of cash, points, or love value."""

    CASH = "cash"
    POINTS = "points"
    LOVE = "love"


# A member's balances (models.Asset) and the unit each holds.
MEMBER_BALANCES: dict[str, Unit] = {
    Asset.CASH: Unit.CASH,
    Asset.POINTS: Unit.POINTS,
    Asset.LOVE_AVAILABLE: Unit.LOVE,
    Asset.LOVE_FROZEN: Unit.LOVE,
}

SALES = "platform:sales"
WECHAT_PAY = "platform:wechat_pay"
WITHHELD = "platform:withheld"
UNALLOCATED = "platform:unallocated"
COST = "platform:cost"
COMMISSIONS = "platform:commissions"
WITHDRAWALS = "platform:withdrawals"
ADJUSTMENTS = "platform:adjustments"
DOUBLE_PAYMENTS = "platform:double_payments"
POINTS_ISSUED = "platform:points"
LOVE_ISSUED = "platform:love"
UNION_POOL = "platform:union_pool"

PLATFORM: dict[str, Unit] = {
    SALES: Unit.CASH,
    WECHAT_PAY: Unit.CASH,
    WITHHELD: Unit.CASH,
    UNALLOCATED: Unit.CASH,
    COST: Unit.CASH,
    COMMISSIONS: Unit.CASH,
    WITHDRAWALS: Unit.CASH,
    ADJUSTMENTS: Unit.CASH,
    DOUBLE_PAYMENTS: Unit.CASH,
    POINTS_ISSUED: Unit.POINTS,
    LOVE_ISSUED: Unit.LOVE,
    UNION_POOL: Unit.CASH,
}


def member(member_id: int, balance: str = "cash") -> str:
    """A member's account for one of MEMBER_BALANCES."""
    if balance not in MEMBER_BALANCES:
        raise ValueError(f"no member balance {balance!r}")
    return f"member:{member_id}:{balance}"


def queue(queue_id: int) -> str:
    return f"queue:{queue_id}"


def store(store_id: int) -> str:
    return f"store:{store_id}"


def unit_of(account: str) -> Unit:
    """The unit an account holds; ValueError for a name that is no account."""
    if account in PLATFORM:
        return PLATFORM[account]
    kind, _, rest = account.partition(":")
    owner, _, balance = rest.partition(":")
    if not owner.isdigit() or owner.startswith("0"):
        raise ValueError(f"not an account: {account!r}")
    if kind == "member" and balance in MEMBER_BALANCES:
        return MEMBER_BALANCES[balance]
    if kind in ("queue", "store") and not balance:
        return Unit.CASH
    raise ValueError(f"not an account: {account!r}")


def member_balance(account: str) -> tuple[int, str] | None:
    """(member id, balance) of a member's account, None for any other account."""
    if not account.startswith("member:"):
        return None
    _, owner, balance = account.split(":")
    return int(owner), balance
