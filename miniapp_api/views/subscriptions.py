"""The member's subscribe-message consents (订阅消息): which templates the mall sends, what
each is for and how many messages the member has consented to; recording what
``wx.requestSubscribeMessage`` answered (``services.members.consents``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runtime.bot_settings import Template, bot_settings
from services.clock import utcnow
from services.members.consents import MAX_REMAINING, RESULTS, my_subscriptions, record_results
from web.auth import MEMBER_ID
from web.keys import SETTINGS
from web.registry import BODY, Registry, Reply
from web.schemas import INT, STRING, obj

routes = Registry()

SUBSCRIPTION = obj(
    {
        "kinds": {"type": "array", "items": STRING, "description": "该模板发送的事件"},
        "purpose": {**STRING, "description": "模板用途"},
        "remaining": {**INT, "description": f"还可发送的消息条数（最多 {MAX_REMAINING}）"},
    },
    required=["kinds", "purpose", "remaining"],
)
SUBSCRIPTIONS_REPLY = obj(
    {
        "subscriptions": {
            "type": "object",
            "description": "模板 id（传给 wx.requestSubscribeMessage 的 tmplIds）→ 用途与剩余条数，"
            "按商城配置的顺序",
            "additionalProperties": SUBSCRIPTION,
        }
    },
    required=["subscriptions"],
)
SUBSCRIBE_BODY = obj(
    {
        "results": {
            "type": "object",
            "description": "wx.requestSubscribeMessage 成功回调的结果（去掉 errMsg）：模板 id → "
            + "、".join(RESULTS),
            "additionalProperties": {"type": "string", "enum": list(RESULTS)},
        }
    },
    required=["results"],
)


def templates_of(request: web.Request) -> dict[str, Template]:
    return dict(bot_settings(request.app[SETTINGS]).subscribe_templates)


@routes.get(
    "/api/me/subscriptions",
    summary="我的订阅消息：商城配置的模板、用途与剩余可发条数",
    tags=("member",),
    auth="member",
    responses={200: Reply("订阅消息模板与剩余条数", SUBSCRIPTIONS_REPLY)},
)
async def subscriptions(request: web.Request) -> web.Response:
    found = await my_subscriptions(request[MEMBER_ID], templates_of(request))
    return web.json_response({"subscriptions": found})


@routes.post(
    "/api/me/subscriptions",
    summary="记录订阅消息授权结果（wx.requestSubscribeMessage 的回调结果）",
    description="One-time subscription: each `accept` allows one more message of that template; "
    "`reject` and `ban` stop it (the count becomes 0); `filter` changes nothing. Only the "
    "template ids the mall configured are taken: any other is a 400 naming "
    "`results.<template id>`, and then nothing is recorded.",
    tags=("member",),
    auth="member",
    body=SUBSCRIBE_BODY,
    responses={
        200: Reply("记录后的订阅消息模板与剩余条数", SUBSCRIPTIONS_REPLY),
        400: Reply("模板 id 不是本商城配置的，或结果无效"),
    },
)
async def subscribe(request: web.Request) -> web.Response:
    results: dict[str, Any] = request[BODY]["results"]
    found = await record_results(request[MEMBER_ID], results, templates_of(request), now=utcnow())
    return web.json_response({"subscriptions": found})
