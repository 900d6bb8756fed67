"""The operation log (操作日志): one row per change an operator makes, written in the change's own
transaction by ``record`` — the one place audit rows are written — and read by ``trail``.

Sections: ``base``, ``clearing``, ``display``, ``withdrawal``, ``points_transfer``, ``love``
(settings), ``distribution``
(分销设置), ``product`` / ``store`` / ``cashier`` (their rebate settings), ``commission`` (a
store's commission), ``guardrail_ack`` (an acknowledged excess over a store's commission),
``merchant_application`` (approvals and rejections), ``merchant_invite``, ``team_level``,
``refund`` (refunds operators ask for), ``wallet_adjustment``, ``withdrawal_decision``,
``points_transferred`` (a member's 积分转让; operator ``member:<id>``), ``job`` (operators'
job runs) and ``operator`` (operator accounts and their API tokens, changed from the command line
as ``cli:<login name>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import AuditLog
from services.paging import DEFAULT_LIMIT, Page, page_by_id

SECTIONS = (
    "base",
    "clearing",
    "display",
    "withdrawal",
    "points_transfer",
    "love",
    "distribution",
    "union_pool",
    "supplier",
    "product",
    "store",
    "cashier",
    "commission",
    "guardrail_ack",
    "merchant_application",
    "merchant_invite",
    "team_level",
    "member_levels",
    "member_level",
    "refund",
    "wallet_adjustment",
    "withdrawal_decision",
    "points_transferred",
    "job",
    "operator",
)


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
    assert section in SECTIONS, f"unknown audit section {section!r}"
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
    operator: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[dict[str, Any]]:
    """Audit rows newest first, optionally of one section / target / operator, made in
    [``since``, ``until``)."""
    query = AuditLog.all()
    if section is not None:
        query = query.filter(section=section)
    if target is not None:
        query = query.filter(target=target)
    if operator is not None:
        query = query.filter(operator=operator)
    if since is not None:
        query = query.filter(created_at__gte=since)
    if until is not None:
        query = query.filter(created_at__lt=until)
    return (await page_by_id(query, cursor=cursor, limit=limit)).map(audit_json)
