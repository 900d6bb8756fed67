"""Merchants' statements (商家结算单) as operators list them: every store's, newest first,
filtered by status and store, each with its store's name (a statement's lines are the store's
view, ``onboarding.statement_lines``). Paying them is the ``merchant-payouts`` job."""

from __future__ import annotations

from typing import Any

from models import Statement, StatementStatus
from services.merchants.onboarding import statement_json
from services.paging import Page, page_by_id

STATUSES = tuple(s.value for s in StatementStatus)


async def list_statements(
    *, status: str | None, store_id: int | None, cursor: int | None, limit: int
) -> Page[dict[str, Any]]:
    query = Statement.all().select_related("store")
    if status is not None:
        query = query.filter(status=status)
    if store_id is not None:
        query = query.filter(store_id=store_id)
    page = await page_by_id(query, cursor=cursor, limit=limit)
    return page.map(
        lambda s: {
            **statement_json(s),
            "store_id": s.store_id,  # type: ignore[attr-defined]
            "store_name": s.store.name,
            "note": s.note,
        }
    )
