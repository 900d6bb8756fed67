"""A promoter's own view (推广中心): my team and my rewards, paged (``services.paging``).

My team is my downline within ``team_depth`` levels: counts per depth (direct = 1,
indirect = 2, …), the team's turnover (cash paid on settled, unrefunded lines, as team levels
count it), and the members themselves — nearest depth first (my direct referrals before their
own), newest first within a depth, so the page is keyed on (depth, id). My rewards are my
commissions, newest first, with totals per status (frozen / released / reversed). Counts and
totals cover the whole list, not the page. Only the member's own data is ever read: every query
is keyed by the member id given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import Commission, CommissionStatus
from runtime.sql import as_datetime, fetch, marks
from services.distribution import team
from services.distribution.settings import load_distribution
from services.paging import DEFAULT_LIMIT, Page, page_by_id, page_sorted


@dataclass(frozen=True)
class TeamMemberView:
    member_id: int
    nickname: str
    avatar_url: str
    depth: int  # 1: my direct referral
    joined_at: datetime
    turnover_fen: int  # their own settled, unrefunded purchases


@dataclass(frozen=True)
class TeamSummary:
    depth_limit: int
    counts: dict[int, int]  # depth → members
    turnover_fen: int
    level: int
    members: Page[TeamMemberView]


async def my_team(
    member_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> TeamSummary:
    settings = await load_distribution()
    conn = connections.get("default")
    depths = await team.team_members(conn, member_id, settings.team_depth)
    counts = {d: 0 for d in range(1, settings.team_depth + 1)}
    for d in depths.values():
        counts[d] += 1
    page = page_sorted({m: (d, -m) for m, d in depths.items()}, cursor=cursor, limit=limit)
    views = await _team_views(conn, page.items, depths)
    return TeamSummary(
        depth_limit=settings.team_depth,
        counts=counts,
        turnover_fen=await team.team_turnover(conn, member_id, settings.team_depth),
        level=(await team.team_levels(conn, [member_id]))[member_id],
        members=Page(views, page.next_cursor),
    )


async def _team_views(
    conn: BaseDBAsyncClient, ordered: list[int], depths: dict[int, int]
) -> list[TeamMemberView]:
    """The members ``ordered`` (in that order), each with their own turnover."""
    if not ordered:
        return []
    rows = await fetch(
        conn,
        "SELECT m.id, m.nickname, m.avatar_url, m.created_at,"
        " (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l JOIN orders o"
        "  ON o.id = l.order_id WHERE o.member_id = m.id"
        "  AND l.status IN ('settling', 'settled')) AS turnover"
        f" FROM member m WHERE m.id IN ({marks(1, len(ordered))})",
        ordered,
    )
    by_id = {int(r["id"]): r for r in rows}
    return [
        TeamMemberView(
            member_id=m,
            nickname=by_id[m]["nickname"],
            avatar_url=by_id[m]["avatar_url"],
            depth=depths[m],
            joined_at=as_datetime(by_id[m]["created_at"]),
            turnover_fen=int(by_id[m]["turnover"]),
        )
        for m in ordered
    ]


@dataclass(frozen=True)
class RewardView:
    commission_id: int
    order_id: int
    kind: str
    amount_fen: int
    status: str
    created_at: datetime
    release_at: datetime | None


@dataclass(frozen=True)
class RewardSummary:
    totals: dict[str, int]  # status → fen
    rewards: Page[RewardView]


async def my_rewards(
    member_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> RewardSummary:
    sums = await fetch(
        connections.get("default"),
        "SELECT status, COALESCE(SUM(amount_fen), 0) AS s FROM commission"
        " WHERE member_id = $1 GROUP BY status",
        [member_id],
    )
    totals = {s.value: 0 for s in CommissionStatus}
    for r in sums:
        totals[r["status"]] = int(r["s"])
    page = await page_by_id(Commission.filter(member_id=member_id), cursor=cursor, limit=limit)
    return RewardSummary(totals, page.map(reward_view))


def reward_view(c: Commission) -> RewardView:
    return RewardView(
        commission_id=c.id,
        order_id=c.order_id,  # type: ignore[attr-defined]
        kind=c.kind.value,
        amount_fen=c.amount_fen,
        status=c.status.value,
        created_at=c.created_at,
        release_at=c.release_at,
    )
