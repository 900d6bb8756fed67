"""The process's cache of settings and of the catalog's rebate rules (``runtime.row_cache``):
no request reads them from the database twice.

Keys: ``base`` (the base settings row), ``distribution`` (分销设置), ``display`` (the member
display settings and the operator's custom names), ``product:<id>`` (a
product's price, kind, store, listing and rebate settings), ``store:<id>`` and
``cashier:<store id>`` (their rebate settings), ``member_levels`` (the 会员等级 ladder).
Whatever changes one of those rows does it in ``async with changing(<key>…) as conn:``; other
processes hear it on ``qr_settings``.

One cache per process, not an argument: the settings are read by a dozen services that get no
resources handed down, and the cache is correct on its own — without a listening hub on
PostgreSQL it serves nothing from memory. The server makes it follow its hub
(``server.app.listen_ctx``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise.backends.base.client import BaseDBAsyncClient

from runtime import row_cache
from runtime.row_cache import RowCache

CHANNEL = "qr_settings"
SETTINGS = RowCache(CHANNEL)

BASE = "base"
DISTRIBUTION = "distribution"
DISPLAY = "display"  # the member display settings and the custom names
PRODUCTS = "product"  # every product
MEMBER_LEVELS = "member_levels"  # the 会员等级 ladder (services.members.levels)
POOL = "union_pool"  # 工会排队设置 (services.pool.settings)


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


def store_key(store_id: int) -> str:
    return f"store:{store_id}"


def cashier_key(store_id: int) -> str:
    return f"cashier:{store_id}"


@asynccontextmanager
async def changing(*keys: str) -> AsyncIterator[BaseDBAsyncClient]:
    """The outermost transaction of a change of the rows cached under ``keys``."""
    async with row_cache.changing(SETTINGS, *keys) as conn:
        yield conn


def assert_changing(key: str) -> None:
    """Writers of a cached row call this: the row must change inside ``changing(key)``."""
    if not SETTINGS.changing_now(key):
        raise RuntimeError(f"{key} must change inside services.settings.cache.changing()")
