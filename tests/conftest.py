"""Shared fixtures. Storage tests run against both the embedded SQLite and the real PostgreSQL.

PostgreSQL is never mocked and never skipped: if it is down, these tests fail and say so.
Set ``QR_TEST_PG`` to point them at another server (default: the local trust-auth one).
"""

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from runtime.db import tortoise_config

PG_ADMIN_URL = os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


async def _create_pg_database() -> str:
    name = f"qr_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    except OSError as exc:  # pragma: no cover - environment problem, reported loudly
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            "or set QR_TEST_PG"
        ) from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_pg_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A fresh, empty database with the schema, on each backend. Yields the dialect name."""
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/test.sqlite3"
    else:
        pg_name = await _create_pg_database()
        url = _pg_url(pg_name)
    # tortoise caches compiled INSERTs per connection *name*; our backends share the name
    # "default", so a SQLite statement would leak into the PostgreSQL run without this.
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    await Tortoise.generate_schemas()
    try:
        yield request.param
    finally:
        await ctx.close_connections()
        if pg_name:
            await _drop_pg_database(pg_name)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database URL with the schema, for tests that open their own pools."""
    name = await _create_pg_database()
    url = _pg_url(name)
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    await Tortoise.generate_schemas()
    await ctx.close_connections()
    try:
        yield url
    finally:
        await _drop_pg_database(name)
