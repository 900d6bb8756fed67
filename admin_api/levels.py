"""Operators and 会员等级 (member levels): the ladder (define, edit, delete an unused level), a
member's level set by hand with a reason, and a member's level history.

A refused change answers 400 naming the field and changes nothing: a bad number (schema), a
rank or name already used, or a ladder out of order (a higher level no harder to reach than a
lower one, ``rebate.member_levels.check_ladder``). Deleting a level a member holds is 409.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rebate.member_levels import MAX_DAYS, MAX_NAME_CHARS, MAX_ORDERS, MAX_RANK, MAX_SPEND_FEN
from services.clock import utcnow
from services.members.level_changes import (
    MAX_REASON_CHARS,
    assign_level,
    evaluate_all,
    level_changes,
)
from services.members.levels import (
    define_level,
    delete_level,
    edit_level,
    level_doc,
    list_levels,
)
from services.operators.roles import Permission
from web.auth import OPERATOR
from web.query import PAGE_PARAMS, PAGING, json_reply, page_args, page_reply, paged
from web.registry import BODY, Registry, Reply, path_int
from web.schemas import ID, INT, MATCH, MEMBER_LEVEL, STRING, TIME, Schema, obj

routes = Registry()

RANK: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_RANK}
CONDITIONS: dict[str, Schema] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS, "description": "名称"},
    "spend_fen": {
        "type": "integer", "minimum": 1, "maximum": MAX_SPEND_FEN, "nullable": True,
        "description": "升级条件：统计天数内已完成订单的累计实付（分）；不设为 null",
    },
    "orders": {
        "type": "integer", "minimum": 1, "maximum": MAX_ORDERS, "nullable": True,
        "description": "升级条件：统计天数内已完成的订单数；不设为 null",
    },
    "days": {
        "type": "integer", "minimum": 1, "maximum": MAX_DAYS, "nullable": True,
        "description": "统计天数（null：不限）",
    },
    "match": MATCH,
}  # fmt: skip
LEVEL_REPLY = obj({"level": MEMBER_LEVEL})
LEVELS_REPLY = paged(obj({**MEMBER_LEVEL["properties"], "members": INT}))
REFUSED = Reply("不合规（field 指明哪一项），未作任何修改")
RANK_PARAMS = {"rank": {**RANK, "description": "等级编号"}}
LADDER_RULES = (
    "Conditions: `spend_fen` (cash paid on completed orders, refunded lines excepted) and/or "
    "`orders` (completed orders), both counted within the last `days` days (null: ever); with "
    "both, `match` all (default) or any. No condition: the level is assigned by hand only. A "
    "higher rank must be harder to reach than every lower automatic rank (refused naming the "
    "field otherwise); ranks and names are unique."
)


@routes.get(
    "/api/admin/member-levels",
    summary="运营：会员等级列表（含各等级会员数）",
    description="Lowest rank first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.VIEW,
    query_params=PAGE_PARAMS,
    responses={200: Reply("会员等级", LEVELS_REPLY), 400: Reply("分页参数无效")},
)
async def admin_member_levels(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    return page_reply(await list_levels(cursor=cursor, limit=limit))


@routes.post(
    "/api/admin/member-levels",
    summary="运营：新增会员等级",
    description=LADDER_RULES,
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    body=obj({"rank": RANK, **CONDITIONS}, required=["rank", "name"]),
    responses={201: Reply("已新增", LEVEL_REPLY), 400: REFUSED},
)
async def define_member_level(request: web.Request) -> web.Response:
    body: dict[str, Any] = request[BODY]
    rule = await define_level(body, operator=request[OPERATOR], now=utcnow())
    return json_reply({"level": level_doc(rule)}, status=201)


@routes.route(
    "PUT",
    "/api/admin/member-levels/{rank}",
    summary="运营：修改会员等级（名称与升级条件；编号不变）",
    description="The body replaces the level's name and conditions (a condition left out is "
    "none). Members keep the level they hold: stronger conditions lower nobody; weaker ones "
    "raise a member when their next order completes. " + LADDER_RULES,
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=RANK_PARAMS,
    body=obj(CONDITIONS, required=["name"]),
    responses={200: Reply("已修改", LEVEL_REPLY), 400: REFUSED, 404: Reply("没有该等级")},
)
async def edit_member_level(request: web.Request) -> web.Response:
    rank, body = path_int(request, "rank"), request[BODY]
    rule = await edit_level(rank, body, operator=request[OPERATOR], now=utcnow())
    return json_reply({"level": level_doc(rule)})


@routes.route(
    "DELETE",
    "/api/admin/member-levels/{rank}",
    summary="运营：删除会员等级（仍有会员处于该等级时不能删除）",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params=RANK_PARAMS,
    responses={
        200: Reply("已删除", obj({"deleted": INT})),
        404: Reply("没有该等级"),
        409: Reply("仍有会员处于该等级：请先调整这些会员的等级"),
    },
)
async def delete_member_level(request: web.Request) -> web.Response:
    rank = path_int(request, "rank")
    await delete_level(rank, operator=request[OPERATOR], now=utcnow())
    return json_reply({"deleted": rank})


@routes.post(
    "/api/admin/member-levels/evaluate",
    summary="运营：按当前升级条件重新评估所有会员（只升不降）",
    description="Levels are evaluated when an order completes; after changing the ladder, this "
    "raises at once every member with a completed order who now reaches a higher level "
    "(recorded and told like any automatic upgrade). Never lowers anyone.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    responses={200: Reply("评估结果", obj({"evaluated": INT, "raised": INT}))},
)
async def evaluate_member_levels(request: web.Request) -> web.Response:
    return json_reply(await evaluate_all(request[OPERATOR], utcnow()))


LEVEL_CHANGE = obj(
    {
        "id": INT,
        "member_id": INT,
        "from_level": INT,
        "to_level": INT,
        "source": {"type": "string", "enum": ["auto", "operator"]},
        "operator": {**STRING, "description": "运营账号，自动升级为 system"},
        "reason": STRING,
        "detail": {"type": "object", "nullable": True, "description": "自动升级：统计结果与订单"},
        "created_at": TIME,
    }
)


@routes.post(
    "/api/admin/members/{id}/level",
    summary="运营：设置会员等级（可升可降，0 为取消等级；须填写原因）",
    description="Recorded in the member's level history and the operation log (section "
    "`member_level`), and the member is told. The level the member already holds changes "
    "nothing (`changed` false). Orders placed before keep the level they were placed with.",
    tags=("admin",),
    auth="admin",
    permission=Permission.OPERATIONS,
    path_params={"id": ID},
    body=obj(
        {
            "level": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_RANK,
                "description": "已定义的会员等级编号，或 0",
            },
            "reason": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_REASON_CHARS,
                "description": "原因（记入操作日志，并告知会员）",
            },
        },
        required=["level", "reason"],
    ),
    responses={
        200: Reply(
            "已设置",
            obj(
                {
                    "member_id": INT,
                    "from_level": INT,
                    "to_level": INT,
                    "changed": {"type": "boolean"},
                }
            ),
        ),
        400: REFUSED,
        404: Reply("会员不存在"),
    },
)
async def set_member_level(request: web.Request) -> web.Response:
    body = request[BODY]
    change = await assign_level(
        path_int(request, "id"),
        body["level"],
        reason=body["reason"],
        operator=request[OPERATOR],
        now=utcnow(),
    )
    return json_reply(
        {
            "member_id": change.member_id,
            "from_level": change.from_level,
            "to_level": change.to_level,
            "changed": change.changed,
        }
    )


@routes.get(
    "/api/admin/members/{id}/level-changes",
    summary="运营：会员等级变更记录（自动升级与人工调整）",
    description="Newest first. " + PAGING,
    tags=("admin",),
    auth="admin",
    permission=Permission.MEMBERS_VIEW,
    path_params={"id": ID},
    query_params=PAGE_PARAMS,
    responses={200: Reply("变更记录", paged(LEVEL_CHANGE)), 400: Reply("分页参数无效")},
)
async def member_level_changes(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    page = await level_changes(path_int(request, "id"), cursor=cursor, limit=limit)
    return page_reply(page)
