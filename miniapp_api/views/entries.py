"""The member's places in the queues: my entries (with position, rewards, lottery state and the
estimate), one queue's page (队列进程), drawing the lottery, exchanging an entry.

What the display switches hide is left out of the answers (``services.members.views``); the
custom names come with them. Someone else's entry, or a queue the member has no entry in, is
"not found" (404), never "forbidden".
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from models import EntryStatus
from services.clock import utcnow
from services.members.views import (
    DRAW_FIELDS,
    ENTRY_FIELDS,
    ESTIMATE_FIELDS,
    HEAD_FIELDS,
    QUEUE_FIELDS,
    my_entries,
    my_entry,
    queue_page,
)
from services.queues.exchange import exchange_entry
from services.queues.lottery import draw_lottery
from web.auth import MEMBER_ID
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import BOOL, ID, INT, NULL_INT, STRING, TIME, obj, optional

routes = Registry()

ENTRY_PARAMS = {"id": ID}
STATUSES = [s.value for s in EntryStatus]
NAMES = obj(
    {
        "rebate_name": {**STRING, "description": "自定义名称（排队返利的叫法）"},
        "exchange_name": {**STRING, "description": "兑换自定义名称（兑换按钮的叫法）"},
    }
)
LOTTERY = obj(
    {
        "mode": {"type": "string", "enum": ["fixed", "range"]},
        "ratios_bp": {"type": "array", "items": INT},
        "low_bp": INT,
        "high_bp": INT,
        "source": STRING,
        "drawn": BOOL,
        "can_draw": BOOL,
        "draw": {
            **optional(
                obj(
                    {
                        "old_ratio_bp": INT,
                        "new_ratio_bp": INT,
                        "old_entitlement_fen": INT,
                        "new_entitlement_fen": INT,
                        "drawn_at": TIME,
                    }
                ),
                DRAW_FIELDS,
            ),
            "nullable": True,
        },
    }
)
LOTTERY["nullable"] = True
ESTIMATE = obj(
    {
        "eta_seconds": NULL_INT,
        "estimated_full_at": TIME,
        "ahead_fen": INT,
        "remaining_fen": INT,
        "daily_inflow_fen": INT,
        "is_estimate": BOOL,
        "note": {**STRING, "description": "估计，不是承诺"},
    }
)
ESTIMATE = {**optional(ESTIMATE, ESTIMATE_FIELDS), "nullable": True}
ENTRY = obj(
    {
        "id": INT,
        "order_id": INT,
        "line_id": {**INT, "description": "产生该权益的订单商品行"},
        "status": {"type": "string", "enum": [s.value for s in EntryStatus]},
        "queue_id": {**INT, "description": "队列进程关闭时不返回"},
        "queue_key": STRING,
        "position": {**NULL_INT, "description": "排在前面的待奖励权益数（0 = 下一个获得奖励）"},
        "ratio_bp": INT,
        "ratio_source": STRING,
        "entitlement_fen": {**INT, "description": "待奖励关闭时不返回"},
        "received_fen": {**INT, "description": "累计奖励关闭时不返回"},
        "remaining_fen": {**INT, "description": "待奖励金额关闭时不返回"},
        "points": INT,
        "lottery": LOTTERY,
        "estimate": ESTIMATE,
        "created_at": TIME,
    }
)
ENTRY = optional(ENTRY, ENTRY_FIELDS)
HEAD = optional(
    obj(
        {
            "mine": BOOL,
            "received_fen": INT,
            "entitlement_fen": INT,
            "remaining_fen": INT,
            "nickname": STRING,
            "avatar_url": STRING,
        }
    ),
    HEAD_FIELDS,
)
ENTRIES_REPLY = paged(ENTRY, names=NAMES)
ENTRY_REPLY = obj({"names": NAMES, "entry": ENTRY})
QUEUE_REPLY = obj(
    {
        "names": NAMES,
        "queue": optional(
            obj(
                {
                    "queue_id": INT,
                    "queue_key": STRING,
                    "waiting_count": INT,
                    "outstanding_fen": INT,
                    "head": {**HEAD, "nullable": True},
                }
            ),
            QUEUE_FIELDS,
        ),
    }
)
DRAW_REPLY = obj(
    {
        "draw": obj(
            {
                "entry_id": INT,
                "old_ratio_bp": INT,
                "old_entitlement_fen": INT,
                "ratio_bp": INT,
                "entitlement_fen": INT,
                "status": STRING,
            }
        ),
        "names": NAMES,
        "entry": ENTRY,
    }
)
EXCHANGE_BODY = obj(
    {"to": {"type": "string", "enum": ["points", "love"], "description": "积分 或 爱心值"}},
    required=["to"],
)
EXCHANGE_REPLY = obj(
    {
        "exchange": obj(
            {
                "entry_id": INT,
                "to": STRING,
                "asset": STRING,
                "remaining_fen": INT,
                "ratio_bp": INT,
                "amount": INT,
            }
        ),
        "names": NAMES,
        "entry": ENTRY,
    }
)


async def _entry(request: web.Request, entry_id: int) -> dict[str, Any]:
    return await my_entry(request[MEMBER_ID], entry_id, now=utcnow())


@routes.get(
    "/api/entries",
    summary="我的排队权益（最新在前）",
    description="Newest first; each entry names its queue (`queue_id`, `queue_key`) unless "
    "队列进程 is switched off. `status` filters (waiting, completed, refunded, exchanged, "
    "cleared). Each waiting entry carries its position and an estimate that is not a promise. "
    + PAGING,
    tags=("entries",),
    auth="member",
    query_params={"status": {"type": "string", "enum": STATUSES}, **PAGE_PARAMS},
    responses={200: Reply("我的排队权益", ENTRIES_REPLY), 400: Reply("查询参数无效")},
)
async def list_entries(request: web.Request) -> web.Response:
    status = query_choice(request, "status", tuple(STATUSES))
    cursor, limit = page_args(request)
    page = await my_entries(
        request[MEMBER_ID], status=status, cursor=cursor, limit=limit, now=utcnow()
    )
    return page_reply(page.entries, names=page.names)


@routes.get(
    "/api/entries/{id}",
    summary="一条排队权益的详情",
    tags=("entries",),
    auth="member",
    path_params=ENTRY_PARAMS,
    responses={200: Reply("排队权益", ENTRY_REPLY)},
)
async def show_entry(request: web.Request) -> web.Response:
    return web.json_response(await _entry(request, path_int(request, "id")))


@routes.get(
    "/api/queues/{id}",
    summary="队列进程：等待人数、队首已获奖励",
    description="Only for a queue the member has an entry in, and only while 队列进程 is on.",
    tags=("entries",),
    auth="member",
    path_params={"id": ID},
    responses={200: Reply("队列概况", QUEUE_REPLY)},
)
async def show_queue(request: web.Request) -> web.Response:
    return web.json_response(await queue_page(request[MEMBER_ID], path_int(request, "id")))


@routes.post(
    "/api/entries/{id}/lottery",
    summary="抽奖（每条待奖励权益一次）",
    description="Only on a waiting entry that was offered a lottery, has not drawn and has "
    "received nothing yet. The drawn ratio replaces the default and the entitlement at once.",
    tags=("entries",),
    auth="member",
    path_params=ENTRY_PARAMS,
    responses={
        200: Reply("抽奖结果", DRAW_REPLY),
        409: Reply("不能抽奖（已抽、已获奖励或已结束）"),
    },
)
async def draw_on_entry(request: web.Request) -> web.Response:
    entry_id = path_int(request, "id")
    result = await draw_lottery(request[MEMBER_ID], entry_id, now=utcnow())
    return web.json_response({"draw": asdict(result), **await _entry(request, entry_id)})


@routes.post(
    "/api/entries/{id}/exchange",
    summary="兑换：把待奖励权益换成积分或爱心值",
    description="The entry's remaining entitlement × the configured ratio (floored); the entry "
    "leaves the queue (exchanged). Love value is credited available or frozen as configured.",
    tags=("entries",),
    auth="member",
    body=EXCHANGE_BODY,
    body_example={"to": "points"},
    path_params=ENTRY_PARAMS,
    responses={200: Reply("兑换结果", EXCHANGE_REPLY), 409: Reply("该权益不能兑换")},
)
async def exchange_my_entry(request: web.Request) -> web.Response:
    entry_id = path_int(request, "id")
    result = await exchange_entry(request[MEMBER_ID], entry_id, request[BODY]["to"], now=utcnow())
    return web.json_response({"exchange": asdict(result), **await _entry(request, entry_id)})
