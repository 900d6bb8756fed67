"""What members read of the catalogue: listed products, with their price and rebate terms —
never their cost or supply price, never a delisted product (it reads as not found).

Rebate terms are what an order of one unit would get at the base level (会员等级 0, no
cumulative spend yet), by the same rules settlement uses (``services.queues.plan.goods_rules``,
the ratio chain ``rebate.ratios.ratio_for``): whether the rebate applies (the master switch and
the product's — and its store's — switch), the reward ratio and where in the chain it came
from, the entitlement of one unit, the extraction ratio, and whether a lottery may replace the
ratio. A member's own level, spend and the reward time windows may change what an order gets.
"""

from __future__ import annotations

from typing import Any

from models import Product, ProductKind
from rebate.errors import InvalidSetting
from rebate.money import apply_bp
from rebate.ratios import ratio_for
from rebate.settings import BaseSettings, OrderSource, TargetSettings
from services.catalog.rules import ProductRules, product_rules_of, store_rules
from services.errors import NotFound
from services.paging import Page, page_by_id
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
}


def rebate_terms(
    product: ProductRules, store: TargetSettings | None, base: BaseSettings
) -> dict[str, Any]:
    """One unit's rebate terms at the base level (see the module doc)."""
    rules = goods_rules(product, store, base, product.store_id)
    if not (base.enabled and rules.target.enabled):
        return dict(NO_REBATE)
    source = OrderSource.STORE if product.kind == ProductKind.STORE else OrderSource.MALL
    try:
        choice = ratio_for(source, rules.layers, level=BASE_LEVEL, spend_by_days={})
    except InvalidSetting:  # no ratio configured anywhere in the chain
        return dict(NO_REBATE)
    return {
        "applies": True,
        "reward_bp": choice.ratio_bp,
        "ratio_source": choice.source,
        "entitlement_fen": apply_bp(product.price_fen, choice.ratio_bp),
        "extract_bp": rules.extract_bp,
        "lottery": choice.lottery is not None,
    }


async def _shown(rows: list[Product]) -> list[dict[str, Any]]:
    base = await load_base()
    store_ids = {p.store_id for p in rows if p.kind == ProductKind.STORE}  # type: ignore[attr-defined]
    stores = {i: await store_rules(i) for i in sorted(store_ids)}
    return [
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
            ),
        }
        for p in rows
    ]


async def listed_products(
    *, kind: str | None, store_id: int | None, cursor: int | None, limit: int
) -> Page[dict[str, Any]]:
    """Listed products newest first, of one kind and / or one store if asked."""
    query = Product.filter(listed=True)
    if kind is not None:
        query = query.filter(kind=kind)
    if store_id is not None:
        query = query.filter(store_id=store_id)
    page = await page_by_id(query, cursor=cursor, limit=limit)
    return Page(await _shown(page.items), page.next_cursor)


async def listed_product(product_id: int) -> dict[str, Any]:
    row = await Product.get_or_none(id=product_id, listed=True)
    if row is None:
        raise NotFound("商品不存在或已下架", field="id")
    return (await _shown([row]))[0]
