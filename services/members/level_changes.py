"""A member's 会员等级 changes: by an operator (up or down, with a reason, in the operation log),
or by itself when an order completes and the member now meets a higher level's conditions
(``rebate.member_levels``: never lower). Each change is a ``member_level_change`` row (member,
old, new, source, operator or ``system``, reason, time) and a ``member_level_changed`` event in
the outbox, in the transaction that changes the level.

What the conditions count: the member's completed orders (status ``completed``: an order whose
every line was refunded is ``refunded`` and no longer counts) and the cash paid on their lines
that are not refunded, over every source (mall, store, cashier), within the level's window of
days before the completion (``None``: ever).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models import MemberLevelChange
from rebate.errors import InvalidSetting
from rebate.member_levels import LevelRule, Measured, Window, next_level, upgrade, windows
from runtime.sql import dumps, execute, fetch, insert_many, is_pg
from services import audit
from services.errors import NotFound
from services.members.levels import level_doc, load_levels, name_of
from services.outbox import Event, emit
from services.paging import DEFAULT_LIMIT, Page, page_by_id

SYSTEM = "system"  # the operator of an automatic change
EVENT = "member_level_changed"
MAX_REASON_CHARS = 80
CHANGE_COLUMNS = (
    "member_id",
    "from_level",
    "to_level",
    "source",
    "operator",
    "reason",
    "detail",
    "created_at",
)


@dataclass(frozen=True)
class LevelChange:
    member_id: int
    from_level: int
    to_level: int
    source: str  # auto | operator
    operator: str
    reason: str

    @property
    def changed(self) -> bool:
        return self.from_level != self.to_level


async def _record(
    conn: BaseDBAsyncClient, change: LevelChange, detail: dict[str, Any] | None, now: datetime
) -> None:
    """The history row and the member's notice, in the caller's transaction."""
    row = (
        change.member_id, change.from_level, change.to_level, change.source, change.operator,
        change.reason, dumps(detail), now,
    )  # fmt: skip
    await insert_many(conn, "member_level_change", CHANGE_COLUMNS, [row])
    payload = {
        "from_level": change.from_level,
        "to_level": change.to_level,
        "from_name": await name_of(change.from_level),
        "name": await name_of(change.to_level),
        "source": change.source,
        "reason": change.reason,
    }
    await emit(conn, [Event(EVENT, change.member_id, payload)], now)


async def assign_level(
    member_id: int, level: int, *, reason: str, operator: str, now: datetime
) -> LevelChange:
    """An operator sets a member's level: a defined rank, or 0 (no level); up or down. The
    same level again changes nothing and records nothing."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 0 < len(reason) <= MAX_REASON_CHARS:
        raise InvalidSetting(f"调整原因必须是 1–{MAX_REASON_CHARS} 个字", field="reason")
    if level != 0 and await name_of(level) is None:
        raise InvalidSetting(f"会员等级 {level} 不存在", field="level")
    async with in_transaction() as conn:
        lock = " FOR UPDATE" if is_pg(conn) else ""
        rows = await fetch(conn, f"SELECT level FROM member WHERE id = $1{lock}", [member_id])
        if not rows:
            raise NotFound("会员不存在", field="member_id")
        change = LevelChange(member_id, int(rows[0]["level"]), level, "operator", operator, reason)
        if not change.changed:
            return change
        await execute(conn, "UPDATE member SET level = $1 WHERE id = $2", [level, member_id])
        await _record(conn, change, None, now)
        await audit.record(
            conn, operator=operator, section="member_level", target=f"member:{member_id}",
            old={"level": change.from_level, "name": await name_of(change.from_level)},
            new={"level": level, "name": await name_of(level), "reason": reason},
            now=now,
        )  # fmt: skip
    return change


async def measure(
    conn: BaseDBAsyncClient, member_id: int, spans: Sequence[Window], now: datetime
) -> tuple[int, dict[Window, Measured]]:
    """The member's level and, per window, their completed orders and spend — one statement."""
    columns, args = [], [member_id]
    for i, days in enumerate(spans):
        if days is None:
            columns.append(f"COUNT(DISTINCT o.id) AS n{i}, COALESCE(SUM(l.paid_fen), 0) AS s{i}")
            continue
        args.append(now - timedelta(days=days))  # type: ignore[arg-type]
        since = f"o.completed_at >= ${len(args)}"
        columns.append(
            f"COUNT(DISTINCT CASE WHEN {since} THEN o.id END) AS n{i},"
            f" COALESCE(SUM(CASE WHEN {since} THEN l.paid_fen END), 0) AS s{i}"
        )
    rows = await fetch(
        conn,
        f"SELECT m.level{''.join(', ' + c for c in columns)} FROM member m"
        " LEFT JOIN orders o ON o.member_id = m.id AND o.status = 'completed'"
        " LEFT JOIN order_line l ON l.order_id = o.id AND l.status <> 'refunded'"
        " WHERE m.id = $1 GROUP BY m.level",
        args,
    )
    if not rows:
        raise NotFound("会员不存在", field="member_id")
    row = rows[0]
    found = {d: Measured(int(row[f"s{i}"]), int(row[f"n{i}"])) for i, d in enumerate(spans)}
    return int(row["level"]), found


