"""The keys the queue writer writes have no foreign-key constraint (models.queues.Entry):
``check_conservation`` must find every one that points nowhere."""

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Order
from rebate.settings import OrderSource, RatioSettings, SettleOn
from runtime.sql import execute, fetch
from services.catalog.products import new_product
from services.checks import check_conservation
from services.checks.keys import UNCHECKED_KEYS
from services.members.accounts import new_member
from services.orders.lifecycle import Item, create_order, record_payment
from services.settings.base import load_base
from tests.services.helpers import Clock, seeded, use_base
from tests.services.test_settle_smoke import buy


async def settled_books():
    """Three orders of the seed's example: entries, extractions, payouts, postings and
    outbox events all exist, and the books balance; a fourth is paid and waits for its queue's
    writer (a pending row)."""
    await use_base(extract_bp=6500, ratios=RatioSettings(default_bp=13000), settle_on=SettleOn.PAID)
    clock, rng = Clock(), seeded()
    product = await new_product("茶叶", 16800)
    for i in range(3):
        member = await new_member(f"k{i}")
        await buy(member.id, product.id, clock, rng)
    member = await new_member("k3")
    order = await create_order(member.id, OrderSource.MALL, items=[Item(product.id)])
    async with in_transaction() as conn:  # paid, not drained
        locked = await Order.select_for_update().using_db(conn).get(id=order.id)
        await record_payment(
            conn, locked, paid_fen=order.paid_fen, now=clock.tick(), base=await load_base()
        )
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


async def test_check_finds_two_entries_in_one_place(db):
    """No unique (queue_id, seq) constraint: the check stands in for it."""
    await settled_books()
    conn = connections.get("default")
    rows = await fetch(conn, "SELECT id, queue_id, seq FROM entry ORDER BY id")
    await execute(conn, "UPDATE entry SET seq = $1 WHERE id = $2", [rows[0]["seq"], rows[1]["id"]])

    found = [p for p in await check_conservation() if p.startswith("two entries in one place")]

    assert found == [f"two entries in one place of a queue: queue {rows[0]['queue_id']}"
                     f" has 2 entries at seq {rows[0]['seq']}"]  # fmt: skip


async def test_check_finds_an_extraction_naming_another_lines_entry(db):
    """A line's entry is found through its extraction (refunds, completion): it must be its
    own line's, and every entry must be named by one."""
    await settled_books()
    conn = connections.get("default")
    x = await fetch(conn, "SELECT id, line_id, entry_id FROM extraction ORDER BY id")
    e = await fetch(
        conn, "SELECT id, line_id FROM entry WHERE id <> $1 ORDER BY id", [x[0]["entry_id"]]
    )
    await execute(
        conn, "UPDATE extraction SET entry_id = $1 WHERE id = $2", [e[0]["id"], x[0]["id"]]
    )

    found = [
        p for p in await check_conservation() if p.startswith(("extraction names", "entry not"))
    ]

    assert sorted(found) == sorted([
        f"extraction names another line's entry: extraction {x[0]['id']} of line"
        f" {x[0]['line_id']} names entry {e[0]['id']} of line {e[0]['line_id']}",
        f"entry not named by its line's extraction: entry {x[0]['entry_id']} of line"
        f" {x[0]['line_id']} has no extraction naming it",
    ])  # fmt: skip


async def test_check_finds_a_payout_line_that_is_not_its_entrys(db):
    """A payout is its posting: its key, extraction, entry, queue and member must agree."""
    await settled_books()
    conn = connections.get("default")
    rows = await fetch(
        conn, "SELECT id, key, amount FROM posting WHERE kind = 'payout' ORDER BY id"
    )
    await execute(conn, "UPDATE posting SET key = $1 WHERE id = $2", ["payout:1:1", rows[0]["id"]])

    found = [p for p in await check_conservation() if p.startswith("payout posting")]

    assert found == [f"payout posting malformed: posting {rows[0]['id']} (payout:1:1) of"
                     f" {rows[0]['amount']} is not a payout of an entry from its queue's pool"
                     " to its member"]  # fmt: skip
