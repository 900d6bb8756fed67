"""The base settings row (排队返利插件基础设置) and per-target settings, read for the engine.

``load_base()`` reads the row once per process and then from the settings cache
(``services.settings.cache``); ``save_base`` changes it and invalidates it everywhere."""

from models import Cashier, Product, RebateConfig, Store
from rebate.settings import BaseSettings, TargetSettings
from services.settings.cache import BASE, SETTINGS, assert_changing, changing
from services.settings.codec import base_from_doc, target_from_doc, to_doc


async def load_base() -> BaseSettings:
    return await SETTINGS.get(BASE, _read_base)


async def _read_base() -> BaseSettings:
    row = await RebateConfig.get_or_none(id=1)
    return base_from_doc(row.base if row else None)


async def save_base(base: BaseSettings) -> None:
    """Replace the base settings (in a transaction of its own)."""
    async with changing(BASE):
        await write_base(base)


async def write_base(base: BaseSettings) -> None:
    """Replace the base settings inside the caller's ``changing(BASE)`` transaction."""
    assert_changing(BASE)
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
