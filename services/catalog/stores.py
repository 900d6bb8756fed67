"""Stores as an operator finds them: each store with its cashier's id (what
``PUT /api/admin/cashiers/{id}/rebate`` needs), its merchant and its commission."""

from __future__ import annotations

from typing import Any

from models import Cashier, Merchant, Product, Store
from services.errors import NotFound
from services.paging import DEFAULT_LIMIT, Page, page_by_id


def _store_json(store: Store, cashier: Cashier | None, merchant: Merchant | None) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "commission_bp": store.commission_bp,
        "rebate_enabled": store.rebate_enabled,
        "cashier_id": cashier.id if cashier else None,
        "cashier_rebate_enabled": cashier.rebate_enabled if cashier else None,
        "owner_id": merchant.owner_id if merchant else None,  # type: ignore[attr-defined]
        "created_at": store.created_at.isoformat(),
    }


async def list_stores(
    *, cursor: int | None = None, limit: int = DEFAULT_LIMIT
) -> Page[dict[str, Any]]:
    """Every store, oldest first (the order they were opened), with its cashier's id."""
    page = await page_by_id(Store.all(), cursor=cursor, limit=limit, newest_first=False)
    ids = [s.id for s in page.items]
    cashiers = {c.store_id: c for c in await Cashier.filter(store_id__in=ids)}  # type: ignore[attr-defined]
    merchants = {m.store_id: m for m in await Merchant.filter(store_id__in=ids)}  # type: ignore[attr-defined]
    return page.map(lambda s: _store_json(s, cashiers.get(s.id), merchants.get(s.id)))


async def store_detail(store_id: int) -> dict[str, Any]:
    """One store: its row, its cashier's id and rebate settings, its merchant (owner, inviter,
    application) and how many goods it sells."""
    store = await Store.get_or_none(id=store_id)
    if store is None:
        raise NotFound("门店不存在", field="id")
    cashier = await Cashier.get_or_none(store_id=store_id)
    merchant = await Merchant.get_or_none(store_id=store_id)
    return {
        **_store_json(store, cashier, merchant),
        "rebate": store.rebate,
        "cashier": None
        if cashier is None
        else {"id": cashier.id, "rebate_enabled": cashier.rebate_enabled, "rebate": cashier.rebate},
        "merchant": None
        if merchant is None
        else {
            "owner_id": merchant.owner_id,  # type: ignore[attr-defined]
            "inviter_id": merchant.inviter_id,  # type: ignore[attr-defined]
            "application_id": merchant.application_id,  # type: ignore[attr-defined]
        },
        "products": await Product.filter(store_id=store_id).count(),
    }
