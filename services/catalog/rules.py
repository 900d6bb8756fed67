"""What orders and settlement read of a product, store or cashier — price, kind, listing,
whether it counts stock, and rebate settings — from the settings cache
(``services.settings.cache``): a row is read from the database once per process until it
changes, not once per order line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from models import Cashier, Product, ProductKind, Store
from rebate.settings import TargetSettings
from services.settings.base import cashier_target, product_target, store_target
from services.settings.cache import SETTINGS, cashier_key, product_key, store_key


@dataclass(frozen=True)
class ProductRules:
    id: int
    kind: ProductKind
    store_id: int | None
    price_fen: int
    listed: bool
    target: TargetSettings  # 商品设置 / 门店商品设置, with its switch
    counted: bool = False  # has a stock that orders reserve (its count is never cached)


async def product_rules(product_id: int) -> ProductRules | None:
    return (await products_rules([product_id])).get(product_id)


async def products_rules(
    product_ids: Iterable[int], conn: BaseDBAsyncClient | None = None
) -> dict[int, ProductRules]:
    """The products that exist among ``product_ids``: those not cached in one read (through
    ``conn`` if given)."""

    async def read(keys: list[str]) -> dict[str, ProductRules]:
        query = Product.filter(id__in=[int(k.split(":")[1]) for k in keys])
        rows = await (query.using_db(conn) if conn is not None else query)
        return {product_key(p.id): product_rules_of(p) for p in rows}

    found = await SETTINGS.get_many([product_key(i) for i in product_ids], read)
    return {rules.id: rules for rules in found.values()}


def product_rules_of(p: Product) -> ProductRules:
    store_id = p.store_id  # type: ignore[attr-defined]
    return ProductRules(
        p.id,
        ProductKind(p.kind),
        store_id,
        p.price_fen,
        p.listed,
        product_target(p),
        counted=p.stock is not None,
    )


async def store_rules(
    store_id: int, conn: BaseDBAsyncClient | None = None
) -> TargetSettings | None:
    """门店排队返利设置 (None: no such store)."""

    async def read() -> TargetSettings | None:
        query = Store.filter(id=store_id)
        store = await (query.using_db(conn) if conn is not None else query).first()
        return None if store is None else store_target(store)

    return await SETTINGS.get(store_key(store_id), read)


async def cashier_rules(
    store_id: int, conn: BaseDBAsyncClient | None = None
) -> TargetSettings | None:
    """收银台排队返利设置 of the store's cashier (None: the store has no cashier)."""

    async def read() -> TargetSettings | None:
        query = Cashier.filter(store_id=store_id)
        cashier = await (query.using_db(conn) if conn is not None else query).first()
        return None if cashier is None else cashier_target(cashier)

    return await SETTINGS.get(cashier_key(store_id), read)
