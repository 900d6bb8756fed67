"""Database wiring: one tortoise config for the server, the CLI, the jobs and the tests."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

from runtime.pg_codecs import install_codecs

DEFAULT_DB_URL = "sqlite://var/queue-rebate.sqlite3"
POSTGRES_SCHEMES = ("postgres://", "postgresql://", "asyncpg://")
# libpq's sslmode values, which asyncpg's ``ssl`` argument takes as they are
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SSL_BOOLEANS = {"true": "require", "1": "require", "false": "disable", "0": "disable"}


def postgres_ssl(db_url: str) -> str | None:
    """The TLS mode a PostgreSQL URL asks for with ``?sslmode=MODE`` (libpq's names) or
    ``?ssl=true|false`` (``require`` | ``disable``); None when it names none (asyncpg's default,
    ``prefer``). Raises ValueError for any other value."""
    if not db_url.startswith(POSTGRES_SCHEMES):
        return None
    mode: str | None = None
    for key, value in parse_qsl(urlsplit(db_url).query, keep_blank_values=True):
        if key == "sslmode":
            if value not in SSL_MODES:
                raise ValueError(f"sslmode={value!r} is not a TLS mode")
            mode = value
        elif key == "ssl":
            if value.lower() not in SSL_BOOLEANS and value not in SSL_MODES:
                raise ValueError(f"ssl={value!r} is not true, false or a TLS mode")
            mode = SSL_BOOLEANS.get(value.lower(), value)
    return mode


def asyncpg_credentials(db_url: str) -> dict[str, Any]:
    """tortoise's connection dict for a PostgreSQL URL, with ``sslmode`` / ``ssl`` taken out of
    the query and handed to asyncpg as its ``ssl`` argument (tortoise would pass ``sslmode`` on
    as an unknown keyword, and casts ``ssl`` with ``bool()``, so ``ssl=disable`` meant TLS on)."""
    mode = postgres_ssl(db_url)
    parts = urlsplit(db_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("sslmode", "ssl")]
    connection = expand_db_url(parts._replace(query=urlencode(query)).geturl())
    if mode is not None:
        connection["credentials"]["ssl"] = mode
    return connection


def with_database(db_url: str, name: str) -> str:
    """A PostgreSQL ``db_url`` naming database ``name`` instead; its query (``?host=/run/dir``
    for a Unix socket, pool sizes) is kept."""
    return urlsplit(db_url)._replace(path=f"/{name}").geturl()


def tortoise_config(db_url: str) -> dict[str, Any]:
    """``sqlite://path`` (embedded default) or ``postgres[ql]://user@host:port/db`` (asyncpg).
    Every PostgreSQL connection gets runtime.pg_codecs' timestamptz codec when it opens."""
    connection: str | dict[str, Any] = db_url
    if db_url.startswith(POSTGRES_SCHEMES):  # tortoise: asyncpg
        connection = asyncpg_credentials(db_url)
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
