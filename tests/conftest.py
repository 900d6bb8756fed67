"""Shared fixtures. Storage tests run against both the embedded SQLite and the real PostgreSQL.

PostgreSQL is never mocked and never skipped: if it is down, these tests fail and say so.
Set ``QR_TEST_PG`` to point them at another server (default: the local trust-auth one).

Each test gets a fresh database cloned from a template that is built once per session with the
schema (PostgreSQL ``CREATE DATABASE … TEMPLATE``; a file copy for SQLite).
"""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from runtime.db import tortoise_config, with_database

PG_ADMIN_URL = os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")


def pg_url(dbname: str) -> str:
    return with_database(PG_ADMIN_URL, dbname)


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    except OSError as exc:  # environment problem, reported loudly
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            "or set QR_TEST_PG"
        ) from exc


async def create_pg_database(template: str | None = None) -> str:
    name = f"qr_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await admin.close()
    return name


async def drop_pg_database(name: str) -> None:
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _with_schema(url: str) -> None:
    # tortoise caches compiled INSERTs per connection *name*; our backends share the name
    # "default", so a statement compiled for one backend would leak into the other without this.
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    try:
        await Tortoise.generate_schemas()
    finally:
        await ctx.close_connections()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = asyncio.run(create_pg_database())
    asyncio.run(_with_schema(pg_url(name)))
    yield name
    asyncio.run(drop_pg_database(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_with_schema(f"sqlite://{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_template: str
) -> AsyncIterator[str]:
    """A fresh database with the schema, on each backend, opened as tortoise's default
    connection for the test. Yields the dialect name."""
    pg_name = None
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite://{path}"
    else:
        pg_name = await create_pg_database(pg_template)
        url = pg_url(pg_name)
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    try:
        yield request.param
    finally:
        await ctx.close_connections()
        if pg_name:
            await drop_pg_database(pg_name)


@pytest.fixture(name="pg_url")
async def pg_url_fixture(pg_template: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database URL with the schema, for tests that open their own pools."""
    name = await create_pg_database(pg_template)
    EXECUTOR_CACHE.clear()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[None]:
    """A fresh PostgreSQL database as tortoise's default connection (concurrency tests; take
    ``pg_url`` too for the same database's URL)."""
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(pg_url))
    try:
        yield
    finally:
        await ctx.close_connections()


# --- Redis -----------------------------------------------------------------------------------

REDIS_URL = os.environ.get("QR_TEST_REDIS", "redis://127.0.0.1:6379/0")
REDIS_DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
async def key_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    redis = Redis.from_url(REDIS_URL)
    try:
        left = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if left:
            await redis.delete(*left)
    finally:
        await redis.aclose()


@pytest.fixture
async def new_redis() -> AsyncIterator[Callable[..., Redis]]:
    """``new_redis(url=REDIS_URL)``: a Redis client of its own, as each process has its own
    (short timeouts, closed after the test)."""
    made: list[Redis] = []

    def connect(url: str = REDIS_URL) -> Redis:
        made.append(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1))
        return made[-1]

    yield connect
    for client in made:
        await client.aclose()
