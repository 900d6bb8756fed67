"""Database wiring: one tortoise config for the server, the CLI, the jobs and the tests."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

from runtime.pg_codecs import install_codecs

DEFAULT_DB_URL = "sqlite://var/queue-rebate.sqlite3"


def with_database(db_url: str, name: str) -> str:
    """A PostgreSQL ``db_url`` naming database ``name`` instead; its query (``?host=/run/dir``
    for a Unix socket, pool sizes) is kept."""
    return urlsplit(db_url)._replace(path=f"/{name}").geturl()


def tortoise_config(db_url: str) -> dict[str, Any]:
    """``sqlite://path`` (embedded default) or ``postgres://user@host:port/db`` (asyncpg).
    Every PostgreSQL connection gets runtime.pg_codecs' timestamptz codec when it opens."""
    connection: str | dict[str, Any] = db_url
    if db_url.startswith(("postgres://", "postgresql://", "asyncpg://")):  # tortoise: asyncpg
        connection = expand_db_url(db_url)
        connection["credentials"]["init"] = install_codecs
        connection["credentials"]["reset"] = keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": ["models"],
                "migrations": "migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def keep_session(connection: object) -> None:
    """What a connection needs when it goes back to the pool, beyond the rollback of an open
    transaction that asyncpg always does: nothing. asyncpg's default reset (``SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) is one more round trip per
    acquisition, undoing session state this service never leaves: its advisory locks are
    transaction-scoped, its cursors live in transactions, it never SETs a session variable, and
    LISTEN runs on a connection of its own, outside the pool."""


@asynccontextmanager
async def database(db_url: str) -> AsyncIterator[None]:
    """Open the ORM for the life of the block (also usable as an aiohttp ``cleanup_ctx``)."""
    ctx = await Tortoise.init(config=tortoise_config(db_url))
    try:
        yield
    finally:
        await ctx.close_connections()


def conn() -> BaseDBAsyncClient:
    return connections.get("default")


def dialect() -> str:
    """``postgres`` or ``sqlite``."""
    return "postgres" if conn().capabilities.dialect == "postgres" else "sqlite"
