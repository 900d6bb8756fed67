"""Two processes' settings caches on one PostgreSQL database (runtime.listen, runtime.row_cache):
each with its own LISTEN connection (a hub) and its own cache, as two server processes have.

A change committed by one is heard by the other within a short bound; a change rolled back
invalidates nothing; when a hub's connection is killed, its cache serves nothing from memory
until the hub listens again, and then starts afresh (what was said meanwhile is lost)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import pytest

from models import RebateConfig
from rebate.settings import BaseSettings
from runtime.listen import ListenHub, connect_params
from runtime.row_cache import RowCache, changing
from services.settings.codec import base_from_doc, to_doc

pytestmark = pytest.mark.postgres

BOUND_S = 2.0  # a committed change reaches the other process within this


@dataclass
class Process:
    """One process's cache and hub, and how often it read the row from the database."""

    cache: RowCache
    hub: ListenHub = field(init=False)
    reads: int = 0
    blocked: bool = False  # its connects fail (the database unreachable from it)
    refused: int = 0

    @classmethod
    def on(cls, pg_url: str) -> Process:
        params = connect_params(pg_url)
        proc = cls(RowCache("qr_settings"))

        async def connect() -> asyncpg.Connection:
            if proc.blocked:
                proc.refused += 1
                raise OSError("unreachable (test)")
            return await asyncpg.connect(**params)

        proc.hub = ListenHub(connect, backoff=(0.02, 0.1))
        return proc

    async def base(self) -> int:
        async def read() -> BaseSettings:
            self.reads += 1
            row = await RebateConfig.get_or_none(id=1)
            return base_from_doc(row.base if row else None)

        return (await self.cache.get("base", read)).extract_bp


async def write(extract_bp: int) -> None:
    doc = to_doc(BaseSettings(extract_bp=extract_bp))
    if not await RebateConfig.filter(id=1).update(base=doc):
        await RebateConfig.create(id=1, base=doc)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = BOUND_S) -> float:
    """Seconds until ``check()`` holds (fails after ``timeout``)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "not within the bound"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
async def processes(pg: None, pg_url: str) -> AsyncIterator[list[Process]]:
    made = [Process.on(pg_url), Process.on(pg_url)]
    for proc in made:
        await proc.hub.start()
        await proc.cache.follow(proc.hub)
        await proc.hub.wait_listening(BOUND_S)
    await write(1000)
    yield made
    for proc in made:
        proc.cache.unfollow(proc.hub)
        await proc.hub.stop()


async def test_a_committed_change_is_heard_by_the_other_process(
    processes: list[Process],
) -> None:
    one, two = processes
    assert (await one.base(), await two.base()) == (1000, 1000)
    assert (await two.base(), two.reads) == (1000, 1)  # from memory
    async with changing(one.cache, "base"):
        await write(2000)
    assert await one.base() == 2000  # at once, here

    async def heard() -> bool:
        return await two.base() == 2000

    print(f"heard after {await until(heard) * 1000:.1f} ms")
    assert (await two.base(), two.reads) == (2000, 2)  # once more, then from memory again


async def test_a_rolled_back_change_invalidates_nothing(processes: list[Process]) -> None:
    one, two = processes
    await two.base()
    with pytest.raises(RuntimeError):
        async with changing(one.cache, "base"):
            await write(2000)
            raise RuntimeError("rolled back")
    # a later committed change of another key: notifications arrive in commit order, so once
    # it is heard, the rolled-back one would have been heard before it
    heard: list[str] = []
    await two.hub.subscribe("qr_settings", heard.append)
    async with changing(one.cache, "store:1"):
        pass

    async def marker() -> bool:
        return "store:1" in heard

    await until(marker)
    assert heard == ["store:1"]
    assert (await two.base(), two.reads) == (1000, 1)  # still from memory


async def test_a_killed_listen_connection_serves_nothing_stale_and_reconnects(
    processes: list[Process], pg_url: str
) -> None:
    one, two = processes
    assert await two.base() == 1000
    pid = two.hub.server_pid
    two.blocked = True
    admin = await asyncpg.connect(**connect_params(pg_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()

    async def deaf() -> bool:
        return not two.hub.listening and two.refused >= 1

    await until(deaf)
    async with changing(one.cache, "base"):  # two cannot hear this one
        await write(2000)
    assert await two.base() == 2000  # read from the database while deaf …
    assert await two.base() == 2000
    reads_while_deaf = two.reads
    assert reads_while_deaf >= 3  # … every time

    two.blocked = False
    await two.hub.wait_listening(BOUND_S)
    assert two.hub.reconnects == 1 and two.hub.server_pid != pid
    assert await two.base() == 2000
    assert await two.base() == 2000
    assert two.reads == reads_while_deaf + 1  # from memory again, after one fresh read
    async with changing(one.cache, "base"):
        await write(3000)

    async def heard() -> bool:
        return await two.base() == 3000

    await until(heard)  # and it hears again
