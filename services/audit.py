"""The operation log (操作日志): one row per change an operator makes, written in the change's own
transaction by ``record`` — the one place audit rows are written — and read by ``trail``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import AuditLog
from services.paging import DEFAULT_LIMIT, Page, page_by_id


async def record(
    conn: BaseDBAsyncClient,
    *,
    operator: str,
    section: str,
    now: datetime,
    target: str = "",
    old: Any = None,
    new: Any = None,
) -> None:
    """Write one audit row on ``conn`` (the transaction that makes the change)."""
    await AuditLog.create(
        operator=operator,
        section=section,
        target=target,
        old=old,
        new=new,
        created_at=now,
        using_db=conn,
    )


def audit_json(row: AuditLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "operator": row.operator,
        "section": row.section,
        "target": row.target,
        "old": row.old,
        "new": row.new,
        "created_at": row.created_at.isoformat(),
    }


async def trail(
    *,
    section: str | None,
    target: str | None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[dict[str, Any]]:
    """Audit rows newest first, optionally of one section / target."""
    query = AuditLog.all()
    if section is not None:
        query = query.filter(section=section)
    if target is not None:
        query = query.filter(target=target)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(audit_json)
