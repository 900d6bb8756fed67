"""积分转让: a member sends points to another member by their referral code, and lists the
transfers they sent and received."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.wallets.transfers import list_transfers, transfer_points
from web.auth import MEMBER_ID
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged
from web.registry import BODY, Registry, Reply
from web.schemas import INT, STRING, TIME, obj

routes = Registry()

TRANSFER = obj(
    {
        "id": INT,
        "direction": {"type": "string", "enum": ["sent", "received"]},
        "points": {**INT, "description": "对方收到的积分"},
        "fee": {**INT, "description": "转出方另付的手续费（转入记录为 0）"},
        "counterpart_code": {**STRING, "description": "对方的推荐码"},
        "counterpart_nickname": STRING,
        "request_id": {**STRING, "description": "转出时的请求号（转入记录为空）"},
        "created_at": TIME,
    }
)
TRANSFER_REPLY = obj({"transfer": TRANSFER})
TRANSFER_BODY = obj(
    {
        "to_code": {
            "type": "string",
            "pattern": "^[0-9A-Za-z]{1,16}$",
            "description": "对方的推荐码（不区分大小写）",
        },
        "points": {"type": "integer", "minimum": 1, "description": "转让积分（正整数）"},
        "request_id": {
            "type": "string",
            "pattern": "^[0-9A-Za-z_-]{8,64}$",
            "description": "客户端请求号：同一请求号重发返回第一次的结果，不会重复转让",
        },
    },
    required=["to_code", "points", "request_id"],
)


@routes.post(
    "/api/me/points-transfers",
    summary="积分转让给其他会员（按推荐码）",
    description="Both sides move in one posting call; the fee (if the operator set one) is paid "
    "by the sender on top of `points`. The same `request_id` again answers the first transfer "
    "(200) and changes nothing; with another receiver or amount it is a 409 naming it. "
    "Refused: switched off, to myself, unknown code, under the minimum or over the per-transfer "
    "maximum, over the daily limit, leaving less than the points to keep.",
    tags=("wallet",),
    auth="member",
    body=TRANSFER_BODY,
    responses={
        201: Reply("已转让", TRANSFER_REPLY),
        200: Reply("同一请求号的重发：第一次的结果", TRANSFER_REPLY),
        400: Reply("数量、推荐码或请求号无效，或转给自己"),
        404: Reply("推荐码不存在"),
        409: Reply("积分不足、超过每日上限、转让未开放，或请求号已用于另一笔转让"),
    },
)
async def send_points(request: web.Request) -> web.Response:
    body, me = request[BODY], request[MEMBER_ID]
    result = await transfer_points(
        me, to_code=body["to_code"], points=body["points"], request_id=body["request_id"],
        now=utcnow(),
    )  # fmt: skip
    return web.json_response({"transfer": result.shown}, status=200 if result.replayed else 201)


@routes.get(
    "/api/me/points-transfers",
    summary="我的积分转让记录（转出与转入，最新在前）",
    description=PAGING,
    tags=("wallet",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("转让记录", paged(TRANSFER)), 400: Reply("分页参数无效")},
)
async def my_transfers(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await list_transfers(request[MEMBER_ID], cursor=cursor, limit=limit))
