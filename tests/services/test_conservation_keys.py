"""The keys the queue writer writes have no foreign-key constraint (models.queues.Entry):
``check_conservation`` must find every one that points nowhere."""

import pytest
from tortoise import connections

from rebate.settings import RatioSettings, SettleOn
from services.catalog import new_member, new_product
from services.conservation import UNCHECKED_KEYS, check_conservation
from services.sql import execute, fetch
from tests.services.helpers import Clock, seeded, use_base
from tests.services.test_settle_smoke import buy


async def settled_books():
    """Three orders of the seed's example: entries, extractions, payouts, ledger lines and
    outbox events all exist, and the books balance."""
    await use_base(extract_bp=6500, ratios=RatioSettings(default_bp=13000), settle_on=SettleOn.PAID)
    clock, rng = Clock(), seeded()
    product = await new_product("茶叶", 16800)
    for i in range(3):
        member = await new_member(f"k{i}")
        await buy(member.id, product.id, clock, rng)
    assert await check_conservation() == []


@pytest.mark.parametrize(("table", "column", "target"), UNCHECKED_KEYS)
async def test_check_finds_a_key_that_points_nowhere(db, table, column, target):
    await settled_books()
    conn = connections.get("default")
    rows = await fetch(conn, f"SELECT MIN(id) AS id FROM {table} WHERE {column} IS NOT NULL")
    row_id = rows[0]["id"]
    assert row_id is not None, f"the example wrote no {table} row with a {column}"
    await execute(conn, f"UPDATE {table} SET {column} = $1 WHERE id = $2", [987_654_321, row_id])

    found = [p for p in await check_conservation() if "refers to a missing row" in p]

    assert found == [f"{table}.{column} refers to a missing row: {table} {row_id}:"
                     f" {column} 987654321 is not in {target}"]  # fmt: skip
