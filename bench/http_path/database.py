"""The benchmark's own PostgreSQL database: created, migrated, seeded, vacuumed, read back.

The schema and the base settings come from ``queue-rebate migrate`` (the ``[rebate]`` table of
``stack.REBATE_TOML``: 支付后结算, one mall-wide queue). Only what the API cannot make yet is
written here: the products. Members, orders, payments and everything they cause go through HTTP.
This machine's PostgreSQL runs with autovacuum off, so ``VACUUM ANALYZE`` runs after seeding and
before every timed phase.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.dataset import asyncpg_url, drop_database, recreate_database
from bench.http_path.stack import REBATE_TOML, run_cli

ADMIN_URL = os.environ.get(
    "QR_BENCH_PG", os.environ.get("QR_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
)
DB_NAME = "qr_bench_http"  # the default; the pgbench scratch database adds _pgbench
PRICES_FEN = (990, 2_990, 4_990, 9_900, 16_800, 29_900, 59_900, 99_900)

__all__ = ["ADMIN_URL", "DB_NAME", "drop_database", "recreate_database"]


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_url(url))


async def create(scratch: Path, name: str) -> str:
    """A fresh database ``name``, migrated by ``queue-rebate migrate``, with the products."""
    url = await recreate_database(ADMIN_URL, name)
    config = scratch / "migrate.toml"
    config.write_text(f'[database]\nurl = "{url}"\n{REBATE_TOML}')
    await run_cli("migrate", "--config", str(config), "--db", url)
    conn = await connect(url)
    try:
        await conn.executemany(
            "INSERT INTO product (kind, name, price_fen, listed, rebate_enabled, created_at)"
            " VALUES ('self', $1, $2, true, true, now())",
            [(f"商品{i + 1}", price) for i, price in enumerate(PRICES_FEN)],
        )
    finally:
        await conn.close()
    await vacuum_analyze(url)
    return url


async def product_ids(url: str) -> list[int]:
    conn = await connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM product ORDER BY id")]
    finally:
        await conn.close()


async def vacuum_analyze(url: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def backend_cpu_pids(conn: asyncpg.Connection, name: str) -> list[int]:
    """The server processes of every other session on database ``name``."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
    )
    return [r["pid"] for r in rows]


UNSETTLED_SQL = """
SELECT count(*) FROM order_line l JOIN orders o ON o.id = l.order_id
WHERE o.out_trade_no = ANY($1::text[]) AND (o.status = 'created' OR l.status <> 'settled')
"""


async def unsettled(conn: asyncpg.Connection, out_trade_nos: Sequence[str]) -> int:
    """Lines of these orders not yet settled (or whose order is not even paid)."""
    return int(await conn.fetchval(UNSETTLED_SQL, list(out_trade_nos)))


async def wait_settled(
    conn: asyncpg.Connection, out_trade_nos: Sequence[str], timeout: float = 300.0
) -> float:
    """The moment (``time.perf_counter``) every line of these orders was seen settled, polling
    every 20 ms; RuntimeError after ``timeout`` s."""
    deadline = time.perf_counter() + timeout
    while await unsettled(conn, out_trade_nos):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"order lines still unsettled after {timeout:.0f} s")
        await asyncio.sleep(0.02)
    return time.perf_counter()


# Every paid order's every line: settled, one extraction, one entry; no pending row left; no
# order paid twice. Each query counts the rows that break its rule.
SETTLED_ONCE_CHECKS: dict[str, str] = {
    "pending settlements left": "SELECT count(*) FROM pending_settlement",
    "paid order lines not settled": (
        "SELECT count(*) FROM order_line l JOIN orders o ON o.id = l.order_id"
        " WHERE o.status <> 'created' AND l.status <> 'settled'"
    ),
    "paid order lines without exactly one entry": (
        "SELECT count(*) FROM order_line l JOIN orders o ON o.id = l.order_id"
        " LEFT JOIN (SELECT line_id, count(*) AS n FROM entry GROUP BY line_id) e"
        " ON e.line_id = l.id WHERE o.status <> 'created' AND coalesce(e.n, 0) <> 1"
    ),
    "paid order lines without exactly one extraction": (
        "SELECT count(*) FROM order_line l JOIN orders o ON o.id = l.order_id"
        " LEFT JOIN (SELECT line_id, count(*) AS n FROM extraction GROUP BY line_id) x"
        " ON x.line_id = l.id WHERE o.status <> 'created' AND coalesce(x.n, 0) <> 1"
    ),
    "orders with more than one payment notice": (
        "SELECT count(*) FROM (SELECT order_id FROM payment_notice GROUP BY order_id"
        " HAVING count(*) > 1) d"
    ),
}


async def settled_once_problems(url: str, paid: Sequence[str]) -> list[str]:
    """What breaks "every order the benchmark paid settled exactly once" (empty: all good)."""
    conn = await connect(url)
    try:
        found = [
            f"{what}: {n}"
            for what, query in SETTLED_ONCE_CHECKS.items()
            if (n := await conn.fetchval(query))
        ]
        not_paid = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE out_trade_no = ANY($1::text[])"
            " AND status = 'created'",
            list(paid),
        )
        paid_total = await conn.fetchval("SELECT count(*) FROM orders WHERE status <> 'created'")
    finally:
        await conn.close()
    if not_paid:
        found.append(f"acknowledged payments whose order is still unpaid: {not_paid}")
    if paid_total != len(paid):
        found.append(f"{paid_total} paid orders in the database, {len(paid)} paid by the bench")
    return found


async def counts(url: str) -> dict[str, Any]:
    conn = await connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM orders WHERE status <> 'created') AS paid_orders,"
            " (SELECT count(*) FROM entry) AS entries, (SELECT count(*) FROM member) AS members"
        )
        return dict(row)
    finally:
        await conn.close()
