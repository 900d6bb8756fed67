"""Thin helpers for the raw SQL of the hot path, the same on PostgreSQL and SQLite.

The ORM serves everything else; settlement writes many rows per transaction, so it uses
multi-row statements here (STACK.md: raw SQL is fine where the ORM is in the way).
"""

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

MAX_PARAMS = 30_000  # below both PostgreSQL's 32767 and SQLite's 32766 bind parameters


def is_pg(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def placeholders(conn: BaseDBAsyncClient, count: int, start: int = 1) -> list[str]:
    if is_pg(conn):
        return [f"${i}" for i in range(start, start + count)]
    return ["?"] * count


def marks(start: int, count: int) -> str:
    """``$start, …`` for ``count`` parameters, e.g. an IN list (``bind`` adapts it to SQLite)."""
    return ", ".join(f"${i}" for i in range(start, start + count))


_PARAM = re.compile(r"\$(\d+)")


def sql(conn: BaseDBAsyncClient, text: str) -> str:
    """Write queries with ``$1, $2…``; on SQLite they become ``?``. Only for statements whose
    parameters appear in order; ``bind`` handles any order."""
    return text if is_pg(conn) else _PARAM.sub("?", text)


def bind(conn: BaseDBAsyncClient, text: str, args: Sequence[Any]) -> tuple[str, list[Any]]:
    """``$N`` placeholders with their arguments, for PostgreSQL as written; for SQLite as ``?``
    with the arguments re-ordered (and repeated) as the placeholders appear."""
    if is_pg(conn):
        return text, list(args)
    order = [int(n) for n in _PARAM.findall(text)]
    return _PARAM.sub("?", text), [args[n - 1] for n in order]


async def fetch(
    conn: BaseDBAsyncClient, text: str, args: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    # execute_query_dict always fetches (tortoise's execute_query drops RETURNING rows on asyncpg)
    return await conn.execute_query_dict(*bind(conn, text, args))


async def execute(conn: BaseDBAsyncClient, text: str, args: Sequence[Any] = ()) -> int:
    count, _ = await conn.execute_query(*bind(conn, text, args))
    return count


async def insert_many(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    returning: str | None = None,
    on_conflict: str | None = None,
) -> list[dict[str, Any]]:
    """Multi-row INSERT in chunks under the bind-parameter limit; RETURNING rows in input order.
    ``on_conflict``: what follows ``ON CONFLICT``, e.g. ``"(key) DO NOTHING"``."""
    rows = list(rows)
    out: list[dict[str, Any]] = []
    per_chunk = max(1, MAX_PARAMS // len(columns))
    cols = ", ".join(columns)
    for at in range(0, len(rows), per_chunk):
        values, args = values_list(conn, len(columns), rows[at : at + per_chunk])
        text = f"INSERT INTO {table} ({cols}) VALUES {values}"
        if on_conflict:
            text += f" ON CONFLICT {on_conflict}"
        if returning:
            text += f" RETURNING {returning}"
        if returning:
            out.extend(await conn.execute_query_dict(text, args))
        else:
            await conn.execute_query(text, args)
    return out


def values_list(
    conn: BaseDBAsyncClient, width: int, rows: Sequence[Sequence[Any]]
) -> tuple[str, list[Any]]:
    """``($1, $2), ($3, $4)…`` for ``rows`` of ``width`` values (placeholders of ``conn``'s
    dialect), and the values in order. Callers keep ``width × len(rows)`` under MAX_PARAMS."""
    args: list[Any] = []
    groups = []
    for row in rows:
        groups.append(f"({', '.join(placeholders(conn, width, len(args) + 1))})")
        args.extend(row)
    return ", ".join(groups), args


def dumps(doc: Any) -> str | None:
    return None if doc is None else json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def loads(raw: Any) -> Any:
    if raw is None or isinstance(raw, (dict, list)):
        return raw
    return json.loads(raw)


def as_datetime(value: Any) -> datetime:
    """Raw SQLite rows carry timestamps as text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
