"""Opening the configured database for a command: proving it answers, refusing one that is not
migrated, and migrating it (then seeding the base rebate settings once). Every failure is a
``CommandError`` that says what to do next."""

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.executor import MigrationExecutor, PlanStep

from runtime.config import Settings, redact_url
from runtime.db import POSTGRES_SCHEMES, conn, tortoise_config
from runtime.errors import CommandError

PROBE_TIMEOUT_S = 15


PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def sqlite_file(url: str) -> Path | None:
    """The file behind a ``sqlite://`` URL (None for other databases and ``:memory:``)."""
    if not url.startswith("sqlite://"):
        return None
    parts = urlsplit(url)
    path = parts.netloc + parts.path
    return None if path in ("", ":memory:") else Path(path)


@asynccontextmanager
async def opened(url: str, *, must_exist: bool) -> AsyncIterator[None]:
    """The ORM on ``url`` for the block, after proving the database answers.

    With ``must_exist`` a missing SQLite file is an error instead of a new empty database.
    """
    path = sqlite_file(url)
    if path is not None:
        if must_exist and not path.exists():
            raise CommandError(
                f"database file {path} does not exist: create it with `queue-rebate migrate` "
                "(same --config / --db), or point --db or QR_DATABASE_URL at the right database"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    # tortoise caches compiled INSERTs by connection *name*, and every database here is called
    # "default": forget them so that a second database in this process gets its own dialect.
    EXECUTOR_CACHE.clear()
    async with TortoiseContext() as ctx:
        try:
            await ctx.init(config=tortoise_config(url))
            await asyncio.wait_for(ctx.db().execute_query("SELECT 1"), PROBE_TIMEOUT_S)
        except Exception as exc:
            message = f"cannot open database {redact_url(url)}: {_reason(exc)}. {_hint(url, exc)}"
            message = " ".join(message.split())  # one line, whatever the driver said
            raise CommandError(message) from None
        yield


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S} s"
    return str(exc).strip().rstrip(".") or type(exc).__name__


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")


def _hint(url: str, exc: BaseException) -> str:
    """What to do about ``exc``, the real cause: refused, unknown host, TLS, credentials, a
    missing database. Starting a local PostgreSQL is suggested only for a local one refusing."""
    if not url.startswith(POSTGRES_SCHEMES):
        return "Check the path and its permissions, or pass --db / set QR_DATABASE_URL"
    host = urlsplit(url).hostname or ""
    while exc.__cause__ is not None:  # tortoise wraps asyncpg's errors
        exc = exc.__cause__
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, ssl.SSLError) or "SSL" in text or "certificate" in text:
        return "TLS failed: check the server's certificate and the URL's sslmode"
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return "Check the user and password in the URL (or set QR_DATABASE_URL)"
    if name == "InvalidCatalogNameError":
        return "Create the database first (createdb), or point --db / QR_DATABASE_URL at it"
    if isinstance(exc, socket.gaierror):
        return f"Check the host name {host!r} in the URL"
    if isinstance(exc, OSError) and host in LOCAL_HOSTS:
        return (
            f"Is PostgreSQL running? Start it with `{PG_START}`, or pass --db / set QR_DATABASE_URL"
        )
    if isinstance(exc, OSError | TimeoutError):
        return f"Check that {host} accepts connections from here (address, port, firewall)"
    return "Check the URL in --db / QR_DATABASE_URL / [database] url"


async def require_migrated(url: str) -> None:
    """Refuse an open database that lacks a migration on disk."""
    apps: dict[str, dict[str, Any]] = tortoise_config(url)["apps"]
    plan = await MigrationExecutor(conn(), apps).plan()
    if plan:
        pending = ", ".join(f"{s.migration.app_label}.{s.migration.name}" for s in plan)
        raise CommandError(
            f"database {redact_url(url)} is not migrated ({len(plan)} pending: {pending}):"
            " run `queue-rebate migrate` (same --config / --db) first"
        )


async def migrate_database(settings: Settings, out: TextIO) -> None:
    """Apply every migration not yet applied, then seed the base rebate settings row once."""
    url = settings.database.url
    print(f"Database: {redact_url(url)}", file=out)
    async with opened(url, must_exist=False):

        def report(_connection: str, plan: list[PlanStep], _fake: bool, _dry: bool) -> None:
            if plan:
                print(f"  {len(plan)} migration(s) to apply.", file=out)
            else:
                print("  No migrations to apply: the schema is up to date.", file=out)

        def progress(event: str, app_label: str, name: str) -> None:
            if event == "apply_start":
                print(f"  Applying {app_label}.{name} ...", end="", file=out, flush=True)
            elif event == "apply_done":
                print(" OK", file=out)

        await tortoise_migrate(
            config=tortoise_config(url), direction="forward", reporter=report, progress=progress
        )
        await _seed_base_settings(settings, out)


async def _seed_base_settings(settings: Settings, out: TextIO) -> None:
    from models import RebateConfig
    from services.settings.base import save_base

    if await RebateConfig.exists(id=1):
        print("  Base rebate settings: already in the database, left unchanged.", file=out)
        return
    await save_base(settings.rebate)
    print("  Base rebate settings: seeded from the [rebate] configuration.", file=out)
