"""工会排队设置: the settings document in its own row (``union_pool_config``, id 1), read once
per process and then from the settings cache, changed inside ``changing(POOL)``. The row is
also the pool's lock: contributions hold it shared, the daily close exclusively
(``lock_pool``), so a close sees every contribution committed before it and none half-way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from models import PoolConfig
from rebate.errors import InvalidSetting
from rebate.settings import OrderSource
from rebate.union_pool_settings import PoolSettings
from runtime.sql import execute, fetch, is_pg
from services.settings.cache import POOL, SETTINGS, assert_changing
from services.settings.codec import _known

_FIELDS = set(PoolSettings.__dataclass_fields__)


def to_doc(settings: PoolSettings) -> dict[str, Any]:
    doc = asdict(settings)
    doc["sources"] = [s.value for s in settings.sources]
    return doc


def from_doc(doc: Mapping[str, Any] | None) -> PoolSettings:
    """A settings document → validated settings. Unknown keys are refused, by name."""
    if doc is None:
        return PoolSettings()
    if not isinstance(doc, Mapping):
        raise InvalidSetting("工会排队设置必须是对象", field="union_pool")
    _known(doc, _FIELDS, "")
    values = dict(doc)
    raw = values.get("sources", [])
    if not isinstance(raw, list | tuple) or not all(isinstance(s, str) for s in raw):
        raise InvalidSetting("参与工会排队的订单来源必须是列表", field="sources")
    try:
        values["sources"] = tuple(OrderSource(s) for s in raw)
    except ValueError:
        raise InvalidSetting(
            "参与工会排队的订单来源必须是 mall、store、cashier", field="sources"
        ) from None
    return PoolSettings(**values).check()


async def load_pool(conn: BaseDBAsyncClient | None = None) -> PoolSettings:
    """The settings in force (``conn``: read through it when not cached)."""

    async def read() -> PoolSettings:
        query = PoolConfig.filter(id=1)
        if conn is not None:
            query = query.using_db(conn)
        row = await query.first()
        return from_doc(row.doc if row else None)

    return await SETTINGS.get(POOL, read)


async def store_pool(conn: BaseDBAsyncClient, settings: PoolSettings) -> None:
    """Write the row inside the caller's ``changing(POOL)`` transaction."""
    assert_changing(POOL)
    doc = to_doc(settings.check())
    if not await PoolConfig.filter(id=1).using_db(conn).update(doc=doc):
        await PoolConfig.create(id=1, doc=doc, using_db=conn)


async def lock_pool(conn: BaseDBAsyncClient, now: datetime, *, exclusive: bool) -> None:
    """Hold the pool for the rest of ``conn``'s transaction: shared by contributions, exclusive
    by the daily close (SQLite runs one writer at a time: there it is a read)."""
    lock = (" FOR UPDATE" if exclusive else " FOR SHARE") if is_pg(conn) else ""
    text = f"SELECT id FROM union_pool_config WHERE id = 1{lock}"
    if not await fetch(conn, text):  # before the first settings are saved
        await execute(
            conn,
            "INSERT INTO union_pool_config (id, doc, updated_at) VALUES (1, $1, $2)"
            " ON CONFLICT (id) DO NOTHING",
            ["{}", now],
        )
        await fetch(conn, text)
