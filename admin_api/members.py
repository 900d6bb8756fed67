"""Operators and members' balances: a manual adjustment (余额调整) with its reason."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.operators.roles import Permission
from services.wallets.adjustments import BALANCES, MAX_AMOUNT, MAX_REASON_CHARS, adjust_balance
from web.auth import OPERATOR
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import ID, INT, STRING, obj

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
    )
    return web.json_response({"adjustment": done.__dict__})
