"""The member's own profile, balances and referral QR code."""

from __future__ import annotations

import hashlib

from aiohttp import web

from miniapp_api.auth import MEMBER_ID
from miniapp_api.errors import ApiError
from miniapp_api.keys import CACHE, OPTIONS, WECHAT
from miniapp_api.registry import Registry, Reply
from miniapp_api.views.common import member_json, wallet_json
from miniapp_api.views.schemas import ME_REPLY
from models import Member, Wallet

routes = Registry()


async def current_member(request: web.Request) -> Member:
    member = await Member.get_or_none(id=request[MEMBER_ID])
    if member is None:  # a valid token for a member that no longer exists
        raise ApiError(401, "invalid_token", "登录状态无效，请重新登录")
    return member


@routes.get(
    "/api/me",
    summary="我的资料与钱包余额",
    tags=("member",),
    auth="member",
    responses={200: Reply("会员资料与余额", ME_REPLY)},
)
async def me(request: web.Request) -> web.Response:
    member = await current_member(request)
    wallet = await Wallet.get_or_none(member_id=member.id)
    return web.json_response({"member": member_json(member), "wallet": wallet_json(wallet)})


def image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


@routes.get(
    "/api/me/referral-qr",
    summary="我的邀请小程序码（scene 为推荐码）",
    description="An unlimited mini-program code (getwxacodeunlimit) whose scene is the member's "
    "referral code, opening the configured page; cached (Redis, else in-process LRU).",
    tags=("member",),
    auth="member",
    responses={
        200: Reply("小程序码图片", content_type="image/png"),
        502: Reply("微信返回错误"),
        503: Reply("微信服务不可达"),
    },
)
async def referral_qr(request: web.Request) -> web.Response:
    member = await current_member(request)
    options = request.app[OPTIONS]
    scene = member.referral_code
    fingerprint = hashlib.sha256(
        f"{options.referral_page}|{options.referral_env_version}".encode()
    ).hexdigest()[:16]
    key = f"referral-qr:{scene}:{fingerprint}"
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
    return web.Response(
        body=image,
        content_type=image_type(image),
        headers={"Cache-Control": "private, max-age=86400"},
    )
