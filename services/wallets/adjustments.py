"""Manual adjustments (余额调整): an operator gives a member cash, points or love value, or takes
some back, by hand and with a reason — a correction, a goodwill credit, a mistaken payout.

Each adjustment is one posting keyed by the operator's request id (``adjustment:<request id>``),
so a retried request changes nothing the second time. Cash comes from, or goes back to,
``platform:adjustments`` (what the platform gave away by hand); points and love value from
their issuers. Taking back more than the member holds is refused (the wallet row is locked, so
two adjustments cannot race past it). The operator's name, the reason and the balances before
and after go to the operation log, and the member is told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.balances import balances_of
from ledger.postings import Posting, post, posted
from models import Member
from rebate.errors import InvalidAmount, InvalidSetting, NotAllowed
from services import audit
from services.errors import Conflict, NotFound
from services.outbox import Event, emit

BALANCES = ("cash", "points", "love_available", "love_frozen")
ISSUERS = {
    "cash": accounts.ADJUSTMENTS,
    "points": accounts.POINTS_ISSUED,
    "love_available": accounts.LOVE_ISSUED,
    "love_frozen": accounts.LOVE_ISSUED,
}
MAX_AMOUNT = 100_000_000  # one adjustment: 1,000,000.00 yuan or 100,000,000 points
MAX_REASON_CHARS = 80
REQUEST_ID = re.compile(r"^[0-9A-Za-z_-]{8,64}$")


@dataclass(frozen=True)
class Adjustment:
    member_id: int
    balance: str
    amount: int  # + given, − taken back
    reason: str
    operator: str
    posting_key: str
    balance_after: int


async def adjust_balance(
    member_id: int,
    *,
    balance: str,
    amount: int,
    reason: str,
    operator: str,
    request_id: str,
    now: datetime,
    limit: int | None = None,
) -> Adjustment:
    """Give (``amount`` > 0) or take back (< 0) ``amount`` of one of the member's balances;
    ``limit``: the most one adjustment may move, for the operator's role (None: no limit).
    Refused, with nothing changed: an unknown balance, a zero or oversized amount, a missing
    reason, a malformed request id, an unknown member, or taking back more than they hold. The
    same request id again answers with the adjustment it made (``Conflict`` if it was for
    something else)."""
    reason = _checked(balance, amount, reason, request_id)
    if limit is not None and abs(amount) > limit:
        raise NotAllowed(f"单笔调整不能超过本角色的上限 {limit}（请由所有者操作）", field="amount")
    key = f"adjustment:{request_id}"
    async with in_transaction() as conn:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("会员不存在", field="member_id")
        held = (await balances_of(member_id, conn, lock=True)).as_dict()[_column(balance)]
        earlier = await posted(conn, key)
        if earlier is not None:
            return _same_request(earlier, member_id, balance, amount, reason, operator, held)
        if held + amount < 0:
            raise NotAllowed(f"余额不足：当前 {held}，不能扣减 {-amount}", field="amount")
        await post(conn, [_posting(key, member_id, balance, amount, reason)], now)
        await audit.record(
            conn, operator=operator, section="wallet_adjustment", target=f"member:{member_id}",
            old={"balance": balance, "value": held},
            new={"balance": balance, "value": held + amount, "amount": amount, "reason": reason,
                 "request_id": request_id},
            now=now,
        )  # fmt: skip
        told = {
            "balance": balance,
            "amount": amount,
            "reason": reason,
            "balance_after": held + amount,
        }
        await emit(conn, [Event("balance_adjusted", member_id, told)], now)
    return Adjustment(member_id, balance, amount, reason, operator, key, held + amount)


def _checked(balance: str, amount: int, reason: str, request_id: str) -> str:
    if balance not in BALANCES:
        raise InvalidSetting(f"balance 必须是以下之一：{'、'.join(BALANCES)}", field="balance")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise InvalidAmount("调整数量必须是非零整数（现金单位：分）", field="amount")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidAmount(f"单次调整不能超过 {MAX_AMOUNT}", field="amount")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise InvalidSetting(f"调整原因必须是 1–{MAX_REASON_CHARS} 个字", field="reason")
    if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
        raise InvalidSetting("request_id 必须是 8–64 位字母、数字、- 或 _", field="request_id")
    return reason


def _column(balance: str) -> str:
    return "cash_fen" if balance == "cash" else balance


def _posting(key: str, member_id: int, balance: str, amount: int, reason: str) -> Posting:
    member, issuer = accounts.member(member_id, balance), ISSUERS[balance]
    debit, credit = (issuer, member) if amount > 0 else (member, issuer)
    unit = accounts.MEMBER_BALANCES[balance].value
    return Posting(key, "adjustment", debit, credit, unit, abs(amount), memo=reason)


def _same_request(
    earlier: Posting, member_id: int, balance: str, amount: int, reason: str, operator: str,
    held: int,
) -> Adjustment:  # fmt: skip
    """A retried request: the adjustment it made, if it asked for the same thing."""
    if earlier != _posting(earlier.key, member_id, balance, amount, reason):
        raise Conflict("该 request_id 已用于另一笔调整", field="request_id")
    return Adjustment(member_id, balance, amount, reason, operator, earlier.key, held)
