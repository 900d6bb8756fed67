"""The base settings row (排队返利插件基础设置) and per-target settings, read for the engine."""

from models import Cashier, Product, RebateConfig, Store
from rebate.settings import BaseSettings, TargetSettings
from services.settings.codec import base_from_doc, target_from_doc, to_doc


async def load_base() -> BaseSettings:
    row = await RebateConfig.get_or_none(id=1)
    return base_from_doc(row.base if row else None)


async def save_base(base: BaseSettings) -> None:
    doc = to_doc(base)
    updated = await RebateConfig.filter(id=1).update(base=doc)
    if not updated:
        await RebateConfig.create(id=1, base=doc)


def product_target(product: Product) -> TargetSettings:
    return target_from_doc(product.rebate, enabled=product.rebate_enabled)


def store_target(store: Store) -> TargetSettings:
    return target_from_doc(store.rebate, enabled=store.rebate_enabled)


def cashier_target(cashier: Cashier) -> TargetSettings:
    return target_from_doc(cashier.rebate, enabled=cashier.rebate_enabled)
