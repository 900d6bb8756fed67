"""What several views share: the caller's IP, the clock, and the JSON shapes of resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from miniapp_api.keys import OPTIONS
from models import Member, Order, OrderLine, Refund, Wallet


def client_ip(request: web.Request) -> str:
    """The peer address, or — behind a reverse proxy the operator trusts
    (``ApiOptions.trust_forwarded_for``) — the address that proxy appended last."""
    if request.app[OPTIONS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote or "127.0.0.1"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def member_json(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "nickname": member.nickname,
        "avatar_url": member.avatar_url,
        "level": member.level,
        "referral_code": member.referral_code,
        "referrer_id": member.referrer_id,  # type: ignore[attr-defined]
        "created_at": iso(member.created_at),
    }


def wallet_json(wallet: Wallet | None) -> dict[str, int]:
    if wallet is None:
        return {"cash_fen": 0, "points": 0, "love_available": 0, "love_frozen": 0}
    return {
        "cash_fen": wallet.cash_fen,
        "points": wallet.points,
        "love_available": wallet.love_available,
        "love_frozen": wallet.love_frozen,
    }


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "line_id": refund.line_id,  # type: ignore[attr-defined]
        "out_refund_no": refund.out_refund_no,
        "amount_fen": refund.amount_fen,
        "status": str(refund.status),
        "requested_at": iso(refund.requested_at),
        "completed_at": iso(refund.completed_at),
    }


def order_json(order: Order, lines: list[OrderLine], refunds: list[Refund]) -> dict[str, Any]:
    return {
        "id": order.id,
        "source": str(order.source),
        "status": str(order.status),
        "store_id": order.store_id,  # type: ignore[attr-defined]
        "out_trade_no": order.out_trade_no,
        "total_fen": order.total_fen,
        "deduction_fen": order.deduction_fen,
        "paid_fen": order.paid_fen,
        "created_at": iso(order.created_at),
        "paid_at": iso(order.paid_at),
        "completed_at": iso(order.completed_at),
        "lines": [
            {
                "id": line.id,
                "product_id": line.product_id,  # type: ignore[attr-defined]
                "quantity": line.quantity,
                "paid_fen": line.paid_fen,
                "deduction_fen": line.deduction_fen,
                "status": str(line.status),
            }
            for line in lines
        ],
        "refunds": [refund_json(refund) for refund in refunds],
    }
