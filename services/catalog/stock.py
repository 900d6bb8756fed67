"""Stock (库存) of the products that count it; null stock is unlimited and costs an order
nothing. An order takes its units in its own transaction by one conditional UPDATE (never
below zero), and closing the order unpaid gives them back. A refund does not: the goods left
the shelf, and an operator restocks what comes back (``PATCH /api/admin/products/{id}``).

Whether a product counts stock is cached with its rules (``ProductRules.counted``); the count
itself never is, so taking and giving back units needs no cache invalidation."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.backends.base.client import BaseDBAsyncClient

from rebate.errors import NotAllowed
from runtime.sql import execute, fetch, marks


async def reserve_stock(conn: BaseDBAsyncClient, wanted: Sequence[tuple[int, int]]) -> None:
    """Take ``(product id, quantity)`` of counted products, each product once, all or none:
    short of any, refused (the caller's transaction then rolls back what was taken)."""
    cases = " ".join(
        f"WHEN ${2 * i + 1} THEN CAST(${2 * i + 2} AS BIGINT)" for i in range(len(wanted))
    )
    ids = ", ".join(f"${2 * i + 1}" for i in range(len(wanted)))
    taken = await execute(
        conn,
        f"UPDATE product SET stock = stock - CASE id {cases} END"
        f" WHERE id IN ({ids}) AND stock >= CASE id {cases} END",
        [value for pair in wanted for value in pair],
    )
    if taken == len(wanted):
        return
    products = [pid for pid, _ in wanted]
    rows = await fetch(
        conn, f"SELECT id, stock FROM product WHERE id IN ({marks(1, len(products))})", products
    )
    left = {int(r["id"]): r["stock"] for r in rows}
    short = [pid for pid, qty in wanted if left.get(pid) is not None and left[pid] < qty]
    raise NotAllowed(f"商品 {short[0] if short else products[0]} 库存不足", field="items")


async def release_stock(conn: BaseDBAsyncClient, order_id: int) -> None:
    """Give back the units an unpaid order took (it is being closed, on ``conn``)."""
    await execute(
        conn,
        "UPDATE product SET stock = stock + (SELECT SUM(l.quantity) FROM order_line l"
        " WHERE l.order_id = $1 AND l.product_id = product.id)"
        " WHERE stock IS NOT NULL AND id IN (SELECT product_id FROM order_line WHERE order_id = $2)",
        [order_id, order_id],
    )
