"""The union pool as a member reads it beside an order (我的订单详情): each line's place in the
pool — 排队号 (the entry's id), the waiting entries ahead, the quota and what it has been paid —
and, when the ceiling held it out or a refund ended it, why, in Chinese. Members never see a
line's profit or contribution (the platform's cost prices)."""

from __future__ import annotations

from typing import Any

from models import PoolEntry, PoolEntryStatus
from services.pool.places import pool_places

STATUS_TEXT = {
    PoolEntryStatus.WAITING: "工会排队中",
    PoolEntryStatus.PAID: "分红额度已全部到账",
    PoolEntryStatus.REFUNDED: "订单已退款，工会排队已失效",
    PoolEntryStatus.OVER_CEILING: "下单时工会排队预计等待超过上限，本单未进入排队（利润仍进入返利池）",
}


async def order_pool_entries(member_id: int, order_id: int) -> list[dict[str, Any]]:
    """The member's order's pool entries, one per settled line of a pool order, oldest first."""
    entries = await PoolEntry.filter(member_id=member_id, order_id=order_id).order_by("id")
    places = await pool_places([e.id for e in entries if e.status == PoolEntryStatus.WAITING])
    out = []
    for e in entries:
        ahead = places[e.id].ahead if e.id in places else None
        out.append({
            "id": e.id, "line_id": e.line_id, "status": e.status.value,  # type: ignore[attr-defined]
            "status_text": STATUS_TEXT[e.status], "quota_fen": e.quota_fen, "paid_fen": e.paid_fen,
            "ahead": ahead, "created_at": e.created_at.isoformat(),
        })  # fmt: skip
    return out
