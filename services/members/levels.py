"""会员等级 (member levels) as the operator defines them: rank (the key ``level_bp`` uses, SPEC
§5), Chinese name, and upgrade conditions (``rebate.member_levels``).

The ladder is read through the settings cache (key ``member_levels``): completing an order
asks for it, and from memory that costs nothing. Every change of it is checked as a whole
(``check_ladder``: ranks and names unique, a higher level no easier to reach than a lower one),
runs inside ``changing(member_levels)`` — under a transaction-level advisory lock on PostgreSQL,
so two operators' changes cannot each pass the check and together break it — and is written to
the operation log (section ``member_levels``). A level some member holds cannot be deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import MemberLevel
from rebate.errors import InvalidSetting
from rebate.member_levels import LevelRule, Match, check_ladder
from runtime.sql import execute, fetch, is_pg, marks
from services import audit
from services.errors import Conflict, NotFound
from services.paging import DEFAULT_LIMIT, Page, page_by_id
from services.settings.cache import MEMBER_LEVELS, SETTINGS, changing

log = logging.getLogger(__name__)

LEVELS_LOCK = 0x51_52_4C_56_4C  # pg_advisory_xact_lock key: "QRLVL"
SECTION = "member_levels"


def rule_of(row: MemberLevel) -> LevelRule:
    return LevelRule(row.rank, row.name, row.spend_fen, row.orders, row.days, Match(row.match))


def level_doc(rule: LevelRule) -> dict[str, Any]:
    """A level as the API shows it (and the operation log records it)."""
    return {
        "rank": rule.rank,
        "name": rule.name,
        "spend_fen": rule.spend_fen,
        "orders": rule.orders,
        "days": rule.days,
        "match": str(rule.match),
        "automatic": rule.automatic,
    }


async def load_levels() -> tuple[LevelRule, ...]:
    """The ladder, lowest rank first (from the settings cache)."""

    async def read() -> tuple[LevelRule, ...]:
        return tuple(rule_of(row) for row in await MemberLevel.all().order_by("rank"))

    return await SETTINGS.get(MEMBER_LEVELS, read)


async def name_of(rank: int) -> str | None:
    """The level's name; None for rank 0 (no level, read nothing) or a rank not defined."""
    if rank == 0:
        return None
    return next((lv.name for lv in await load_levels() if lv.rank == rank), None)


async def list_levels(
    *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """The levels, lowest rank first, each with how many members hold it."""
    page = await page_by_id(
        MemberLevel.all(), cursor=cursor, limit=limit, newest_first=False, key="rank"
    )
    ranks = [row.rank for row in page.items]
    counts: dict[int, int] = {}
    if ranks:
        rows = await fetch(
            connections.get("default"),
            f"SELECT level, COUNT(*) AS n FROM member WHERE level IN ({marks(1, len(ranks))})"
            " GROUP BY level",
            ranks,
        )
        counts = {int(r["level"]): int(r["n"]) for r in rows}
    return page.map(lambda row: {**level_doc(rule_of(row)), "members": counts.get(row.rank, 0)})


def _rule(rank: Any, doc: Mapping[str, Any]) -> LevelRule:
    """The level a request describes (its shape is the route's schema; the rules are here)."""
    name: Any = doc.get("name")
    match = doc.get("match", Match.ALL)
    rule = LevelRule(
        rank,
        name.strip() if isinstance(name, str) else name,
        spend_fen=doc.get("spend_fen"),
        orders=doc.get("orders"),
        days=doc.get("days"),
        match=match,
    )
    rule.check()
    return replace(rule, match=Match(match))


async def _locked_ladder(conn: BaseDBAsyncClient) -> dict[int, LevelRule]:
    if is_pg(conn):
        await execute(conn, "SELECT pg_advisory_xact_lock($1)", [LEVELS_LOCK])
    rows = await MemberLevel.all().using_db(conn).order_by("rank")
    return {row.rank: rule_of(row) for row in rows}


async def _write(
    conn: BaseDBAsyncClient, rule: LevelRule, *, operator: str, now: datetime, new: bool
) -> None:
    values = {
        "name": rule.name,
        "spend_fen": rule.spend_fen,
        "orders": rule.orders,
        "days": rule.days,
        "match": str(rule.match),
        "updated_by": operator,
        "updated_at": now,
    }
    if new:
        await MemberLevel.create(rank=rule.rank, using_db=conn, **values)
    else:
        await MemberLevel.filter(rank=rule.rank).using_db(conn).update(**values)


async def define_level(doc: Mapping[str, Any], *, operator: str, now: datetime) -> LevelRule:
    """A new level. Refused (nothing changed): a bad field, a rank or name already used, or a
    ladder out of order."""
    rule = _rule(doc.get("rank"), doc)
    async with changing(MEMBER_LEVELS) as conn:
        ladder = await _locked_ladder(conn)
        if rule.rank in ladder:
            raise InvalidSetting(f"会员等级 {rule.rank} 已存在", field="rank")
        check_ladder([*ladder.values(), rule])
        await _write(conn, rule, operator=operator, now=now, new=True)
        await audit.record(
            conn, operator=operator, section=SECTION, target=f"member_level:{rule.rank}",
            new=level_doc(rule), now=now,
        )  # fmt: skip
    log.info("member level %s defined by %s", rule.rank, operator)
    return rule


async def edit_level(
    rank: int, doc: Mapping[str, Any], *, operator: str, now: datetime
) -> LevelRule:
    """Replace a level's name and conditions (its rank stays). Members keep the level they hold:
    stronger conditions lower nobody, weaker ones raise members when their next order completes."""
    rule = _rule(rank, doc)
    async with changing(MEMBER_LEVELS) as conn:
        ladder = await _locked_ladder(conn)
        old = ladder.get(rank)
        if old is None:
            raise NotFound(f"会员等级 {rank} 不存在", field="rank")
        check_ladder([*(lv for lv in ladder.values() if lv.rank != rank), rule])
        await _write(conn, rule, operator=operator, now=now, new=False)
        await audit.record(
            conn, operator=operator, section=SECTION, target=f"member_level:{rank}",
            old=level_doc(old), new=level_doc(rule), now=now,
        )  # fmt: skip
    log.info("member level %s changed by %s", rank, operator)
    return rule


async def delete_level(rank: int, *, operator: str, now: datetime) -> None:
    """Delete a level no member holds (a held one is refused, 409: lower those members first)."""
    async with changing(MEMBER_LEVELS) as conn:
        ladder = await _locked_ladder(conn)
        old = ladder.get(rank)
        if old is None:
            raise NotFound(f"会员等级 {rank} 不存在", field="rank")
        rows = await fetch(conn, "SELECT COUNT(*) AS n FROM member WHERE level = $1", [rank])
        held = int(rows[0]["n"])
        if held:
            raise Conflict(
                f"还有 {held} 位会员处于该等级，不能删除；请先调整这些会员的等级", field="rank"
            )
        await MemberLevel.filter(rank=rank).using_db(conn).delete()
        await audit.record(
            conn, operator=operator, section=SECTION, target=f"member_level:{rank}",
            old=level_doc(old), now=now,
        )  # fmt: skip
    log.info("member level %s deleted by %s", rank, operator)
