"""The settings cache in one process (runtime.row_cache, services.settings.cache): a value is
read from the database once, a change is seen at once by the process that made it, a load
that raced an invalidation is not kept, what was read during a change that rolled back is
dropped, nothing leaks from one database to the next, and on PostgreSQL nothing is served
from memory unless a hub listens. (Across processes: tests/runtime/test_listen_pg.py.)"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tortoise import Tortoise

from models import RebateConfig
from rebate.settings import BaseSettings
from runtime.db import tortoise_config
from runtime.row_cache import RowCache, changing
from services.settings.base import load_base
from services.settings.cache import SETTINGS
from services.settings.codec import base_from_doc, to_doc

SQLITE = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def counting(cache_reads: list[int]) -> Callable[[], Awaitable[BaseSettings]]:
    async def read() -> BaseSettings:
        cache_reads.append(1)
        row = await RebateConfig.get_or_none(id=1)
        return base_from_doc(row.base if row else None)

    return read


async def write(extract_bp: int) -> None:
    doc = to_doc(BaseSettings(extract_bp=extract_bp))
    if not await RebateConfig.filter(id=1).update(base=doc):
        await RebateConfig.create(id=1, base=doc)


@SQLITE  # PostgreSQL serves from memory only with a listening hub: test_listen_pg.py
async def test_a_value_is_read_once_and_a_change_here_is_seen_at_once(db: str) -> None:
    cache, reads = RowCache("test"), []
    await write(1000)
    assert (await cache.get("base", counting(reads))).extract_bp == 1000
    assert (await cache.get("base", counting(reads))).extract_bp == 1000
    assert len(reads) == 1
    async with changing(cache, "base"):
        await write(2000)
    assert (await cache.get("base", counting(reads))).extract_bp == 2000
    assert (await cache.get("base", counting(reads))).extract_bp == 2000
    assert len(reads) == 2


async def test_postgres_without_a_listening_hub_reads_every_time(db: str) -> None:
    cache, reads = RowCache("test"), []
    await cache.get("base", counting(reads))
    await cache.get("base", counting(reads))
    assert len(reads) == (2 if db == "postgres" else 1)


@SQLITE  # PostgreSQL serves from memory only with a listening hub: test_listen_pg.py
async def test_a_load_that_raced_an_invalidation_is_not_kept(db: str) -> None:
    cache, reads = RowCache("test"), []
    await write(1000)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> BaseSettings:
        value = await counting(reads)()  # reads the old row …
        started.set()
        await release.wait()  # … while the row changes and its invalidation arrives
        return value

    loading = asyncio.create_task(cache.get("base", slow))
    await started.wait()
    await write(2000)
    cache.on_notify("base")
    release.set()
    assert (await loading).extract_bp == 1000  # the caller gets what it read …
    assert (await cache.get("base", counting(reads))).extract_bp == 2000  # … nobody else
    assert len(reads) == 2


@SQLITE  # PostgreSQL serves from memory only with a listening hub: test_listen_pg.py
async def test_what_was_read_during_a_change_is_dropped_when_it_rolls_back(db: str) -> None:
    cache, reads = RowCache("test"), []
    await write(1000)
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with changing(cache, "base"):
            await write(2000)
            # SQLite: a reader outside the transaction shares its connection, sees 2000 …
            await cache.get("base", counting(reads))
            raise RuntimeError("changed my mind")
    # … which must not outlive the rollback
    assert (await cache.get("base", counting(reads))).extract_bp == 1000
    assert (await cache.get("base", counting(reads))).extract_bp == 1000
    assert len(reads) == 2


async def test_changing_refuses_to_run_inside_another_transaction(db: str) -> None:
    from tortoise.transactions import in_transaction

    with pytest.raises(RuntimeError, match="outermost"):
        async with in_transaction():
            async with changing(RowCache("test"), "base"):
                pass


async def test_a_writer_outside_changing_is_refused(db: str) -> None:
    from services.settings.base import write_base

    with pytest.raises(RuntimeError, match="changing"):
        await write_base(BaseSettings())


async def test_nothing_leaks_from_one_database_to_the_next(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """Each test opens a fresh database: the process's cache must not answer from the last."""
    seen = []
    for extract_bp in (1000, 2000):
        path = tmp_path / f"{extract_bp}.sqlite3"
        shutil.copyfile(sqlite_template, path)
        ctx = await Tortoise.init(config=tortoise_config(f"sqlite://{path}"))
        try:
            await write(extract_bp)  # as a template or another process left it: no invalidation
            seen.append((await load_base()).extract_bp)
            seen.append((await load_base()).extract_bp)
            assert len(SETTINGS) >= 1  # served from memory on SQLite
        finally:
            await ctx.close_connections()
    assert seen == [1000, 1000, 2000, 2000]
