"""团队等级 (SPEC §8): a member's team, its turnover, and the levels it earns.

- A member's *team* is their downline within ``team_depth`` levels (direct referrals, theirs,
  …), never themselves. Team turnover is the cash paid on the team's settled, unrefunded
  order lines.
- A level is reached when every threshold it configures is met (team turnover, direct
  referrals); a level with no threshold is assigned by an operator only
  (``rebate.distribution.level_reached``).
- Levels rise by themselves (after each settlement, for the buyer's ancestors; and in the
  ``refresh_team_levels`` job, which also catches new direct referrals) and never fall by
  themselves: only an operator lowers a level. Every change is a ``TeamLevelChange`` row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import Member
from rebate.distribution import level_reached
from rebate.distribution_settings import DistributionSettings
from rebate.errors import InvalidSetting
from runtime.sql import dumps, fetch, placeholders
from services import audit
from services.distribution.settings import load_distribution
from services.errors import NotFound

_TEAM_CTE = """
WITH RECURSIVE team(id, depth) AS (
    SELECT id, 1 FROM member WHERE referrer_id = $1
    UNION ALL
    SELECT m.id, t.depth + 1 FROM member m JOIN team t ON m.referrer_id = t.id
    WHERE t.depth < $2
)
"""


async def team_levels(conn: BaseDBAsyncClient, member_ids: Iterable[int]) -> dict[int, int]:
    """Team level per member (0 for members without one)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    marks = ", ".join(placeholders(conn, len(ids)))
    rows = await conn.execute_query_dict(
        f"SELECT member_id, level FROM team_standing WHERE member_id IN ({marks})", ids
    )
    found = {int(r["member_id"]): int(r["level"]) for r in rows}
    return {m: found.get(m, 0) for m in ids}


async def direct_count(conn: BaseDBAsyncClient, member_id: int) -> int:
    rows = await fetch(conn, "SELECT COUNT(*) AS n FROM member WHERE referrer_id = $1", [member_id])
    return int(rows[0]["n"])


async def team_turnover(
    conn: BaseDBAsyncClient, member_id: int, depth: int, *, including_order: int | None = None
) -> int:
    """Σ paid of the team's settled (or settling) lines within ``depth`` levels.
    ``including_order``: an order being settled right now counts too, whatever its lines'
    status (its settlement transaction has not marked them yet)."""
    rows = await fetch(
        conn,
        _TEAM_CTE + "SELECT COALESCE(SUM(l.paid_fen), 0) AS s"
        " FROM order_line l JOIN orders o ON o.id = l.order_id"
        " WHERE o.member_id IN (SELECT id FROM team)"
        " AND (l.status IN ('settling', 'settled') OR (o.id = $3 AND l.status <> 'refunded'))",
        [member_id, depth, including_order if including_order is not None else -1],
    )
    return int(rows[0]["s"])


async def team_members(conn: BaseDBAsyncClient, member_id: int, depth: int) -> dict[int, int]:
    """Member id → depth below ``member_id`` (1: direct referral)."""
    rows = await fetch(conn, _TEAM_CTE + "SELECT id, depth FROM team", [member_id, depth])
    return {int(r["id"]): int(r["depth"]) for r in rows}


async def evaluate_levels(
    conn: BaseDBAsyncClient,
    member_ids: Iterable[int],
    settings: DistributionSettings,
    now: datetime,
    *,
    including_order: int | None = None,
) -> dict[int, int]:
    """Raise each member to the highest level they now reach; returns member → new level for
    those that rose. Runs in the caller's transaction."""
    if not any(lv.automatic for lv in settings.levels):
        return {}
    top = max(lv.level for lv in settings.levels)
    current = await team_levels(conn, member_ids)
    risen: dict[int, int] = {}
    for member_id, level in current.items():
        if level >= top:
            continue
        turnover = await team_turnover(
            conn, member_id, settings.team_depth, including_order=including_order
        )
        directs = await direct_count(conn, member_id)
        target = level_reached(settings, turnover_fen=turnover, directs=directs)
        if target > level and await _raise_level(conn, member_id, level, target, now):
            await _record(
                conn,
                member_id,
                level,
                target,
                "auto",
                {"team_turnover_fen": turnover, "direct_referrals": directs},
                now,
            )
            risen[member_id] = target
    return risen


async def _raise_level(
    conn: BaseDBAsyncClient, member_id: int, seen: int, target: int, now: datetime
) -> bool:
    """Set the level only if it is still what we saw (two settlements may race here)."""
    rows = await fetch(
        conn,
        "INSERT INTO team_standing (member_id, level, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (member_id) DO UPDATE SET level = excluded.level,"
        " updated_at = excluded.updated_at WHERE team_standing.level = $4"
        " RETURNING member_id",
        [member_id, target, now, seen],
    )
    return bool(rows)


async def _record(
    conn: BaseDBAsyncClient,
    member_id: int,
    from_level: int,
    to_level: int,
    reason: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    await conn.execute_query(
        "INSERT INTO team_level_change (member_id, from_level, to_level, reason, detail,"
        f" created_at) VALUES ({', '.join(placeholders(conn, 6))})",
        [member_id, from_level, to_level, reason, dumps(detail), now],
    )


async def set_team_level(
    member_id: int, level: int, *, operator: str, note: str = "", now: datetime
) -> int:
    """An operator sets a member's level (up or down; 0 removes it). Returns the old level."""
    settings = await load_distribution()
    if level != 0 and settings.level(level) is None:
        raise InvalidSetting("团队等级不存在", field="level")
    if not operator:
        raise InvalidSetting("必须注明操作人", field="operator")
    async with in_transaction() as conn:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("会员不存在", field="member_id")
        old = (await team_levels(conn, [member_id]))[member_id]
        if old == level:
            return old
        await fetch(
            conn,
            "INSERT INTO team_standing (member_id, level, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (member_id) DO UPDATE SET level = excluded.level,"
            " updated_at = excluded.updated_at RETURNING member_id",
            [member_id, level, now],
        )
        await _record(
            conn, member_id, old, level, "operator", {"operator": operator, "note": note}, now
        )
        await audit.record(
            conn, operator=operator, section="team_level", target=f"member:{member_id}",
            old={"level": old}, new={"level": level, "note": note}, now=now,
        )  # fmt: skip
    return old


async def refresh_team_levels(now: datetime, *, batch: int = 500) -> dict[str, int]:
    """Job: re-evaluate every member who has referrals (new bindings raise direct counts
    without any settlement). Each batch is its own transaction."""
    settings = await load_distribution()
    conn = connections.get("default")
    after, seen, risen = 0, 0, 0
    while True:
        rows = await fetch(
            conn,
            "SELECT DISTINCT referrer_id FROM member WHERE referrer_id IS NOT NULL"
            " AND referrer_id > $1 ORDER BY referrer_id LIMIT $2",
            [after, batch],
        )
        if not rows:
            break
        ids = [int(r["referrer_id"]) for r in rows]
        async with in_transaction() as tx:
            risen += len(await evaluate_levels(tx, ids, settings, now))
        seen += len(ids)
        after = ids[-1]
    return {"evaluated": seen, "risen": risen}
