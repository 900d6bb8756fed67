"""What an operator looks things up by: merchant invites as text codes, stores with their
cashier's id, queues with their key and a queue's entries in order. Admin tokens only; lists page as every list does."""

from __future__ import annotations

from aiohttp import web

from services.catalog.stores import list_stores, store_detail
from services.clock import utcnow
from services.merchants.onboarding import list_invites, new_operator_invite
from services.operators.roles import Permission
from services.queues.economics import SCOPES, list_queues
from services.queues.entries import STATUSES as ENTRY_STATUSES
from services.queues.entries import entry_payouts, queue_entries
from web.auth import OPERATOR
from web.query import (
    PAGE_PARAMS,
    PAGING,
    TIME_RANGE_PARAMS,
    json_reply,
    optional_int,
    page_args,
    page_reply,
    paged,
    query_choice,
    query_range,
)
from web.registry import Registry, Reply, path_int
from web.schemas import BOOL, ID, INT, NULL_INT, STRING, TIME, Schema, obj

routes = Registry()

NULL_BOOL: Schema = {**BOOL, "nullable": True}
INVITE = obj(
    {
        "id": INT,
        "code": {
            **STRING,
            "description": "邀请码（m:<token>）：商家入驻时填写，即小程序码的 scene",
        },
        "inviter_id": {**NULL_INT, "description": "邀请会员（获得招商奖励）；运营邀请为 null"},
        "created_by": STRING,
        "created_at": TIME,
        "applications": {**INT, "description": "通过该邀请码提交的入驻申请数"},
    }
)
STORE = obj(
    {
        "id": INT,
        "name": STRING,
        "commission_bp": INT,
        "rebate_enabled": BOOL,
        "cashier_id": {
            **NULL_INT,
            "description": "收银台 id（PUT /api/admin/cashiers/{id}/rebate）",
        },
        "cashier_rebate_enabled": NULL_BOOL,
        "owner_id": NULL_INT,
        "created_at": TIME,
    }
)
STORE_DETAIL = obj(
    {
        **STORE["properties"],
        "rebate": {"type": "object", "nullable": True},
        "cashier": {
            **obj(
                {"id": INT, "rebate_enabled": BOOL, "rebate": {"type": "object", "nullable": True}}
            ),
            "nullable": True,
        },
        "merchant": {
            **obj({"owner_id": INT, "inviter_id": NULL_INT, "application_id": INT}),
            "nullable": True,
        },
        "products": INT,
    }
)
QUEUE = obj(
    {
        "id": INT,
        "key": {
            **STRING,
            "description": "队列键：mall、stores、cashiers、product:<id>、store:<id>、cashier:<门店 id>",
        },
        "scope": {"type": "string", "enum": list(SCOPES)},
        "target_id": NULL_INT,
        "waiting_entries": INT,
        "outstanding_fen": INT,
        "extracted_fen": INT,
        "paid_fen": INT,
        "withheld_fen": INT,
        "unallocated_fen": INT,
        "created_at": TIME,
    }
)


@routes.post(
    "/api/admin/merchant-invites",
    summary="运营：新建商家邀请码（文字，无招商奖励）",
    description="A new invite of the operator's own: its `code` is what a merchant enters when "
    "applying (the QR of `GET /api/admin/merchant-invites/qr` carries the operator's first "
    "invite as its scene). Recorded in the operation log.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    responses={201: Reply("已创建", obj({"invite": INVITE}))},
)
async def create_merchant_invite(request: web.Request) -> web.Response:
    invite = await new_operator_invite(operator=request[OPERATOR], now=utcnow())
    return json_reply({"invite": invite}, status=201)


@routes.get(
    "/api/admin/merchant-invites",
    summary="运营：商家邀请码列表（运营与推广员的，均长期有效）",
    description="Every invite, newest first, with its text code and how many applications "
    "came through it. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params=PAGE_PARAMS,
    responses={200: Reply("邀请码", paged(INVITE)), 400: Reply("分页参数无效")},
)
async def admin_merchant_invites(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await list_invites(cursor=cursor, limit=limit))


@routes.get(
    "/api/admin/stores",
    summary="运营：门店列表（含收银台 id）",
    description="Every store, oldest first, with its cashier's id and owner. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params=PAGE_PARAMS,
    responses={200: Reply("门店", paged(STORE)), 400: Reply("分页参数无效")},
)
async def admin_stores(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await list_stores(cursor=cursor, limit=limit))


