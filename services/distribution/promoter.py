"""A promoter's own view (推广中心): my team and my rewards, paged.

My team is my downline within ``team_depth`` levels: counts per depth (direct = 1,
indirect = 2, …), the team's turnover (cash paid on settled, unrefunded lines, as team levels
count it), and the members themselves, newest first. My rewards are my commissions, newest
first, with totals per status (frozen / released / reversed). Only the member's own data is
ever read: every query is keyed by the member id given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from tortoise import connections

from models import CommissionStatus
from rebate.errors import InvalidAmount
from runtime.sql import as_datetime, fetch
from services.distribution import team
from services.distribution.settings import load_distribution

MAX_PAGE_SIZE = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    size: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * self.size < self.total


def page_window(page: int, size: int) -> tuple[int, int]:
    """(limit, offset) of a 1-based page; refuses what is not a sane page."""
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise InvalidAmount("page 必须是正整数", field="page")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidAmount(f"size 必须在 1–{MAX_PAGE_SIZE} 之间", field="size")
    return size, (page - 1) * size


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


async def my_team(member_id: int, *, page: int = 1, size: int = 20) -> TeamSummary:
    limit, offset = page_window(page, size)
    settings = await load_distribution()
    conn = connections.get("default")
    depths = await team.team_members(conn, member_id, settings.team_depth)
    counts = {d: 0 for d in range(1, settings.team_depth + 1)}
    for d in depths.values():
        counts[d] += 1
    ordered = sorted(depths, key=lambda m: (depths[m], -m))[offset : offset + limit]
    views: list[TeamMemberView] = []
    if ordered:
        marks = ", ".join(f"${i}" for i in range(1, len(ordered) + 1))
        rows = await fetch(
            conn,
            "SELECT m.id, m.nickname, m.avatar_url, m.created_at,"
            " (SELECT COALESCE(SUM(l.paid_fen), 0) FROM order_line l JOIN orders o"
            "  ON o.id = l.order_id WHERE o.member_id = m.id"
            "  AND l.status IN ('settling', 'settled')) AS turnover"
            f" FROM member m WHERE m.id IN ({marks})",
            ordered,
        )
        by_id = {int(r["id"]): r for r in rows}
        for m in ordered:
            r = by_id[m]
            views.append(
                TeamMemberView(
                    member_id=m,
                    nickname=r["nickname"],
                    avatar_url=r["avatar_url"],
                    depth=depths[m],
                    joined_at=as_datetime(r["created_at"]),
                    turnover_fen=int(r["turnover"]),
                )
            )
    return TeamSummary(
        depth_limit=settings.team_depth,
        counts=counts,
        turnover_fen=await team.team_turnover(conn, member_id, settings.team_depth),
        level=(await team.team_levels(conn, [member_id]))[member_id],
        members=Page(views, page, size, len(depths)),
    )


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


async def my_rewards(member_id: int, *, page: int = 1, size: int = 20) -> RewardSummary:
    limit, offset = page_window(page, size)
    conn = connections.get("default")
    sums = await fetch(
        conn,
        "SELECT status, COALESCE(SUM(amount_fen), 0) AS s, COUNT(*) AS n FROM commission"
        " WHERE member_id = $1 GROUP BY status",
        [member_id],
    )
    totals = {s.value: 0 for s in CommissionStatus}
    count = 0
    for r in sums:
        totals[r["status"]] = int(r["s"])
        count += int(r["n"])
    rows = await fetch(
        conn,
        "SELECT id, order_id, kind, amount_fen, status, created_at, release_at FROM commission"
        " WHERE member_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
        [member_id, limit, offset],
    )
    items = [
        RewardView(
            commission_id=int(r["id"]),
            order_id=int(r["order_id"]),
            kind=r["kind"],
            amount_fen=int(r["amount_fen"]),
            status=r["status"],
            created_at=as_datetime(r["created_at"]),
            release_at=as_datetime(r["release_at"]) if r["release_at"] is not None else None,
        )
        for r in rows
    ]
    return RewardSummary(totals, Page(items, page, size, count))
