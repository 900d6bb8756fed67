"""A fresh benchmark database with one mall-wide queue and N waiting entries, loaded by COPY.

What conservation (SPEC §2) asks of preloaded rows, and how they meet it: every preloaded entry
is ``waiting`` with ``paid_fen = 0`` and no payouts (so ``0 ≤ paid ≤ entitlement`` and
``paid = Σ payouts``); each line's extraction names its entry and extracted nothing (as under an
extraction ratio of 0), so the queue's money counters are all 0;
``waiting_count`` equals the number of preloaded entries and ``next_seq`` is one past the last;
every wallet is zero. Each entry has its own completed order (with the posting of its payment)
and settled line, as if it had been settled long ago (an applied line leaves no pending row).

Foreign-key triggers are skipped during the load (``session_replication_role = replica``): the
rows are generated consistent here, and a 1 M-row load would otherwise spend most of its time
in per-row key checks. ``VACUUM ANALYZE`` afterwards gives the planner real statistics.
"""

import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from ledger.postings import COLUMNS as POSTING_COLUMNS
from rebate.money import apply_bp
from rebate.settings import BaseSettings, RatioSettings, SettleOn
from runtime.config import Settings
from runtime.db import tortoise_config, with_database
from server.database import migrate_database
from services.orders.lifecycle import payment_posting
from services.queues.settled_rows import ENTRY_COLUMNS, EXTRACTION_COLUMNS
from services.settings.base import save_base

EXTRACT_BP = 6_500  # the seed's worked example: extraction 65 %, reward 130 %
REWARD_BP = 13_000
PRICES_FEN = (990, 2_990, 4_990, 9_900, 16_800, 29_900, 59_900, 99_900)
CHUNK = 50_000
# The same members for every queue size, so that 10 k and 1 M waiting differ only in the queue:
# with fewer members their wallets and keys would sit in cache and flatter the small queue.
MEMBERS = 100_000
T_PRELOAD = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Dataset:
    url: str  # tortoise URL (postgres://…)
    queue_id: int
    product_prices: dict[int, int]  # product id → price (fen)
    members: int  # member ids are 1..members
    waiting: int


def asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def recreate_database(admin_url: str, name: str) -> str:
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(asyncpg_url(admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def bench_base() -> BaseSettings:
    """Mall-wide queue (开启商家队列), settle when paid, queue order, the seed's ratios."""
    return BaseSettings(
        settle_on=SettleOn.PAID,
        mall_queue_unified=True,
        extract_bp=EXTRACT_BP,
        ratios=RatioSettings(default_bp=REWARD_BP),
    )


async def create_schema(url: str) -> None:
    """Schema by the migrations (``queue-rebate migrate``) and the benchmark's base settings,
    exactly as an operator creates them."""
    await migrate_database(Settings().with_database_url(url), io.StringIO())
    EXECUTOR_CACHE.clear()
    ctx = await Tortoise.init(config=tortoise_config(url))
    try:
        await save_base(bench_base())
    finally:
        await ctx.close_connections()


async def preload(url: str, *, waiting: int, members: int | None = None, seed: int = 1) -> Dataset:
    """Members with empty wallets, products, the ``mall`` queue and ``waiting`` entries."""
    members = members or MEMBERS
    rng = random.Random(seed)
    conn = await asyncpg.connect(asyncpg_url(url))
    try:
        await conn.execute("SET session_replication_role = replica")
        await _copy_members(conn, members)
        prices = {i + 1: p for i, p in enumerate(PRICES_FEN)}
        await conn.copy_records_to_table(
            "product",
            columns=("id", "kind", "name", "price_fen", "listed", "rebate_enabled", "created_at"),
            records=[
                (pid, "self", f"商品{pid}", p, True, True, T_PRELOAD) for pid, p in prices.items()
            ],
        )
        queue_id = await conn.fetchval(
            "INSERT INTO queue (key, next_seq, waiting_count, extracted_fen, paid_fen,"
            " withheld_fen, unallocated_fen, rr_size, rr_slots, rr_index, created_at)"
            " VALUES ('mall', $1, $2, 0, 0, 0, 0, 0, '', 0, $3) RETURNING id",
            waiting + 1,
            waiting,
            T_PRELOAD,
        )
        for start in range(1, waiting + 1, CHUNK):
            stop = min(start + CHUNK, waiting + 1)
            rows = [
                (i, rng.randint(1, members), rng.choice(list(prices))) for i in range(start, stop)
            ]
            await _copy_settled(conn, queue_id, prices, rows)
        for table in LOADED:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return Dataset(url, queue_id, prices, members, waiting)


LOADED = ("member", "product", "orders", "order_line", "entry", "extraction", "posting")


async def _copy_members(conn: asyncpg.Connection, members: int) -> None:
    """Members with empty wallets."""
    await conn.copy_records_to_table(
        "member",
        columns=("id", "openid", "nickname", "avatar_url", "level", "referral_code", "created_at"),
        records=(
            (i, f"bench-{i}", f"会员{i}", "", 0, f"B{i:012d}", T_PRELOAD)
            for i in range(1, members + 1)
        ),
    )
    await conn.copy_records_to_table(
        "wallet",
        columns=("member_id", "cash_fen", "points", "love_available", "love_frozen"),
        records=((i, 0, 0, 0, 0) for i in range(1, members + 1)),
    )


async def _copy_settled(
    conn: asyncpg.Connection,
    queue_id: int,
    prices: dict[int, int],
    rows: list[tuple[int, int, int]],
) -> None:
    """One completed order, one settled line, its extraction (of 0) and one waiting entry
    (seq = id) per row."""

    def when(i: int) -> datetime:
        return T_PRELOAD - timedelta(seconds=len(rows) - i % len(rows))

    await conn.copy_records_to_table(
        "orders",
        columns=ORDER_COLUMNS,
        records=(
            (
                i,
                m,
                "mall",
                None,
                "completed",
                f"P{i:030d}",
                prices[p],
                0,
                prices[p],
                when(i),
                when(i),
                when(i),
            )
            for i, m, p in rows
        ),
    )
    await conn.copy_records_to_table(
        "order_line",
        columns=LINE_COLUMNS,
        records=((i, i, p, 1, prices[p], 0, "settled") for i, _, p in rows),
    )
    await conn.copy_records_to_table(
        "entry",
        columns=("id", *ENTRY_COLUMNS),
        records=(_waiting_entry(i, queue_id, m, p, prices[p], when(i)) for i, m, p in rows),
    )
    await conn.copy_records_to_table(
        "extraction",
        columns=("id", *EXTRACTION_COLUMNS),
        records=((i, queue_id, i, i, i, 0, 0, 0, 0, when(i)) for i, _, _ in rows),
    )
    await conn.copy_records_to_table(
        "posting",
        columns=POSTING_COLUMNS,
        records=((*payment_posting(i, prices[p]), when(i)) for i, _, p in rows),
    )


def _waiting_entry(
    i: int, queue_id: int, member_id: int, product_id: int, price: int, at: datetime
) -> tuple[object, ...]:
    """Entry ``i`` (ENTRY_COLUMNS with its id): waiting at seq ``i``, nothing received yet."""
    return (
        i, queue_id, i, member_id, i, i, f"product:{product_id}", "2026-11-24", price, REWARD_BP,
        "base:default", apply_bp(price, REWARD_BP), 0, "waiting", True, 0, None, False, at, at,
    )  # fmt: skip


ORDER_COLUMNS = (
    "id",
    "member_id",
    "source",
    "store_id",
    "status",
    "out_trade_no",
    "total_fen",
    "deduction_fen",
    "paid_fen",
    "paid_at",
    "completed_at",
    "created_at",
)
LINE_COLUMNS = ("id", "order_id", "product_id", "quantity", "paid_fen", "deduction_fen", "status")