@routes.get(
    "/api/admin/stores/{id}",
    summary="运营：门店详情（收银台、商家、返利设置）",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    path_params={"id": ID},
    responses={200: Reply("门店", obj({"store": STORE_DETAIL})), 404: Reply("门店不存在")},
)
async def admin_store(request: web.Request) -> web.Response:
    return json_reply({"store": await store_detail(path_int(request, "id"))})


@routes.get(
    "/api/admin/queues",
    summary="运营：队列列表（id、队列键、排队数、待还总额）",
    description="Every queue in the order they were made; `scope` (mall, stores, cashiers, "
    "product, store, cashier) or `key` (e.g. store:3) filter. Inflow and projections: "
    "`GET /api/admin/queues/economics`. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={"scope": {"type": "string", "enum": list(SCOPES)}, "key": STRING, **PAGE_PARAMS},
    responses={200: Reply("队列", paged(QUEUE)), 400: Reply("查询参数无效")},
)
async def admin_queues(request: web.Request) -> web.Response:
    scope = query_choice(request, "scope", SCOPES)
    cursor, limit = page_args(request)
    page = await list_queues(
        scope=scope, key=request.query.get("key") or None, cursor=cursor, limit=limit
    )
    return page_reply(page)


QUEUE_ENTRY = obj(
    {
        "id": INT,
        "seq": {**INT, "description": "排队序号（越小越靠前）"},
        "member_id": INT,
        "nickname": STRING,
        "order_id": INT,
        "target": {**STRING, "description": "product:<id> | store:<id> | cashier:<id>"},
        "status": {"type": "string", "enum": list(ENTRY_STATUSES)},
        "base_fen": {**INT, "description": "计算权益的实付金额（分）"},
        "ratio_bp": {**INT, "description": "奖励权益比例（万分比）"},
        "entitlement_fen": {**INT, "description": "总权益（分）"},
        "paid_fen": {**INT, "description": "已返现（分）"},
        "points": {**INT, "description": "兑换或随机返所得积分"},
        "ahead": {**NULL_INT, "description": "排在前面的排队中名额（仅排队中）"},
        "created_at": TIME,
    }
)


@routes.get(
    "/api/admin/queues/{id}/entries",
    summary="运营：队列明细（按排队顺序，含进度与位次）",
    description="The queue's entries in seq order; `status` (waiting = 排队中, completed, "
    "refunded, exchanged, cleared), `member_id` and `from` / `to` (when they joined) filter. "
    "A waiting entry's `ahead` is how many waiting entries are before it. " + PAGING,
    tags=("admin",),
    auth="admin",
    path_params={"id": ID},
    query_params={
        "status": {"type": "string", "enum": list(ENTRY_STATUSES)},
        "member_id": ID,
        **TIME_RANGE_PARAMS,
        **PAGE_PARAMS,
    },
    responses={
        200: Reply("名额", paged(QUEUE_ENTRY)),
        400: Reply("查询参数无效"),
        404: Reply("队列不存在"),
    },
    permission=Permission.VIEW,
)
async def admin_queue_entries(request: web.Request) -> web.Response:
    status = query_choice(request, "status", ENTRY_STATUSES)
    since, until = query_range(request)
    cursor, limit = page_args(request)
    page = await queue_entries(
        path_int(request, "id"),
        status=status,
        member_id=optional_int(request, "member_id"),
        cursor=cursor,
        limit=limit,
        since=since,
        until=until,
    )
    return page_reply(page)


ENTRY_PAYOUT = obj(
    {
        "id": {**INT, "description": "记账流水编号"},
        "amount_fen": {**INT, "description": "返现金额（分）"},
        "extraction_id": {**NULL_INT, "description": "付出这笔返现的提取"},
        "order_id": {**NULL_INT, "description": "提取来自的订单"},
        "created_at": TIME,
    }
)


@routes.get(
    "/api/admin/entries/{id}/payouts",
    summary="运营：一条排队权益收到的返现",
    description="The entry's payouts, oldest first: each the posting from its queue's pool "
    "to the member's cash, with the extraction (and its order) that paid it. " + PAGING,
    tags=("admin",),
    auth="admin",
    path_params={"id": ID},
    query_params={**PAGE_PARAMS},
    responses={
        200: Reply("返现", paged(ENTRY_PAYOUT)),
        400: Reply("查询参数无效"),
        404: Reply("排队权益不存在"),
    },
    permission=Permission.VIEW,
)
async def admin_entry_payouts(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await entry_payouts(path_int(request, "id"), cursor=cursor, limit=limit))
