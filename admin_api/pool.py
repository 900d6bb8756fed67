"""Operator (运营后台) endpoints for 工会排队 (SPEC §11, 控盘): the pool's settings, its state
(the liability report) and its daily statements. Settings are refused, naming the field, when
a value breaks the rules; a refused change saves nothing."""

from __future__ import annotations

from aiohttp import web

from services.clock import utcnow
from services.operators.roles import Permission
from services.pool.admin import pool_days, pool_overview, save_pool_settings
from services.pool.entries import STATUSES as ENTRY_STATUSES
from services.pool.entries import pool_entries
from services.pool.settings import from_doc, load_pool, to_doc
from web.auth import OPERATOR
from web.query import (
    PAGE_PARAMS,
    PAGING,
    json_reply,
    optional_int,
    page_args,
    page_reply,
    paged,
    query_choice,
)
from web.registry import BODY, Registry, Reply
from web.schemas import ID, INT, NULL_INT, STRING, TIME, Schema, obj

routes = Registry()

SETTINGS_FIELDS: dict[str, Schema] = {
    "sources": {
        "type": "array",
        "items": {"type": "string", "enum": ["mall", "store", "cashier"]},
        "description": "参与工会排队的订单来源（其余来源仍走排队返利）",
    },
    "pool_bp": {**INT, "description": "返利池比例（利润扣除奖励与补贴后，万分比）"},
    "quota_bp": {**INT, "description": "分红额度比例（万分比，11000 = 消费 1000 得 1100）"},
    "daily_cap_fen": {**NULL_INT, "description": "每日分红上限（分），null 不限"},
    "head_in_part": {"type": "boolean", "description": "余额不足一份额度时，队首部分分红"},
    "close_at": {**STRING, "description": "每日结算时间 HH:MM（北京时间）"},
    "accel_bp": {**INT, "description": "动态加速比例（直推订单贡献的万分比），0 关闭"},
    "accel_per_day_fen": {**NULL_INT, "description": "每人每日加速上限（分）"},
    "accel_total_fen": {**NULL_INT, "description": "每人累计加速上限（分）"},
    "ceiling_days": {**NULL_INT, "description": "排队上限：预计等待超过 N 天时暂停新排队"},
    "notify_wait_days": {**INT, "description": "预计等待变动超过 N 天时通知会员"},
}
SETTINGS_DOC = obj(SETTINGS_FIELDS)
SETTINGS_REPLY = obj({"settings": SETTINGS_DOC})
DAY = obj(
    {
        "id": INT, "day": STRING, "closed_at": STRING, "opening_fen": INT,
        "contributed": {"type": "object", "additionalProperties": INT,
                        "description": "按订单来源的贡献（分）"},
        "accelerated_fen": INT, "taken_back_fen": INT, "paid_fen": INT, "paid_count": INT,
        "closing_fen": INT, "waiting_count": INT, "waiting_owed_fen": INT,
    }
)  # fmt: skip
OVERVIEW = obj(
    {
        "balance_fen": INT, "waiting_count": INT, "waiting_owed_fen": INT, "inflow_7d_fen": INT,
        "inflow_30d_fen": INT, "tail_closes": NULL_INT,
        "last_closed_day": {**STRING, "nullable": True},
    }
)  # fmt: skip


@routes.get(
    "/api/admin/union-pool/settings",
    summary="工会排队设置",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    responses={200: Reply("当前设置", SETTINGS_REPLY)},
)
async def union_pool_settings(request: web.Request) -> web.Response:
    return json_reply({"settings": to_doc(await load_pool())})


@routes.route(
    "PATCH",
    "/api/admin/union-pool/settings",
    summary="修改工会排队设置（只改给出的项）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=SETTINGS_DOC,
    body_example={"sources": ["store", "cashier"], "pool_bp": 6000, "quota_bp": 11000},
    responses={200: Reply("已保存", SETTINGS_REPLY), 400: Reply("设置不合规（field 指明哪一项）")},
)
async def change_union_pool_settings(request: web.Request) -> web.Response:
    settings = from_doc({**to_doc(await load_pool()), **request[BODY]})
    await save_pool_settings(settings, operator=request[OPERATOR], now=utcnow())
    return json_reply({"settings": to_doc(settings)})


@routes.get(
    "/api/admin/union-pool",
    summary="工会返利池：余额、待分红额度、近 7/30 天流入、队尾预计等待",
    description="`tail_closes`: how many daily closes until the last waiting quota is paid, at "
    "the 30-day average inflow — an estimate; null while nothing waits or flows in.",
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    responses={200: Reply("工会返利池", OVERVIEW)},
)
async def union_pool(request: web.Request) -> web.Response:
    return json_reply(await pool_overview(utcnow()))


@routes.get(
    "/api/admin/union-pool/days",
    summary="工会返利池日结单",
    description="Newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params=PAGE_PARAMS,
    responses={200: Reply("日结单", paged(DAY)), 400: Reply("查询参数无效")},
)
async def union_pool_days(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await pool_days(cursor=cursor, limit=limit))


POOL_ENTRY = obj(
    {
        "id": INT, "member_id": INT, "nickname": STRING, "order_id": INT,
        "source": {**STRING, "description": "mall | store | cashier"},
        "status": {"type": "string", "enum": list(ENTRY_STATUSES)},
        "contribution_fen": {**INT, "description": "该订单行的贡献（分）"},
        "quota_fen": {**INT, "description": "分红额度（分）"},
        "paid_fen": {**INT, "description": "已分红（分，含加速）"},
        "accelerated_in_fen": {**INT, "description": "动态加速所得（分）"},
        "position": {**NULL_INT, "description": "排队位次（1 = 下一个分红；仅排队中）"},
        "ahead_fen": {**NULL_INT, "description": "前面待分红额度合计（分；仅排队中）"},
        "created_at": TIME, "completed_at": TIME,
    }
)  # fmt: skip


@routes.get(
    "/api/admin/union-pool/entries",
    summary="工会排队明细（按排队顺序，含位次与进度）",
    description="The pool's entries oldest first (the order the daily close pays in); `status` "
    "(waiting = 排队中, paid, refunded) and `member_id` filter. A waiting entry's `position` is "
    "1 for the next to be paid; `ahead_fen` what the waiting entries before it are owed. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params={
        "status": {"type": "string", "enum": list(ENTRY_STATUSES)},
        "member_id": ID,
        **PAGE_PARAMS,
    },
    responses={200: Reply("工会排队明细", paged(POOL_ENTRY)), 400: Reply("查询参数无效")},
)
async def union_pool_entries(request: web.Request) -> web.Response:
    status = query_choice(request, "status", ENTRY_STATUSES)
    cursor, limit = page_args(request)
    page = await pool_entries(
        status=status, member_id=optional_int(request, "member_id"), cursor=cursor, limit=limit
    )
    return page_reply(page)
