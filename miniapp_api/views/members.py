"""The member's own profile, balances, 会员等级 and referral QR code."""

from __future__ import annotations

from aiohttp import web

from ledger.balances import balances_of
from models import Member
from services.clock import utcnow
from services.members.accounts import MAX_AVATAR_URL, MAX_NICKNAME, update_profile
from services.members.level_changes import level_progress
from web.auth import MEMBER_ID
from web.common import member_json, mini_program_code
from web.errors import ApiError
from web.registry import BODY, Registry, Reply
from web.schemas import ME_REPLY, MY_LEVEL_REPLY, obj

routes = Registry()

PROFILE_BODY = obj(
    {
        "nickname": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NICKNAME,
            "pattern": "^[^\\u0000-\\u001f\\u007f]+$",
            "description": "昵称（首尾空白去掉后 1–32 个字符，不含控制字符）",
        },
        "avatar_url": {
            "type": "string",
            "maxLength": MAX_AVATAR_URL,
            "pattern": "^(https?://\\S+)?$",
            "description": "头像图片地址（http/https；空字符串：不用头像）",
        },
    }
)


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
    return await me_reply(await current_member(request))


async def me_reply(member: Member) -> web.Response:
    wallet = await balances_of(member.id)
    return web.json_response({"member": await member_json(member), "wallet": wallet.as_dict()})


@routes.route(
    "PATCH",
    "/api/me",
    summary="修改我的资料（昵称、头像，只需给出要改的项）",
    description="Answers like `GET /api/me`. A nickname is trimmed; control characters (NUL "
    "included) are refused, as is an avatar that is not an http(s) URL — each a 400 naming "
    "the field, with nothing changed.",
    tags=("member",),
    auth="member",
    body=PROFILE_BODY,
    responses={200: Reply("修改后的资料与余额", ME_REPLY), 400: Reply("昵称或头像无效")},
)
async def edit_me(request: web.Request) -> web.Response:
    member = await current_member(request)
    body = request[BODY]
    changed = await update_profile(
        member.id, nickname=body.get("nickname"), avatar_url=body.get("avatar_url")
    )
    return await me_reply(changed)


@routes.get(
    "/api/me/level",
    summary="我的会员等级：当前等级、下一等级及升级条件、距下一等级的进度",
    description="`next` is the lowest level above mine that is reached automatically (null: "
    "none); `progress` counts my completed orders and their cash paid (refunded lines "
    "excepted) within its window. Levels rise when an order completes, never fall by "
    "themselves; `reached` true: the next completed order raises me.",
    tags=("member",),
    auth="member",
    responses={200: Reply("会员等级与进度", MY_LEVEL_REPLY)},
)
async def my_level(request: web.Request) -> web.Response:
    member = await current_member(request)
    return web.json_response(await level_progress(member.id, utcnow()))


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
    return await mini_program_code(request, member.referral_code, kind="referral-qr")
