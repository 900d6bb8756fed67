"""兑换 (SPEC §7): a waiting entry's remaining entitlement becomes points or love value.

``remaining × exchange ratio`` (floored: the fraction stays with the platform, SPEC §2) is
credited in one posting keyed ``exchange:<entry_id>``, from the platform's points or love value
issuer to the member; love value goes to the available or the frozen balance per 爱心值奖励冻结.
The entry leaves the queue (``exchanged``).

Everything happens under the queue's lock, the lock its writer holds while paying: a payout and
an exchange of the same entry are serialised, so each fen of the entitlement is either paid in
cash before the exchange or exchanged, never both.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from ledger import accounts
from ledger.postings import Posting, post
from models import Asset, EntryStatus
from rebate.errors import NotAllowed
from rebate.money import apply_bp
from runtime.sql import execute
from services.outbox import Event, emit
from services.queues.lottery import lock_member_entry
from services.settings.base import load_base

TARGETS = ("points", "love")


@dataclass(frozen=True)
class ExchangeResult:
    entry_id: int
    to: str  # points | love
    asset: str  # points | love_available | love_frozen
    remaining_fen: int  # what the entry was still owed, forfeited to the exchange
    ratio_bp: int
    amount: int  # points or love value credited


async def exchange_entry(
    member_id: int, entry_id: int, to: str, *, now: datetime
) -> ExchangeResult:
    """Exchange ``member_id``'s waiting entry for points (``to="points"``) or love value
    (``to="love"``). Refused, with nothing changed: an unknown target, not their entry
    (``NotFound``), not waiting, or an exchange that would credit nothing (ratio 0)."""
    if to not in TARGETS:
        raise NotAllowed("兑换方式只能是积分（points）或爱心值（love）", field="to")
    base = await load_base()
    if to == "points":
        ratio, balance = base.exchange_points_bp, Asset.POINTS
    else:
        ratio = base.exchange_love_bp
        balance = Asset.LOVE_FROZEN if base.love_frozen else Asset.LOVE_AVAILABLE
    async with in_transaction() as conn:
        entry = await lock_member_entry(conn, member_id, entry_id)
        if entry["status"] != EntryStatus.WAITING.value:
            raise NotAllowed("只有排队中的权益可以兑换", field="entry_id")
        remaining = int(entry["entitlement_fen"]) - int(entry["paid_fen"])
        amount = apply_bp(remaining, ratio)
        if amount <= 0:
            raise NotAllowed("按当前兑换比例兑换不到任何数量", field="to")
        issuer = accounts.POINTS_ISSUED if to == "points" else accounts.LOVE_ISSUED
        posting = Posting(
            f"exchange:{entry_id}", "exchange", issuer, accounts.member(member_id, balance),
            accounts.MEMBER_BALANCES[balance].value, amount, entry["order_id"], entry_id, None,
            f"{remaining} 分待返权益兑换",
        )  # fmt: skip
        await post(conn, [posting], now)
        await execute(
            conn,
            "UPDATE entry SET status = $1, points = $2, updated_at = $3 WHERE id = $4",
            [EntryStatus.EXCHANGED.value, amount if to == "points" else 0, now, entry_id],
        )
        await execute(
            conn,
            "UPDATE queue SET waiting_count = waiting_count - 1 WHERE id = $1",
            [entry["queue_id"]],
        )
        result = ExchangeResult(entry_id, to, balance.value, remaining, ratio, amount)
        await emit(conn, [Event("entry_exchanged", member_id, asdict(result))], now)
    return result
