"""The promoter's own view (推广中心): my team and my rewards, paged like every list
(``web.query``: ``?limit=`` and ``cursor``; a bad one is a 400 naming it), with the team's counts
and the rewards' totals beside the page.

Only the caller's own data is read (``services.distribution.promoter`` keys every query by the member id).
"""

from __future__ import annotations

from aiohttp import web

from models import CommissionKind, CommissionStatus
from services.distribution.promoter import my_rewards, my_team
from web.auth import MEMBER_ID
from web.query import PAGE_PARAMS, PAGING, page_args, page_reply, paged
from web.registry import Registry, Reply
from web.schemas import INT, STRING, TIME, obj

routes = Registry()

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
TEAM_REPLY = paged(
    TEAM_MEMBER,
    level={**INT, "description": "我的团队等级（0：无）"},
    depth_limit=INT,
    direct_count=INT,
    indirect_count={**INT, "description": "第 2 级及以下（不超过 depth_limit）"},
    counts_by_depth={"type": "object", "additionalProperties": INT},
    turnover_fen={**INT, "description": "团队业绩：团队已结算、未退款的消费"},
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
REWARDS_REPLY = paged(
    REWARD,
    totals={
        "type": "object",
        "additionalProperties": INT,
        "description": "按状态汇总（分）：frozen / released / reversed（全部奖励，不只本页）",
    },
)


@routes.get(
    "/api/promoter/team",
    summary="我的团队：直推与间推人数、团队业绩、成员列表",
    description="My downline within the configured depth (direct = 1, indirect = 2, …): the "
    "nearest depth first, newest members first within a depth. The counts and the turnover "
    "cover the whole team. " + PAGING,
    tags=("promoter",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("我的团队", TEAM_REPLY), 400: Reply("分页参数无效")},
)
async def promoter_team(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    team = await my_team(request[MEMBER_ID], cursor=cursor, limit=limit)
    return page_reply(
        team.members,
        level=team.level,
        depth_limit=team.depth_limit,
        direct_count=team.counts.get(1, 0),
        indirect_count=sum(n for depth, n in team.counts.items() if depth >= 2),
        counts_by_depth={str(depth): n for depth, n in sorted(team.counts.items())},
        turnover_fen=team.turnover_fen,
    )


@routes.get(
    "/api/promoter/rewards",
    summary="我的奖励：佣金明细与按状态汇总",
    description="My commissions, newest first; frozen ones are released after the freeze "
    "period. The totals cover every reward. " + PAGING,
    tags=("promoter",),
    auth="member",
    query_params=PAGE_PARAMS,
    responses={200: Reply("我的奖励", REWARDS_REPLY), 400: Reply("分页参数无效")},
)
async def promoter_rewards(request: web.Request) -> web.Response:
    cursor, limit = page_args(request)
    rewards = await my_rewards(request[MEMBER_ID], cursor=cursor, limit=limit)
    return page_reply(rewards.rewards, totals=rewards.totals)