async def on_order_completed(
    conn: BaseDBAsyncClient, member_id: int, order_id: int, now: datetime
) -> int | None:
    """Raise the member to the highest level their completed orders now reach, in the
    completion's transaction; the new level, or None. Nothing is read when no level has
    conditions (the ladder comes from the settings cache)."""
    auto = [lv for lv in await load_levels() if lv.automatic]
    return await _raise(conn, member_id, auto, now, {"order_id": order_id}) if auto else None


async def _raise(
    conn: BaseDBAsyncClient,
    member_id: int,
    auto: Sequence[LevelRule],
    now: datetime,
    why: dict[str, Any],
) -> int | None:
    current, measured = await measure(conn, member_id, windows(auto), now)
    target = upgrade(auto, current, measured)
    if target == current:
        return None
    raised = await execute(  # only from the level we saw: a concurrent change wins
        conn,
        "UPDATE member SET level = $1 WHERE id = $2 AND level = $3",
        [target, member_id, current],
    )
    if not raised:
        return None
    seen = {
        str(days) if days is not None else "ever": {"spend_fen": m.spend_fen, "orders": m.orders}
        for days, m in measured.items()
    }
    change = LevelChange(member_id, current, target, "auto", SYSTEM, "达到升级条件")
    await _record(conn, change, {**why, "measured": seen}, now)
    return target


async def evaluate_all(operator: str, now: datetime, *, batch: int = 200) -> dict[str, int]:
    """Raise every member with a completed order to the level they reach now (after the ladder
    changed: otherwise a member rises only when their next order completes). Each batch of
    members is its own transaction; never lowers anyone. The changes are automatic ones (their
    detail names the operator who asked for the evaluation)."""
    auto = [lv for lv in await load_levels() if lv.automatic]
    after, seen, raised = 0, 0, 0
    while auto:
        rows = await fetch(
            connections.get("default"),
            "SELECT DISTINCT member_id FROM orders WHERE status = 'completed' AND member_id > $1"
            " ORDER BY member_id LIMIT $2",
            [after, batch],
        )
        if not rows:
            break
        ids = [int(r["member_id"]) for r in rows]
        async with in_transaction() as conn:
            for member_id in ids:
                raised += (
                    await _raise(conn, member_id, auto, now, {"evaluated_by": operator}) is not None
                )
        seen, after = seen + len(ids), ids[-1]
    return {"evaluated": seen, "raised": raised}


def _progress(rule: LevelRule | None, measured: dict[Window, Measured]) -> dict[str, Any] | None:
    if rule is None:
        return None
    seen = measured.get(rule.days, Measured())
    return {
        "days": rule.days,
        "spend_fen": seen.spend_fen,
        "orders": seen.orders,
        "spend_fen_needed": max(0, rule.spend_fen - seen.spend_fen)
        if rule.spend_fen is not None
        else None,
        "orders_needed": max(0, rule.orders - seen.orders) if rule.orders is not None else None,
        "reached": rule.reached_by(measured),
    }


async def level_progress(member_id: int, now: datetime) -> dict[str, Any]:
    """My level, the next level that can be reached, and how far I am from it."""
    levels = await load_levels()
    conn = connections.get("default")
    current, measured = await measure(conn, member_id, windows(levels), now)
    nxt = next_level(levels, current)
    return {
        "level": {"rank": current, "name": await name_of(current)},
        "next": level_doc(nxt) if nxt is not None else None,
        "progress": _progress(nxt, measured),
    }


def change_json(row: MemberLevelChange) -> dict[str, Any]:
    return {
        "id": row.id,
        "member_id": row.member_id,  # type: ignore[attr-defined]
        "from_level": row.from_level,
        "to_level": row.to_level,
        "source": row.source,
        "operator": row.operator,
        "reason": row.reason,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
    }


async def level_changes(
    member_id: int, *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """A member's level changes, newest first."""
    query = MemberLevelChange.filter(member_id=member_id)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(change_json)
