"""What several views share: the caller's IP, a mini-program code reply, the WeChat Pay client,
and the JSON shapes of resources."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from aiohttp import web

from models import Member, MerchantApplication, Order, OrderLine, Refund
from services.members.levels import name_of
from web.errors import ApiError
from web.keys import CACHE, OPTIONS, WECHAT
from web.schemas import FORM_FIELDS, INVITE_CODE_HEADER, INVITE_QR
from wechat.gateway import PayGateway


def client_ip(request: web.Request) -> str:
    """The client's address: the TCP peer's, or — when the peer is a reverse proxy the operator
    trusts (``[server] trusted_proxies``) — the last X-Forwarded-For hop that is not itself a
    trusted proxy (a client can write anything before the hops the proxies append). From any
    other peer the header is ignored."""
    peer = request.remote or "127.0.0.1"
    options = request.app[OPTIONS]
    if not options.trusts(peer):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not options.trusts(hop):
            return hop
    return hops[0] if hops else peer


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def member_json(member: Member) -> dict[str, Any]:
    """A member's profile; ``level_name`` is their 会员等级's (null for none: read nothing)."""
    return {
        "id": member.id,
        "nickname": member.nickname,
        "avatar_url": member.avatar_url,
        "level": member.level,
        "level_name": await name_of(member.level),
        "referral_code": member.referral_code,
        "referrer_id": member.referrer_id,  # type: ignore[attr-defined]
        "created_at": iso(member.created_at),
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
        "deduction_points": order.deduction_points,
        "deduction_love": order.deduction_love,
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


async def mini_program_code(request: web.Request, scene: str, *, kind: str) -> web.Response:
    """The unlimited mini-program code for ``scene`` on the referral page, cached under
    ``<kind>:<scene>:<page fingerprint>`` (Redis, else the in-process LRU), exactly as the
    referral QR (``miniapp_api.views.members``, kind ``referral-qr``)."""
    options = request.app[OPTIONS]
    fingerprint = hashlib.sha256(
        f"{options.referral_page}|{options.referral_env_version}".encode()
    ).hexdigest()[:16]
    key = f"{kind}:{scene}:{fingerprint}"
    cache = request.app[CACHE]
    image = await cache.get(key)
    if image is None:
        image = await request.app[WECHAT].unlimited_wxacode(
            scene=scene,
            page=options.referral_page,
            check_path=options.referral_check_path,
            env_version=options.referral_env_version,
        )
        await cache.put(key, image, options.qr_cache_ttl)
    headers = {"Cache-Control": "private, max-age=86400"}
    if kind == INVITE_QR:  # the invite as text too: what a merchant types when applying
        headers[INVITE_CODE_HEADER] = scene
    return web.Response(body=image, content_type=image_type(image), headers=headers)


def image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


def pay_gateway(request: web.Request) -> PayGateway:
    pay = request.app[WECHAT].pay
    if pay is None:
        raise ApiError(503, "payment_unavailable", "商城暂未开通微信支付")
    return pay


def application_json(app: MerchantApplication) -> dict[str, Any]:
    return {
        "id": app.id,
        "status": str(app.status),
        **{name: getattr(app, name) for name in FORM_FIELDS},
        "inviter_id": app.inviter_id,  # type: ignore[attr-defined]
        "commission_bp": app.commission_bp,
        "store_id": app.store_id,  # type: ignore[attr-defined]
        "reject_reason": app.reject_reason,
        "created_at": iso(app.created_at),
        "decided_at": iso(app.decided_at),
    }
