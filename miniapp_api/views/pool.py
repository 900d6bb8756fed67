"""工会排队 as the member's mini-program shows it: my pool entries, newest first, each with its
quota (分红额度), what it has been paid, the acceleration (动态加速) it received and — while it
waits — its position in the pool's queue, what the entries before it are still owed and a
projected wait stated as an estimate (预计)."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.pool.mine import STATUSES, my_pool_entries
from web.auth import MEMBER_ID
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged, query_choice
from web.registry import Registry, Reply
from web.schemas import INT, NULL_INT, STRING, TIME, obj

routes = Registry()

POOL_ENTRY = obj(
    {
        "id": INT,
        "order_id": INT,
        "source": {**STRING, "description": "订单来源：mall | store | cashier"},
        "status": {"type": "string", "enum": list(STATUSES),
                   "description": "waiting 排队中 | paid 已分红 | refunded 已退款"},
        "quota_fen": {**INT, "description": "分红额度（分）"},
        "paid_fen": {**INT, "description": "已分红（分，含加速）"},
        "owed_fen": {**INT, "description": "待分红（分）"},
        "accelerated_in_fen": {**INT, "description": "动态加速所得（分）"},
        "position": {**NULL_INT, "description": "排队位次（1 = 下一个分红；仅排队中）"},
        "ahead_fen": {**NULL_INT, "description": "前面待分红额度合计（分；仅排队中）"},
        "projected_wait_days": {
            **NULL_INT,
            "description": "预计再经过几次每日分红可全额分红（估计，非承诺；无法估计为 null）",
        },
        "created_at": TIME,
        "completed_at": TIME,
    }
)  # fmt: skip


@routes.get(
    "/api/me/union-pool",
    summary="我的工会排队（最新在前）",
    description="Newest first; `status` filters (waiting, paid, refunded). A waiting entry "
    "carries its `position` (1 = paid next), `ahead_fen` and `projected_wait_days`: daily closes "
    "until it is paid in full from the pool's balance at its average daily inflow of the last 7 "
    "days (`inflow_per_day_fen`, beside the page) — an estimate, null while nothing flows in. "
    + PAGING,
    tags=("entries",),
    auth="member",
    query_params={"status": {"type": "string", "enum": list(STATUSES)}, **PAGE_PARAMS},
    responses={
        200: Reply(
            "我的工会排队",
            paged(POOL_ENTRY, inflow_per_day_fen={**INT, "description": "近7天日均流入（分）"},
                  note={**STRING, "description": "预计等待的说明"}),
        ),
        400: Reply("查询参数无效"),
    },
)  # fmt: skip
async def my_union_pool(request: web.Request) -> web.Response:
    status = query_choice(request, "status", STATUSES)
    cursor, limit = page_args(request)
    beside, page = await my_pool_entries(
        request[MEMBER_ID], status=status, cursor=cursor, limit=limit, now=utcnow()
    )
    return page_reply(page, **beside)
