"""兑换 (SPEC §7): a waiting entry's remaining entitlement becomes points or love value.

``remaining × exchange ratio`` (floored: the fraction stays with the platform, SPEC §2) is
credited in one ledger line keyed ``exchange:<entry_id>``; love value goes to the available or
the frozen balance per 爱心值奖励冻结. The entry leaves the queue (``exchanged``).

Everything happens under the queue's lock, the lock its writer holds while paying: a payout and
an exchange of the same entry are serialised, so each fen of the entitlement is either paid in
cash before the exchange or exchanged, never both.
"""

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from models import Asset, EntryStatus
from rebate.errors import NotAllowed
from rebate.money import apply_bp
from runtime.sql import execute
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
        ratio, asset, column = base.exchange_points_bp, Asset.POINTS, "points"
    elif base.love_frozen:
        ratio, asset, column = base.exchange_love_bp, Asset.LOVE_FROZEN, "love_frozen"
    else:
        ratio, asset, column = base.exchange_love_bp, Asset.LOVE_AVAILABLE, "love_available"
    async with in_transaction() as conn:
        entry = await lock_member_entry(conn, member_id, entry_id)
        if entry["status"] != EntryStatus.WAITING.value:
            raise NotAllowed("只有排队中的权益可以兑换", field="entry_id")
        remaining = int(entry["entitlement_fen"]) - int(entry["paid_fen"])
        amount = apply_bp(remaining, ratio)
        if amount <= 0:
            raise NotAllowed("按当前兑换比例兑换不到任何数量", field="to")
        await execute(
            conn,
            "INSERT INTO ledger_line (member_id, asset, amount, kind, key, order_id, entry_id,"
            " memo, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                member_id,
                asset.value,
                amount,
                "exchange",
                f"exchange:{entry_id}",
                entry["order_id"],
                entry_id,
                f"{remaining} 分待返权益兑换",
                now,
            ],
        )
        await execute(
            conn,
            "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
            " VALUES ($1, 0, 0, 0, 0) ON CONFLICT (member_id) DO NOTHING",
            [member_id],
        )
        await execute(
            conn,
            f"UPDATE wallet SET {column} = {column} + $1 WHERE member_id = $2",
            [amount, member_id],
        )
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
        result = ExchangeResult(entry_id, to, asset.value, remaining, ratio, amount)
        await execute(
            conn,
            "INSERT INTO outbox_event (kind, member_id, payload, created_at) VALUES ($1, $2, $3, $4)",
            ["entry_exchanged", member_id, json.dumps(asdict(result)), now],
        )
    return result
