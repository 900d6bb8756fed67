"""Operators and members (会员): the search, a member's card (profile and wallet) and statement,
and a manual adjustment (余额调整) of their balances with its reason."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.members.directory import (
    MAX_QUERY_CHARS,
    member_card,
    member_json,
    require_member,
    search_members,
)
from services.members.views import ASSETS, my_ledger
from services.operators.roles import Permission, adjustment_limit
from services.wallets.adjustments import BALANCES, MAX_AMOUNT, MAX_REASON_CHARS, adjust_balance
from web.auth import OPERATOR
from web.keys import SETTINGS
from web.operator_auth import IDENTITY
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice, query_text
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import ID, INT, LEDGER_LINE, NULL_INT, STRING, TIME, WALLET_REPLY, obj

routes = Registry()

ADJUSTMENT_BODY = obj(
    {
        "balance": {"type": "string", "enum": list(BALANCES), "description": "调整哪项余额"},
        "amount": {
            "type": "integer",
            "minimum": -MAX_AMOUNT,
            "maximum": MAX_AMOUNT,
            "description": "正数为增加，负数为扣减（现金单位：分）；不能为 0",
        },
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_REASON_CHARS,
            "description": "调整原因（记入操作日志，并告知会员）",
        },
        "request_id": {
            "type": "string",
            "minLength": 8,
            "maxLength": 64,
            "description": "本次请求的唯一编号：重试同一编号不会重复调整",
        },
    },
    required=["balance", "amount", "reason", "request_id"],
)
ADJUSTMENT_REPLY = obj(
    {
        "adjustment": obj(
            {
                "member_id": INT,
                "balance": STRING,
                "amount": INT,
                "reason": STRING,
                "operator": STRING,
                "posting_key": STRING,
                "balance_after": INT,
            }
        )
    }
)
ADMIN_MEMBER = obj(
    {
        "id": INT,
        "nickname": STRING,
        "avatar_url": STRING,
        "level": {**INT, "description": "会员等级（0：无等级）"},
        "referral_code": STRING,
        "referrer_id": NULL_INT,
        "created_at": TIME,
    }
)
MEMBER_CARD = obj(
    {
        **ADMIN_MEMBER["properties"],
        "team_level": {**INT, "description": "团队等级（0：无）"},
    }
)


@routes.get(
    "/api/admin/members",
    summary="运营：会员搜索（编号、昵称、推荐码、openid）",
    description="`q` matches a member id, referral code or openid exactly, or part of a "
    "nickname; without it every member. Newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    query_params={
        "q": {"type": "string", "maxLength": MAX_QUERY_CHARS, "description": "搜索内容"},
        **PAGE_PARAMS,
    },
    responses={200: Reply("会员", paged(ADMIN_MEMBER)), 400: Reply("查询参数无效")},
    permission=Permission.MEMBERS_VIEW,
)
async def admin_members(request: web.Request) -> web.Response:
    text = query_text(request, "q", limit=MAX_QUERY_CHARS)
    cursor, limit = page_args(request)
    page = await search_members(text, cursor=cursor, limit=limit)
    return page_reply(page.map(member_json))


@routes.get(
    "/api/admin/members/{id}",
    summary="运营：会员详情（资料与钱包余额）",
    tags=("admin",),
    auth="admin",
    path_params={"id": ID},
    responses={
        200: Reply("会员与钱包", obj({"member": MEMBER_CARD, "wallet": WALLET_REPLY})),
        404: Reply("会员不存在"),
    },
    permission=Permission.MEMBERS_VIEW,
)
async def admin_member(request: web.Request) -> web.Response:
    return web.json_response(await member_card(path_int(request, "id")))


@routes.get(
    "/api/admin/members/{id}/ledger",
    summary="运营：会员钱包流水（新的在前）",
    description="The member's statement as they read it (`GET /api/wallet/ledger`): every "
    "posting that moved one of their balances, signed as the member sees it. " + PAGING,
    tags=("admin",),
    auth="admin",
    path_params={"id": ID},
    query_params={
        **PAGE_PARAMS,
        "asset": {"type": "string", "enum": list(ASSETS), "description": "只看这一项余额"},
    },
    responses={200: Reply("流水", paged(LEDGER_LINE)), 400: Reply("分页参数或 asset 无效")},
    permission=Permission.MEMBERS_VIEW,
)
async def admin_member_ledger(request: web.Request) -> web.Response:
    asset = query_choice(request, "asset", ASSETS)
    cursor, limit = page_args(request)
    member_id = path_int(request, "id")
    await require_member(member_id)
    page = await my_ledger(member_id, asset=asset, cursor=cursor, limit=limit)
    return page_reply(page)


@routes.post(
    "/api/admin/members/{id}/adjustments",
    summary="运营：调整会员余额（现金、积分、爱心值），须填写原因",
    description="One posting keyed by `request_id`: retrying the same id changes nothing and "
    "answers the same adjustment. Taking back more than the member holds is refused (409).",
    tags=("admin",),
    auth="admin",
    permission=Permission.MONEY,
    body=ADJUSTMENT_BODY,
    body_example={
        "balance": "points",
        "amount": 500,
        "reason": "活动补发积分",
        "request_id": "adj-20261201-0001",
    },
    path_params={"id": ID},
    responses={
        200: Reply("已调整", ADJUSTMENT_REPLY),
        404: Reply("会员不存在"),
        409: Reply("余额不足，或该 request_id 已用于另一笔调整"),
    },
)
async def adjust_member_balance(request: web.Request) -> web.Response:
    body = request[BODY]
    done = await adjust_balance(
        path_int(request, "id"),
        balance=body["balance"],
        amount=body["amount"],
        reason=body["reason"],
        operator=request[OPERATOR],
        request_id=body["request_id"],
        now=utcnow(),
        limit=adjustment_limit(
            request[IDENTITY].role, request.app[SETTINGS].auth.finance_adjustment_limit
        ),
    )
    return web.json_response({"adjustment": done.__dict__})
