"""What members read of the catalogue: listed products, with their price and rebate terms —
never their cost or supply price, never a delisted product (it reads as not found).

Rebate terms are what an order of one unit would get at the member's level (会员等级; level 0
for anyone not logged in) with no cumulative spend counted, by the same rules settlement uses
(``services.queues.plan.goods_rules``, the ratio chain ``rebate.ratios.ratio_for``): whether the
rebate applies (the master switch and the product's — and its store's — switch), the reward
ratio and where in the chain it came from, the entitlement of one unit, the extraction ratio,
and whether a lottery may replace the ratio — and, as an estimate (``services.queues.economics.new_entry_estimates``), how long a new
entry of one unit would wait in the queue it would join today. Cumulative spend, the reward
time windows and limits may still change what an order gets.
"""

from __future__ import annotations

from typing import Any

from models import Product, ProductKind
from rebate.errors import InvalidSetting
from rebate.money import apply_bp
from rebate.queues import queue_key_for
from rebate.ratios import ratio_for
from rebate.settings import BaseSettings, OrderSource, TargetSettings
from services.catalog.rules import ProductRules, product_rules_of, store_rules
from services.clock import utcnow
from services.errors import NotFound
from services.paging import Page, page_by_id
from services.queues.economics import NewEntryEstimate, new_entry_estimates
from services.queues.plan import goods_rules
from services.settings.base import load_base

BASE_LEVEL = 0
NO_REBATE: dict[str, Any] = {
    "applies": False,
    "reward_bp": None,
    "ratio_source": None,
    "entitlement_fen": None,
    "extract_bp": None,
    "lottery": False,
    "estimate": None,
}


def rebate_terms(
    product: ProductRules, store: TargetSettings | None, base: BaseSettings, level: int
) -> dict[str, Any]:
    """One unit's rebate terms at ``level`` (see the module doc), the estimate left out."""
    rules = goods_rules(product, store, base, product.store_id)
    if not (base.enabled and rules.target.enabled):
        return dict(NO_REBATE)
    source = OrderSource.STORE if product.kind == ProductKind.STORE else OrderSource.MALL
    try:
        choice = ratio_for(source, rules.layers, level=level, spend_by_days={})
    except InvalidSetting:  # no ratio configured anywhere in the chain
        return dict(NO_REBATE)
    return {
        "applies": True,
        "reward_bp": choice.ratio_bp,
        "ratio_source": choice.source,
        "entitlement_fen": apply_bp(product.price_fen, choice.ratio_bp),
        "extract_bp": rules.extract_bp,
        "lottery": choice.lottery is not None,
        "estimate": None,
        "queue_key": queue_key_for(source, base, product_id=product.id, store_id=product.store_id),
    }


def estimate_json(found: NewEntryEstimate) -> dict[str, Any]:
    return {
        "ahead": found.ahead,
        "ahead_fen": found.ahead_fen,
        "eta_seconds": None if found.eta is None else int(found.eta.total_seconds()),
        "estimated_full_at": None
        if found.estimated_full_at is None
        else found.estimated_full_at.isoformat(),
        "daily_inflow_fen": found.daily_inflow_fen,
        "is_estimate": True,
        "note": found.note,
    }


async def with_estimates(terms: list[dict[str, Any]]) -> None:
    """Each applying term's ``queue_key`` replaced by its new entry's ``estimate``."""
    applying = [t for t in terms if t["applies"]]
    wanted = [(t.pop("queue_key"), int(t["entitlement_fen"])) for t in applying]
    for t, found in zip(applying, await new_entry_estimates(wanted, now=utcnow()), strict=True):
        t["estimate"] = estimate_json(found)


async def _shown(rows: list[Product], level: int) -> list[dict[str, Any]]:
    base = await load_base()
    store_ids = {p.store_id for p in rows if p.kind == ProductKind.STORE}  # type: ignore[attr-defined]
    stores = {i: await store_rules(i) for i in sorted(store_ids)}
    shown = [
        {
            "id": p.id,
            "kind": ProductKind(p.kind).value,
            "store_id": p.store_id,  # type: ignore[attr-defined]
            "name": p.name,
            "price_fen": p.price_fen,
            "images": p.images or [],
            "stock": p.stock,
            "rebate": rebate_terms(
                product_rules_of(p),
                stores.get(p.store_id) if p.kind == ProductKind.STORE else None,  # type: ignore[attr-defined]
                base,
                level,
            ),
        }
        for p in rows
    ]
    await with_estimates([p["rebate"] for p in shown])
    return shown


async def listed_products(
    *,
    kind: str | None,
    store_id: int | None,
    cursor: int | None,
    limit: int,
    level: int = BASE_LEVEL,
) -> Page[dict[str, Any]]:
    """Listed products newest first, of one kind and / or one store if asked; terms at
    ``level``."""
    query = Product.filter(listed=True)
    if kind is not None:
        query = query.filter(kind=kind)
    if store_id is not None:
        query = query.filter(store_id=store_id)
    page = await page_by_id(query, cursor=cursor, limit=limit)
    return Page(await _shown(page.items, level), page.next_cursor)


async def listed_product(product_id: int, *, level: int = BASE_LEVEL) -> dict[str, Any]:
    row = await Product.get_or_none(id=product_id, listed=True)
    if row is None:
        raise NotFound("商品不存在或已下架", field="id")
    return (await _shown([row], level))[0]
