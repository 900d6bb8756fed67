"""Stores, cashiers and products, with the rebate defaults SPEC §6 asks for."""

from tortoise.transactions import in_transaction

from models import Cashier, Product, ProductKind, Store
from rebate.errors import InvalidAmount
from rebate.money import check_fen
from services.errors import NotFound
from services.settings.base import load_base
from services.settings.cache import PRODUCTS, changing
from services.settings.codec import target_from_doc


async def new_store(
    name: str,
    *,
    commission_bp: int = 0,
    rebate: dict | None = None,
    cashier_rebate: dict | None = None,
) -> Store:
    """A store with its cashier (merchant approval creates both)."""
    target_from_doc(rebate)
    target_from_doc(cashier_rebate)
    async with in_transaction():
        store = await Store.create(name=name, commission_bp=commission_bp, rebate=rebate)
        await Cashier.create(store=store, rebate=cashier_rebate)
    return store


async def new_product(
    name: str,
    price_fen: int,
    *,
    kind: ProductKind = ProductKind.SELF,
    store_id: int | None = None,
    rebate: dict | None = None,
    rebate_enabled: bool | None = None,
) -> Product:
    """A product. Unless told otherwise it starts rebate-enabled exactly when 商品排队返利 is on."""
    check_fen(price_fen, field="price_fen")
    target_from_doc(rebate)  # refuse a bad settings document before anything is saved
    if (kind == ProductKind.STORE) != (store_id is not None):
        raise InvalidAmount("门店商品必须属于一个门店，其他商品不能属于门店", field="store_id")
    if store_id is not None and not await Store.exists(id=store_id):
        raise NotFound("门店不存在", field="store_id")
    if rebate_enabled is None:
        rebate_enabled = (await load_base()).new_products_enabled
    return await Product.create(
        name=name,
        price_fen=price_fen,
        kind=kind,
        store_id=store_id,
        rebate=rebate,
        rebate_enabled=rebate_enabled,
    )


async def enable_all_products() -> int:
    """一键启用: turn the rebate on for every existing self-operated and supplier product."""
    async with changing(PRODUCTS) as conn:
        return await (
            Product.filter(kind__in=[ProductKind.SELF, ProductKind.SUPPLIER])
            .using_db(conn)
            .update(rebate_enabled=True)
        )
