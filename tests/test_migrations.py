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
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.models import Model

from runtime.config import Settings
from runtime.db import tortoise_config
from server.cli import describe_changes, model_changes
from server.database import migrate_database, opened
from services.checks import check_conservation
from tests.conftest import create_pg_database, drop_pg_database
from tests.conftest import pg_url as pg_url_of


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, not even tables."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/fresh.sqlite3"
        return
    name = await create_pg_database()
    try:
        yield pg_url_of(name)
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
        payload = await _payload_type(ctx.db())
    assert payload == ("json" if empty_db_url.startswith("postgres") else "JSON")
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


async def _payload_type(conn: BaseDBAsyncClient) -> str:
    """The outbox payload column's type: PostgreSQL ``json`` (stored as written), not ``jsonb``
    (models.fields.JSONTextField); SQLite keeps its JSON text column."""
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'outbox_event' AND column_name = 'payload'"
        )
        return str(rows[0]["data_type"])
    _, rows = await conn.execute_query("PRAGMA table_info(outbox_event)")
    return str({r["name"]: r["type"] for r in rows}["payload"])


async def test_outbox_payloads_are_json_text_in_the_generated_schema(pg_url: str) -> None:
    """The test template's ``generate_schemas`` agrees with the migrations (checked on the
    migrated schema by ``test_migrations_create_every_table_column_and_index``)."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(pg_url))
        assert await _payload_type(ctx.db()) == "json"


# --- 0017: payouts become ledger lines --------------------------------------------------------

BEFORE_0017 = "models.0016_entry_order_index_dropped"
T = "2026-11-24 10:00:00+00:00"
# The seed's example at 0016: 甲 pays 168.00 (entry 1), 乙 pays 168.00; 乙's extraction pays
# 109.20 to 甲 (payout 1 and its ledger line payout:2:1); 甲's own extraction found no one waiting.
ROWS_0016 = (
    "INSERT INTO member (id, openid, nickname, avatar_url, level, referral_code, created_at)"
    f" VALUES (1, 'o1', '甲', '', 0, 'R1', '{T}'), (2, 'o2', '乙', '', 0, 'R2', '{T}')",
    "INSERT INTO orders (id, source, status, out_trade_no, total_fen, deduction_fen, paid_fen,"
    f" paid_at, created_at, member_id) VALUES (1, 'mall', 'paid', 'Q1', 16800, 0, 16800, '{T}',"
    f" '{T}', 1), (2, 'mall', 'paid', 'Q2', 16800, 0, 16800, '{T}', '{T}', 2)",
    "INSERT INTO order_line (id, quantity, paid_fen, deduction_fen, status, order_id)"
    " VALUES (1, 1, 16800, 0, 'settled', 1), (2, 1, 16800, 0, 'settled', 2)",
    "INSERT INTO queue (id, key, next_seq, waiting_count, extracted_fen, paid_fen, withheld_fen,"
    f" unallocated_fen, rr_size, rr_slots, rr_index, created_at) VALUES (1, 'mall', 3, 2, 21840,"
    f" 10920, 0, 10920, 0, '', 0, '{T}')",
    "INSERT INTO entry (id, queue_id, seq, member_id, order_id, line_id, target, day, base_fen,"
    " ratio_bp, ratio_source, entitlement_fen, paid_fen, status, order_completed, points,"
    " lottery_drawn, created_at, updated_at) VALUES"
    f" (1, 1, 1, 1, 1, 1, 'product:1', '2026-11-24', 16800, 13000, 'base:default', 21840, 10920,"
    f" 'waiting', FALSE, 0, FALSE, '{T}', '{T}'),"
    f" (2, 1, 2, 2, 2, 2, 'product:1', '2026-11-24', 16800, 13000, 'base:default', 21840, 0,"
    f" 'waiting', FALSE, 0, FALSE, '{T}', '{T}')",
    "INSERT INTO extraction (id, queue_id, line_id, order_id, amount_fen, paid_fen, withheld_fen,"
    f" unallocated_fen, created_at) VALUES (1, 1, 1, 1, 10920, 0, 0, 10920, '{T}'),"
    f" (2, 1, 2, 2, 10920, 10920, 0, 0, '{T}')",
    "INSERT INTO payout (id, extraction_id, entry_id, member_id, amount_fen, created_at)"
    f" VALUES (1, 2, 1, 1, 10920, '{T}')",
    "INSERT INTO ledger_line (id, member_id, asset, amount, kind, key, order_id, entry_id, memo,"
    f" created_at) VALUES (1, 1, 'cash', 10920, 'payout', 'payout:2:1', 2, 1, '', '{T}')",
    "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
    " VALUES (1, 10920, 0, 0, 0), (2, 0, 0, 0, 0)",
)


async def _migrate_to(url: str, target: str | None) -> None:
    async with opened(url, must_exist=False):
        await tortoise_migrate(config=tortoise_config(url), target=target, direction="forward")


async def _migrated_with(url: str, target: str, *rows: str) -> None:
    """``url`` migrated up to ``target`` (included), holding ``rows``."""
    await _migrate_to(url, target)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        for statement in rows:
            await ctx.db().execute_script(statement)


async def _at_0016(url: str, *extra: str) -> None:
    await _migrated_with(url, BEFORE_0017, *ROWS_0016, *extra)


async def test_0017_moves_payouts_into_the_ledger_and_the_books_still_balance(
    empty_db_url: str,
) -> None:
    await _at_0016(empty_db_url)
    await _migrate_to(empty_db_url, None)  # through 0019: ledger lines became postings
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(empty_db_url))
        conn = ctx.db()
        _, lines = await conn.execute_query(
            "SELECT key, extraction_id FROM posting WHERE kind = 'payout'"
        )
        _, extractions = await conn.execute_query("SELECT id, entry_id FROM extraction ORDER BY id")
        tables = await _columns(conn)
        problems = await check_conservation()
    assert [(r["key"], r["extraction_id"]) for r in lines] == [("payout:2:1", 2)]
    assert [(r["id"], r["entry_id"]) for r in extractions] == [(1, 1), (2, 2)]
    assert "payout" not in tables and "ledger_line" not in tables
    assert problems == []


async def test_0017_refuses_when_a_payout_has_no_ledger_line_and_changes_nothing(
    empty_db_url: str,
) -> None:
    await _at_0016(empty_db_url, "UPDATE ledger_line SET amount = 10000 WHERE id = 1")
    with pytest.raises(Exception, match="1 payouts have no matching ledger line"):
        await _migrate_to(empty_db_url, None)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(empty_db_url))
        tables = await _columns(ctx.db())
    assert "payout" in tables and "extraction_id" not in tables["ledger_line"]


# --- 0019: every movement of value is a posting ---------------------------------------------

BEFORE_0019 = "models.0018_pending_keys_without_constraints"
# At 0018, one of everything that moved value. Queue mall (extraction 65 %, reward 130 %):
# 甲 (1) pays 168.00 (its extraction finds no one: unallocated), 乙 (2) pays 168.00 (pays 甲
# 109.20), 丙 (3) pays 50.00 (pays 甲 32.50) and is refunded after settlement; 乙 exchanged its
# entry for love value. 丙 earned a released commission and a dividend, and one reversed by the
# refund. Store 1 (commission 10 %) was paid its statement for 乙's 100.00 store order. 甲
# withdrew 50.00 (paid) and 10.00 (rejected); 丙 asked for 5.00 (waiting for review).
ROWS_0018 = (
    "INSERT INTO member (id, openid, nickname, avatar_url, level, referral_code, created_at)"
    f" VALUES (1, 'o1', '甲', '', 0, 'R1', '{T}'), (2, 'o2', '乙', '', 0, 'R2', '{T}'),"
    f" (3, 'o3', '丙', '', 0, 'R3', '{T}')",
    f"INSERT INTO store (id, name, commission_bp, rebate_enabled, created_at) VALUES (1, '店', 1000,"
    f" FALSE, '{T}')",
    "INSERT INTO orders (id, source, status, out_trade_no, total_fen, deduction_fen, paid_fen,"
    " paid_at, created_at, member_id, store_id) VALUES"
    f" (1, 'mall', 'paid', 'Q1', 16800, 0, 16800, '{T}', '{T}', 1, NULL),"
    f" (2, 'mall', 'paid', 'Q2', 16800, 0, 16800, '{T}', '{T}', 2, NULL),"
    f" (3, 'store', 'paid', 'Q3', 10000, 0, 10000, '{T}', '{T}', 2, 1),"
    f" (4, 'mall', 'refunded', 'Q4', 5000, 0, 5000, '{T}', '{T}', 3, NULL)",
    "INSERT INTO order_line (id, quantity, paid_fen, deduction_fen, status, refunded_at, order_id)"
    " VALUES (1, 1, 16800, 0, 'settled', NULL, 1), (2, 1, 16800, 0, 'settled', NULL, 2),"
    f" (3, 1, 10000, 0, 'settled', NULL, 3), (4, 1, 5000, 0, 'refunded', '{T}', 4)",
    "INSERT INTO queue (id, key, next_seq, waiting_count, extracted_fen, paid_fen, withheld_fen,"
    f" unallocated_fen, rr_size, rr_slots, rr_index, created_at) VALUES (1, 'mall', 4, 1, 25090,"
    f" 14170, 0, 10920, 0, '', 0, '{T}')",
    "INSERT INTO entry (id, queue_id, seq, member_id, order_id, line_id, target, day, base_fen,"
    " ratio_bp, ratio_source, entitlement_fen, paid_fen, status, order_completed, points,"
    " lottery_drawn, created_at, updated_at) VALUES"
    f" (1, 1, 1, 1, 1, 1, 'product:1', '2026-11-24', 16800, 13000, 'base:default', 21840, 14170,"
    f" 'waiting', FALSE, 0, FALSE, '{T}', '{T}'),"
    f" (2, 1, 2, 2, 2, 2, 'product:1', '2026-11-24', 16800, 13000, 'base:default', 21840, 0,"
    f" 'exchanged', FALSE, 0, FALSE, '{T}', '{T}'),"
    f" (3, 1, 3, 3, 4, 4, 'product:1', '2026-11-24', 5000, 13000, 'base:default', 6500, 0,"
    f" 'refunded', FALSE, 0, FALSE, '{T}', '{T}')",
    "INSERT INTO extraction (id, queue_id, line_id, order_id, entry_id, amount_fen, paid_fen,"
    f" withheld_fen, unallocated_fen, created_at) VALUES (1, 1, 1, 1, 1, 10920, 0, 0, 10920, '{T}'),"
    f" (2, 1, 2, 2, 2, 10920, 10920, 0, 0, '{T}'), (3, 1, 4, 4, 3, 3250, 3250, 0, 0, '{T}')",
    "INSERT INTO ledger_line (id, member_id, asset, amount, kind, key, order_id, entry_id,"
    " extraction_id, memo, created_at) VALUES"
    f" (1, 1, 'cash', 10920, 'payout', 'payout:2:1', 2, 1, 2, '', '{T}'),"
    f" (2, 1, 'cash', 3250, 'payout', 'payout:3:1', 4, 1, 3, '', '{T}'),"
    f" (3, 2, 'love_available', 21840, 'exchange', 'exchange:2', 2, 2, NULL, '', '{T}'),"
    f" (4, 3, 'cash', 1680, 'commission', 'reward:direct:2', 2, NULL, NULL, '', '{T}'),"
    f" (5, 3, 'cash', 100, 'dividend', 'dividend:2026-11:3', NULL, NULL, NULL, '', '{T}'),"
    f" (6, 1, 'cash', -5000, 'withdrawal_hold', 'withdrawal_hold:1', NULL, NULL, NULL, '', '{T}'),"
    f" (7, 1, 'cash', -1000, 'withdrawal_hold', 'withdrawal_hold:2', NULL, NULL, NULL, '', '{T}'),"
    f" (8, 1, 'cash', 1000, 'withdrawal_release', 'withdrawal_release:2', NULL, NULL, NULL, '',"
    f" '{T}'),"
    f" (9, 3, 'cash', -500, 'withdrawal_hold', 'withdrawal_hold:3', NULL, NULL, NULL, '', '{T}')",
    "INSERT INTO wallet (member_id, cash_fen, points, love_available, love_frozen)"
    " VALUES (1, 9170, 0, 0, 0), (2, 0, 0, 21840, 0), (3, 1280, 0, 0, 0)",
    "INSERT INTO commission (id, key, member_id, order_id, kind, depth, rate_bp, base_fen,"
    " initial_fen, amount_fen, status, released_at, reversed_at, created_at) VALUES"
    f" (1, 'reward:direct:2', 3, 2, 'direct', 1, 1000, 16800, 1680, 1680, 'released', '{T}',"
    f" NULL, '{T}'),"
    f" (2, 'reward:direct:4', 3, 4, 'direct', 1, 1000, 0, 500, 0, 'reversed', NULL, '{T}', '{T}')",
    "INSERT INTO dividend_run (id, period, period_start, period_end, turnover_fen, pool_bp,"
    f" pool_fen, shareholders, distributed_fen, ran_at) VALUES (1, '2026-11', '{T}', '{T}', 10000,"
    f" 100, 100, 1, 100, '{T}')",
    "INSERT INTO dividend_share (id, run_id, member_id, amount_fen) VALUES (1, 1, 3, 100)",
    "INSERT INTO statement (id, store_id, period, cutoff, total_fen, credit_count, status, note,"
    f" created_at, paid_at) VALUES (1, 1, '2026-11-25', '{T}', 9000, 1, 'paid', '', '{T}', '{T}')",
    "INSERT INTO store_credit (id, key, store_id, order_id, line_id, kind, paid_fen,"
    " commission_bp, commission_fen, amount_fen, status, statement_id, created_at, updated_at)"
    f" VALUES (1, 'credit:3', 1, 3, NULL, 'credit', 10000, 1000, 1000, 9000, 'stated', 1, '{T}',"
    f" '{T}')",
    "INSERT INTO merchant_transfer (id, statement_id, attempt, out_bill_no, amount_fen, openid,"
    " state, transfer_bill_no, package_info, fail_reason, created_at, updated_at) VALUES"
    f" (1, 1, 1, 'MS1N1', 9000, 'o2', 'SUCCESS', 'T1', '', '', '{T}', '{T}')",
    "INSERT INTO withdrawal (id, member_id, amount_fen, day, status, out_bill_no, openid,"
    " transfer_state, transfer_bill_no, package_info, fail_reason, reject_reason, decided_by,"
    " requested_at, updated_at) VALUES"
    " (1, 1, 5000, '2026-11-24', 'succeeded', 'WD1', 'o1', 'SUCCESS', 'B1', '', '', '', 'op',"
    f" '{T}', '{T}'),"
    " (2, 1, 1000, '2026-11-24', 'rejected', 'WD2', 'o1', '', '', '', '', '不行', 'op',"
    f" '{T}', '{T}'),"
    f" (3, 3, 500, '2026-11-24', 'requested', 'WD3', 'o3', '', '', '', '', '', '', '{T}', '{T}')",
)


async def _at_0018(url: str, *extra: str) -> None:
    await _migrated_with(url, BEFORE_0019, *ROWS_0018, *extra)


async def test_0019_posts_every_movement_and_the_books_balance(empty_db_url: str) -> None:
    await _at_0018(empty_db_url)
    await _migrate_to(empty_db_url, None)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(empty_db_url))
        conn = ctx.db()
        _, rows = await conn.execute_query(
            "SELECT key, kind, debit, credit, unit, amount FROM posting ORDER BY key"
        )
        tables = await _columns(conn)
        problems = await check_conservation()
    postings = {
        r["key"]: (r["kind"], r["debit"], r["credit"], r["unit"], r["amount"]) for r in rows
    }
    assert problems == []
    assert "ledger_line" not in tables
    assert postings == {
        "payout:2:1": ("payout", "queue:1", "member:1:cash", "cash", 10920),
        "payout:3:1": ("payout", "queue:1", "member:1:cash", "cash", 3250),
        "exchange:2": ("exchange", "platform:love", "member:2:love_available", "love", 21840),
        "reward:direct:2": ("commission", "platform:commissions", "member:3:cash", "cash", 1680),
        "dividend:2026-11:3": ("dividend", "platform:sales", "member:3:cash", "cash", 100),
        "withdrawal_hold:1": ("withdrawal_hold", "member:1:cash", "platform:withdrawals", "cash", 5000),
        "withdrawal_hold:2": ("withdrawal_hold", "member:1:cash", "platform:withdrawals", "cash", 1000),
        "withdrawal_release:2": (
            "withdrawal_release", "platform:withdrawals", "member:1:cash", "cash", 1000,
        ),
        "withdrawal_hold:3": ("withdrawal_hold", "member:3:cash", "platform:withdrawals", "cash", 500),
        "withdrawal_paid:1": (
            "withdrawal_paid", "platform:withdrawals", "platform:wechat_pay", "cash", 5000,
        ),
        "extraction:1": ("extraction", "platform:sales", "queue:1", "cash", 10920),
        "extraction:2": ("extraction", "platform:sales", "queue:1", "cash", 10920),
        "extraction:3": ("extraction", "platform:sales", "queue:1", "cash", 3250),
        "unallocated:1": ("unallocated", "queue:1", "platform:unallocated", "cash", 10920),
        **{
            f"payment:{o}": ("payment", "platform:wechat_pay", "platform:sales", "cash", fen)
            for o, fen in ((1, 16800), (2, 16800), (3, 10000), (4, 5000))
        },
        "refund:4": ("refund", "platform:sales", "platform:wechat_pay", "cash", 5000),
        "refund_cost:4": ("refund_cost", "platform:cost", "platform:sales", "cash", 3250),
        "commission:reward:direct:2": (
            "commission_earned", "platform:sales", "platform:commissions", "cash", 1680,
        ),
        "commission:reward:direct:4": (
            "commission_earned", "platform:sales", "platform:commissions", "cash", 500,
        ),
        "commission_reduced:2:migrated": (
            "commission_reduced", "platform:commissions", "platform:sales", "cash", 500,
        ),
        "store_credit:credit:3": ("store_credit", "platform:sales", "store:1", "cash", 9000),
        "statement_paid:1": ("statement_paid", "store:1", "platform:wechat_pay", "cash", 9000),
    }  # fmt: skip


async def test_0019_refuses_a_ledger_line_it_does_not_know_and_changes_nothing(
    empty_db_url: str,
) -> None:
    await _at_0018(
        empty_db_url,
        "INSERT INTO ledger_line (id, member_id, asset, amount, kind, key, memo, created_at)"
        f" VALUES (10, 3, 'cash', 99, 'gift', 'gift:1', '', '{T}')",
    )
    with pytest.raises(Exception, match="1 ledger lines are of a kind"):
        await _migrate_to(empty_db_url, None)
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(empty_db_url))
        tables = await _columns(ctx.db())
    assert "ledger_line" in tables and "posting" not in tables


WRITER_TABLES = ("entry", "extraction", "posting", "outbox_event", "pending_settlement")


async def _constraints(url: str) -> set[tuple[str, str, tuple[str, ...]]]:
    """(table, type, columns) of the constraints on the queue writer's tables and its pending
    rows (PostgreSQL)."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        _, rows = await ctx.db().execute_query(
            "SELECT k.conrelid::regclass::text AS t, k.contype AS c, ARRAY(SELECT a.attname::text"
            " FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)"
            " ORDER BY a.attname) AS cols FROM pg_constraint k"
            " WHERE k.conrelid::regclass::text = ANY($1::text[])",
            [list(WRITER_TABLES)],
        )
    return {(r["t"], r["c"], tuple(r["cols"])) for r in rows}


async def test_writer_tables_have_the_same_constraints_migrated_and_generated(
    pg_url: str,
) -> None:
    """On PostgreSQL the tables the queue writer fills, and its pending rows, carry no foreign
    keys (each would cost an index probe per row, and a lock on the row it refers to,
    models.queues.Entry and PendingSettlement), whether made by migrate or generate_schemas."""
    name = await create_pg_database()
    try:
        await migrate_database(Settings().with_database_url(pg_url_of(name)), io.StringIO())
        migrated = await _constraints(pg_url_of(name))
    finally:
        await drop_pg_database(name)
    generated = await _constraints(pg_url)  # the test template: generate_schemas

    assert migrated == generated
    assert not [c for c in migrated if c[1] == "f"]
