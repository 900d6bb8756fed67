"""The operators' dashboard (概览): the day series behind its charts — orders, what settlement
extracted and where it went, and the queue depth, per Beijing day (``services.queues.daily``).
The totals per queue and the projections are ``GET /api/admin/queues/economics``."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from services.clock import utcnow
from services.operators.roles import Permission
from services.queues.daily import MAX_DAYS, daily_series
from web.query import json_reply, query_int
from web.registry import Registry, Reply
from web.schemas import INT, STRING, obj

routes = Registry()

DAY = obj(
    {
        "day": {**STRING, "format": "date", "description": "北京时间的日期"},
        "orders": {**INT, "description": "当天支付的订单数"},
        "orders_paid_fen": {**INT, "description": "当天支付的现金（分）"},
        "extracted_fen": {**INT, "description": "提取进入队列的金额（分）"},
        "paid_fen": {**INT, "description": "其中返给排队会员的（分）"},
        "withheld_fen": {**INT, "description": "其中因队列奖励暂停而扣留的（分）"},
        "unallocated_fen": {**INT, "description": "其中无人可返的（分）"},
        "joined": {**INT, "description": "当天加入队列的名额"},
        "left": {**INT, "description": "当天离开队列的名额（完成、退款、兑换、清零）"},
        "depth": {**INT, "description": "当天结束时排队中的名额"},
    }
)


@routes.get(
    "/api/admin/dashboard/daily",
    summary="运营：概览的每日数据（订单、提取、返现、扣留、无人可返、队列深度）",
    description="`days` Beijing days ending today (default 30, at most "
    f"{MAX_DAYS}), oldest first. The depth at the end of each day is walked back from the "
    "waiting entries now (an entry left on the day it reached its final status).",
    tags=("admin",),
    auth="admin",
    query_params={"days": {**INT, "minimum": 1, "maximum": MAX_DAYS, "description": "天数"}},
    responses={200: Reply("每日数据", obj({"days": {"type": "array", "items": DAY}}))},
    permission=Permission.VIEW,
)
async def admin_daily(request: web.Request) -> web.Response:
    days = query_int(request, "days", 30, low=1, high=MAX_DAYS)
    series = await daily_series(now=utcnow(), days=days)
    return json_reply({"days": [asdict(day) for day in series]})
