"""The checked-in migrations build exactly the schema the models describe, on both backends.

Each backend gets a fresh, empty database (PostgreSQL: a uniquely named one, dropped after),
migrated with the same code path as ``queue-rebate migrate``.
"""

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.models import Model

from runtime.cli import describe_changes, migrate_database, model_changes
from runtime.config import Settings
from runtime.db import tortoise_config
from tests.conftest import create_pg_database, drop_pg_database, pg_url


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, not even tables."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/fresh.sqlite3"
        return
    name = await create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await drop_pg_database(name)


async def _columns(conn: BaseDBAsyncClient) -> dict[str, set[str]]:
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row["t"], set()).add(row["c"])
        return found
    _, tables = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
    columns = {}
    for table in (row["name"] for row in tables):
        _, rows = await conn.execute_query(f'PRAGMA table_info("{table}")')
        columns[table] = {row["name"] for row in rows}
    return columns


async def _indexes(conn: BaseDBAsyncClient) -> dict[str, set[tuple[str | None, ...]]]:
    """Table → the column tuples of its indexes (None for an expression, e.g. a constant)."""
    found: dict[str, set[tuple[str | None, ...]]] = {}
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(
            "SELECT t.relname AS t, i.relname AS i, a.attname AS c"
            " FROM pg_index x"
            " JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'"
            " CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
            " LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " ORDER BY t.relname, i.relname, k.ord"
        )
        by_index: dict[tuple[str, str], list[str | None]] = {}
        for row in rows:
            by_index.setdefault((row["t"], row["i"]), []).append(row["c"])
        for (table, _), cols in by_index.items():
            found.setdefault(table, set()).add(tuple(cols))
        return found
    _, tables = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
    for table in (row["name"] for row in tables):
        _, index_rows = await conn.execute_query(f'PRAGMA index_list("{table}")')
        for index in index_rows:
            _, info = await conn.execute_query(f'PRAGMA index_info("{index["name"]}")')
            cols = tuple(row["name"] for row in sorted(info, key=lambda r: r["seqno"]))
            found.setdefault(table, set()).add(cols)
    return found


def _column(model: type[Model], name: str) -> str:
    """The column behind a name in ``Meta.indexes``: a foreign key's name means its ``_id``."""
    meta = model._meta
    field = meta.fields_map[name]
    source = getattr(field, "source_field", None) or name
    return meta.fields_db_projection.get(source, source)


def _expected_indexes(model: type[Model]) -> set[tuple[str | None, ...]]:
    meta = model._meta
    expected: set[tuple[str | None, ...]] = set()
    for group in (*meta.indexes, *meta.unique_together):
        names: Any = getattr(group, "fields", group)  # tuple of names, or an Index
        expected.add(tuple(_column(model, name) for name in names))
    for name, field in meta.fields_map.items():
        if getattr(field, "index", False) and not field.unique and not field.pk:
            expected.add((_column(model, name),))
    return expected


async def test_migrations_create_every_table_column_and_index(empty_db_url: str) -> None:
    await migrate_database(Settings().with_database_url(empty_db_url), io.StringIO())
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(empty_db_url))
        assert ctx.apps is not None
        columns = await _columns(ctx.db())
        indexes = await _indexes(ctx.db())
        models = list(ctx.apps.get_models_iterable())
    assert "tortoise_migrations" in columns
    for model in models:
        table = model._meta.db_table
        assert table in columns, f"migrations create no table {table} for {model.__name__}"
        expected = set(model._meta.fields_db_projection.values())
        assert columns[table] == expected, f"{table}: columns differ from {model.__name__}"
        for wanted in _expected_indexes(model):
            assert wanted in indexes.get(table, set()), f"{table}: no index on {wanted}"


async def test_models_and_migrations_are_in_sync() -> None:
    writers = await model_changes()
    assert not writers, (
        "The models changed but migrations/ has no migration for it:\n  "
        + "\n  ".join(describe_changes(writers))
        + "\nRun `queue-rebate makemigrations --name <what changed>` and commit the new file."
    )


async def test_outbox_payloads_are_json_text_on_postgres(empty_db_url: str, pg_url: str) -> None:
    """Migrated and generated schemas agree: PostgreSQL ``json`` (stored as written), not
    ``jsonb`` (models.fields.JSONTextField); SQLite keeps its JSON text column."""
    await migrate_database(Settings().with_database_url(empty_db_url), io.StringIO())
    for url in (empty_db_url, pg_url):  # migrations; the test template's generate_schemas
        async with TortoiseContext() as ctx:
            await ctx.init(config=tortoise_config(url))
            conn = ctx.db()
            if conn.capabilities.dialect == "postgres":
                _, rows = await conn.execute_query(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = 'outbox_event' AND column_name = 'payload'"
                )
                assert rows[0]["data_type"] == "json", url
            else:
                _, rows = await conn.execute_query("PRAGMA table_info(outbox_event)")
                assert {r["name"]: r["type"] for r in rows}["payload"] == "JSON"
