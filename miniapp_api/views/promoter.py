"""The promoter's own view (推广中心): my team and my rewards, paged — and the paging, query
parameters and JSON shapes the merchant and admin views share with it.

Only the caller's own data is read (``services.promoter`` keys every query by the member id).
Pages are ``?page=1&size=20`` (size at most 50); out of range is a 400 naming the parameter.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from aiohttp import web

from miniapp_api.auth import MEMBER_ID
from miniapp_api.errors import ApiError
from miniapp_api.registry import Registry, Reply
from miniapp_api.views.schemas import INT, STRING, TIME, Schema, obj
from models import CommissionKind, CommissionStatus
from services.promoter import MAX_PAGE_SIZE, Page, my_rewards, my_team

routes = Registry()

MAX_PAGE = 1_000_000
PAGING = "Paged: ?page=1&size=20 (size 1–50)."


# --- shared by the merchant and admin views -----------------------------------------------------


def query_int(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_field", f"{name} 必须是 {low}–{high} 之间的整数", field=name)
    return int(raw)


def paging(request: web.Request) -> tuple[int, int]:
    """(page, size) from the query string."""
    return (
        query_int(request, "page", 1, low=1, high=MAX_PAGE),
        query_int(request, "size", 20, low=1, high=MAX_PAGE_SIZE),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_reply(data: Any, *, status: int = 200) -> web.Response:
    """JSON with dates as ISO 8601 and dataclasses as objects."""
    return web.json_response(data, status=status, dumps=partial(json.dumps, default=_plain))


def page_json(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "page": page.page,
        "size": page.size,
        "total": page.total,
        "has_more": page.has_more,
    }


def paged(item: Schema) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": item},
            "page": INT,
            "size": INT,
            "total": INT,
            "has_more": {"type": "boolean"},
        }
    )


# --- the promoter's own view --------------------------------------------------------------------

TEAM_MEMBER = obj(
    {
        "member_id": INT,
        "nickname": STRING,
        "avatar_url": STRING,
        "depth": {**INT, "description": "1: 直推; 2: 间推; 3: 第三级"},
        "joined_at": TIME,
        "turnover_fen": {**INT, "description": "该会员已结算、未退款的消费"},
    }
)
TEAM_REPLY = obj(
    {
        "level": {**INT, "description": "我的团队等级（0：无）"},
        "depth_limit": INT,
        "direct_count": INT,
        "indirect_count": {**INT, "description": "第 2 级及以下（不超过 depth_limit）"},
        "counts_by_depth": {"type": "object", "additionalProperties": INT},
        "turnover_fen": {**INT, "description": "团队业绩：团队已结算、未退款的消费"},
        "members": paged(TEAM_MEMBER),
    }
)
REWARD = obj(
    {
        "commission_id": INT,
        "order_id": INT,
        "kind": {"type": "string", "enum": [k.value for k in CommissionKind]},
        "amount_fen": INT,
        "status": {"type": "string", "enum": [s.value for s in CommissionStatus]},
        "created_at": TIME,
        "release_at": TIME,
    }
)
REWARDS_REPLY = obj(
    {
        "totals": {
            "type": "object",
            "additionalProperties": INT,
            "description": "按状态汇总（分）：frozen / released / reversed",
        },
        "rewards": paged(REWARD),
    }
)


@routes.get(
    "/api/promoter/team",
    summary="我的团队：直推与间推人数、团队业绩、成员列表",
    description="My downline within the configured depth (direct = 1, indirect = 2, …), newest "
    "members first within each depth. " + PAGING,
    tags=("promoter",),
    auth="member",
    responses={200: Reply("我的团队", TEAM_REPLY), 400: Reply("分页参数无效")},
)
async def promoter_team(request: web.Request) -> web.Response:
    page, size = paging(request)
    team = await my_team(request[MEMBER_ID], page=page, size=size)
    return json_reply(
        {
            "level": team.level,
            "depth_limit": team.depth_limit,
            "direct_count": team.counts.get(1, 0),
            "indirect_count": sum(n for depth, n in team.counts.items() if depth >= 2),
            "counts_by_depth": {str(depth): n for depth, n in sorted(team.counts.items())},
            "turnover_fen": team.turnover_fen,
            "members": page_json(team.members),
        }
    )


@routes.get(
    "/api/promoter/rewards",
    summary="我的奖励：佣金明细与按状态汇总",
    description="My commissions, newest first; frozen ones are released after the freeze "
    "period. " + PAGING,
    tags=("promoter",),
    auth="member",
    responses={200: Reply("我的奖励", REWARDS_REPLY), 400: Reply("分页参数无效")},
)
async def promoter_rewards(request: web.Request) -> web.Response:
    page, size = paging(request)
    rewards = await my_rewards(request[MEMBER_ID], page=page, size=size)
    return json_reply({"totals": rewards.totals, "rewards": page_json(rewards.rewards)})
